package check

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lvsctl/lvsctl/lvs/ipvs/ipvstest"
	"github.com/lvsctl/lvsctl/lvs/reconcile"
)

// miniMonitor is the glue the monitor daemon will have, reduced to one
// service: scheduler events -> Combine -> Decide -> reconcile.Plan against
// a fake kernel, with the classic log lines. It proves the pieces fit, on
// the fake clock.
type miniMonitor struct {
	t  *testing.T
	h  *harness
	vs VirtualService
	k  *ipvstest.Kernel

	mu   sync.Mutex
	st   ServiceState
	ops  []string
	logs []string
}

func (m *miniMonitor) apply() {
	m.mu.Lock()
	defer m.mu.Unlock()
	byAddr := make(map[DestKey][]Status)
	for _, s := range m.h.s.Status() {
		k := DestKey{s.Target.Addr, s.Target.Port}
		byAddr[k] = append(byAddr[k], s)
	}
	health := make(map[DestKey]Health)
	for k, ss := range byAddr {
		health[k] = Combine(ss)
	}
	d := Decide(m.vs, health, m.st)
	m.st = d.State
	for _, e := range d.Events {
		if l := LogLineFor(m.h.clk.Now(), e); l != "" {
			m.logs = append(m.logs, l)
		}
	}
	ctx := context.Background()
	current, err := reconcile.Read(ctx, m.k)
	if err != nil {
		m.t.Error(err)
		return
	}
	ops, err := reconcile.Plan([]reconcile.Service{d.Desired}, current, reconcile.Options{Prune: true})
	if err != nil {
		m.t.Error(err)
		return
	}
	for _, op := range ops {
		if err := m.k.Exec(ctx, op); err != nil {
			m.t.Errorf("%v: %v", op.Kind, err)
		}
		m.ops = append(m.ops, fmt.Sprintf("%s %s:%d", op.Kind, op.Destination.Address, op.Destination.Weight))
	}
}

func (m *miniMonitor) take() (ops, logs []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ops, logs = m.ops, m.logs
	m.ops, m.logs = nil, nil
	return ops, logs
}

// startMonitor adopts what the kernel has, then runs the checks.
func startMonitor(t *testing.T, k *ipvstest.Kernel, vs VirtualService, p Params, h *harness) *miniMonitor {
	t.Helper()
	m := &miniMonitor{t: t, vs: vs, k: k}
	current, err := reconcile.Read(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	var cur *reconcile.Service
	for i := range current {
		if current[i].Key() == vs.Key() {
			cur = &current[i]
		}
	}
	startUp, adopted := Adopt(vs, cur)
	var jobs []Job
	for _, rs := range vs.RealServers {
		jp := p
		if adopted {
			jp.Alpha = !startUp[KeyOf(rs.Destination)]
		}
		jobs = append(jobs, Job{ID: rs.String() + "/TCP_CHECK", Target: Target{rs.Address, rs.Port}, Params: jp})
	}
	newHarnessInto(t, h, Options{Notify: func([]Event) { m.apply() }}, jobs)
	m.h = h
	m.apply()
	return m
}

// newHarnessInto is newHarness with a Notify of the caller's.
func newHarnessInto(t *testing.T, h *harness, o Options, jobs []Job) {
	t.Helper()
	notify := o.Notify
	*h = *newHarness(t, Options{Rand: func() float64 { return 0 }}, nil)
	h.s.notify = func(b []Event) {
		h.mu.Lock()
		h.batches = append(h.batches, b)
		h.mu.Unlock()
		notify(b)
	}
	for i := range jobs {
		jobs[i].Checker = h.fc
	}
	if err := h.s.Update(jobs); err != nil {
		t.Fatal(err)
	}
}

func TestMonitorPipeline(t *testing.T) {
	ctx := context.Background()
	k := ipvstest.New()
	vs := VirtualService{Service: service(), RealServers: []RealServer{{Destination: rsA}, {Destination: rsB}},
		Sorry: &SorryServer{Destination: sorry}}
	// The table a previous monitor left: 192.0.2.12 had been removed.
	if err := k.AddService(ctx, vs.Service); err != nil {
		t.Fatal(err)
	}
	if err := k.AddDestination(ctx, vs.Key(), rsA); err != nil {
		t.Fatal(err)
	}
	p := Params{Interval: 5 * time.Second, Timeout: 3 * time.Second, Retry: 2, DelayBeforeRetry: time.Second, Warmup: 5 * time.Second}

	var h harness
	m := startMonitor(t, k, vs, p, &h)
	at := func(d time.Duration) time.Time { return epoch.Add(d) }
	step := func(name string, d time.Duration, wantOps, wantLogs []string) {
		t.Helper()
		h.advance(d)
		ops, logs := m.take()
		if diff := cmp.Diff(wantOps, ops); diff != "" {
			t.Errorf("%s: ops (-want +got):\n%s", name, diff)
		}
		if diff := cmp.Diff(wantLogs, logs); diff != "" {
			t.Errorf("%s: log (-want +got):\n%s", name, diff)
		}
	}
	// Adoption: 192.0.2.11 stays, 192.0.2.12 waits for its first check.
	step("start", 0, nil, nil)
	// Checks at 0s (A) and 2.5s (B): B comes in.
	step("first checks", 3*time.Second, []string{"add-destination 192.0.2.12:2"},
		[]string{LogLine(at(2500*time.Millisecond), rsB.Address, true)})

	// A fails from 5s: retries at 6s and 7s, then it leaves.
	h.fc.set("192.0.2.11", false)
	step("A fails", 5*time.Second, []string{"delete-destination 192.0.2.11:0"},
		[]string{LogLine(at(7*time.Second), rsA.Address, false)})

	// B fails at 12.5s, retries at 13.5s and 14.5s: all down, sorry in.
	h.fc.set("192.0.2.12", false)
	step("B fails", 7*time.Second, []string{"delete-destination 192.0.2.12:0", "add-destination 198.51.100.1:1"},
		[]string{LogLine(at(14500*time.Millisecond), rsB.Address, false)})

	// Both recover: A is checked every 5 s from its last retry (12s, 17s),
	// B from its (19.5s).
	h.fc.set("192.0.2.11", true)
	h.fc.set("192.0.2.12", true)
	step("recovery", 6*time.Second, []string{
		"delete-destination 198.51.100.1:0", "add-destination 192.0.2.11:1",
		"add-destination 192.0.2.12:2",
	}, []string{LogLine(at(17*time.Second), rsA.Address, true), LogLine(at(19500*time.Millisecond), rsB.Address, true)})

	got, err := k.Destinations(ctx, vs.Key())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("kernel has %v", got)
	}

	// A restarted monitor on the same table changes nothing while the
	// servers stay healthy: no removal, no re-add, no weight edit.
	h.cancel()
	h.s.Wait()
	var h2 harness
	m2 := startMonitor(t, k, vs, Params{Interval: 5 * time.Second, Timeout: 3 * time.Second, Retry: 2, DelayBeforeRetry: time.Second, Warmup: 5 * time.Second, Alpha: true}, &h2)
	h2.advance(20 * time.Second)
	if ops, logs := m2.take(); len(ops) != 0 || len(logs) != 0 {
		t.Fatalf("restart changed the table: ops %q, log %q", ops, logs)
	}
	if n := len(h2.fc.takeCalls()); n != 9 {
		t.Fatalf("%d checks in 20s, want 9 (A at 0, 5, ..., 20 s; B at 2.5, 7.5, ... s)", n)
	}
}
