// Command lvsctl runs a Linux Virtual Server director: a drop-in ipvsadm,
// firewall-mark helpers, a VRRP speaker and a health-check monitor.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/lvsctl/lvsctl/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args, cli.Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
