package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	ucli "github.com/urfave/cli/v2"

	"github.com/lvsctl/lvsctl/fwmark"
	"github.com/lvsctl/lvsctl/fwmark/fwmarktest"
	"github.com/lvsctl/lvsctl/lvs"
	"github.com/lvsctl/lvsctl/lvs/ipvs/ipvstest"
	"github.com/lvsctl/lvsctl/lvs/ipvsadm"
)

func init() {
	// Other test files of the package may define -update too.
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// checkGolden compares got with testdata/name, or rewrites it under -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if updating() {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// fwmarkWorld is a fake director: in-memory iptables for both families
// and an in-memory IPVS.
type fwmarkWorld struct {
	tables map[lvs.Family]*fwmarktest.Tables
	kernel ipvsadm.Kernel
	lock   string
}

func newFwmarkWorld(t *testing.T) *fwmarkWorld {
	return &fwmarkWorld{
		tables: map[lvs.Family]*fwmarktest.Tables{lvs.IPv4: fwmarktest.New(), lvs.IPv6: fwmarktest.New()},
		kernel: ipvstest.New(),
		lock:   filepath.Join(t.TempDir(), "lock"),
	}
}

// run runs an lvsctl command line with the fwmark command wired to w.
func (w *fwmarkWorld) run(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	stdio := Stdio{In: strings.NewReader(""), Out: &out, Err: &errb}
	app := newApp(stdio)
	env := fwmarkEnv{
		rules: func() *fwmark.Manager {
			return fwmark.New(fwmark.Options{
				LockPath: w.lock,
				Tables:   func(f lvs.Family) (fwmark.Tables, error) { return w.tables[f], nil },
			})
		},
		openKernel: func() (ipvsadm.Kernel, func() error, error) { return w.kernel, func() error { return nil }, nil },
	}
	replaceCommand(t, app, newFwmarkCommand(env))
	err := app.RunContext(context.Background(), append([]string{"lvsctl"}, args...))
	code := exitCode(err, &errb)
	return result{code, out.String(), errb.String()}
}

// replaceCommand swaps the app's command of the same name for cmd.
func replaceCommand(t *testing.T, app *ucli.App, cmd *ucli.Command) {
	t.Helper()
	for i, c := range app.Commands {
		if c.Name == cmd.Name {
			app.Commands[i] = cmd
			return
		}
	}
	t.Fatalf("newApp has no %q command", cmd.Name)
}

func (w *fwmarkWorld) save(f lvs.Family) []string { return w.tables[f].Save("mangle") }

// ipvs returns the IPVS table as ipvsadm -S -n prints it.
func (w *fwmarkWorld) ipvs(t *testing.T) string {
	t.Helper()
	var out, errb bytes.Buffer
	code := ipvsadm.Main(context.Background(), "ipvsadm", []string{"-S", "-n"}, ipvsadm.Env{Stdout: &out, Stderr: &errb, Kernel: w.kernel})
	if code != 0 {
		t.Fatalf("ipvsadm -S -n: %d %s", code, errb.String())
	}
	return out.String()
}

const (
	jump4 = `-A PREROUTING -m comment --comment "lvsctl fwmark" -j LVSCTL-FWMARK`
	rule5 = `-A LVSCTL-FWMARK -d 192.0.2.100/32 -p tcp -m multiport --dports 80,443 -m comment --comment "lvsctl fwmark 5" -j MARK --set-xmark 0x5/0xffffffff`
)

func TestFwmarkAddDelList(t *testing.T) {
	w := newFwmarkWorld(t)
	steps := []struct {
		args     []string
		wantCode int
		wantErr  string // a substring of stderr
		want4    []string
	}{
		{[]string{"fwmark", "add", "--vip", "192.0.2.100", "--ports", "443,80", "--mark", "5"}, 0, "",
			[]string{":LVSCTL-FWMARK", jump4, rule5}},
		{[]string{"fwmark", "add", "--vip", "192.0.2.100", "--ports", "80,443", "--mark", "0x5"}, 0, "",
			[]string{":LVSCTL-FWMARK", jump4, rule5}},
		{[]string{"fwmark", "del", "--vip", "192.0.2.100", "--ports", "80", "--mark", "5"}, 1, "no such firewall-mark rule",
			[]string{":LVSCTL-FWMARK", jump4, rule5}},
		{[]string{"fwmark", "add", "--vip", "192.0.2.100", "--ports", "80", "--mark", "0"}, 2, "mark \"0\"",
			[]string{":LVSCTL-FWMARK", jump4, rule5}},
		{[]string{"fwmark", "add", "--vip", "example.org", "--ports", "80", "--mark", "1"}, 2, "not an IP address",
			[]string{":LVSCTL-FWMARK", jump4, rule5}},
		{[]string{"fwmark", "add", "--vip", "192.0.2.100", "--ports", "80", "--mark", "1", "--proto", "icmp"}, 2, "want tcp, udp or sctp",
			[]string{":LVSCTL-FWMARK", jump4, rule5}},
		{[]string{"fwmark", "add", "--vip", "192.0.2.100", "--mark", "1"}, ExitUsage, "Required flag \"ports\"",
			[]string{":LVSCTL-FWMARK", jump4, rule5}},
		{[]string{"fwmark", "del", "--vip", "192.0.2.100", "--ports", "80,443", "--mark", "5"}, 0, "",
			nil},
		{[]string{"fwmark", "del", "--vip", "192.0.2.100", "--ports", "80,443", "--mark", "5"}, 1, "no such firewall-mark rule",
			nil},
	}
	for _, st := range steps {
		r := w.run(t, st.args...)
		if r.code != st.wantCode || !strings.Contains(r.err, st.wantErr) {
			t.Fatalf("%q: exit %d stderr %q; want exit %d and %q", st.args, r.code, r.err, st.wantCode, st.wantErr)
		}
		if diff := cmp.Diff(st.want4, w.save(lvs.IPv4)); diff != "" {
			t.Fatalf("%q: rules (-want +got):\n%s", st.args, diff)
		}
	}
}

func TestFwmarkList(t *testing.T) {
	w := newFwmarkWorld(t)
	for _, args := range [][]string{
		{"fwmark", "add", "--vip", "192.0.2.100", "--ports", "80,443", "--mark", "5"},
		{"fwmark", "add", "--vip", "192.0.2.100", "--vip", "192.0.2.101", "--proto", "udp", "--ports", "53", "--mark", "0x10", "--local"},
		{"fwmark", "add", "--vip", "2001:db8::100", "--proto", "sctp", "--ports", "8000:8100,9000", "--mark", "4294967295"},
	} {
		if r := w.run(t, args...); r.code != 0 {
			t.Fatalf("%q: %+v", args, r)
		}
	}
	// A hand-made rule in our chain is shown apart.
	if err := w.tables[lvs.IPv4].Append("mangle", fwmark.Chain, "-j", "ACCEPT"); err != nil {
		t.Fatal(err)
	}
	r := w.run(t, "fwmark", "list")
	if r.code != 0 {
		t.Fatalf("list: %+v", r)
	}
	checkGolden(t, "fwmark-list.golden", r.out)
	r = w.run(t, "fwmark", "list", "--json")
	if r.code != 0 {
		t.Fatalf("list --json: %+v", r)
	}
	checkGolden(t, "fwmark-list-json.golden", r.out)

	if r := w.run(t, "fwmark", "flush"); r.code != 0 {
		t.Fatalf("flush: %+v", r)
	}
	for _, f := range []lvs.Family{lvs.IPv4, lvs.IPv6} {
		if got := w.save(f); len(got) != 0 {
			t.Errorf("%s after flush: %q", f, got)
		}
	}
	r = w.run(t, "fwmark", "list")
	if want := "MARK  VIP  PROTO  PORTS  LOCAL\n"; r.code != 0 || r.out != want {
		t.Errorf("empty list = %q, want %q", r.out, want)
	}
}

var serviceArgs = []string{"fwmark", "service", "--vip", "192.0.2.100", "--ports", "80,443", "--mark", "5",
	"-s", "rr", "-p", "600", "-r", "192.0.2.11", "-r", "192.0.2.12", "-g", "-w", "2"}

const serviceSave = `-A -f 5 -s rr -p 600
-a -f 5 -r 192.0.2.11:0 -g -w 2
-a -f 5 -r 192.0.2.12:0 -g -w 2
`

func TestFwmarkService(t *testing.T) {
	w := newFwmarkWorld(t)
	for i := range 2 { // the second run changes nothing
		if r := w.run(t, serviceArgs...); r.code != 0 {
			t.Fatalf("run %d: %+v", i+1, r)
		}
		if diff := cmp.Diff([]string{":LVSCTL-FWMARK", jump4, rule5}, w.save(lvs.IPv4)); diff != "" {
			t.Fatalf("run %d: rules (-want +got):\n%s", i+1, diff)
		}
		if diff := cmp.Diff(serviceSave, w.ipvs(t)); diff != "" {
			t.Fatalf("run %d: IPVS (-want +got):\n%s", i+1, diff)
		}
	}

	// Other settings for an existing service are refused, and nothing of
	// what was there goes away.
	other := append(append([]string{}, serviceArgs...), "-M", "255.255.255.0")
	if r := w.run(t, other...); r.code != 1 || !strings.Contains(r.err, "exists with other settings") {
		t.Fatalf("conflicting service: %+v", r)
	}
	if diff := cmp.Diff(serviceSave, w.ipvs(t)); diff != "" {
		t.Fatalf("after the refused change: IPVS (-want +got):\n%s", diff)
	}

	del := []string{"fwmark", "service", "--vip", "192.0.2.100", "--ports", "80,443", "--mark", "5", "--delete"}
	if r := w.run(t, del...); r.code != 0 {
		t.Fatalf("--delete: %+v", r)
	}
	if got := w.save(lvs.IPv4); len(got) != 0 {
		t.Errorf("rules after --delete: %q", got)
	}
	if got := w.ipvs(t); got != "" {
		t.Errorf("IPVS after --delete: %q", got)
	}
	r := w.run(t, del...)
	if r.code != 1 || !strings.Contains(r.err, "no such service") || !strings.Contains(r.err, "no such firewall-mark rule") {
		t.Errorf("second --delete: %+v", r)
	}
}

func TestFwmarkServiceIPv6(t *testing.T) {
	w := newFwmarkWorld(t)
	args := []string{"fwmark", "service", "--vip", "2001:db8::100", "--ports", "80,443", "--mark", "6",
		"-s", "sh", "-p", "300", "-M", "64", "-r", "2001:db8::11", "-r", "[2001:db8::12]:8080", "-m"}
	if r := w.run(t, args...); r.code != 0 {
		t.Fatalf("%+v", r)
	}
	want := `-A -f 6 -6 -s sh -p 300 -M 64
-a -f 6 -6 -r [2001:db8::11]:0 -m -w 1
-a -f 6 -6 -r [2001:db8::12]:8080 -m -w 1
`
	if diff := cmp.Diff(want, w.ipvs(t)); diff != "" {
		t.Errorf("IPVS (-want +got):\n%s", diff)
	}
	if got := w.save(lvs.IPv6); len(got) != 3 {
		t.Errorf("ip6tables rules: %q", got)
	}
	if got := w.save(lvs.IPv4); len(got) != 0 {
		t.Errorf("iptables rules: %q", got)
	}
}

// failingKernel fails the n-th operation of a kind.
type failingKernel struct {
	ipvsadm.Kernel
	kind  lvs.OpKind
	nth   int
	count int
}

func (k *failingKernel) Exec(ctx context.Context, op lvs.Op) error {
	if op.Kind == k.kind {
		k.count++
		if k.count == k.nth {
			return errors.New("injected failure")
		}
	}
	return k.Kernel.Exec(ctx, op)
}

func TestFwmarkServiceRollback(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(w *fwmarkWorld)
		wantErr string
	}{
		{
			name: "unknown scheduler",
			prepare: func(w *fwmarkWorld) {
				w.kernel.(*ipvstest.Kernel).SetSchedulers("wlc")
			},
			wantErr: `scheduler "rr" or its module not found`,
		},
		{
			name: "second real server fails",
			prepare: func(w *fwmarkWorld) {
				w.kernel = &failingKernel{Kernel: w.kernel, kind: lvs.AddDestination, nth: 2}
			},
			wantErr: "add real server 192.0.2.12:0 to -f 5: injected failure",
		},
		{
			name: "iptables fails",
			prepare: func(w *fwmarkWorld) {
				w.tables[lvs.IPv4].Fail = func(c fwmarktest.Call) error {
					if c.Op == "Append" && c.Chain == fwmark.Chain {
						return errors.New("injected iptables failure")
					}
					return nil
				}
			},
			wantErr: "injected iptables failure",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newFwmarkWorld(t)
			// A rule and a service of someone else's must survive the
			// rollback; so must an earlier rule for another port.
			if r := w.run(t, "fwmark", "add", "--vip", "192.0.2.100", "--ports", "22", "--mark", "5"); r.code != 0 {
				t.Fatal(r)
			}
			if err := w.kernel.Exec(context.Background(), lvs.Op{Kind: lvs.AddService, Service: lvs.Service{
				Family: lvs.IPv4, FWMark: 9, Scheduler: "wlc"}}); err != nil {
				t.Fatal(err)
			}
			beforeRules, beforeIPVS := w.save(lvs.IPv4), w.ipvs(t)
			tt.prepare(w)
			r := w.run(t, serviceArgs...)
			if r.code != 1 || !strings.Contains(r.err, tt.wantErr) {
				t.Fatalf("exit %d stderr %q; want 1 and %q", r.code, r.err, tt.wantErr)
			}
			w.tables[lvs.IPv4].Fail = nil
			if diff := cmp.Diff(beforeRules, w.save(lvs.IPv4)); diff != "" {
				t.Errorf("rules after rollback (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(beforeIPVS, w.ipvs(t)); diff != "" {
				t.Errorf("IPVS after rollback (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFwmarkServiceUsage(t *testing.T) {
	base := []string{"fwmark", "service", "--vip", "192.0.2.100", "--ports", "80", "--mark", "5"}
	tests := []struct {
		extra []string
		want  string
	}{
		{nil, "at least one real server"},
		{[]string{"-r", "192.0.2.11", "-g", "-m"}, "at most one of -g, -i and -m"},
		{[]string{"-r", "192.0.2.11", "-M", "24"}, "needs -p"},
		{[]string{"-r", "192.0.2.11", "-p", "60", "-M", "255.0.255.0"}, "not a contiguous netmask"},
		{[]string{"-r", "192.0.2.11", "-p", "60", "-M", "33"}, "prefix length 1..32"},
		{[]string{"-r", "host.example"}, "want ADDR, ADDR:PORT"},
		{[]string{"-r", "192.0.2.11", "-w", "-1"}, "weight must be 0 or more"},
		{[]string{"-r", "192.0.2.11", "--vip", "2001:db8::1"}, "cannot mix IPv4 and IPv6"},
	}
	for _, tt := range tests {
		w := newFwmarkWorld(t)
		r := w.run(t, append(append([]string{}, base...), tt.extra...)...)
		if r.code != 2 || !strings.Contains(r.err, tt.want) {
			t.Errorf("%q: exit %d stderr %q; want 2 and %q", tt.extra, r.code, r.err, tt.want)
		}
		if got := w.save(lvs.IPv4); len(got) != 0 {
			t.Errorf("%q: rules were added: %q", tt.extra, got)
		}
	}
}

func TestFwmarkHelp(t *testing.T) {
	for _, cmd := range []string{"add", "del", "list", "flush", "service"} {
		w := newFwmarkWorld(t)
		r := w.run(t, "fwmark", cmd, "--help")
		if r.code != 0 || !strings.Contains(r.out, "Example") || !strings.Contains(r.out, "lvsctl fwmark "+cmd) {
			t.Errorf("fwmark %s --help: exit %d, output:\n%s", cmd, r.code, r.out)
		}
	}
	// Through the real entry point, the subcommand is recognised rather
	// than handed to the ipvsadm grammar.
	var out, errb bytes.Buffer
	if code := Run(context.Background(), []string{"lvsctl", "fwmark", "--help"}, Stdio{Out: &out, Err: &errb}); code != 0 ||
		!strings.Contains(out.String(), "LVSCTL-FWMARK") {
		t.Errorf("lvsctl fwmark --help: exit %d\n%s%s", code, out.String(), errb.String())
	}
}
