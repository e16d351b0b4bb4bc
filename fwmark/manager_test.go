package fwmark

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lvsctl/lvsctl/fwmark/fwmarktest"
	"github.com/lvsctl/lvsctl/lvs"
)

// The scenarios run against the in-memory tables here and against real
// iptables in a network namespace in integration_test.go; both must end
// each step with exactly the listed iptables-save lines.

// foreignRule is a rule of someone else's in mangle PREROUTING, written as
// iptables -S prints it.
var foreignRule = []string{"-p", "tcp", "-m", "tcp", "--dport", "22", "-j", "MARK", "--set-xmark", "0x63/0xffffffff"}

const (
	foreignLine = "-A PREROUTING -p tcp -m tcp --dport 22 -j MARK --set-xmark 0x63/0xffffffff"
	jumpPre     = `-A PREROUTING -m comment --comment "lvsctl fwmark" -j LVSCTL-FWMARK`
	jumpOut     = `-A OUTPUT -m comment --comment "lvsctl fwmark" -j LVSCTL-FWMARK-LOCAL`
	web4        = `-d 192.0.2.100/32 -p tcp -m multiport --dports 80,443 -m comment --comment "lvsctl fwmark 5" -j MARK --set-xmark 0x5/0xffffffff`
	dns4        = `-d 192.0.2.100/32 -p udp -m multiport --dports 53 -m comment --comment "lvsctl fwmark 7" -j MARK --set-xmark 0x7/0xffffffff`
	web6        = `-d 2001:db8::100/128 -p tcp -m multiport --dports 80,443,8000:8100 -m comment --comment "lvsctl fwmark 6" -j MARK --set-xmark 0x6/0xffffffff`
)

type step struct {
	name    string
	op      string // add, del, flush
	rules   []Rule
	wantErr error
	// want4 and want6 are the iptables-save -t mangle lines (user chain
	// declarations and rules) of each family after the step.
	want4, want6 []string
}

func rule(vip, proto, ports string, mark uint32, local bool) Rule {
	p, err := ParsePorts(ports)
	if err != nil {
		panic(err)
	}
	pr, err := ParseProto(proto)
	if err != nil {
		panic(err)
	}
	return Rule{VIP: netip.MustParseAddr(vip), Proto: pr, Ports: p, Mark: mark, Local: local}
}

var (
	ruleWeb4 = rule("192.0.2.100", "tcp", "443,80", 5, false)
	ruleDNS4 = rule("192.0.2.100", "udp", "53", 7, true)
	ruleWeb6 = rule("2001:db8::100", "tcp", "80,443,8000:8100", 6, false)
)

// scenario is run in order on tables that start with foreignRule in
// mangle PREROUTING of both families.
var scenario = []step{
	{name: "add", op: "add", rules: []Rule{ruleWeb4},
		want4: []string{":LVSCTL-FWMARK", jumpPre, foreignLine, "-A LVSCTL-FWMARK " + web4},
		want6: []string{foreignLine}},
	{name: "add again is a no-op", op: "add", rules: []Rule{ruleWeb4},
		want4: []string{":LVSCTL-FWMARK", jumpPre, foreignLine, "-A LVSCTL-FWMARK " + web4},
		want6: []string{foreignLine}},
	{name: "add local", op: "add", rules: []Rule{ruleDNS4},
		want4: []string{":LVSCTL-FWMARK", ":LVSCTL-FWMARK-LOCAL", jumpPre, foreignLine, jumpOut,
			"-A LVSCTL-FWMARK " + web4, "-A LVSCTL-FWMARK " + dns4, "-A LVSCTL-FWMARK-LOCAL " + dns4},
		want6: []string{foreignLine}},
	{name: "add IPv6", op: "add", rules: []Rule{ruleWeb6},
		want4: []string{":LVSCTL-FWMARK", ":LVSCTL-FWMARK-LOCAL", jumpPre, foreignLine, jumpOut,
			"-A LVSCTL-FWMARK " + web4, "-A LVSCTL-FWMARK " + dns4, "-A LVSCTL-FWMARK-LOCAL " + dns4},
		want6: []string{":LVSCTL-FWMARK", jumpPre, foreignLine, "-A LVSCTL-FWMARK " + web6}},
	{name: "del local rule removes both copies and the empty chain", op: "del", rules: []Rule{ruleDNS4},
		want4: []string{":LVSCTL-FWMARK", jumpPre, foreignLine, "-A LVSCTL-FWMARK " + web4},
		want6: []string{":LVSCTL-FWMARK", jumpPre, foreignLine, "-A LVSCTL-FWMARK " + web6}},
	{name: "del missing fails and changes nothing", op: "del", rules: []Rule{ruleDNS4}, wantErr: ErrNoSuchRule,
		want4: []string{":LVSCTL-FWMARK", jumpPre, foreignLine, "-A LVSCTL-FWMARK " + web4},
		want6: []string{":LVSCTL-FWMARK", jumpPre, foreignLine, "-A LVSCTL-FWMARK " + web6}},
	{name: "del last rule removes chain and jump", op: "del", rules: []Rule{ruleWeb4},
		want4: []string{foreignLine},
		want6: []string{":LVSCTL-FWMARK", jumpPre, foreignLine, "-A LVSCTL-FWMARK " + web6}},
	{name: "add for flush", op: "add", rules: []Rule{ruleWeb4, ruleDNS4},
		want4: []string{":LVSCTL-FWMARK", ":LVSCTL-FWMARK-LOCAL", jumpPre, foreignLine, jumpOut,
			"-A LVSCTL-FWMARK " + web4, "-A LVSCTL-FWMARK " + dns4, "-A LVSCTL-FWMARK-LOCAL " + dns4},
		want6: []string{":LVSCTL-FWMARK", jumpPre, foreignLine, "-A LVSCTL-FWMARK " + web6}},
	{name: "flush removes ours and nothing else", op: "flush",
		want4: []string{foreignLine},
		want6: []string{foreignLine}},
	{name: "flush again is a no-op", op: "flush",
		want4: []string{foreignLine},
		want6: []string{foreignLine}},
}

