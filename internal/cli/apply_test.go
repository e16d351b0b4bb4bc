package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lvsctl/lvsctl/lab"
	"github.com/lvsctl/lvsctl/lvs"
	"github.com/lvsctl/lvsctl/lvs/ipvs/ipvstest"
	"github.com/lvsctl/lvsctl/lvs/ipvsadm"
)

// applyStep is one command line of an apply scenario; stdin is its input.
type applyStep struct {
	args  string
	stdin string
}

// runApplySteps runs steps against k and records them as the goldens show
// them.
func runApplySteps(t *testing.T, k *ipvstest.Kernel, steps []applyStep) string {
	t.Helper()
	var b strings.Builder
	for _, s := range steps {
		r := run(t, k, s.stdin, append([]string{"lvsctl"}, strings.Fields(s.args)...)...)
		fmt.Fprintf(&b, "$ lvsctl %s\n", s.args)
		if s.stdin != "" {
			fmt.Fprintf(&b, "stdin:\n%s", s.stdin)
		}
		fmt.Fprintf(&b, "stdout:\n%sstderr:\n%sexit: %d\n\n", r.out, r.err, r.code)
	}
	return b.String()
}

func applyGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "apply-"+name+".golden")
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
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

// applyBase is the table the change scenarios start from.
const applyBase = `-A -t 192.0.2.1:80 -s rr
-a -t 192.0.2.1:80 -r 198.51.100.1:80 -g -w 1
-a -t 192.0.2.1:80 -r 198.51.100.2:80 -g -w 1
-a -t 192.0.2.1:80 -r 198.51.100.3:8080 -m -w 1
-A -u 192.0.2.1:53 -s wlc
-a -u 192.0.2.1:53 -r 198.51.100.1:53 -m -w 1
-A -f 7 -s sh -p 300
-a -f 7 -r 198.51.100.9:0 -g -w 1
`

// applyChanged edits every kind of attribute of applyBase, drops a real
// server and a service and adds others.
const applyChanged = `# web: scheduler, a weight, a forwarding method, a tunnel; .2 is gone
-A -t 192.0.2.1:80 -s wrr
-a -t 192.0.2.1:80 -r 198.51.100.1:80 -g -w 3
-a -t 192.0.2.1:80 -r 198.51.100.3:8080 -m -w 1 -x 100 -y 10
-a -t 192.0.2.1:80 -r 198.51.100.4:80 -i --tun-type gue --tun-port 6080 --tun-csum

# the mark keeps its real server but persists longer, per /24
-A -f 7 -s sh -p 600 -M 255.255.255.0 -b sh-port
-a -f 7 -r 198.51.100.9:0 -m -w 1
# new
-A -t [2001:db8::1]:443 -s mh -b mh-port
-a -t [2001:db8::1]:443 -r [2001:db8::10]:443 -g -w 2
`

