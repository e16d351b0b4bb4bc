package monitor_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lvsctl/lvsctl/check"
	"github.com/lvsctl/lvsctl/check/monitor"
	"github.com/lvsctl/lvsctl/internal/clock"
	"github.com/lvsctl/lvsctl/internal/config"
	"github.com/lvsctl/lvsctl/lvs"
	"github.com/lvsctl/lvsctl/lvs/ipvs/ipvstest"
)

var epoch = time.Date(2026, 11, 26, 10, 0, 0, 0, time.Local)

// fakeChecker answers from a table of healthy addresses; unknown ones
// are healthy.
type fakeChecker struct {
	mu   sync.Mutex
	down map[netip.Addr]bool
}

func (f *fakeChecker) Check(_ context.Context, t check.Target) check.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down[t.Addr] {
		return check.Result{Err: fmt.Errorf("connect %s: connection refused", t), Latency: time.Millisecond}
	}
	return check.Result{OK: true, Detail: "/: 200 OK", Latency: time.Millisecond}
}

func (f *fakeChecker) set(addr string, up bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down[netip.MustParseAddr(addr)] = !up
}

// recKernel records the operations sent to the fake kernel.
type recKernel struct {
	*ipvstest.Kernel
	mu  sync.Mutex
	ops []string
}

func (k *recKernel) ExecBatch(ctx context.Context, ops []lvs.Op) ([]error, error) {
	k.mu.Lock()
	for _, op := range ops {
		s := op.Kind.String() + " " + op.Service.Key().String()
		switch op.Kind {
		case lvs.AddDestination, lvs.EditDestination:
			s += fmt.Sprintf(" %s w%d", op.Destination, op.Destination.Weight)
		case lvs.DeleteDestination:
			s += " " + op.Destination.String()
		}
		k.ops = append(k.ops, s)
	}
	k.mu.Unlock()
	return k.Kernel.ExecBatch(ctx, ops)
}

func (k *recKernel) take() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	ops := k.ops
	k.ops = nil
	return ops
}

// table lists the kernel's table as "-t VIP:PORT rr: RS:PORT/w ..." lines.
func (k *recKernel) table(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	svcs, err := k.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range svcs {
		ds, err := k.Destinations(ctx, s.Key())
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, d := range ds {
			parts = append(parts, fmt.Sprintf("%s/%d", d, d.Weight))
		}
		slices.Sort(parts)
		out = append(out, s.Key().String()+" "+s.Scheduler+": "+strings.Join(parts, " "))
	}
	slices.Sort(out)
	return out
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func (b *syncBuffer) take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.b.String()
	b.b.Reset()
	return s
}

type harness struct {
	t       *testing.T
	clk     *clock.Fake
	k       *recKernel
	fc      *fakeChecker
	m       *monitor.Monitor
	classic *syncBuffer
	slog    *syncBuffer
	cancel  context.CancelFunc

	mu   sync.Mutex
	runs []string
}

// load parses a keepalived.conf text and puts the fake checker in every
// check.
func load(t *testing.T, text string, fc *fakeChecker) *monitor.Config {
	t.Helper()
	c, warns, err := config.Parse("test.conf", strings.NewReader(text), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warns {
		t.Logf("warning: %s", w)
	}
	cfg, _, err := monitor.FromConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range cfg.Blocks {
		for i := range b.RealServers {
			for j := range b.RealServers[i].Checks {
				b.RealServers[i].Checks[j].Checker = fc
			}
		}
	}
	return cfg
}

func newHarness(t *testing.T, k *ipvstest.Kernel, text string, dryRun bool) *harness {
	t.Helper()
	return newHarnessWith(t, k, text, dryRun, nil)
}

// newHarnessWith is newHarness with metrics.
func newHarnessWith(t *testing.T, k *ipvstest.Kernel, text string, dryRun bool, mt *monitor.Metrics) *harness {
	t.Helper()
	noLeaks(t)
	h := &harness{t: t, clk: clock.NewFake(epoch), k: &recKernel{Kernel: k}, fc: &fakeChecker{down: map[netip.Addr]bool{}},
		classic: &syncBuffer{}, slog: &syncBuffer{}}
	m, err := monitor.New(load(t, text, h.fc), monitor.Options{
		Kernel: h.k, Clock: h.clk, ClassicLog: h.classic, DryRun: dryRun, Metrics: mt,
		Logger: slog.New(slog.NewTextHandler(h.slog, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Rand:   func() float64 { return 0 },
		Run: func(_ context.Context, argv []string) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.runs = append(h.runs, strings.Join(argv, " "))
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.m = m
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); m.Wait() })
	return h
}

func (h *harness) idle() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.m.WaitIdle(ctx); err != nil {
		h.t.Fatalf("monitor not idle: %v", err)
	}
}

// advance moves the fake clock by d, timer by timer, letting the checks
// and decisions of each instant finish.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	end := h.clk.Now().Add(d)
	for {
		h.idle()
		next, ok := h.clk.NextDeadline()
		if !ok || next.After(end) {
			h.clk.Set(end)
			h.idle()
			return
		}
		h.clk.Set(next)
	}
}