// runScenario plays scenario on m; save returns a family's lines.
func runScenario(t *testing.T, m *Manager, save func(lvs.Family) []string) {
	ctx := context.Background()
	for _, st := range scenario {
		var err error
		switch st.op {
		case "add":
			_, err = m.Add(ctx, st.rules...)
		case "del":
			err = m.Del(ctx, st.rules...)
		case "flush":
			_, err = m.Flush(ctx)
		}
		if !errors.Is(err, st.wantErr) || (st.wantErr == nil) != (err == nil) {
			t.Fatalf("%s: error %v, want %v", st.name, err, st.wantErr)
		}
		if diff := cmp.Diff(st.want4, save(lvs.IPv4)); diff != "" {
			t.Fatalf("%s: iptables-save (-want +got):\n%s", st.name, diff)
		}
		if diff := cmp.Diff(st.want6, save(lvs.IPv6)); diff != "" {
			t.Fatalf("%s: ip6tables-save (-want +got):\n%s", st.name, diff)
		}
	}
}

// fakeManager returns a Manager over fresh in-memory tables holding
// foreignRule.
func fakeManager(t *testing.T) (*Manager, map[lvs.Family]*fwmarktest.Tables) {
	t.Helper()
	fakes := map[lvs.Family]*fwmarktest.Tables{lvs.IPv4: fwmarktest.New(), lvs.IPv6: fwmarktest.New()}
	for _, f := range fakes {
		if err := f.Append("mangle", "PREROUTING", foreignRule...); err != nil {
			t.Fatal(err)
		}
	}
	m := New(Options{
		LockPath: filepath.Join(t.TempDir(), "lock"),
		Tables:   func(f lvs.Family) (Tables, error) { return fakes[f], nil },
	})
	return m, fakes
}

func TestScenarioFake(t *testing.T) {
	m, fakes := fakeManager(t)
	runScenario(t, m, func(f lvs.Family) []string { return fakes[f].Save("mangle") })
}

