package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/lvsctl/lvsctl/lvs"
	"github.com/lvsctl/lvsctl/lvs/ipvsadm"
)

// Usage errors and "did you mean". Every mistake on the command line exits
// 2 (ExitUsage) with one line saying what is wrong, a suggestion when a
// name is close to a real one, and where to read the usage. The ipvsadm
// grammar keeps ipvsadm's own texts and statuses; only a first word that
// is not an option and is close to a subcommand name is caught before it.

// dispatchLvsctl handles what Run must decide before the urfave app runs:
// lvsctl's own --help, and a mistyped subcommand. done is false when the
// command line goes on as before.
func dispatchLvsctl(ctx context.Context, app *ucli.App, rest []string, stdio Stdio) (code int, done bool) {
	if len(rest) == 1 && (rest[0] == "-h" || rest[0] == "--help") {
		return writeMainHelp(ctx, app, stdio), true
	}
	if len(rest) == 0 || strings.HasPrefix(rest[0], "-") || app.Command(rest[0]) != nil {
		finishApp(app)
		return 0, false
	}
	if s := closest(rest[0], commandNames(app.Commands)); s != "" {
		fmt.Fprintf(stdio.Err, "lvsctl: unknown command %q; did you mean %q?\nRun \"lvsctl --help\" for the commands.\n", rest[0], s)
		return ExitUsage, true
	}
	return 0, false
}

// finishApp makes every command report usage errors as usage errors (exit
// 2, with a suggestion), and gives commands that only group subcommands
// an action that refuses an unknown one.
func finishApp(app *ucli.App) {
	var walk func(path string, cmds []*ucli.Command)
	walk = func(path string, cmds []*ucli.Command) {
		for _, c := range cmds {
			p := strings.TrimSpace(path + " " + c.Name)
			c.OnUsageError = flagUsageError(p, c)
			if len(c.Subcommands) > 0 {
				if c.Action == nil {
					c.Action = groupAction(p, c)
				}
				walk(p, c.Subcommands)
				addGroupExamples(c)
			}
		}
	}
	walk("", app.Commands)
}

// addGroupExamples gives a command that groups subcommands the examples of
// its subcommands in its help, unless it has its own.
func addGroupExamples(c *ucli.Command) {
	if strings.Contains(c.UsageText, "Example") {
		return
	}
	var ex []string
	for _, s := range c.Subcommands {
		ex = append(ex, usageExamples(s.UsageText)...)
	}
	if len(ex) == 0 {
		return
	}
	if c.UsageText == "" {
		c.UsageText = "lvsctl " + c.Name + " COMMAND [options]"
	}
	c.UsageText += "\n\nExamples:\n   " + strings.Join(ex, "\n   ")
}

// usageExamples returns the example lines of a UsageText: those after a
// line starting with "Example".
func usageExamples(text string) []string {
	var out []string
	in := false
	for _, l := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(strings.TrimSpace(l), "Example"):
			in = true
		case in && strings.TrimSpace(l) != "":
			out = append(out, strings.TrimSpace(l))
		}
	}
	return out
}

func commandNames(cmds []*ucli.Command) []string {
	var names []string
	for _, c := range cmds {
		if c.Hidden || c.Name == "help" {
			continue
		}
		names = append(names, c.Names()...)
	}
	return names
}

// groupAction runs for "lvsctl GROUP" with no known subcommand.
func groupAction(path string, c *ucli.Command) ucli.ActionFunc {
	return func(ctx *ucli.Context) error {
		if ctx.NArg() == 0 {
			w := ctx.App.Writer
			ctx.App.Writer = ctx.App.ErrWriter
			_ = ucli.ShowSubcommandHelp(ctx)
			ctx.App.Writer = w
			return usageError{fmt.Errorf("%s: a command is needed (%s)", path, strings.Join(commandNames(c.Subcommands), ", "))}
		}
		word := ctx.Args().First()
		msg := fmt.Sprintf("%s: unknown command %q", path, word)
		if s := closest(word, commandNames(c.Subcommands)); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		return usageError{fmt.Errorf("%s\nRun \"lvsctl %s --help\" for usage.", msg, path)}
	}
}

