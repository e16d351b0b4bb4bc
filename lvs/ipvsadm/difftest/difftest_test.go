package difftest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lvsctl/lvsctl/lab"
	"github.com/lvsctl/lvsctl/lvs"
	"github.com/lvsctl/lvsctl/lvs/ipvs"
)

// Where the programs are in the guest. lvsctl is installed once and
// linked under each program name it answers to.
const (
	guestLvsctl = "/usr/local/bin/lvsctl"
	realDir     = "/usr/sbin"
	lvsctlDir   = "/usr/local/lvsctl"
	worldScript = "testdata/world.sh"
)

// envCases, when set, is a regular expression selecting the cases to run
// by name (a shared group's setup runs when any of its cases is chosen).
const envCases = "LVSCTL_DIFFTEST_CASES"

// envFile, when set, names another cases file (under testdata/, which
// the guest has a copy of) to run instead of testdata/cases.txt, for
// exploratory runs.
const envFile = "LVSCTL_DIFFTEST_FILE"

// envShow, when set to 1, logs what the real ipvsadm printed for every
// case, to review what the cases exercise.
const envShow = "LVSCTL_DIFFTEST_SHOW"

// TestDifferential builds lvsctl, boots one lab VM and runs the guest half
// of the suite there (TestVMDifferential). Each mismatching case fails as
// its own guest subtest, named after the case, with its diff.
func TestDifferential(t *testing.T) {
	lab.Require(t)
	bin := filepath.Join(t.TempDir(), "lvsctl")
	start := time.Now()
	build := exec.CommandContext(t.Context(), goTool(), "build", "-trimpath", "-o", bin,
		"github.com/lvsctl/lvsctl/cmd/lvsctl")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build lvsctl: %v\n%s", err, out)
	}
	t.Logf("built lvsctl in %v", time.Since(start).Round(time.Millisecond))
	env := map[string]string{}
	for _, name := range []string{envCases, envShow, envFile} {
		if v := os.Getenv(name); v != "" {
			env[name] = v
		}
	}
	lab.RunTestsWith(t, lab.TestOptions{
		Run:    "^TestVMDifferential$",
		Files:  map[string]string{bin: guestLvsctl},
		Env:    env,
		CPUs:   1,
		Memory: 768,
	})
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// A side is one of the two implementations under comparison.
type side struct {
	name string
	dir  string // holds ipvsadm, ipvsadm-save and ipvsadm-restore
}

var (
	realSide   = side{"ipvsadm", realDir}
	lvsctlSide = side{"lvsctl", lvsctlDir}
)

// outcome is what one command did.
type outcome struct {
	Stdout, Stderr string
	Exit           int
	Signal         string // the signal that killed it, if one did
}

// sideResult is what one side of a case produced.
type sideResult struct {
	Steps []outcome
	// State lists the table after the steps, by the side's own program.
	State string
	// RealState is the real ipvsadm's listing of the lvsctl side's table,
	// taken when State differs from the real side's.
	RealState string
}

// env is the fixed environment of every command: no locale, no
// POSIXLY_CORRECT, the real programs first in PATH (ipvsadm-save and
// ipvsadm-restore are scripts calling ipvsadm).
var cmdEnv = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LC_ALL=C"}

// run runs prog (a path) as argv0 with args and stdin, as root or, with
// asNobody, as the unprivileged user nobody, with env added to cmdEnv.
func run(ctx context.Context, path, argv0 string, args []string, stdin string, asNobody bool, env ...string) (outcome, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path)
	cmd.Args = append([]string{argv0}, args...)
	cmd.Env = append(append([]string{}, cmdEnv...), env...)
	cmd.Stdin = strings.NewReader(stdin)
	if asNobody {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	// A background process left holding the pipes must not hang the run.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	o := outcome{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ee.Exited():
		o.Exit = ee.ExitCode()
	case errors.As(err, &ee) && ctx.Err() == nil:
		// Killed by a signal: the shell's status, and which signal.
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			o.Exit, o.Signal = 128+int(ws.Signal()), ws.Signal().String()
			break
		}
		return o, fmt.Errorf("%s %q: %w", argv0, args, err)
	case err != nil && !errors.Is(err, exec.ErrWaitDelay):
		return o, fmt.Errorf("%s %q: %w", argv0, args, err)
	}
	return o, nil
}

func shell(ctx context.Context, script string) error {
	o, err := run(ctx, "/bin/sh", "sh", []string{"-c", script}, "", false)
	if err != nil {
		return err
	}
	if o.Exit != 0 {
		return fmt.Errorf("sh -c %q: exit %d\n%s%s", script, o.Exit, o.Stdout, o.Stderr)
	}
	return nil
}