func TestList(t *testing.T) {
	m, fakes := fakeManager(t)
	ctx := context.Background()
	if _, err := m.Add(ctx, ruleWeb4, ruleDNS4, ruleWeb6); err != nil {
		t.Fatal(err)
	}
	// A rule someone put in our chain by hand is listed as foreign.
	if err := fakes[lvs.IPv4].Append("mangle", Chain, "-j", "ACCEPT"); err != nil {
		t.Fatal(err)
	}
	got, err := m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dns := ruleDNS4
	dns.Local = true
	want := Listing{
		Entries: []Entry{
			{Rule: ruleWeb4, Chains: []string{Chain}},
			{Rule: dns, Chains: []string{Chain, LocalChain}},
			{Rule: ruleWeb6, Chains: []string{Chain}},
		},
		Foreign: []string{"-A LVSCTL-FWMARK -j ACCEPT"},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	// Flush takes the foreign rule in our chain too.
	n, err := m.Flush(ctx)
	if err != nil || n != 5 {
		t.Errorf("Flush = %d, %v; want 5 rules", n, err)
	}
	if got, err := m.List(ctx); err != nil || len(got.Entries)+len(got.Foreign) != 0 {
		t.Errorf("List after Flush = %+v, %v", got, err)
	}
}

func TestAddRollsBackOnFailure(t *testing.T) {
	// The second rule's append fails: the first rule, the chain and the
	// jump must go again, and the foreign rule stay.
	m, fakes := fakeManager(t)
	fakes[lvs.IPv4].Fail = func(c fwmarktest.Call) error {
		if c.Op == "Append" && len(c.Spec) > 3 && c.Spec[3] == "udp" {
			return errors.New("injected failure")
		}
		return nil
	}
	_, err := m.Add(context.Background(), ruleWeb4, ruleDNS4)
	if err == nil {
		t.Fatal("Add succeeded despite the injected failure")
	}
	if diff := cmp.Diff([]string{foreignLine}, fakes[lvs.IPv4].Save("mangle")); diff != "" {
		t.Errorf("after the failed Add (-want +got):\n%s", diff)
	}
}

func TestUndoKeepsEarlierRules(t *testing.T) {
	m, fakes := fakeManager(t)
	ctx := context.Background()
	if _, err := m.Add(ctx, ruleWeb4); err != nil {
		t.Fatal(err)
	}
	// Adding web4 again and dns4: only dns4 is new, so only it goes on Undo.
	ch, err := m.Add(ctx, ruleWeb4, rule("192.0.2.100", "udp", "53", 7, false))
	if err != nil {
		t.Fatal(err)
	}
	if ch.Added() != 1 {
		t.Errorf("Change.Added = %d, want 1", ch.Added())
	}
	if err := m.Undo(ctx, ch); err != nil {
		t.Fatal(err)
	}
	want := []string{":LVSCTL-FWMARK", jumpPre, foreignLine, "-A LVSCTL-FWMARK " + web4}
	if diff := cmp.Diff(want, fakes[lvs.IPv4].Save("mangle")); diff != "" {
		t.Errorf("after Undo (-want +got):\n%s", diff)
	}
}

func TestInvalidRulesSendNothing(t *testing.T) {
	m, fakes := fakeManager(t)
	bad := []Rule{
		{},
		{VIP: netip.MustParseAddr("::ffff:192.0.2.1"), Proto: lvs.TCP, Ports: []PortRange{{80, 80}}, Mark: 1},
		{VIP: netip.MustParseAddr("192.0.2.1"), Proto: lvs.TCP, Ports: []PortRange{{80, 80}}},
		{VIP: netip.MustParseAddr("192.0.2.1"), Proto: 1, Ports: []PortRange{{80, 80}}, Mark: 1},
		{VIP: netip.MustParseAddr("192.0.2.1"), Proto: lvs.TCP, Mark: 1},
	}
	for i, r := range bad {
		if _, err := m.Add(context.Background(), r); !errors.Is(err, ErrInvalid) {
			t.Errorf("%d: Add(%+v) = %v, want ErrInvalid", i, r, err)
		}
	}
	if n := fakes[lvs.IPv4].Calls["Append"]; n != 1 { // the foreign rule
		t.Errorf("%d appends, want none", n-1)
	}
}

func TestConcurrentAdds(t *testing.T) {
	// Managers in separate "processes" share only the lock file and the
	// tables: concurrent adds of the same rule must leave one copy.
	fake := fwmarktest.New()
	lockPath := filepath.Join(t.TempDir(), "lock")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := New(Options{LockPath: lockPath, Tables: func(lvs.Family) (Tables, error) { return fake, nil }})
			_, err := m.Add(context.Background(), ruleWeb4)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	want := []string{":LVSCTL-FWMARK", jumpPre, "-A LVSCTL-FWMARK " + web4}
	if diff := cmp.Diff(want, fake.Save("mangle")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestLockHonoursContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	unlock, err := lock(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := lock(ctx, path); !errors.Is(err, context.Canceled) {
		t.Errorf("lock with a cancelled context = %v", err)
	}
}

func ExampleRule_String() {
	fmt.Println(rule("192.0.2.100", "tcp", "443,80", 5, false))
	// Output: tcp 192.0.2.100 ports 80,443 mark 5
}