func (h *harness) takeRuns() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.runs
	h.runs = nil
	return r
}

func (h *harness) stop() {
	h.cancel()
	h.m.Wait()
}

func at(d time.Duration, addr string, up bool) string {
	return check.LogLine(epoch.Add(d), netip.MustParseAddr(addr), up) + "\n"
}

func diff(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s (-want +got):\n%s", what, d)
	}
}

// noLeaks fails the test if goroutines outlive it (polled for 5 s).
func noLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

const webConf = `
virtual_server 192.0.2.100 80 {
    delay_loop 5
    lb_algo rr
    lb_kind NAT
    protocol TCP
    quorum_up "/bin/quorum up"
    quorum_down "/bin/quorum down"
    sorry_server 198.51.100.1 80
    real_server 192.0.2.11 80 {
        weight 1
        notify_down "/bin/notify down 192.0.2.11"
        notify_up "/bin/notify up 192.0.2.11"
        HTTP_GET {
            url { path / }
            connect_timeout 3
            retry 2
            delay_before_retry 1
        }
    }
    real_server 192.0.2.12 80 {
        weight 2
        inhibit_on_failure
        TCP_CHECK {
            connect_timeout 3
            retry 2
            delay_before_retry 1
        }
    }
}
`

var svc = lvs.Service{Family: lvs.IPv4, Protocol: lvs.TCP, Address: netip.MustParseAddr("192.0.2.100"), Port: 80, Scheduler: "rr", Netmask: 0xffffffff}

func dest(addr string, w int32) lvs.Destination {
	return lvs.Destination{Family: lvs.IPv4, Address: netip.MustParseAddr(addr), Port: 80, Forward: lvs.Masquerade, Weight: w}
}

