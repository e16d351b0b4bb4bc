// Command labrun runs a shell script in the lab VM (a real Debian kernel
// with IPVS under qemu), streaming the script's stdout and stderr, and
// exits with the script's exit status.
//
//	go run ./lab/cmd/labrun [-f host:guest]... [-e NAME=value]... script.sh
//	go run ./lab/cmd/labrun -c 'ipvsadm -Ln'
//	go run ./lab/cmd/labrun -prepare
//
// It prepares the lab first when needed (installs packages as root,
// downloads the kernel, builds the image), saying what it does on stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/lvsctl/lvsctl/lab"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("labrun", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files, env, mods, qemuArgs, kernelArgs listFlag
	fs.Var(&files, "f", "copy a host file into the guest: `host:guest` (repeatable)")
	fs.Var(&env, "e", "set `NAME=value` in the script's environment (repeatable)")
	fs.Var(&mods, "m", "load this `module` before the script, after the defaults (repeatable)")
	fs.Var(&qemuArgs, "qemu", "pass this `argument` to qemu (repeatable)")
	fs.Var(&kernelArgs, "karg", "append this `argument` to the kernel command line (repeatable)")
	noMods := fs.Bool("no-default-modules", false, "load no module before the script (not even ip_vs)")
	command := fs.String("c", "", "run this `script` text instead of a file")
	prepare := fs.Bool("prepare", false, "only prepare the cache (packages, kernel, image) and exit")
	console := fs.Bool("console", false, "stream the guest console (kernel messages) to stderr")
	mem := fs.Int("mem", 512, "guest memory in `MiB`")
	cpus := fs.Int("smp", 2, "guest CPUs")
	timeout := fs.Duration("timeout", 10*time.Minute, "kill the VM after this long")
	quiet := fs.Bool("q", false, "do not print the boot summary on stderr")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: labrun [flags] script.sh | labrun [flags] -c 'script' | labrun -prepare\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *prepare {
		start := time.Now()
		img, err := lab.Prepare(ctx, lab.PrepareOptions{Log: stderr})
		if err != nil {
			fmt.Fprintf(stderr, "labrun: %v\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "labrun: lab ready in %v: kernel %s\n  kernel: %s\n  initrd: %s\n",
			time.Since(start).Round(time.Millisecond), img.Release, img.Kernel, img.Initrd)
		if len(img.MissingModules)+len(img.MissingBinaries) > 0 {
			fmt.Fprintf(stderr, "  left out (optional, not available): %s\n",
				strings.Join(append(img.MissingModules, img.MissingBinaries...), " "))
		}
		return 0
	}

	opt := lab.Options{
		Memory: *mem, CPUs: *cpus, Timeout: *timeout,
		Stdout: stdout, Stderr: stderr, Log: stderr,
		Files: map[string]string{}, Env: map[string]string{},
	}
	switch {
	case *command != "" && fs.NArg() == 0:
		opt.Script = *command
	case *command == "" && fs.NArg() == 1:
		b, err := os.ReadFile(fs.Arg(0))
		if err != nil {
			fmt.Fprintf(stderr, "labrun: %v\n", err)
			return 2
		}
		opt.Script = string(b)
	default:
		fs.Usage()
		return 2
	}
	for _, f := range files {
		host, guest, ok := strings.Cut(f, ":")
		if !ok || host == "" || !strings.HasPrefix(guest, "/") {
			fmt.Fprintf(stderr, "labrun: -f %q: want host:/guest/path\n", f)
			return 2
		}
		opt.Files[host] = guest
	}
	for _, e := range env {
		k, v, ok := strings.Cut(e, "=")
		if !ok {
			fmt.Fprintf(stderr, "labrun: -e %q: want NAME=value\n", e)
			return 2
		}
		opt.Env[k] = v
	}
	switch {
	case *noMods:
		opt.Modules = append([]string{}, mods...)
	case len(mods) > 0:
		opt.Modules = append(append([]string{}, lab.DefaultModules...), mods...)
	}
	opt.QemuArgs, opt.KernelArgs = qemuArgs, kernelArgs
	if *console {
		opt.Console = stderr
	}
	res, err := lab.Run(ctx, opt)
	if err != nil {
		fmt.Fprintf(stderr, "labrun: %v\n", err)
		if errors.Is(err, lab.ErrTimeout) || errors.Is(err, lab.ErrGuestSetup) {
			fmt.Fprintf(stderr, "labrun: console:\n%s\n", res.Console)
		}
		return 125
	}
	if !*quiet {
		fmt.Fprintf(stderr, "labrun: booted in %v, ran in %v, exit status %d\n",
			res.BootDuration.Round(time.Millisecond), res.Duration.Round(time.Millisecond), res.ExitCode)
	}
	return res.ExitCode
}
