package cli

import (
	"context"
	"os"

	"github.com/lvsctl/lvsctl/lvs/ipvs"
	"github.com/lvsctl/lvsctl/lvs/ipvsadm"
)

// runIPVSAdm runs the ipvsadm-compatible grammar against the kernel.
// Opening the kernel client may fail (no IPVS, no permission): ipvsadm.Main
// then reports it the way ipvsadm does, except for -h and -v, which need no
// kernel.
func runIPVSAdm(ctx context.Context, prog string, args []string, stdio Stdio) int {
	env := ipvsadm.Env{
		Stdin:    stdio.In,
		Stdout:   stdio.Out,
		Stderr:   stdio.Err,
		Resolver: &ipvsadm.SystemResolver{},
		Getenv:   os.Getenv,
		Version:  Version,
	}
	client, err := ipvs.Open(ipvs.Options{})
	if err != nil {
		env.KernelErr = err
	} else {
		defer client.Close()
		env.Kernel = client
	}
	return ipvsadm.Main(ctx, prog, args, env)
}
