// Package cli is lvsctl's command line: the urfave/cli application with its
// subcommands, and the multi-call switch that makes the binary behave as
// ipvsadm, ipvsadm-save or ipvsadm-restore when invoked under those names,
// or when its first argument is an ipvsadm option rather than a subcommand.
//
// It is the only package that turns errors into exit codes and messages.
package cli
