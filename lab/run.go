package lab

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Errors of Run, usable with errors.Is.
var (
	// ErrGuestSetup: the VM booted but could not be readied (a module
	// failed to load, say); the script did not run.
	ErrGuestSetup = errors.New("lab guest setup failed")
	// ErrNoExitStatus: the VM stopped without reporting the script's exit
	// status (kernel panic, qemu failure); Result.Console tells more.
	ErrNoExitStatus = errors.New("lab VM stopped without an exit status")
	// ErrTimeout: the context ended or Options.Timeout passed; the VM was
	// killed.
	ErrTimeout = errors.New("lab VM timed out")
)

// DefaultModules are loaded before the script when Options.Modules is nil
// (init.sh loads the virtio modules for the output ports in any case).
// crc32c_generic comes first: ip_vs needs libcrc32c's crc32c transform
// and does not load it by itself in time.
var DefaultModules = []string{"crc32c_generic", "ip_vs"}

// Options describe one run. The zero value runs an empty script in a VM
// with 512 MiB and one CPU, with the default modules loaded.
type Options struct {
	// Script is run by dash (/bin/sh) as /lab/script, in /root, stdin
	// /dev/null. Its exit status is Result.ExitCode.
	Script string
	// Files copies host files into the guest: host path -> guest path.
	// Permission bits are kept; parent directories are made. Paths that
	// the base image holds cannot be replaced (use /usr/local/bin, /lab).
	Files map[string]string
	// FileData writes files given by content: guest path -> bytes (0755,
	// so scripts and binaries can run).
	FileData map[string][]byte
	// Env is added to the script's environment. LVSCTL_LAB=1 is always set.
	Env map[string]string
	// Modules are loaded with modprobe, in order, before the script; a
	// failure is ErrGuestSetup. nil means DefaultModules; an empty non-nil
	// slice loads none. An entry may carry parameters ("ip_vs conn_tab_bits=10").
	Modules []string
	// Memory in MiB; 0 means 512.
	Memory int
	// CPUs; 0 means 1. More CPUs do not speed the boot under TCG but speed
	// parallel work inside.
	CPUs int
	// Timeout bounds the whole run, boot included; 0 means only ctx does.
	Timeout time.Duration
	// Stdout, Stderr and Console, when set, receive the guest's output as
	// it arrives (Result holds it all as well).
	Stdout, Stderr, Console io.Writer
	// CacheDir and Log are passed to Prepare.
	CacheDir string
	Log      io.Writer
	// KernelArgs are appended to the kernel command line.
	KernelArgs []string
	// QemuArgs are appended to qemu's arguments (devices for an
	// experiment, say).
	QemuArgs []string
}

// Result is what a run produced.
type Result struct {
	Stdout, Stderr []byte
	// Console is ttyS0: kernel messages and anything written to
	// /dev/console. Look here when a run fails oddly.
	Console []byte
	// ExitCode is the script's exit status, -1 when it did not report one.
	ExitCode int
	// BootDuration is from starting qemu to the script starting.
	BootDuration time.Duration
	// Duration is the whole run, qemu start to exit.
	Duration time.Duration
}

