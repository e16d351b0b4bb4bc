package lab

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrUnavailable reports that the lab cannot run on this machine; the
// wrapped text says why and what to do.
var ErrUnavailable = errors.New("lab unavailable")

// errDownload marks a failed apt-get download, which fresher package
// lists may cure.
var errDownload = errors.New("download failed")

// imageFormat changes whenever the way the base image is laid out changes,
// so cached images built by older code are rebuilt.
const imageFormat = "lab-image-1"

// hostTools are the programs the prepare step and Run use on the host, with
// the Debian packages that install them.
var hostTools = []struct{ Name, Package string }{
	{"qemu-system-x86_64", "qemu-system-x86"},
	{"busybox", "busybox-static"},
	{"xz", "xz-utils"},
	{"lz4", "lz4"},
	{"depmod", "kmod"},
	{"ldd", "libc-bin"},
	{"dpkg-deb", "dpkg"},
}

// PrepareOptions configures Prepare. The zero value prepares the default
// cache, installs what is missing when running as root, and logs nothing.
type PrepareOptions struct {
	// CacheDir holds the kernel and images; "" means DefaultCacheDir().
	CacheDir string
	// Log receives one line per step taken (installing, downloading,
	// building); nil discards them.
	Log io.Writer
	// NoInstall forbids apt-get: a missing package is an error.
	NoInstall bool
}

// Image is a prepared kernel and base initramfs.
type Image struct {
	// Release is the kernel release, e.g. "6.1.0-56-amd64".
	Release string
	// Kernel is the uncompressed vmlinux booted through its PVH entry.
	Kernel string
	// Initrd is the base initramfs (lz4, legacy format).
	Initrd string
	// MissingModules and MissingBinaries list the optional pieces left out.
	MissingModules  []string
	MissingBinaries []string
}

// DefaultCacheDir is $LVSCTL_LAB_CACHE when set, else .lab-cache at the
// root of the lvsctl module found from the working directory upward (go
// test runs in the package directory; the folder is in .gitignore), else
// lvsctl-lab in the user's cache directory.
func DefaultCacheDir() string {
	if d := os.Getenv("LVSCTL_LAB_CACHE"); d != "" {
		return d
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil &&
				bytes.Contains(b, []byte("module github.com/lvsctl/lvsctl\n")) {
				return filepath.Join(d, ".lab-cache")
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "lvsctl-lab")
	}
	return filepath.Join(os.TempDir(), "lvsctl-lab")
}