func TestApplyGolden(t *testing.T) {
	tests := []struct {
		name  string
		setup string // restored with ipvsadm-restore first
		steps []applyStep
	}{
		{name: "fresh", steps: []applyStep{
			{args: "apply -", stdin: applyBase},
			{args: "apply -", stdin: applyBase},
			{args: "-S -n"},
		}},
		{name: "change", setup: applyBase, steps: []applyStep{
			{args: "apply --dry-run -", stdin: applyChanged},
			{args: "-S -n"},
			{args: "apply -", stdin: applyChanged},
			{args: "apply -", stdin: applyChanged},
			{args: "-S -n"},
		}},
		{name: "prune", setup: applyBase, steps: []applyStep{
			{args: "apply --prune --dry-run -", stdin: applyChanged},
			{args: "apply --prune -", stdin: applyChanged},
			{args: "apply --prune -", stdin: applyChanged},
			{args: "-S -n"},
			{args: "apply --prune -", stdin: "# empty: prune everything\n"},
			{args: "-S -n"},
		}},
		{name: "invalid", setup: applyBase, steps: []applyStep{
			{args: "apply -", stdin: "-A -t 192.0.2.9:80 -s rr\n\n-a -t 192.0.2.9:80 -r 198.51.100.1 -w 70000000000\n"},
			{args: "apply -", stdin: "-A -t 192.0.2.9:80 -s rr\n-D -t 192.0.2.1:80\n"},
			{args: "apply -", stdin: "-A -t 192.0.2.9:80\n-A -t 192.0.2.9:80 -s rr\n"},
			{args: "apply -", stdin: "-a -t 192.0.2.9:80 -r 198.51.100.1\n"},
			{args: "apply -", stdin: "-A -t 192.0.2.9:80 --bogus\n"},
			{args: "apply -", stdin: "-A -t 192.0.2.9:80 # web\n"},
			{args: "-S -n"},
		}},
		{name: "kernel-errors", setup: applyBase, steps: []applyStep{
			{args: "apply -", stdin: "-A -t 192.0.2.9:80 -s nosuch\n-a -t 192.0.2.9:80 -r 198.51.100.1\n-A -t 192.0.2.10:80 -s rr\n"},
			{args: "apply -", stdin: "-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 198.51.100.1:80 -g -w 1 -x 5 -y 10\n"},
			{args: "-S -n"},
		}},
		{name: "usage", steps: []applyStep{
			{args: "apply"},
			{args: "apply a b"},
			{args: "apply /nonexistent/rules"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := ipvstest.New()
			if tt.setup != "" {
				if r := run(t, k, tt.setup, "ipvsadm-restore"); r.code != 0 {
					t.Fatalf("setup: %+v", r)
				}
			}
			applyGolden(t, tt.name, runApplySteps(t, k, tt.steps))
		})
	}
}

func TestApplyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.txt")
	if err := os.WriteFile(path, []byte("# rules\n-A -t 192.0.2.1:80 -s rr\n\n-a -t 192.0.2.1:80 -r 198.51.100.1 -w -1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	k := ipvstest.New()
	r := run(t, k, "", "lvsctl", "apply", path)
	want := "lvsctl: apply: " + path + ":4: illegal weight specified\n"
	if r.code != ExitFailed || r.err != want || r.out != "" {
		t.Errorf("got exit %d stdout %q stderr %q; want exit 1 and stderr %q", r.code, r.out, r.err, want)
	}
	if err := os.WriteFile(path, []byte(applyBase), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := run(t, k, "", "lvsctl", "apply", path); r.code != 0 || !strings.HasSuffix(r.out, "applied: 8 added, 0 changed, 0 deleted\n") {
		t.Errorf("apply: %+v", r)
	}
	if r := run(t, k, "", "lvsctl", "apply", path); r.code != 0 || r.out != "up to date: 3 services, 5 real servers\n" {
		t.Errorf("second apply: %+v", r)
	}
}

func TestApplyNoIPVS(t *testing.T) {
	r := run(t, nil, applyBase, "lvsctl", "apply", "-")
	want := "lvsctl: apply: Can't initialize ipvs: Protocol not available\n"
	if r.code != ExitFailed || r.err != want {
		t.Errorf("got exit %d stderr %q, want exit 1 and %q", r.code, r.err, want)
	}
	// The file is checked before the kernel is needed.
	r = run(t, nil, "-A -t 192.0.2.1:80 -s\n", "lvsctl", "apply", "-")
	if want := "lvsctl: apply: stdin:1: -s: missing argument\n"; r.err != want {
		t.Errorf("stderr %q, want %q", r.err, want)
	}
}

// TestApplyOneBatch: the plan goes to the kernel in one ExecBatch, after
// one listing.
func TestApplyOneBatch(t *testing.T) {
	k := &countingKernel{Kernel: ipvstest.New()}
	var rules strings.Builder
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&rules, "-A -t 192.0.2.%d:80 -s rr\n-a -t 192.0.2.%d:80 -r 198.51.100.1:80 -m\n", i, i)
	}
	r := runWith(t, k, rules.String(), "lvsctl", "apply", "-")
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	if k.batches != 1 || k.execs != 0 || k.serviceLists != 1 {
		t.Errorf("batches %d, single execs %d, service listings %d; want 1, 0, 1", k.batches, k.execs, k.serviceLists)
	}
}

// countingKernel counts the calls apply makes.
type countingKernel struct {
	*ipvstest.Kernel
	batches, execs, serviceLists int
}

func (k *countingKernel) ExecBatch(ctx context.Context, ops []lvs.Op) ([]error, error) {
	k.batches++
	return k.Kernel.ExecBatch(ctx, ops)
}

func (k *countingKernel) Exec(ctx context.Context, op lvs.Op) error {
	k.execs++
	return k.Kernel.Exec(ctx, op)
}

func (k *countingKernel) Services(ctx context.Context) ([]lvs.Service, error) {
	k.serviceLists++
	return k.Kernel.Services(ctx)
}

func runWith(t *testing.T, k ipvsadm.Kernel, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	stdio := Stdio{In: strings.NewReader(stdin), Out: &out, Err: &errb,
		openKernel: func() (ipvsadm.Kernel, func() error, error) { return k, func() error { return nil }, nil }}
	code := Run(context.Background(), args, stdio)
	return result{code, out.String(), errb.String()}
}

// TestLabApply runs the real-kernel apply tests in the lab VM.
func TestLabApply(t *testing.T) { lab.RunTests(t, "^TestVMApply") }

// TestVMApply applies files to the real kernel and checks the result with
// the real ipvsadm, against what the same steps give on the fake kernel.
func TestVMApply(t *testing.T) {
	lab.RequireVM(t)
	ipvsadmOut := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("ipvsadm", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ipvsadm %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	ipvsadmOut("-C")
	t.Cleanup(func() { exec.Command("ipvsadm", "-C").Run() })
	fake := ipvstest.New()
	dir := t.TempDir()

	// apply runs one apply on both kernels; they must print the same.
	apply := func(rules string, flags ...string) result {
		t.Helper()
		path := filepath.Join(dir, "rules")
		if err := os.WriteFile(path, []byte(rules), 0o644); err != nil {
			t.Fatal(err)
		}
		args := append(append([]string{"lvsctl", "apply"}, flags...), path)
		var out, errb bytes.Buffer
		code := Run(context.Background(), args, Stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
		real := result{code, out.String(), errb.String()}
		if f := run(t, fake, "", args...); f != real {
			t.Errorf("apply %v: real kernel and fake differ:\nreal: %+v\nfake: %+v", flags, real, f)
		}
		return real
	}
	// same compares the real ipvsadm's view of the kernel with lvsctl's of
	// the fake.
	same := func(what string) {
		t.Helper()
		for _, args := range [][]string{{"-S", "-n"}, {"-L", "-n", "--thresholds"}, {"-L", "-n", "--tun-info"}} {
			real := ipvsadmOut(args...)
			f := run(t, fake, "", append([]string{"ipvsadm"}, args...)...)
			if f.out != real {
				t.Errorf("%s: ipvsadm %v on the real kernel:\n%s\nlvsctl on the fake:\n%s", what, args, real, f.out)
			}
		}
	}

	r := apply("# base\n\n" + applyBase)
	if r.code != 0 || strings.Count(r.out, "\n+ ") != 7 || !strings.HasSuffix(r.out, "applied: 8 added, 0 changed, 0 deleted\n") {
		t.Fatalf("first apply: %+v", r)
	}
	if got := ipvsadmOut("-S", "-n"); got != applyBase {
		t.Errorf("ipvsadm -S -n after the first apply:\n%s\nwant:\n%s", got, applyBase)
	}
	if r := apply(applyBase); r.code != 0 || r.out != "up to date: 3 services, 5 real servers\n" {
		t.Errorf("second apply: %+v", r)
	}

	// Edits in place through IPVS_CMD_SET_SERVICE and IPVS_CMD_SET_DEST:
	// scheduler, persistence, sched flags, weight, thresholds, and a
	// forwarding method (-g to -m).
	r = apply(applyChanged)
	if r.code != 0 || !strings.HasSuffix(r.out, "applied: 3 added, 5 changed, 0 deleted\n") || strings.Contains(r.out, "\n- ") {
		t.Errorf("changed apply: %+v", r)
	}
	same("after the change")
	if r := apply(applyChanged); r.code != 0 || !strings.HasPrefix(r.out, "up to date") {
		t.Errorf("changed apply again: %+v", r)
	}

	r = apply(applyChanged, "--prune")
	if r.code != 0 || !strings.HasSuffix(r.out, "applied: 0 added, 0 changed, 2 deleted\n") {
		t.Errorf("prune: %+v", r)
	}
	same("after --prune")
	if r := apply(applyChanged, "--prune"); r.code != 0 || !strings.HasPrefix(r.out, "up to date") {
		t.Errorf("prune again: %+v", r)
	}

	// A bad line leaves the kernel alone; a kernel refusal is ipvsadm's.
	before := ipvsadmOut("-S", "-n")
	if r := apply("-A -t 192.0.2.50:80 -s rr\n-a -t 192.0.2.50:80 -r 198.51.100.1 -w x\n", "--prune"); r.code != 1 || !strings.Contains(r.err, "rules:2: illegal weight specified") {
		t.Errorf("invalid file: %+v", r)
	}
	if after := ipvsadmOut("-S", "-n"); after != before {
		t.Errorf("an invalid file changed the kernel:\n%s", after)
	}
	if r := apply(applyChanged + "-A -t 192.0.2.51:80 -s nosuch\n"); r.code != 1 ||
		!strings.Contains(r.err, "-A -t 192.0.2.51:80 -s nosuch: Scheduler or persistence engine not found") {
		t.Errorf("unknown scheduler: %+v", r)
	}

	// --json reads the real kernel's attributes.
	var out, errb bytes.Buffer
	if code := Run(context.Background(), []string{"lvsctl", "-L", "-n", "--json"}, Stdio{Out: &out, Err: &errb}); code != 0 {
		t.Fatalf("-L -n --json: exit %d: %s", code, errb.String())
	}
	var table ipvsadm.JSONTable
	if err := json.Unmarshal(out.Bytes(), &table); err != nil {
		t.Fatalf("-L -n --json: %v\n%s", err, out.String())
	}
	var tunnels []ipvsadm.JSONTunnel
	for _, s := range table.Services {
		for _, d := range s.Destinations {
			if d.Tunnel != nil {
				tunnels = append(tunnels, *d.Tunnel)
			}
		}
	}
	if len(table.Services) != 3 || !cmp.Equal(tunnels, []ipvsadm.JSONTunnel{{Type: "gue", Port: 6080, Checksum: "csum"}}) {
		t.Errorf("-L -n --json on the real kernel:\n%s", out.String())
	}
}