// Available says why the lab cannot run here, or returns nil. It does not
// download or build anything: a machine where Prepare would have to
// install packages is available when it is root with apt-get.
func Available() error {
	if pkgs := missingPackages(); len(pkgs) > 0 {
		if err := canInstall(); err != nil {
			return fmt.Errorf("%w; missing packages: %s", err, strings.Join(pkgs, " "))
		}
		return nil
	}
	if os.Geteuid() != 0 {
		// The cache may have been prepared by root; without it there is
		// no way to fetch a kernel.
		if imgs, _ := os.ReadDir(DefaultCacheDir()); len(imgs) == 0 {
			return fmt.Errorf("%w: not root and no prepared cache in %s", ErrUnavailable, DefaultCacheDir())
		}
	}
	return nil
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// shellQuote quotes s for dash.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// runArchive writes the per-run cpio: the script, its environment, the
// module list and the requested files. It is unpacked before the base
// image, so a base-image file at the same path wins.
func runArchive(w io.Writer, opt Options) error {
	c := newCPIOWriter(w)
	var env bytes.Buffer
	env.WriteString("export LVSCTL_LAB=1\n")
	keys := make([]string, 0, len(opt.Env))
	for k := range opt.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !envName.MatchString(k) {
			return fmt.Errorf("lab: environment name %q", k)
		}
		fmt.Fprintf(&env, "export %s=%s\n", k, shellQuote(opt.Env[k]))
	}
	if err := c.File("/lab/env", 0o644, env.Bytes()); err != nil {
		return err
	}
	mods := opt.Modules
	if mods == nil {
		mods = DefaultModules
	}
	var ml bytes.Buffer
	for _, m := range mods {
		if strings.ContainsAny(m, "\n") || strings.TrimSpace(m) == "" {
			return fmt.Errorf("lab: module %q", m)
		}
		ml.WriteString(m + "\n")
	}
	if err := c.File("/lab/modules", 0o644, ml.Bytes()); err != nil {
		return err
	}
	if err := c.File("/lab/script", 0o755, []byte(opt.Script)); err != nil {
		return err
	}
	hosts := make([]string, 0, len(opt.Files))
	for h := range opt.Files {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		data, err := os.ReadFile(h)
		if err != nil {
			return fmt.Errorf("lab: file for the guest: %w", err)
		}
		st, err := os.Stat(h)
		if err != nil {
			return fmt.Errorf("lab: file for the guest: %w", err)
		}
		if err := c.File(opt.Files[h], st.Mode().Perm(), data); err != nil {
			return err
		}
	}
	guests := make([]string, 0, len(opt.FileData))
	for g := range opt.FileData {
		guests = append(guests, g)
	}
	sort.Strings(guests)
	for _, g := range guests {
		if err := c.File(g, 0o755, opt.FileData[g]); err != nil {
			return err
		}
	}
	return c.Close()
}

// kernelCmdline is the guest's command line. quiet keeps the console short;
// panic=-1 with qemu's -no-reboot turns a panic into a prompt exit; the
// timer and TSC options skip calibrations that are slow under TCG, and so
// do the last two for the crypto self-tests (several hundred ms emulated;
// crypto_kdf108_init does nothing but its self-test).
func kernelCmdline(extra []string) string {
	args := []string{
		"console=ttyS0", "quiet", "panic=-1", "oops=panic",
		"8250.nr_uarts=2", "tsc=reliable", "no_timer_check", "rdinit=/init",
		"cryptomgr.notests", "initcall_blacklist=crypto_kdf108_init",
	}
	return strings.Join(append(args, extra...), " ")
}

// Run boots a fresh VM, runs opt.Script in it and returns its output and
// exit status. It prepares the cache first when needed (see Prepare). A
// non-zero exit status is not an error; a VM that stops without reporting
// one, or is killed at the deadline, is (with the partial Result).
func Run(ctx context.Context, opt Options) (Result, error) {
	res := Result{ExitCode: -1}
	img, err := Prepare(ctx, PrepareOptions{CacheDir: opt.CacheDir, Log: opt.Log})
	if err != nil {
		return res, err
	}
	if opt.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opt.Timeout)
		defer cancel()
	}
	initrd, err := writeInitrd(img.Initrd, opt)
	if err != nil {
		return res, err
	}
	defer os.Remove(initrd)
	return boot(ctx, img.Kernel, initrd, opt)
}