// Prepare makes sure the host tools, the kernel and the base initramfs are
// in the cache, installing and building what is missing. It is idempotent
// and takes a fraction of a second when everything is cached. Concurrent
// callers (test binaries of several packages) serialise on a lock file.
func Prepare(ctx context.Context, opt PrepareOptions) (Image, error) {
	log := opt.Log
	if log == nil {
		log = io.Discard
	}
	dir := opt.CacheDir
	if dir == "" {
		dir = DefaultCacheDir()
	}
	if err := ensurePackages(ctx, log, !opt.NoInstall); err != nil {
		return Image{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Image{}, fmt.Errorf("%w: lab cache: %w (prepare once as root: go run ./lab/cmd/labrun -prepare)", ErrUnavailable, err)
	}
	// A cache root prepared is usable read-only by other users: no lock,
	// and nothing may need building.
	readOnly := false
	unlock, err := lockDir(ctx, dir)
	switch {
	case errors.Is(err, os.ErrPermission):
		readOnly = true
	case err != nil:
		return Image{}, err
	default:
		defer unlock()
	}
	needWrite := func(what string) error {
		if !readOnly {
			return nil
		}
		return fmt.Errorf("%w: %s needs %s but is not writable (prepare once as root: go run ./lab/cmd/labrun -prepare)",
			ErrUnavailable, dir, what)
	}

	pkg, err := resolveKernel(ctx, log, dir, !opt.NoInstall)
	if err != nil {
		return Image{}, err
	}
	rel := kernelRelease(pkg)
	kdir := filepath.Join(dir, "kernel-"+rel)
	modHash := hashModules(imageModules)
	modRoot := filepath.Join(kdir, "modules-"+modHash)
	img := Image{Release: rel, Kernel: filepath.Join(kdir, "vmlinux")}

	_, kerr := os.Stat(img.Kernel)
	_, merr := os.Stat(filepath.Join(modRoot, "missing"))
	if kerr != nil || merr != nil {
		if err := needWrite("the kernel " + rel); err != nil {
			return Image{}, err
		}
		err := unpackKernel(ctx, log, dir, pkg, rel, kdir, modRoot)
		if errors.Is(err, errDownload) && !opt.NoInstall && canInstall() == nil {
			// Package lists older than the mirror name a kernel it no
			// longer has: update them and resolve again, once.
			fmt.Fprintf(log, "lab: %v\nlab: running apt-get update and trying again\n", err)
			if err = aptGet(ctx, log, "update", "-q"); err == nil {
				os.Remove(filepath.Join(dir, "kernel-package"))
				if pkg, err = resolveKernel(ctx, log, dir, true); err == nil {
					rel = kernelRelease(pkg)
					kdir = filepath.Join(dir, "kernel-"+rel)
					modRoot = filepath.Join(kdir, "modules-"+modHash)
					img = Image{Release: rel, Kernel: filepath.Join(kdir, "vmlinux")}
					err = unpackKernel(ctx, log, dir, pkg, rel, kdir, modRoot)
				}
			}
		}
		if err != nil {
			return Image{}, err
		}
	}
	if b, err := os.ReadFile(filepath.Join(modRoot, "missing")); err == nil {
		img.MissingModules = strings.Fields(string(b))
	}

	plan, err := planImage(ctx, imageBinaries)
	if err != nil {
		return Image{}, fmt.Errorf("lab image: %w", err)
	}
	img.MissingBinaries = plan.Missing
	var fp bytes.Buffer
	fmt.Fprintf(&fp, "%s\nkernel %s\nmodules %s\n", imageFormat, rel, modHash)
	fp.Write(initScript)
	if err := plan.fingerprint(&fp); err != nil {
		return Image{}, err
	}
	sum := sha256.Sum256(fp.Bytes())
	img.Initrd = filepath.Join(dir, "initramfs-"+hex.EncodeToString(sum[:8])+".cpio.lz4")
	if _, err := os.Stat(img.Initrd); err == nil {
		now := time.Now()
		_ = os.Chtimes(img.Initrd, now, now) // its age tells when it was last used
		return img, nil
	}
	if err := needWrite("a new base initramfs"); err != nil {
		return Image{}, err
	}
	fmt.Fprintf(log, "lab: building the base initramfs %s\n", filepath.Base(img.Initrd))
	if err := buildInitrd(ctx, plan, modRoot, img.Initrd); err != nil {
		return Image{}, err
	}
	// Drop images unused for a day. Not at once: a test binary built
	// from other code (another checkout's, or before an edit) may be
	// using its own image right now.
	old, _ := filepath.Glob(filepath.Join(dir, "initramfs-*.cpio.lz4"))
	for _, o := range old {
		if st, err := os.Stat(o); err == nil && o != img.Initrd && time.Since(st.ModTime()) > 24*time.Hour {
			os.Remove(o)
		}
	}
	return img, nil
}

// hashModules identifies a module list for the cache.
func hashModules(mods []moduleSpec) string {
	h := sha256.New()
	for _, m := range mods {
		fmt.Fprintf(h, "%s %v\n", m.Name, m.Optional)
	}
	return hex.EncodeToString(h.Sum(nil)[:6])
}

// lockDir takes an exclusive flock on dir/.lock, waiting for other
// preparers until ctx ends.
func lockDir(ctx context.Context, dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lab cache lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lab cache lock: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lab cache lock: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// missingPackages lists the Debian packages whose programs are missing.
func missingPackages() []string {
	seen := map[string]bool{}
	var pkgs []string
	need := func(name, pkg string) {
		if _, err := lookHost(name); err != nil && !seen[pkg] {
			seen[pkg] = true
			pkgs = append(pkgs, pkg)
		}
	}
	for _, t := range hostTools {
		need(t.Name, t.Package)
	}
	for _, b := range imageBinaries {
		if !b.Optional {
			need(b.Name, b.Package)
		}
	}
	sort.Strings(pkgs)
	return pkgs
}

// canInstall says why apt-get cannot be used, or nil.
func canInstall() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: not root, cannot run apt-get", ErrUnavailable)
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("%w: no apt-get on this machine (the lab needs Debian 12)", ErrUnavailable)
	}
	return nil
}

