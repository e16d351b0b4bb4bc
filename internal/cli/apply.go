package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	ucli "github.com/urfave/cli/v2"

	"github.com/lvsctl/lvsctl/lvs"
	"github.com/lvsctl/lvsctl/lvs/ipvsadm"
	"github.com/lvsctl/lvsctl/lvs/reconcile"
)

const applyDescription = `FILE (or - for standard input) is in the format ipvsadm -S, ipvsadm-save
and lvsctl -S write: add-service (-A) and add-server (-a) lines, blank lines
and comments (lines starting with #). Each line is parsed as ipvsadm -R would
parse it, with ipvsadm's defaults (scheduler wlc, -g, weight 1). The save
format has no thresholds: a real server without -x and -y has none, so
applying a file ipvsadm -S wrote clears the thresholds it could not show.

The whole file is checked before anything is done: an error names the file
and line, and leaves the kernel alone. Then the kernel's table is listed
once, compared with the file, and the difference is applied over one
netlink socket in as few operations as possible: attributes that IPVS can
change in place (scheduler, persistence, flags; forwarding method, weight,
thresholds, tunnel settings) are edited, not deleted and re-added, so
connections and counters survive. Services and real servers the file does
not name are left alone unless --prune is given.

The plan is printed one operation a line as the ipvsadm command that
performs it: "+" adds, "~" edits, "-" deletes. Applying a file twice
changes nothing the second time. Kernel refusals are reported with
ipvsadm's messages; the exit status is then 1.`

func applyCommand(stdio Stdio) *ucli.Command {
	open := stdio.openKernel
	if open == nil {
		open = openKernel
	}
	return &ucli.Command{
		Name:        "apply",
		Usage:       "make the IPVS table match a file in ipvsadm's save format",
		UsageText:   "lvsctl apply [--dry-run] [--prune] FILE|-\n\nExample:\n   ipvsadm-save -n >rules && $EDITOR rules && lvsctl apply --dry-run rules && lvsctl apply rules",
		Description: applyDescription,
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "dry-run", Usage: "print the plan, change nothing"},
			&ucli.BoolFlag{Name: "prune", Usage: "also delete the services and real servers FILE does not name"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usageError{errors.New("apply: need exactly one FILE (or - for standard input)")}
			}
			return runApply(c.Context, applyRequest{
				file:   c.Args().First(),
				dryRun: c.Bool("dry-run"),
				prune:  c.Bool("prune"),
				stdin:  c.App.Reader,
				out:    c.App.Writer,
				errw:   c.App.ErrWriter,
				open:   open,
			})
		},
	}
}

type applyRequest struct {
	file          string
	dryRun, prune bool
	stdin         io.Reader
	out, errw     io.Writer
	open          func() (ipvsadm.Kernel, func() error, error)
}

func runApply(ctx context.Context, req applyRequest) error {
	name := req.file
	var in io.Reader
	if name == "-" {
		name = "stdin"
		in = req.stdin
		if in == nil {
			in = os.Stdin
		}
	} else {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		defer f.Close()
		in = f
	}
	desired, err := ipvsadm.ReadRules(ctx, in, ipvsadm.ParseOptions{Resolver: &ipvsadm.SystemResolver{}})
	if err != nil {
		var re *ipvsadm.RuleError
		if errors.As(err, &re) {
			return fmt.Errorf("apply: %s:%d: %s", name, re.Line, re.Msg)
		}
		return fmt.Errorf("apply: read %s: %w", name, err)
	}

	kernel, closeKernel, err := req.open()
	if err != nil {
		return fmt.Errorf("apply: Can't initialize ipvs: %s", ipvsadm.InitErrorText(err))
	}
	defer closeKernel()
	current, err := reconcile.Read(ctx, kernel)
	if err != nil {
		return fmt.Errorf("apply: %s", ipvsadm.ListErrorText(err))
	}
	plan, err := reconcile.Plan(desired, current, reconcile.Options{Prune: req.prune})
	if err != nil {
		return fmt.Errorf("apply: %s: %w", name, err) // ReadRules refuses duplicates first
	}
	if len(plan) == 0 {
		dests := 0
		for _, s := range desired {
			dests += len(s.Destinations)
		}
		fmt.Fprintf(req.out, "up to date: %s, %s\n", plural(len(desired), "service"), plural(dests, "real server"))
		return nil
	}
	for _, op := range plan {
		fmt.Fprintf(req.out, "%c %s\n", opSign(op.Kind), ipvsadm.OpRule(op))
	}
	var n [3]int // added, changed, deleted
	for _, op := range plan {
		n[opClass(op.Kind)]++
	}
	if req.dryRun {
		fmt.Fprintf(req.out, "dry run: %d to add, %d to change, %d to delete; nothing done\n", n[0], n[1], n[2])
		return nil
	}

	errs, batchErr := kernel.ExecBatch(ctx, plan)
	var done [3]int
	failed := 0
	for i, op := range plan {
		var e error
		if i < len(errs) {
			e = errs[i]
		} else {
			e = batchErr
		}
		if e != nil {
			failed++
			fmt.Fprintf(req.errw, "lvsctl: apply: %s: %s\n", ipvsadm.OpRule(op), ipvsadm.OpErrorText(op.Kind, e))
			continue
		}
		done[opClass(op.Kind)]++
	}
	fmt.Fprintf(req.out, "applied: %d added, %d changed, %d deleted", done[0], done[1], done[2])
	if failed > 0 {
		fmt.Fprintf(req.out, ", %d failed", failed)
	}
	fmt.Fprintln(req.out)
	switch {
	case batchErr != nil:
		return fmt.Errorf("apply: %w", batchErr)
	case failed > 0:
		return fmt.Errorf("apply: %d of %d operations failed", failed, len(plan))
	}
	return nil
}

func opSign(k lvs.OpKind) byte {
	return "+~-"[opClass(k)]
}

// opClass is 0 for an addition, 1 for an edit, 2 for a deletion.
func opClass(k lvs.OpKind) int {
	switch k {
	case lvs.AddService, lvs.AddDestination:
		return 0
	case lvs.EditService, lvs.EditDestination:
		return 1
	}
	return 2
}

func plural(n int, what string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}
