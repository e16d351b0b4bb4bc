package difftest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
)

// casesFile is the suite, relative to the package directory (go test and
// the guest run from there).
const casesFile = "testdata/cases.txt"

// A group is a run of cases sharing a mode and a setup.
type group struct {
	name string
	// shared groups apply their setup once and run both programs back to
	// back on that one state, for listings of live traffic that cannot be
	// replayed; their cases must not change the table unless they say
	// how to check it. Other groups reset the kernel before each side.
	shared bool
	setup  []string // ipvsadm command lines, without the program name
	sh     []string // shell commands run once at the start of the group
	cases  []*testCase
}

// A testCase is one comparison: the same steps run by both programs.
type testCase struct {
	name  string
	line  int // of its "case" line, for messages
	setup []string
	sh    []string // shell commands run before each side
	steps []step
	// check replaces the default listing of the table after the steps.
	check []string
	// ownStderr: the steps print a usage text on stderr, which is
	// lvsctl's own words (the issue leaves help texts out); stderr is not
	// compared.
	ownStderr bool
	// asNobody runs the steps as the unprivileged user nobody.
	asNobody bool
	// realCrashes: the real ipvsadm dies of a signal on this input; lvsctl
	// must not, and is not compared.
	realCrashes bool
	// env is added to the steps' environment (NAME=value).
	env []string
}

// A step is one command under test.
type step struct {
	prog  string // ipvsadm, ipvsadm-save or ipvsadm-restore
	args  []string
	stdin string
}

// bad reports whether the case is one of the bad inputs the issue counts.
func (c *testCase) bad() bool { return strings.HasPrefix(c.name, "bad-") }

// prepared reports whether each side prepares its own state.
func (c *testCase) prepared() bool { return len(c.setup) > 0 || len(c.sh) > 0 || len(c.check) > 0 }

var programs = map[string]bool{"ipvsadm": true, "ipvsadm-save": true, "ipvsadm-restore": true}