// ensurePackages installs the missing host packages with apt-get.
func ensurePackages(ctx context.Context, log io.Writer, install bool) error {
	pkgs := missingPackages()
	if len(pkgs) == 0 {
		return nil
	}
	hint := "apt-get install " + strings.Join(pkgs, " ")
	if !install {
		return fmt.Errorf("%w: missing packages; run as root: %s", ErrUnavailable, hint)
	}
	if err := canInstall(); err != nil {
		return fmt.Errorf("%w; missing packages: %s", err, hint)
	}
	fmt.Fprintf(log, "lab: installing %s with apt-get\n", strings.Join(pkgs, " "))
	if err := aptGet(ctx, log, "update", "-q"); err != nil {
		return err
	}
	args := append([]string{"install", "-y", "-q", "--no-install-recommends"}, pkgs...)
	if err := aptGet(ctx, log, args...); err != nil {
		return err
	}
	if still := missingPackages(); len(still) > 0 {
		return fmt.Errorf("%w: still missing after apt-get: %s", ErrUnavailable, strings.Join(still, " "))
	}
	return nil
}

func aptGet(ctx context.Context, log io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, "apt-get", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	var tail bytes.Buffer
	cmd.Stdout = io.MultiWriter(log, &tail)
	cmd.Stderr = cmd.Stdout
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("apt-get %s: %w\n%s", strings.Join(args, " "), err, lastBytes(tail.Bytes(), 2000))
	}
	return nil
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return bytes.TrimSpace(b)
}