// restoreLines feeds lines to ipvsadm -R of side s, which runs each as an
// ipvsadm command line (any command, listings included).
func restoreLines(ctx context.Context, s side, lines []string) (outcome, error) {
	return run(ctx, filepath.Join(s.dir, "ipvsadm"), "ipvsadm", []string{"-R"}, strings.Join(lines, "\n")+"\n", false)
}

// stateListing is the default description of the table after a case:
// rules, counters, timeouts and sync daemons. Each side lists its own
// table with its own program (through its -R), so the lvsctl side tests
// lvsctl's listings of every state the suite builds; when the two differ,
// the real ipvsadm lists the lvsctl side's table too, to tell a different
// table from a different listing.
var stateListing = []string{"-S -n", "-L -n --stats --exact", "-L --timeout", "-L --daemon"}

// runner runs cases in the guest.
type runner struct {
	ctx  context.Context
	ipvs *ipvs.Client
}

// reset clears the table, restores the default timeouts and stops the
// sync daemons, as ipvsadm -C, --set 900 120 300 and --stop-daemon would,
// over one netlink socket (a process start costs ~70 ms under TCG).
func (r *runner) reset() error {
	if err := r.ipvs.Flush(r.ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	// The kernel's defaults: IP_VS_TCP_S_ESTABLISHED 15 min, FIN_WAIT
	// 2 min, UDP 5 min.
	if err := r.ipvs.SetTimeouts(r.ctx, lvs.Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}); err != nil {
		return fmt.Errorf("timeouts: %w", err)
	}
	ds, err := r.ipvs.SyncDaemons(r.ctx)
	if err != nil {
		return fmt.Errorf("sync daemons: %w", err)
	}
	for _, d := range ds {
		if err := r.ipvs.StopSyncDaemon(r.ctx, d.State); err != nil {
			return fmt.Errorf("stop %v daemon: %w", d.State, err)
		}
	}
	return nil
}

// apply runs setup lines through the real ipvsadm -R; any output is a
// broken setup.
func (r *runner) apply(lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	o, err := restoreLines(r.ctx, realSide, lines)
	if err != nil {
		return err
	}
	if o.Exit != 0 || o.Stderr != "" || o.Stdout != "" {
		return fmt.Errorf("setup %q: exit %d\nstdout:\n%sstderr:\n%s", lines, o.Exit, o.Stdout, o.Stderr)
	}
	return nil
}

// side runs the case's steps through one implementation, after preparing
// the state when the case asks for it.
func (r *runner) side(g *group, c *testCase, s side) (sideResult, error) {
	var res sideResult
	if !g.shared {
		if err := r.reset(); err != nil {
			return res, err
		}
		if err := r.apply(g.setup); err != nil {
			return res, err
		}
	}
	if err := r.apply(c.setup); err != nil {
		return res, err
	}
	for _, sh := range c.sh {
		if err := shell(r.ctx, sh); err != nil {
			return res, err
		}
	}
	for _, st := range c.steps {
		o, err := run(r.ctx, filepath.Join(s.dir, st.prog), st.prog, st.args, st.stdin, c.asNobody, c.env...)
		if err != nil {
			return res, err
		}
		res.Steps = append(res.Steps, o)
	}
	var err error
	if res.State, err = r.list(c, g, s); err != nil {
		return res, err
	}
	return res, nil
}

// list lists the table after a case's steps with side s's program.
func (r *runner) list(c *testCase, g *group, s side) (string, error) {
	check := c.check
	if len(check) == 0 && !g.shared {
		check = stateListing
	}
	if len(check) == 0 {
		return "", nil
	}
	o, err := restoreLines(r.ctx, s, check)
	if err != nil {
		return "", err
	}
	return o.Stdout + o.Stderr, nil
}

// connLine is a line of ipvsadm -L -c: the second field is the time left
// before the entry expires, mm:ss.
var connLine = regexp.MustCompile(`^(\S+\s+)(\d\d):(\d\d)(\s.*)$`)

// expireTolerant compares two listings taken one after the other (a, then
// b) allowing each connection entry's expiry to have ticked by one second
// in between, and nothing else.
func expireTolerant(a, b string) bool {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(al) != len(bl) {
		return false
	}
	for i := range al {
		if al[i] == bl[i] {
			continue
		}
		ma, mb := connLine.FindStringSubmatch(al[i]), connLine.FindStringSubmatch(bl[i])
		if ma == nil || mb == nil || ma[1] != mb[1] || ma[4] != mb[4] {
			return false
		}
		secs := func(m []string) int {
			var mm, ss int
			fmt.Sscan(m[2], &mm)
			fmt.Sscan(m[3], &ss)
			return mm*60 + ss
		}
		if d := secs(ma) - secs(mb); d < 0 || d > 1 {
			return false
		}
	}
	return true
}

