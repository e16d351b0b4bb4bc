package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	ucli "github.com/urfave/cli/v2"

	"github.com/lvsctl/lvsctl/lvs/ipvsadm"
)

// Version is set at build time by the Makefile (git describe).
var Version = "dev"

// IPVSAdmVersion is the ipvsadm release whose grammar and output lvsctl
// reproduces.
const IPVSAdmVersion = "1.31"

// Exit codes shared by every subcommand.
const (
	ExitOK     = 0 // success
	ExitFailed = 1 // the operation failed
	ExitUsage  = 2 // bad command line
)

// Stdio is where a run reads and writes.
type Stdio struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer

	// openKernel replaces the kernel client in tests.
	openKernel func() (ipvsadm.Kernel, func() error, error)
}

// compatPrograms are the names under which the binary is another program.
var compatPrograms = map[string]bool{
	"ipvsadm":         true,
	"ipvsadm-save":    true,
	"ipvsadm-restore": true,
}

// Run executes one command line (args[0] is the program name, as in
// os.Args) and returns the process exit code.
func Run(ctx context.Context, args []string, stdio Stdio) int {
	prog := "lvsctl"
	var rest []string
	if len(args) > 0 {
		prog = filepath.Base(args[0])
		rest = args[1:]
	}
	if compatPrograms[prog] {
		return runCompat(ctx, prog, rest, stdio, true)
	}
	app := newApp(stdio)
	if code, done := dispatchLvsctl(ctx, app, rest, stdio); done {
		return code
	}
	// Anything that is not a subcommand is ipvsadm's grammar: `lvsctl -L -n`
	// is `ipvsadm -L -n`, and `lvsctl` alone lists the table as ipvsadm does.
	if len(rest) == 0 || app.Command(rest[0]) == nil {
		return withPermissionHint(stdio, func(s Stdio) int { return runIPVSAdm(ctx, "ipvsadm", rest, s) })
	}
	err := app.RunContext(ctx, append([]string{"lvsctl"}, rest...))
	return exitCode(err, stdio.Err)
}

func newApp(stdio Stdio) *ucli.App {
	return &ucli.App{
		Name:            "lvsctl",
		Usage:           "run a Linux Virtual Server director",
		Version:         Version,
		Reader:          stdio.In,
		Writer:          stdio.Out,
		ErrWriter:       stdio.Err,
		HideHelpCommand: true,
		ExitErrHandler:  func(*ucli.Context, error) {}, // exit codes are ours to choose
		Commands: []*ucli.Command{
			versionCommand(),
			fwmarkCommand(stdio),
			realserverCommand(stdio),
			applyCommand(stdio),
			vrrpCommand(stdio),
			monitorCommand(stdio),
			completionCommand(),
		},
	}
}

func versionCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "version",
		Usage:     "print the lvsctl version and the ipvsadm release it is compatible with",
		UsageText: "lvsctl version\n\nExample:\n   lvsctl version",
		Action: func(c *ucli.Context) error {
			_, err := fmt.Fprintf(c.App.Writer, "lvsctl %s (ipvsadm %s compatible)\n", Version, IPVSAdmVersion)
			return err
		},
	}
}

// usageError marks a bad command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(stderr, "lvsctl: %v\n", err)
	io.WriteString(stderr, permissionHint(err))
	if isUsageError(err) {
		return ExitUsage
	}
	return ExitFailed
}