// resolveKernel names the versioned kernel package linux-image-amd64
// depends on. With no package lists it runs apt-get update once (as root);
// when apt cannot answer it falls back to a kernel already cached.
//
// The answer is remembered with the time of apt's package lists and reused
// while they are unchanged: apt-cache alone takes most of a second.
func resolveKernel(ctx context.Context, log io.Writer, dir string, install bool) (string, error) {
	memo := filepath.Join(dir, "kernel-package")
	stamp := aptListsStamp()
	if b, err := os.ReadFile(memo); err == nil {
		if st, pkg, ok := strings.Cut(strings.TrimSpace(string(b)), " "); ok && st == stamp && stamp != "" {
			return pkg, nil
		}
	}
	query := func() (string, error) {
		out, err := exec.CommandContext(ctx, "apt-cache", "depends", kernelMeta).Output()
		if err != nil {
			return "", fmt.Errorf("apt-cache depends %s: %w", kernelMeta, err)
		}
		return parseAptDepends(out)
	}
	pkg, err := query()
	if err != nil && install && canInstall() == nil {
		fmt.Fprintf(log, "lab: apt-cache does not know %s; running apt-get update\n", kernelMeta)
		if uerr := aptGet(ctx, log, "update", "-q"); uerr == nil {
			pkg, err = query()
		}
	}
	if err == nil {
		if stamp = aptListsStamp(); stamp != "" {
			// Best effort: without the memo the next run asks apt again.
			_ = writeAtomic(memo, []byte(stamp+" "+pkg+"\n"), 0o644)
		}
		return pkg, nil
	}
	cached, _ := filepath.Glob(filepath.Join(dir, "kernel-*", "vmlinux"))
	if len(cached) > 0 {
		sort.Strings(cached)
		rel := strings.TrimPrefix(filepath.Base(filepath.Dir(cached[len(cached)-1])), "kernel-")
		return "linux-image-" + rel, nil
	}
	return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// aptListsStamp identifies the state of apt's package lists: apt-get
// update replaces files there, which changes the directory's time.
func aptListsStamp() string {
	st, err := os.Stat("/var/lib/apt/lists")
	if err != nil {
		return ""
	}
	return strconv.FormatInt(st.ModTime().UnixNano(), 10)
}

// unpackKernel downloads the kernel package (kept in dir/deb so a change of
// the module list does not download again), extracts it, runs depmod on
// it, and stores the vmlinux and the module subset under kdir.
func unpackKernel(ctx context.Context, log io.Writer, dir, pkg, rel, kdir, modRoot string) error {
	debDir := filepath.Join(dir, "deb")
	if err := os.MkdirAll(debDir, 0o755); err != nil {
		return fmt.Errorf("lab kernel: %w", err)
	}
	debs, _ := filepath.Glob(filepath.Join(debDir, pkg+"_*.deb"))
	if len(debs) == 0 {
		fmt.Fprintf(log, "lab: downloading %s with apt-get download\n", pkg)
		args := []string{"download", "-q", pkg}
		if os.Geteuid() == 0 {
			// apt's download sandbox user cannot write into root's cache.
			args = append([]string{"-o", "APT::Sandbox::User=root"}, args...)
		}
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Dir = debDir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%w: %w: apt-get download %s: %w\n%s", ErrNoKernel, errDownload, pkg, err, lastBytes(out, 2000))
		}
		debs, _ = filepath.Glob(filepath.Join(debDir, pkg+"_*.deb"))
		if len(debs) == 0 {
			return fmt.Errorf("%w: apt-get download %s wrote no file", ErrNoKernel, pkg)
		}
	}
	tmp, err := os.MkdirTemp(dir, "unpack-")
	if err != nil {
		return fmt.Errorf("lab kernel: %w", err)
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(log, "lab: extracting %s\n", filepath.Base(debs[0]))
	if err := runLogged(ctx, io.Discard, "dpkg-deb", "-x", debs[0], tmp); err != nil {
		return fmt.Errorf("lab kernel: %w", err)
	}
	// The package ships no modules.dep; the installed system would get one
	// from its postinst.
	fmt.Fprintf(log, "lab: depmod -b on the extracted modules\n")
	if err := runLogged(ctx, io.Discard, "depmod", "-b", tmp, rel); err != nil {
		return fmt.Errorf("lab kernel: %w", err)
	}
	if err := os.MkdirAll(kdir, 0o755); err != nil {
		return fmt.Errorf("lab kernel: %w", err)
	}
	bz, err := os.ReadFile(filepath.Join(tmp, "boot", "vmlinuz-"+rel))
	if err != nil {
		return fmt.Errorf("lab kernel: %w", err)
	}
	vmlinux, err := extractVmlinux(ctx, bz)
	if err != nil {
		return fmt.Errorf("lab kernel: %w", err)
	}
	if err := writeAtomic(filepath.Join(kdir, "vmlinux"), vmlinux, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(log, "lab: collecting %d modules and their dependencies\n", len(imageModules))
	os.RemoveAll(modRoot)
	missing, err := buildModuleTree(ctx, tmp, rel, modRoot, imageModules)
	if err != nil {
		os.RemoveAll(modRoot)
		return fmt.Errorf("lab kernel: %w", err)
	}
	// Packages of older kernels are not needed again.
	others, _ := filepath.Glob(filepath.Join(debDir, "*.deb"))
	for _, o := range others {
		if o != debs[0] {
			os.Remove(o)
		}
	}
	// Written last: its presence marks the tree complete.
	return writeAtomic(filepath.Join(modRoot, "missing"), []byte(strings.Join(missing, "\n")), 0o644)
}

// writeAtomic writes through a temporary file and a rename, so a crash
// never leaves a truncated cache entry.
func writeAtomic(name string, data []byte, perm os.FileMode) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return fmt.Errorf("lab cache: %w", err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return fmt.Errorf("lab cache: %w", err)
	}
	return nil
}

// buildInitrd writes the base cpio and compresses it with lz4's legacy
// format, the only lz4 framing the kernel's initramfs unpacker reads.
func buildInitrd(ctx context.Context, plan imagePlan, modRoot, dst string) error {
	var raw bytes.Buffer
	c := newCPIOWriter(&raw)
	if err := writeBase(c, plan, modRoot); err != nil {
		return fmt.Errorf("lab image: %w", err)
	}
	if err := c.Close(); err != nil {
		return fmt.Errorf("lab image: %w", err)
	}
	cmd := exec.CommandContext(ctx, "lz4", "-l", "-c")
	cmd.Stdin = &raw
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("lab image: lz4: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return writeAtomic(dst, out, 0o644)
}