// same compares two sides, allowing the expiry of connections to tick
// between them (-C leaves connections, so any listing may show some).
func same(a, b sideResult) bool {
	if cmp.Equal(a, b) {
		return true
	}
	if len(a.Steps) != len(b.Steps) || a.State != b.State {
		return false
	}
	for i := range a.Steps {
		x, y := a.Steps[i], b.Steps[i]
		if x.Exit != y.Exit || x.Stderr != y.Stderr || !expireTolerant(x.Stdout, y.Stdout) {
			return false
		}
	}
	return true
}

// describe is a case's commands, for failure messages.
func describe(g *group, c *testCase) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d", casesFile, c.line)
	for _, l := range append(append([]string{}, g.setup...), c.setup...) {
		fmt.Fprintf(&b, "\n  setup ipvsadm %s", l)
	}
	for _, sh := range c.sh {
		fmt.Fprintf(&b, "\n  sh %s", sh)
	}
	for _, s := range c.steps {
		fmt.Fprintf(&b, "\n  $ %s %s", s.prog, strings.Join(quoteAll(s.args), " "))
		if s.stdin != "" {
			fmt.Fprintf(&b, "\n    stdin: %q", s.stdin)
		}
	}
	return b.String()
}

func quoteAll(args []string) []string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"") {
			a = "'" + a + "'"
		}
		q[i] = a
	}
	return q
}

// report formats the differences between the real ipvsadm (want) and
// lvsctl (got), step by step.
func report(want, got sideResult, c *testCase) string {
	var b strings.Builder
	for i := range c.steps {
		var w, g outcome
		if i < len(want.Steps) {
			w = want.Steps[i]
		}
		if i < len(got.Steps) {
			g = got.Steps[i]
		}
		prefix := fmt.Sprintf("step %d (%s %s)", i+1, c.steps[i].prog, strings.Join(quoteAll(c.steps[i].args), " "))
		if w.Stdout != g.Stdout {
			fmt.Fprintf(&b, "%s stdout (-ipvsadm +lvsctl):\n%s", prefix, cmp.Diff(w.Stdout, g.Stdout))
		}
		if w.Stderr != g.Stderr {
			fmt.Fprintf(&b, "%s stderr (-ipvsadm +lvsctl):\n%s", prefix, cmp.Diff(w.Stderr, g.Stderr))
		}
		if w.Exit != g.Exit {
			fmt.Fprintf(&b, "%s exit status: ipvsadm %d, lvsctl %d\n", prefix, w.Exit, g.Exit)
		}
	}
	switch {
	case want.State == got.State:
	case got.RealState == want.State:
		fmt.Fprintf(&b, "same table afterwards, listed differently (-ipvsadm +lvsctl):\n%s", cmp.Diff(want.State, got.State))
	case got.RealState == got.State:
		fmt.Fprintf(&b, "different table afterwards (-after ipvsadm +after lvsctl):\n%s", cmp.Diff(want.State, got.State))
	default:
		fmt.Fprintf(&b, "different table afterwards, as ipvsadm lists it (-after ipvsadm +after lvsctl):\n%s", cmp.Diff(want.State, got.RealState))
		fmt.Fprintf(&b, "and lvsctl lists that table differently (-ipvsadm +lvsctl):\n%s", cmp.Diff(got.RealState, got.State))
	}
	return b.String()
}

// prepareGuest links lvsctl under the programs' names and builds the
// world the cases expect (interfaces, names, traffic namespaces).
func prepareGuest(ctx context.Context) error {
	if err := os.MkdirAll(lvsctlDir, 0o755); err != nil {
		return err
	}
	for p := range programs {
		if err := os.Symlink(guestLvsctl, filepath.Join(lvsctlDir, p)); err != nil {
			return err
		}
	}
	abs, err := filepath.Abs(worldScript)
	if err != nil {
		return err
	}
	return shell(ctx, "sh "+abs)
}

