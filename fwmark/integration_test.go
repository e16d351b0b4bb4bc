//go:build integration

package fwmark

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvsctl/lvsctl/lvs"
)

// Host tests against the real iptables (nf_tables backend here), each in a
// network namespace of its own. They need root.

func requireRoot(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("root test: skipped under -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := exec.LookPath("iptables-save"); err != nil {
		t.Skip("no iptables-save")
	}
}

// newNetNS creates a network namespace and returns its path.
func newNetNS(t *testing.T) (name, path string) {
	t.Helper()
	name = fmt.Sprintf("lvsctl-fwm-%d-%s", os.Getpid(), strings.NewReplacer("/", "-").Replace(t.Name()))
	if len(name) > 60 {
		name = name[:60]
	}
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	return name, "/run/netns/" + name
}

// saveLines returns the user chain declarations and rules of
// `iptables-save -t mangle` in the namespace.
func saveLines(t *testing.T, ns string, f lvs.Family) []string {
	t.Helper()
	prog := "iptables-save"
	if f == lvs.IPv6 {
		prog = "ip6tables-save"
	}
	out, err := exec.Command("ip", "netns", "exec", ns, prog, "-t", "mangle").CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", prog, err, out)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(l, ":") && strings.HasSuffix(l, " - [0:0]"):
			lines = append(lines, strings.TrimSuffix(l, " - [0:0]"))
		case strings.HasPrefix(l, "-A "):
			lines = append(lines, l)
		}
	}
	return lines
}

func realManager(t *testing.T) (*Manager, string) {
	t.Helper()
	requireRoot(t)
	name, path := newNetNS(t)
	m := New(Options{NetNS: path, LockPath: filepath.Join(t.TempDir(), "lock")})
	for _, f := range []lvs.Family{lvs.IPv4, lvs.IPv6} {
		tb, err := m.familyTables(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := tb.Append("mangle", "PREROUTING", foreignRule...); err != nil {
			t.Fatal(err)
		}
	}
	return m, name
}

func TestIntegrationScenario(t *testing.T) {
	m, ns := realManager(t)
	runScenario(t, m, func(f lvs.Family) []string { return saveLines(t, ns, f) })
}

func TestIntegrationListAndMultiportLimit(t *testing.T) {
	m, ns := realManager(t)
	ctx := context.Background()
	// 13 ports and a range fill one multiport match (15 slots); the 16th
	// slot starts a second rule. iptables itself would refuse 16.
	big := rule("192.0.2.100", "sctp", "1,2,3,4,5,6,7,8,9,10,11,12,13,20:30,40", 9, true)
	if _, err := m.Add(ctx, big, ruleWeb6); err != nil {
		t.Fatal(err)
	}
	got, err := m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 3 || len(got.Foreign) != 0 {
		t.Fatalf("List = %+v, want 3 entries\n%s", got, strings.Join(saveLines(t, ns, lvs.IPv4), "\n"))
	}
	if e := got.Entries[0]; FormatPorts(e.Ports) != "1,2,3,4,5,6,7,8,9,10,11,12,13,20:30" || !e.Local {
		t.Errorf("first entry %+v", e)
	}
	if e := got.Entries[2]; e.Rule.VIP != ruleWeb6.VIP || e.Local {
		t.Errorf("IPv6 entry %+v", e)
	}
	if err := m.Del(ctx, big, ruleWeb6); err != nil {
		t.Fatal(err)
	}
	if l := saveLines(t, ns, lvs.IPv4); len(l) != 1 || l[0] != foreignLine {
		t.Errorf("after del: %q", l)
	}
}

func TestIntegrationRollback(t *testing.T) {
	// An add that fails part-way (the second append, injected in a
	// wrapper around the real tables) leaves nothing behind in the kernel.
	m, ns := realManager(t)
	tb, err := m.familyTables(lvs.IPv4)
	if err != nil {
		t.Fatal(err)
	}
	m.tables[lvs.IPv4] = &failingTables{Tables: tb, failAppend: 2}
	if _, err := m.Add(context.Background(), ruleWeb4, ruleDNS4); err == nil {
		t.Fatal("Add succeeded despite the failing append")
	}
	if l := saveLines(t, ns, lvs.IPv4); len(l) != 1 || l[0] != foreignLine {
		t.Errorf("after the rolled-back add: %q", l)
	}
}

// failingTables fails the n-th Append.
type failingTables struct {
	Tables
	failAppend, appends int
}

func (f *failingTables) Append(table, chain string, spec ...string) error {
	f.appends++
	if f.appends == f.failAppend {
		return fmt.Errorf("injected failure of append %d", f.appends)
	}
	return f.Tables.Append(table, chain, spec...)
}