func TestCreateThenFailRecoverSorry(t *testing.T) {
	k := ipvstest.New()
	h := newHarness(t, k, webConf, false)
	// Nothing in the kernel: the service is created and, without alpha,
	// the real servers go in at once.
	diff(t, "start ops", []string{
		"add-service -t 192.0.2.100:80",
		"add-destination -t 192.0.2.100:80 192.0.2.11:80 w1",
		"add-destination -t 192.0.2.100:80 192.0.2.12:80 w2",
	}, h.k.take())

	// First checks at 0 s (11) and 2.5 s (12), then every 5 s. 11 fails
	// from 5 s: retries at 6 s and 7 s, then it leaves.
	h.advance(3 * time.Second)
	h.fc.set("192.0.2.11", false)
	h.advance(5 * time.Second)
	diff(t, "11 fails", []string{"delete-destination -t 192.0.2.100:80 192.0.2.11:80"}, h.k.take())
	diff(t, "11 fails: log", at(7*time.Second, "192.0.2.11", false), h.classic.take())
	diff(t, "11 fails: notify", []string{"/bin/notify down 192.0.2.11"}, h.takeRuns())

	// 12 (inhibit_on_failure) fails at 12.5 s, 13.5 s, 14.5 s: weight 0,
	// and with nothing healthy left the sorry server goes in.
	h.fc.set("192.0.2.12", false)
	h.advance(7 * time.Second)
	diff(t, "all down", []string{
		"edit-destination -t 192.0.2.100:80 192.0.2.12:80 w0",
		"add-destination -t 192.0.2.100:80 198.51.100.1:80 w1",
	}, h.k.take())
	diff(t, "all down: log", at(14500*time.Millisecond, "192.0.2.12", false), h.classic.take())
	diff(t, "all down: commands", []string{"/bin/quorum down"}, h.takeRuns())
	diff(t, "all down: table", []string{"-t 192.0.2.100:80 rr: 192.0.2.12:80/0 198.51.100.1:80/1"}, h.k.table(t))

	// Both come back: the sorry server leaves, the servers return with
	// their weights.
	h.fc.set("192.0.2.11", true)
	h.fc.set("192.0.2.12", true)
	h.advance(6 * time.Second)
	diff(t, "recovery: table", []string{"-t 192.0.2.100:80 rr: 192.0.2.11:80/1 192.0.2.12:80/2"}, h.k.table(t))
	if got := h.classic.take(); !strings.Contains(got, "192.0.2.11 is back.") || !strings.Contains(got, "192.0.2.12 is back.") {
		t.Errorf("recovery: log %q", got)
	}
	runs := h.takeRuns()
	slices.Sort(runs)
	diff(t, "recovery: commands", []string{"/bin/notify up 192.0.2.11", "/bin/quorum up"}, runs)
	h.k.take()
	h.stop()
	diff(t, "stop leaves the table", []string{"-t 192.0.2.100:80 rr: 192.0.2.11:80/1 192.0.2.12:80/2"}, h.k.table(t))
	diff(t, "stop ops", []string(nil), h.k.take())
}