// flagUsageError turns urfave's flag parsing errors into usage errors
// with a suggestion for a mistyped flag.
func flagUsageError(path string, c *ucli.Command) ucli.OnUsageErrorFunc {
	return func(_ *ucli.Context, err error, _ bool) error {
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
			name = strings.TrimLeft(name, "-")
			var names []string
			for _, f := range c.Flags {
				names = append(names, f.Names()...)
			}
			names = append(names, "help")
			msg = fmt.Sprintf("%s: unknown flag %s", path, dashed(name))
			if s := closest(name, names); s != "" {
				msg += fmt.Sprintf("; did you mean %s?", dashed(s))
			}
		} else {
			msg = path + ": " + msg
		}
		return usageError{fmt.Errorf("%s\nRun \"lvsctl %s --help\" for usage.", msg, path)}
	}
}

func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// isUsageError says whether err is a mistake on the command line,
// including the ones urfave/cli reports itself.
func isUsageError(err error) bool {
	var ue usageError
	if errors.As(err, &ue) {
		return true
	}
	// urfave/cli's missing-required-flags error has no exported type.
	return strings.HasPrefix(err.Error(), "Required flag")
}

// closest returns the candidate nearest to word, if it is near enough to
// be what was meant: at most one edit for short words, two for longer
// ones, or word is a prefix of a single candidate.
func closest(word string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if d := editDistance(word, c); d < bestD {
			best, bestD = c, d
		}
	}
	limit := 1
	if len(word) >= 6 {
		limit = 2
	}
	if best != "" && bestD <= limit && bestD < len(word) {
		return best
	}
	var prefixed []string
	for _, c := range candidates {
		if len(word) >= 2 && strings.HasPrefix(c, word) {
			prefixed = append(prefixed, c)
		}
	}
	if len(prefixed) == 1 {
		return prefixed[0]
	}
	return ""
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of neighbours cost 1.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// mainHelpExamples are the examples of `lvsctl --help`.
const mainHelpExamples = `Examples:
  # A virtual service and a real server reached by direct routing
  lvsctl -A -t 192.0.2.100:80 -s wrr
  lvsctl -a -t 192.0.2.100:80 -r 198.51.100.11:80 -g -w 2
  # The table with counters, as text and as JSON
  lvsctl -L -n --stats
  lvsctl -L -n --json
  # What a rules file would change, then change it
  lvsctl apply --dry-run rules && lvsctl apply rules
  # HTTP and HTTPS as one persistent service
  lvsctl fwmark service --vip 192.0.2.100 --ports 80,443 --mark 1 -p 300 -r 198.51.100.11
  # VRRP from an existing keepalived.conf
  lvsctl vrrp run -f /etc/keepalived/keepalived.conf
`

// writeMainHelp prints lvsctl's help: the subcommands, examples, then
// the ipvsadm grammar.
func writeMainHelp(ctx context.Context, app *ucli.App, stdio Stdio) int {
	var b strings.Builder
	b.WriteString("lvsctl runs a Linux Virtual Server director: the IPVS table (ipvsadm's grammar,\n" +
		"output and errors), firewall-mark rules, real-server setup and VRRP.\n\n" +
		"Usage:\n  lvsctl COMMAND [options]    one of the commands below\n" +
		"  lvsctl IPVSADM-OPTIONS      ipvsadm's grammar (below); also as ipvsadm,\n" +
		"                              ipvsadm-save and ipvsadm-restore\n\nCommands:\n")
	width := 0
	for _, c := range app.Commands {
		width = max(width, len(c.Name))
	}
	for _, c := range app.Commands {
		if c.Hidden {
			continue
		}
		fmt.Fprintf(&b, "  %-*s  %s\n", width, c.Name, c.Usage)
	}
	b.WriteString("\n" + mainHelpExamples + "\n" +
		"Run \"lvsctl COMMAND --help\" for a command's options, \"man lvsctl\" for the whole story.\n" +
		"Exit status: 0 success, 1 the operation failed, 2 bad usage; the ipvsadm\n" +
		"grammar exits as ipvsadm does.\n\n")
	if _, err := io.WriteString(stdio.Out, b.String()); err != nil {
		return ExitFailed
	}
	// The grammar's own help needs no kernel.
	return ipvsadm.Main(ctx, "lvsctl", []string{"-h"}, ipvsadm.Env{
		Stdin: stdio.In, Stdout: stdio.Out, Stderr: stdio.Err,
		KernelErr: lvs.ErrIPVSUnavailable, Version: Version,
	})
}