// parseCases reads the cases file format: one directive per line,
//
//	group NAME [shared]
//	case NAME
//	setup ARGS       ipvsadm arguments applied before the case (each side)
//	sh COMMAND       a shell command (group: once, after a shared group's
//	                 setup; case: before each side)
//	run PROG ARGS    a command under test; PROG is ipvsadm, ipvsadm-save
//	                 or ipvsadm-restore
//	< TEXT           a line of standard input for the run above ("<" alone
//	                 is an empty line)
//	<q "TEXT"        standard input as a Go string literal, no newline added
//	check ARGS       ipvsadm arguments listing the state after the steps,
//	                 instead of the default listings
//	own-stderr       stderr is a usage text in lvsctl's own words: compare
//	                 stdout, exit status and the table only
//	as-nobody        run the steps as the unprivileged user nobody
//	real-crashes     the real ipvsadm dies of a signal: lvsctl must not
//	env NAME=value   set a variable in the steps' environment
//
// Lines starting with # and blank lines are ignored. ARGS are split at
// blanks; '...' and "..." quote (no escapes).
func parseCases(r io.Reader) ([]*group, error) {
	var (
		groups []*group
		g      *group
		c      *testCase
		names  = map[string]int{}
	)
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		verb, rest, _ := strings.Cut(trimmed, " ")
		if verb == "<q" {
			text, err := strconv.Unquote(strings.TrimSpace(rest))
			if err != nil {
				return nil, fmt.Errorf("line %d: <q: %w", n, err)
			}
			if c == nil || len(c.steps) == 0 {
				return nil, fmt.Errorf("line %d: stdin before any run", n)
			}
			c.steps[len(c.steps)-1].stdin += text
			continue
		}
		if verb == "<" {
			// Keep the text exactly after "< ".
			_, text, _ := strings.Cut(strings.TrimLeft(line, " \t"), "<")
			text = strings.TrimPrefix(text, " ")
			if c == nil || len(c.steps) == 0 {
				return nil, fmt.Errorf("line %d: stdin before any run", n)
			}
			c.steps[len(c.steps)-1].stdin += text + "\n"
			continue
		}
		switch verb {
		case "group":
			f := strings.Fields(rest)
			if len(f) == 0 || len(f) > 2 || len(f) == 2 && f[1] != "shared" {
				return nil, fmt.Errorf("line %d: want group NAME [shared]", n)
			}
			g = &group{name: f[0], shared: len(f) == 2}
			groups = append(groups, g)
			c = nil
			continue
		case "case":
			if g == nil {
				return nil, fmt.Errorf("line %d: case outside a group", n)
			}
			name := strings.TrimSpace(rest)
			if name == "" || strings.ContainsAny(name, " \t/") {
				return nil, fmt.Errorf("line %d: bad case name %q", n, name)
			}
			if prev, dup := names[name]; dup {
				return nil, fmt.Errorf("line %d: case %s already defined on line %d", n, name, prev)
			}
			names[name] = n
			c = &testCase{name: name, line: n}
			g.cases = append(g.cases, c)
			continue
		}
		if g == nil {
			return nil, fmt.Errorf("line %d: %s outside a group", n, verb)
		}
		args, err := splitArgs(rest)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		switch verb {
		case "own-stderr", "as-nobody", "real-crashes":
			if c == nil || rest != "" {
				return nil, fmt.Errorf("line %d: %s stands alone in a case", n, verb)
			}
			switch verb {
			case "own-stderr":
				c.ownStderr = true
			case "as-nobody":
				c.asNobody = true
			default:
				c.realCrashes = true
			}
		case "setup":
			if c == nil {
				g.setup = append(g.setup, rest)
			} else {
				c.setup = append(c.setup, rest)
			}
		case "sh":
			if c == nil {
				g.sh = append(g.sh, rest)
			} else {
				c.sh = append(c.sh, rest)
			}
		case "env":
			if c == nil || len(args) != 1 || !strings.Contains(args[0], "=") {
				return nil, fmt.Errorf("line %d: want env NAME=value in a case", n)
			}
			c.env = append(c.env, args[0])
		case "run":
			if c == nil {
				return nil, fmt.Errorf("line %d: run outside a case", n)
			}
			if len(args) == 0 || !programs[args[0]] {
				return nil, fmt.Errorf("line %d: run needs ipvsadm, ipvsadm-save or ipvsadm-restore", n)
			}
			c.steps = append(c.steps, step{prog: args[0], args: args[1:]})
		case "check":
			if c == nil {
				return nil, fmt.Errorf("line %d: check outside a case", n)
			}
			c.check = append(c.check, rest)
		default:
			return nil, fmt.Errorf("line %d: unknown directive %q", n, verb)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, g := range groups {
		for _, c := range g.cases {
			if len(c.steps) == 0 {
				return nil, fmt.Errorf("line %d: case %s runs nothing", c.line, c.name)
			}
		}
	}
	return groups, nil
}

// splitArgs splits at blanks, honouring '...' and "..." (no escapes).
func splitArgs(s string) ([]string, error) {
	var (
		args  []string
		cur   strings.Builder
		inArg bool
		quote rune
	)
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inArg = r, true
		case r == ' ' || r == '\t':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteRune(r)
			inArg = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote in %q", quote, s)
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}

func loadCases(t testing.TB, file string) []*group {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	groups, err := parseCases(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return groups
}

// Minimums the issue sets for the suite.
const (
	minCases    = 150
	minBadCases = 40
)

// TestCasesFile checks the suite's file outside the lab: it parses, and it
// is as large as the issue asks.
func TestCasesFile(t *testing.T) {
	total, bad := 0, 0
	for _, g := range loadCases(t, casesFile) {
		for _, c := range g.cases {
			total++
			if c.bad() {
				bad++
			}
			if g.shared && len(c.setup) > 0 && len(c.check) == 0 {
				t.Errorf("case %s (line %d): a case of a shared group that changes the table must say what to check", c.name, c.line)
			}
		}
	}
	t.Logf("%d cases, %d of them bad inputs", total, bad)
	if total < minCases {
		t.Errorf("%d cases, want at least %d", total, minCases)
	}
	if bad < minBadCases {
		t.Errorf("%d bad-input cases, want at least %d", bad, minBadCases)
	}
}

func TestSplitArgs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"-A -t 192.0.2.1:80", []string{"-A", "-t", "192.0.2.1:80"}},
		{"-t '' x", []string{"-t", "", "x"}},
		{`--pe "a b"  c`, []string{"--pe", "a b", "c"}},
		{"a'b c'd", []string{"ab cd"}},
	} {
		got, err := splitArgs(tc.in)
		if err != nil {
			t.Errorf("splitArgs(%q): %v", tc.in, err)
			continue
		}
		if strings.Join(got, "\x00") != strings.Join(tc.want, "\x00") || len(got) != len(tc.want) {
			t.Errorf("splitArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if _, err := splitArgs("'x"); err == nil {
		t.Error("splitArgs accepted an unterminated quote")
	}
}
