package ipvsadm

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lvsctl/lvsctl/lab"
)

var updateLab = flag.Bool("update-lab", false,
	"record testdata/ipvsadm/*.golden by running the real ipvsadm 1.31 in the lab VM")

type labCase struct {
	name         string
	setup, steps []step
}

// labCases are the cases whose expected output comes from the real
// ipvsadm: the listing and error scenarios that need no traffic or
// counters, and every parse case run as one command on an empty table.
// Help and version texts are lvsctl's own and are left out.
func labCases() []labCase {
	var out []labCase
	for _, tc := range mainCases {
		if tc.stats || tc.conns || tc.name == "help-version" || tc.name == "save-help" {
			continue
		}
		out = append(out, labCase{name: "main-" + tc.name, setup: tc.setup, steps: tc.steps})
	}
	for _, tc := range parseCases {
		if strings.HasPrefix(tc.name, "help") && tc.name != "help-after-command" || strings.HasPrefix(tc.name, "version") {
			continue
		}
		out = append(out, labCase{name: "parse-" + tc.name, steps: []step{{args: tc.args}}})
	}
	return out
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// labScript runs every case through the real programs, resetting the
// kernel between cases, and prints each case in runSteps' format after a
// "=== CASE name" line.
func labScript(cases []labCase) string {
	var b strings.Builder
	// eth0 and eth1 for the sync daemon (ipvsadm's default interface is
	// eth0); a veth pair, since dummy devices cannot multicast.
	b.WriteString("export PATH=/sbin:/usr/sbin:/bin:/usr/bin\n" +
		"ip link add eth0 type veth peer name eth1 && ip link set eth0 up && ip link set eth1 up\n" +
		"reset() {\n" +
		"  ipvsadm -C; ipvsadm --set 900 120 300\n" +
		"  ipvsadm --stop-daemon master; ipvsadm --stop-daemon backup\n} >/dev/null 2>&1\n")
	command := func(s step) string {
		prog := s.prog
		if prog == "" {
			prog = "ipvsadm"
		}
		cmd := prog
		for _, a := range splitArgs(s.args) {
			cmd += " " + shellQuote(a)
		}
		return cmd
	}
	for _, c := range cases {
		fmt.Fprintf(&b, "echo %s\nreset\n", shellQuote("=== CASE "+c.name))
		for _, s := range c.setup {
			fmt.Fprintf(&b, "%s </dev/null >/dev/null 2>&1\n", command(s))
		}
		for _, s := range c.steps {
			prog := s.prog
			if prog == "" {
				prog = "ipvsadm"
			}
			head := fmt.Sprintf("$ %s %s\n", prog, s.args)
			if s.stdin != "" {
				head += "stdin:\n" + s.stdin
			}
			fmt.Fprintf(&b, "printf '%%s' %s\nprintf '%%s' %s >/tmp/in\n", shellQuote(head), shellQuote(s.stdin))
			fmt.Fprintf(&b, "%s </tmp/in >/tmp/out 2>/tmp/err; rc=$?\n", command(s))
			b.WriteString("echo stdout:; cat /tmp/out; echo stderr:; cat /tmp/err; echo \"exit: $rc\"; echo\n")
		}
	}
	return b.String()
}

// TestRecordRealIpvsadm writes the goldens of the real ipvsadm. It runs
// only with -update-lab, in the lab VM.
func TestRecordRealIpvsadm(t *testing.T) {
	if !*updateLab {
		t.Skip("run with -update-lab to record from the real ipvsadm in the lab")
	}
	lab.Require(t)
	cases := labCases()
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	res, err := lab.Run(ctx, lab.Options{
		Script:  labScript(cases),
		Modules: append(append([]string{}, lab.DefaultModules...), "veth"),
		Timeout: 9 * time.Minute,
	})
	if err != nil {
		t.Fatalf("lab: %v\nstderr:\n%s\nconsole:\n%s", err, res.Stderr, res.Console)
	}
	if len(res.Stderr) > 0 {
		t.Logf("script stderr:\n%s", res.Stderr)
	}
	sections := strings.Split(string(res.Stdout), "=== CASE ")
	written := 0
	for _, sec := range sections[1:] {
		name, body, _ := strings.Cut(sec, "\n")
		path := filepath.Join("testdata", "ipvsadm", name+".golden")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		written++
	}
	if written != len(cases) {
		t.Errorf("recorded %d cases of %d", written, len(cases))
	}
}

// labSkip are recorded cases the in-memory kernel cannot reproduce.
var labSkip = map[string]string{
	"main-list-nosort": "--nosort shows services in the kernel's hash-table order",
}

// labResolver resolves as the lab VM does: its /etc/hosts (localhost
// only), the host's /etc/services (the image copies it), no DNS.
func labResolver(t *testing.T) Resolver {
	hosts := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(hosts, []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return &SystemResolver{HostsFile: hosts, FilesOnly: true}
}

// TestRealIpvsadmGoldens runs the recorded cases through lvsctl over the
// in-memory kernel and compares with what the real ipvsadm printed.
func TestRealIpvsadmGoldens(t *testing.T) {
	res := labResolver(t)
	found := 0
	for _, c := range labCases() {
		path := filepath.Join("testdata", "ipvsadm", c.name+".golden")
		want, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		found++
		t.Run(c.name, func(t *testing.T) {
			if why, ok := labSkip[c.name]; ok {
				t.Skip(why)
			}
			k := newFakeKernel()
			runStepsWith(t, k, c.setup, res)
			got := runStepsWith(t, k, c.steps, res)
			if got != string(want) {
				t.Errorf("%s differs from the real ipvsadm:\n--- ipvsadm\n%s\n--- lvsctl\n%s", path, want, got)
			}
		})
	}
	if found == 0 {
		t.Skip("no goldens recorded from the real ipvsadm yet (go test -run TestRecordRealIpvsadm -update-lab)")
	}
}
