package cli

import (
	"context"
	"fmt"
)

// runIPVSAdm runs the ipvsadm-compatible grammar.
func runIPVSAdm(ctx context.Context, prog string, args []string, stdio Stdio) int {
	_ = ctx
	fmt.Fprintf(stdio.Err, "%s: the ipvsadm grammar is not wired in yet\n", prog)
	return ExitFailed
}