func seed(t *testing.T, k *ipvstest.Kernel, s lvs.Service, ds ...lvs.Destination) {
	t.Helper()
	ctx := context.Background()
	if err := k.AddService(ctx, s); err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if err := k.AddDestination(ctx, s.Key(), d); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAdoptDoesNotFlap(t *testing.T) {
	k := ipvstest.New()
	// What a previous monitor left: 11 in, 12 quiesced by
	// inhibit_on_failure, a server added by hand, and another service.
	seed(t, k, svc, dest("192.0.2.11", 1), dest("192.0.2.12", 0), dest("192.0.2.99", 5))
	other := lvs.Service{Family: lvs.IPv4, Protocol: lvs.TCP, Address: netip.MustParseAddr("192.0.2.200"), Port: 443, Scheduler: "wlc", Netmask: 0xffffffff}
	seed(t, k, other, dest("192.0.2.50", 1))
	h := newHarness(t, k, webConf, false)
	diff(t, "start ops", []string(nil), h.k.take())
	// 12 passes its first check at 2.5 s and gets its weight back; 11 is
	// neither removed nor re-added; 192.0.2.99 and the other service are
	// not the monitor's.
	h.advance(20 * time.Second)
	diff(t, "ops", []string{"edit-destination -t 192.0.2.100:80 192.0.2.12:80 w2"}, h.k.take())
	diff(t, "table", []string{
		"-t 192.0.2.100:80 rr: 192.0.2.11:80/1 192.0.2.12:80/2 192.0.2.99:80/5",
		"-t 192.0.2.200:443 wlc: 192.0.2.50:80/1",
	}, h.k.table(t))
	diff(t, "log", at(2500*time.Millisecond, "192.0.2.12", true), h.classic.take())
	h.stop()

	// A second monitor on the same table changes nothing at all.
	h2 := newHarness(t, k, webConf, false)
	h2.advance(30 * time.Second)
	diff(t, "restart ops", []string(nil), h2.k.take())
	diff(t, "restart log", "", h2.classic.take())
}

func TestReloadAppliesOnlyTheDifference(t *testing.T) {
	k := ipvstest.New()
	h := newHarness(t, k, webConf, false)
	h.advance(10 * time.Second)
	h.k.take()
	h.classic.take()

	// 11's weight changes, 12 is dropped, 13 is new, the quorum commands
	// go. 13 is not in the kernel: it comes in after its first check.
	changed := strings.Replace(webConf, "weight 1\n", "weight 4\n", 1)
	changed = strings.Replace(changed, "real_server 192.0.2.12 80", "real_server 192.0.2.13 80", 1)
	if err := h.m.Reload(context.Background(), load(t, changed, h.fc)); err != nil {
		t.Fatal(err)
	}
	diff(t, "reload ops", []string{
		"delete-destination -t 192.0.2.100:80 192.0.2.12:80",
		"edit-destination -t 192.0.2.100:80 192.0.2.11:80 w4",
		// inhibit_on_failure: in at weight 0 until it passes a check.
		"add-destination -t 192.0.2.100:80 192.0.2.13:80 w0",
	}, h.k.take())
	h.advance(10 * time.Second)
	diff(t, "after reload", []string{"edit-destination -t 192.0.2.100:80 192.0.2.13:80 w2"}, h.k.take())
	diff(t, "table", []string{"-t 192.0.2.100:80 rr: 192.0.2.11:80/4 192.0.2.13:80/2"}, h.k.table(t))

	// A reload with the same configuration changes nothing.
	if err := h.m.Reload(context.Background(), load(t, changed, h.fc)); err != nil {
		t.Fatal(err)
	}
	h.advance(10 * time.Second)
	diff(t, "same config", []string(nil), h.k.take())

	// Dropping the whole virtual server removes its service.
	empty := `virtual_server 192.0.2.101 80 {
    protocol TCP
    lb_algo wlc
    lb_kind NAT
    real_server 192.0.2.21 80 {
    }
}`
	if err := h.m.Reload(context.Background(), load(t, empty, h.fc)); err != nil {
		t.Fatal(err)
	}
	diff(t, "dropped service", []string{
		"delete-service -t 192.0.2.100:80",
		"add-service -t 192.0.2.101:80",
		"add-destination -t 192.0.2.101:80 192.0.2.21:80 w1",
	}, h.k.take())
}

// TestReloadForgetsMetrics: the series of a real server and of a service
// a reload drops are gone from the next scrape; the others stay.
func TestReloadForgetsMetrics(t *testing.T) {
	k := ipvstest.New()
	mt := monitor.NewMetrics(nil, nil)
	h := newHarnessWith(t, k, webConf, false, mt)
	h.advance(5 * time.Second)
	series := func() string {
		mfs, err := mt.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, mf := range mfs {
			if !strings.HasPrefix(mf.GetName(), "lvsctl_monitor_") {
				continue
			}
			for _, m := range mf.GetMetric() {
				b.WriteString(mf.GetName())
				for _, l := range m.GetLabel() {
					fmt.Fprintf(&b, " %s=%s", l.GetName(), l.GetValue())
				}
				b.WriteString("\n")
			}
		}
		return b.String()
	}
	before := series()
	for _, want := range []string{"real_server=192.0.2.11:80", "real_server=192.0.2.12:80", "service=TCP 192.0.2.100:80"} {
		if !strings.Contains(before, want) {
			t.Fatalf("before the reload, no series with %s:\n%s", want, before)
		}
	}
	dropped := strings.Replace(webConf, "real_server 192.0.2.12 80", "real_server 192.0.2.13 80", 1)
	if err := h.m.Reload(context.Background(), load(t, dropped, h.fc)); err != nil {
		t.Fatal(err)
	}
	h.advance(5 * time.Second)
	after := series()
	if strings.Contains(after, "192.0.2.12:80") {
		t.Errorf("the dropped real server's series remain:\n%s", after)
	}
	for _, want := range []string{"real_server=192.0.2.11:80", "real_server=192.0.2.13:80"} {
		if !strings.Contains(after, want) {
			t.Errorf("after the reload, no series with %s:\n%s", want, after)
		}
	}
	other := `virtual_server 192.0.2.101 80 {
    protocol TCP
    lb_algo wlc
    lb_kind NAT
    real_server 192.0.2.21 80 {
        TCP_CHECK {
        }
    }
}`
	if err := h.m.Reload(context.Background(), load(t, other, h.fc)); err != nil {
		t.Fatal(err)
	}
	h.advance(5 * time.Second)
	if after := series(); strings.Contains(after, "192.0.2.100") || strings.Contains(after, "192.0.2.11:80") {
		t.Errorf("the dropped service's series remain:\n%s", after)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	k := ipvstest.New()
	seed(t, k, svc, dest("192.0.2.11", 1), dest("192.0.2.12", 2))
	h := newHarness(t, k, webConf, true)
	h.fc.set("192.0.2.11", false)
	h.advance(20 * time.Second)
	diff(t, "kernel ops", []string(nil), h.k.take())
	diff(t, "table", []string{"-t 192.0.2.100:80 rr: 192.0.2.11:80/1 192.0.2.12:80/2"}, h.k.table(t))
	// Adopted up, 11 fails at 0 s, 1 s and 2 s.
	diff(t, "log", at(2*time.Second, "192.0.2.11", false), h.classic.take())
	// The decision is logged once: later ones are planned against what
	// the first would have left.
	logged := h.slog.take()
	if n := strings.Count(logged, `rule="-d -t 192.0.2.100:80 -r 192.0.2.11:80" dry_run=true`); n != 1 {
		t.Errorf("the dry-run removal is logged %d times, want 1:\n%s", n, logged)
	}
	st := h.m.Status()
	if !st.DryRun || st.Services[0].RealServers[0].State != "down" || st.Services[0].RealServers[0].InTable {
		t.Errorf("status: %+v", st.Services[0].RealServers[0])
	}
}

func TestCleanupRemovesOnlyWhatItAdded(t *testing.T) {
	k := ipvstest.New()
	seed(t, k, svc, dest("192.0.2.11", 1), dest("192.0.2.99", 5))
	conf := webConf + `
virtual_server 192.0.2.101 80 {
    protocol TCP
    lb_algo wlc
    lb_kind NAT
    real_server 192.0.2.21 80 {
    }
}`
	h := newHarness(t, k, conf, false)
	h.advance(10 * time.Second)
	h.stop()
	h.k.take()
	if err := h.m.Cleanup(context.Background()); err != nil {
		t.Fatal(err)
	}
	diff(t, "cleanup ops", []string{
		"delete-service -t 192.0.2.101:80",
		"delete-destination -t 192.0.2.100:80 192.0.2.12:80",
	}, h.k.take())
	diff(t, "table", []string{"-t 192.0.2.100:80 rr: 192.0.2.11:80/1 192.0.2.99:80/5"}, h.k.table(t))
}

func TestGroupSharesChecks(t *testing.T) {
	conf := `
virtual_server_group WEB {
    192.0.2.100-101 80
    fwmark 7
}
virtual_server group WEB {
    delay_loop 2
    lb_algo wrr
    lb_kind DR
    protocol TCP
    real_server 192.0.2.11 80 {
        weight 3
        TCP_CHECK {
            connect_timeout 1
            retry 0
        }
    }
}`
	k := ipvstest.New()
	h := newHarness(t, k, conf, false)
	h.advance(time.Second)
	h.k.take()
	h.fc.set("192.0.2.11", false)
	h.advance(3 * time.Second)
	got := h.k.take()
	if len(got) != 3 {
		t.Errorf("ops %q: want one removal per service of the group", got)
	}
	if l := h.classic.take(); strings.Count(l, "is gone.") != 1 {
		t.Errorf("log %q: want one line for the group", l)
	}
	if n := len(h.m.Status().Services); n != 3 {
		t.Errorf("status has %d services, want 3", n)
	}
}

func TestRunSignals(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "monitor.log")
	lf, err := monitor.OpenLog(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	fc := &fakeChecker{down: map[netip.Addr]bool{}}
	k := &recKernel{Kernel: ipvstest.New()}
	slogBuf := &syncBuffer{}
	sigs := make(chan os.Signal, 1)
	ready := make(chan *monitor.Monitor, 1)
	loads := make(chan error, 1)
	var checksMu sync.Mutex
	var checks []bool // Checks's calls
	conf := `virtual_server 192.0.2.100 80 {
    delay_loop 0.1
    lb_algo wlc
    protocol TCP
    lb_kind NAT
    real_server 192.0.2.11 80 {
        TCP_CHECK {
            connect_timeout 0.05
            retry 0
        }
    }
}`
	done := make(chan error, 1)
	go func() {
		done <- monitor.Run(context.Background(), load(t, conf, fc), monitor.RunOptions{
			Options: monitor.Options{Kernel: k, ClassicLog: lf,
				Logger: slog.New(slog.NewTextHandler(slogBuf, nil))},
			Load: func() (*monitor.Config, []monitor.Warning, error) {
				if err := <-loads; err != nil {
					return nil, nil, err
				}
				return load(t, strings.Replace(conf, "real_server 192.0.2.11", "real_server 192.0.2.12", 1), fc), nil, nil
			},
			Signals: sigs, Log: lf, Cleanup: true,
			Socket: filepath.Join(dir, "monitor.sock"),
			Ready:  func(m *monitor.Monitor) { ready <- m },
			Checks: func(onLoopOnly bool) {
				checksMu.Lock()
				defer checksMu.Unlock()
				checks = append(checks, onLoopOnly)
			},
		})
	}()
	<-ready
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; log:\n%s", what, slogBuf.take())
			}
		}
	}
	readLog := func(p string) string {
		b, _ := os.ReadFile(p)
		return string(b)
	}

	// The status socket answers.
	st, err := monitor.ReadStatus(context.Background(), filepath.Join(dir, "monitor.sock"))
	if err != nil || len(st.Services) != 1 || st.Services[0].RealServers[0].Server != "192.0.2.11:80" {
		t.Fatalf("status %+v, %v", st, err)
	}

	// A broken configuration at SIGHUP is reported; the old one runs on.
	loads <- fmt.Errorf("test.conf:3: %w", config.ErrSyntax)
	sigs <- syscall.SIGHUP
	waitFor("the failed reload", func() bool { return strings.Contains(slogBuf.String(), "reload failed") })

	// logrotate: the file is moved, SIGUSR1, and the next line goes to a
	// new file.
	fc.set("192.0.2.11", false)
	waitFor("is gone", func() bool { return strings.Contains(readLog(logPath), "192.0.2.11 is gone.") })
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	sigs <- syscall.SIGUSR1
	waitFor("log reopened", func() bool { _, err := os.Stat(logPath); return err == nil })
	fc.set("192.0.2.11", true)
	waitFor("is back", func() bool { return strings.Contains(readLog(logPath), "192.0.2.11 is back.") })
	if strings.Contains(readLog(logPath+".1"), "is back") {
		t.Errorf("the rotated file got the new line")
	}

	// A good configuration at SIGHUP replaces 11 with 12.
	loads <- nil
	sigs <- syscall.SIGHUP
	waitFor("the reload", func() bool {
		tb := k.table(t)
		return len(tb) == 1 && strings.HasSuffix(tb[0], ": 192.0.2.12:80/1")
	})

	// SIGTERM with --cleanup removes the service the monitor created.
	sigs <- syscall.SIGTERM
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Checks was told at the start and at the good reload that the
	// (test's) checks do not all run on the event loop.
	checksMu.Lock()
	if want := []bool{false, false}; !slices.Equal(checks, want) {
		t.Errorf("Checks called with %v, want %v", checks, want)
	}
	checksMu.Unlock()
	diff(t, "after cleanup", []string(nil), k.table(t))
	if _, err := os.Stat(filepath.Join(dir, "monitor.sock")); err == nil {
		t.Errorf("the status socket is left behind")
	}
}

func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files")
	}
}

// checkGolden compares got with testdata/name, or rewrites it under -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
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
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("%s (-want +got):\n%s", path, d)
	}
}