// TestVMDifferential is the guest half of TestDifferential.
func TestVMDifferential(t *testing.T) {
	lab.RequireVM(t)
	file := casesFile
	if f := os.Getenv(envFile); f != "" {
		file = f
	}
	groups := loadCases(t, file)
	if re := os.Getenv(envCases); re != "" {
		sel, err := regexp.Compile(re)
		if err != nil {
			t.Fatalf("%s: %v", envCases, err)
		}
		groups = selectCases(groups, sel)
	}
	ctx := t.Context()
	start := time.Now()
	if err := prepareGuest(ctx); err != nil {
		t.Fatalf("preparing the guest: %v", err)
	}
	client, err := ipvs.Open(ipvs.Options{})
	if err != nil {
		t.Fatalf("ipvs: %v", err)
	}
	defer client.Close()
	r := &runner{ctx: ctx, ipvs: client}

	var total, bad, failed int
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			if g.shared {
				// The services first, then the traffic through them.
				if err := r.reset(); err != nil {
					t.Fatal(err)
				}
				if err := r.apply(g.setup); err != nil {
					t.Fatal(err)
				}
				for _, sh := range g.sh {
					if err := shell(ctx, sh); err != nil {
						t.Fatal(err)
					}
				}
			} else {
				for _, sh := range g.sh {
					if err := shell(ctx, sh); err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, c := range g.cases {
				total++
				if c.bad() {
					bad++
				}
				ok := t.Run(c.name, func(t *testing.T) {
					// A shared group's read-only listings may catch a rate
					// estimate or a connection changing between the two
					// runs: run both again, a few times.
					attempts := 1
					if g.shared && !c.prepared() {
						attempts = 5
					}
					var want, got sideResult
					for i := 0; i < attempts; i++ {
						var err error
						if want, err = r.side(g, c, realSide); err != nil {
							t.Fatalf("%s\nipvsadm side: %v", describe(g, c), err)
						}
						if got, err = r.side(g, c, lvsctlSide); err != nil {
							t.Fatalf("%s\nlvsctl side: %v", describe(g, c), err)
						}
						if c.ownStderr {
							for i := range want.Steps {
								want.Steps[i].Stderr = "(lvsctl's own words)"
							}
							for i := range got.Steps {
								got.Steps[i].Stderr = "(lvsctl's own words)"
							}
						}
						if c.realCrashes {
							checkCrash(t, g, c, want, got)
							return
						}
						if want.State != got.State {
							// Still the lvsctl side's table: list it as
							// the real ipvsadm does.
							if got.RealState, err = r.list(c, g, realSide); err != nil {
								t.Fatalf("%s\nlisting the lvsctl side's table: %v", describe(g, c), err)
							}
						}
						if same(want, got) {
							if os.Getenv(envShow) == "1" {
								t.Logf("%s\n%s", describe(g, c), show(want))
							}
							return
						}
					}
					t.Errorf("%s\n%s", describe(g, c), report(want, got, c))
				})
				if !ok {
					failed++
				}
			}
		})
	}
	t.Logf("differential suite: %d cases (%d bad inputs), %d passed, %d failed, in %v",
		total, bad, total-failed, failed, time.Since(start).Round(time.Millisecond))
}

// selectCases keeps the cases whose names sel matches, and the groups
// holding any.
func selectCases(groups []*group, sel *regexp.Regexp) []*group {
	var out []*group
	for _, g := range groups {
		h := *g
		h.cases = nil
		for _, c := range g.cases {
			if sel.MatchString(c.name) {
				h.cases = append(h.cases, c)
			}
		}
		if len(h.cases) > 0 {
			out = append(out, &h)
		}
	}
	return out
}

// show formats one side's outcome for envShow.
func show(r sideResult) string {
	var b strings.Builder
	for i, o := range r.Steps {
		fmt.Fprintf(&b, "step %d exit %d%s\nstdout:\n%sstderr:\n%s", i+1, o.Exit, signalNote(o), o.Stdout, o.Stderr)
	}
	fmt.Fprintf(&b, "table:\n%s", r.State)
	return b.String()
}

// checkCrash checks a case where the real ipvsadm dies of a signal (a bug
// of ipvsadm 1.31 that lvsctl does not copy): lvsctl must not, and what it
// does instead is logged.
func checkCrash(t *testing.T, g *group, c *testCase, want, got sideResult) {
	t.Helper()
	crashed := false
	for _, o := range want.Steps {
		crashed = crashed || o.Signal != ""
	}
	if !crashed {
		t.Errorf("%s\nthe real ipvsadm no longer crashes here: drop real-crashes and compare\n%s", describe(g, c), show(want))
	}
	for _, o := range got.Steps {
		if o.Signal != "" {
			t.Errorf("%s\nlvsctl was killed by %s", describe(g, c), o.Signal)
		}
	}
	t.Logf("ipvsadm crashes; lvsctl:\n%s", show(got))
}

func signalNote(o outcome) string {
	if o.Signal == "" {
		return ""
	}
	return " (" + o.Signal + ")"
}