// writeInitrd concatenates the per-run archive and the base image into a
// temporary file: the kernel unpacks concatenated archives in order. The
// per-run archive goes first because the kernel's lz4 decoder cannot tell
// where a legacy-format stream ends and would take a following archive for
// more lz4 chunks ("Initramfs unpacking failed: Decoding failed").
func writeInitrd(base string, opt Options) (string, error) {
	// Runs killed outright (SIGKILL) leave theirs behind.
	stale, _ := filepath.Glob(filepath.Join(os.TempDir(), "lvsctl-lab-initrd-*"))
	for _, s := range stale {
		if st, err := os.Stat(s); err == nil && time.Since(st.ModTime()) > 6*time.Hour {
			os.Remove(s)
		}
	}
	f, err := os.CreateTemp("", "lvsctl-lab-initrd-*")
	if err != nil {
		return "", fmt.Errorf("lab: %w", err)
	}
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("lab: initrd: %w", err)
	}
	if err := runArchive(f, opt); err != nil {
		return fail(err)
	}
	b, err := os.Open(base)
	if err != nil {
		return fail(err)
	}
	_, err = io.Copy(f, b)
	b.Close()
	if err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	return f.Name(), nil
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// boot runs qemu and collects what the guest sends.
func boot(ctx context.Context, kernel, initrd string, opt Options) (Result, error) {
	res := Result{ExitCode: -1}
	mem, cpus := opt.Memory, opt.CPUs
	if mem == 0 {
		mem = 512
	}
	if cpus == 0 {
		cpus = 1
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	// Four pipes, read here: the console (ttyS0), the script's stdout and
	// stderr (virtio-serial ports 1 and 2), control lines (ttyS1).
	var readers, writers []*os.File
	closeAll := func(fs []*os.File) {
		for _, f := range fs {
			f.Close()
		}
	}
	for range 4 {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll(readers)
			closeAll(writers)
			return res, fmt.Errorf("lab: %w", err)
		}
		readers, writers = append(readers, r), append(writers, w)
	}
	defer closeAll(readers)
	args := []string{
		"-accel", "tcg", "-cpu", "max",
		"-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus),
		"-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none",
		"-no-reboot", "-nic", "none",
		"-kernel", kernel, "-initrd", initrd,
		"-append", kernelCmdline(opt.KernelArgs),
	}
	// ExtraFiles become fd 3, 4, ...; qemu opens them by path.
	for i := range 4 {
		args = append(args, "-chardev", fmt.Sprintf("file,id=c%d,path=/dev/fd/%d", i, 3+i))
	}
	args = append(args,
		"-serial", "chardev:c0", "-serial", "chardev:c3",
		"-device", "virtio-serial-pci,max_ports=3",
		"-device", "virtserialport,chardev=c1,nr=1,name=lab.stdout",
		"-device", "virtserialport,chardev=c2,nr=2,name=lab.stderr",
	)
	args = append(args, opt.QemuArgs...)
	cmd := exec.Command(qemu, args...)
	cmd.ExtraFiles = writers
	// A test binary killed by its -timeout must not leave a hung VM.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var qemuErr bytes.Buffer
	cmd.Stderr = &qemuErr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		closeAll(writers)
		return res, fmt.Errorf("lab: start qemu: %w", err)
	}
	closeAll(writers)

	var console, stdout, stderr lockedBuffer
	sinks := []io.Writer{&console, &stdout, &stderr}
	live := []io.Writer{opt.Console, opt.Stdout, opt.Stderr}
	var wg sync.WaitGroup
	for i := range 3 {
		w := sinks[i]
		if live[i] != nil {
			w = io.MultiWriter(sinks[i], live[i])
		}
		wg.Go(func() { io.Copy(w, readers[i]) })
	}
	var (
		ctlMu    sync.Mutex
		exitCode = -1
		setupErr string
		ready    time.Duration
	)
	wg.Go(func() {
		sc := bufio.NewScanner(readers[3])
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			ctlMu.Lock()
			switch {
			case line == "lab-ready":
				ready = time.Since(start)
			case strings.HasPrefix(line, "lab-exit "):
				if n, err := strconv.Atoi(strings.TrimPrefix(line, "lab-exit ")); err == nil {
					exitCode = n
				}
			case strings.HasPrefix(line, "lab-error "):
				setupErr = strings.TrimPrefix(line, "lab-error ")
			}
			ctlMu.Unlock()
		}
	})

	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	var timedOut bool
	select {
	case err = <-waitErr:
	case <-ctx.Done():
		timedOut = true
		cmd.Process.Kill()
		err = <-waitErr
	}
	wg.Wait()
	res.Duration = time.Since(start)
	res.Console, res.Stdout, res.Stderr = console.Bytes(), stdout.Bytes(), stderr.Bytes()
	ctlMu.Lock()
	res.ExitCode, res.BootDuration = exitCode, ready
	ctlMu.Unlock()
	switch {
	case timedOut:
		return res, fmt.Errorf("%w after %v: %w", ErrTimeout, res.Duration.Round(time.Millisecond), ctx.Err())
	case setupErr != "":
		return res, fmt.Errorf("%w: %s", ErrGuestSetup, setupErr)
	case res.ExitCode < 0:
		return res, fmt.Errorf("%w (qemu: %v %s); console tail:\n%s", ErrNoExitStatus, err,
			bytes.TrimSpace(qemuErr.Bytes()), lastBytes(res.Console, 3000))
	}
	return res, nil
}
