package cli

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/lvsctl/lvsctl/lvs/ipvs"
	"github.com/lvsctl/lvsctl/lvs/ipvsadm"
)

// runIPVSAdm runs the ipvsadm-compatible grammar against the kernel.
// Opening the kernel client may fail (no IPVS, no permission): ipvsadm.Main
// then reports it the way ipvsadm does, except for -h and -v, which need no
// kernel.
func runIPVSAdm(ctx context.Context, prog string, args []string, stdio Stdio) int {
	return runCompat(ctx, prog, args, stdio, false)
}

// runCompat runs the ipvsadm grammar; strict (the binary runs under one of
// ipvsadm's names) refuses lvsctl's own additions to it.
func runCompat(ctx context.Context, prog string, args []string, stdio Stdio, strict bool) int {
	tuneForOneShot()
	env := ipvsadm.Env{
		Strict:   strict,
		Stdin:    stdio.In,
		Stdout:   stdio.Out,
		Stderr:   stdio.Err,
		Resolver: &ipvsadm.SystemResolver{},
		Getenv:   os.Getenv,
		Version:  Version,
	}
	open := stdio.openKernel
	if open == nil {
		open = openKernel
	}
	kernel, closeKernel, err := open()
	if err != nil {
		env.KernelErr = err
	} else {
		defer closeKernel()
		env.Kernel = kernel
	}
	return ipvsadm.Main(ctx, prog, args, env)
}

// openKernel connects to the kernel's IPVS in the process's own network
// namespace.
func openKernel() (ipvsadm.Kernel, func() error, error) {
	c, err := ipvs.Open(ipvs.Options{})
	if err != nil {
		return nil, nil, err
	}
	return c, c.Close, nil
}

// tuneForOneShot sets the runtime up for a short, sequential run of
// netlink requests and replies. With more than one P every reply wakes an
// idle thread (futex) for nothing, and the default GC target collects the
// listing's garbage several times over: on a 55,000-entry table in the lab
// the two together made -L -n take 2.4 times as long. The heap of the
// largest listing stays far below what GOGC=400 lets it reach.
func tuneForOneShot() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}
