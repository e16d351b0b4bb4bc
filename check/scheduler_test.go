package check

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lvsctl/lvsctl/internal/clock"
)

var epoch = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// fakeChecker answers from a table set by the test, records when (on the
// fake clock) each target was checked, and can hang: until its context
// ends ("hang"), or until the test releases it ("stuck", ignoring ctx).
type fakeChecker struct {
	clk *clock.Fake

	mu      sync.Mutex
	down    map[netip.Addr]bool
	weight  map[netip.Addr]int32
	hang    map[netip.Addr]string
	calls   []string // "addr@offset"
	release chan struct{}
	once    sync.Once
	entered chan netip.Addr
	active  int
	peak    int
}

func newFakeChecker(clk *clock.Fake) *fakeChecker {
	return &fakeChecker{clk: clk, down: map[netip.Addr]bool{}, weight: map[netip.Addr]int32{},
		hang: map[netip.Addr]string{}, release: make(chan struct{}), entered: make(chan netip.Addr, 100)}
}

func (f *fakeChecker) set(addr string, up bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down[netip.MustParseAddr(addr)] = !up
}

func (f *fakeChecker) Check(ctx context.Context, t Target) Result {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf("%s@%v", t.Addr, f.clk.Since(epoch)))
	down, hang := f.down[t.Addr], f.hang[t.Addr]
	w, dyn := f.weight[t.Addr]
	f.active++
	f.peak = max(f.peak, f.active)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.active--
		f.mu.Unlock()
	}()
	switch hang {
	case "hang":
		f.entered <- t.Addr
		<-ctx.Done()
		return Result{Err: fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())}
	case "stuck":
		f.entered <- t.Addr
		<-f.release
		return Result{OK: true}
	}
	if down {
		return Result{Err: errors.New("refused")}
	}
	return Result{OK: true, Weight: w, WeightSet: dyn}
}

// unstick releases the "stuck" checks.
func (f *fakeChecker) unstick() { f.once.Do(func() { close(f.release) }) }

func (f *fakeChecker) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// harness runs a Scheduler on a fake clock and collects its batches.
type harness struct {
	t      *testing.T
	clk    *clock.Fake
	fc     *fakeChecker
	s      *Scheduler
	cancel context.CancelFunc

	mu      sync.Mutex
	batches [][]Event
}

func newHarness(t *testing.T, o Options, jobs []Job) *harness {
	t.Helper()
	noLeaks(t)
	clk := clock.NewFake(epoch)
	h := &harness{t: t, clk: clk, fc: newFakeChecker(clk)}
	o.Clock = clk
	if o.Rand == nil {
		o.Rand = func() float64 { return 0.5 }
	}
	o.Notify = func(b []Event) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.batches = append(h.batches, b)
	}
	h.s = NewScheduler(o)
	for i := range jobs {
		if jobs[i].Checker == nil {
			jobs[i].Checker = h.fc
		}
	}
	if err := h.s.Update(jobs); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	if err := h.s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); h.fc.unstick(); h.s.Wait() })
	return h
}

func (h *harness) idle() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.s.WaitIdle(ctx); err != nil {
		h.t.Fatalf("scheduler never idle: %v", err)
	}
}

// advance moves the clock d forward one due timer at a time, letting the
// scheduler settle after each, so that timers armed on the way fire too.
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

// transitions returns the events so far as "addr up@offset" strings.
func (h *harness) transitions() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, b := range h.batches {
		for _, e := range b {
			st := "down"
			if e.Up {
				st = "up"
			}
			out = append(out, fmt.Sprintf("%s %s@%v", e.Target.Addr, st, e.Since.Sub(epoch)))
		}
	}
	return out
}

func mkJob(id, addr string, p Params) Job {
	return Job{ID: id, Target: Target{Addr: netip.MustParseAddr(addr), Port: 80}, Params: p}
}

func TestSchedulerStaggeredStart(t *testing.T) {
	p := Params{Interval: 10 * time.Second, Timeout: time.Second, Retry: 1, DelayBeforeRetry: time.Second, Warmup: 10 * time.Second}
	var jobs []Job
	for i := range 5 {
		jobs = append(jobs, mkJob(fmt.Sprintf("rs%d", i), fmt.Sprintf("192.0.2.%d", i+1), p))
	}
	h := newHarness(t, Options{}, jobs)
	h.advance(25 * time.Second)
	// Job i of 5 starts at 10s×(i+0.5)/5 and keeps its phase.
	want := []string{
		"192.0.2.1@1s", "192.0.2.2@3s", "192.0.2.3@5s", "192.0.2.4@7s", "192.0.2.5@9s",
		"192.0.2.1@11s", "192.0.2.2@13s", "192.0.2.3@15s", "192.0.2.4@17s", "192.0.2.5@19s",
		"192.0.2.1@21s", "192.0.2.2@23s", "192.0.2.3@25s",
	}
	if diff := cmp.Diff(want, h.fc.takeCalls()); diff != "" {
		t.Fatalf("check times (-want +got):\n%s", diff)
	}
	if got := h.transitions(); len(got) != 0 {
		t.Fatalf("transitions %q, want none while all pass", got)
	}
}

func TestSchedulerRetryAndRecovery(t *testing.T) {
	// delay_loop 5 s, retry 2, delay_before_retry 1 s, no warmup.
	p := Params{Interval: 5 * time.Second, Timeout: time.Second, Retry: 2, DelayBeforeRetry: time.Second}
	h := newHarness(t, Options{}, []Job{mkJob("a", "192.0.2.7", p)})
	h.advance(7 * time.Second) // checks at 0s and 5s pass
	h.fc.set("192.0.2.7", false)
	h.advance(20 * time.Second) // fails at 10s, retries at 11s and 12s: down at 12s; then 17s, 22s, 27s
	h.fc.set("192.0.2.7", true)
	h.advance(5 * time.Second) // 32s passes: up
	want := []string{
		"192.0.2.7@0s", "192.0.2.7@5s", "192.0.2.7@10s", "192.0.2.7@11s", "192.0.2.7@12s",
		"192.0.2.7@17s", "192.0.2.7@22s", "192.0.2.7@27s", "192.0.2.7@32s",
	}
	if diff := cmp.Diff(want, h.fc.takeCalls()); diff != "" {
		t.Fatalf("check times (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"192.0.2.7 down@12s", "192.0.2.7 up@32s"}, h.transitions()); diff != "" {
		t.Fatalf("transitions (-want +got):\n%s", diff)
	}
	st := h.s.Status()
	if len(st) != 1 || !st[0].Up || !st[0].Checked || st[0].Since != epoch.Add(32*time.Second) || st[0].Kind != "" {
		t.Fatalf("Status = %+v", st)
	}
}

func TestSchedulerAlpha(t *testing.T) {
	p := Params{Interval: 5 * time.Second, Timeout: time.Second, Retry: 1, DelayBeforeRetry: time.Second, Alpha: true}
	h := newHarness(t, Options{}, []Job{mkJob("a", "192.0.2.1", p), mkJob("b", "192.0.2.2", p)})
	h.fc.set("192.0.2.2", false)
	if st := h.s.Status(); st[0].Up || st[1].Up {
		t.Fatalf("alpha jobs start up: %+v", st)
	}
	h.advance(11 * time.Second)
	// a comes up on its first success; b, down from the start, is checked
	// every interval without retries and reports nothing.
	if diff := cmp.Diff([]string{"192.0.2.1 up@0s"}, h.transitions()); diff != "" {
		t.Fatalf("transitions (-want +got):\n%s", diff)
	}
	want := []string{"192.0.2.1@0s", "192.0.2.2@0s", "192.0.2.1@5s", "192.0.2.2@5s", "192.0.2.1@10s", "192.0.2.2@10s"}
	if diff := cmp.Diff(want, sortedCalls(h.fc.takeCalls())); diff != "" {
		t.Fatalf("check times (-want +got):\n%s", diff)
	}
}

// sortedCalls orders calls made at the same instant by address, since
// concurrent checks record in any order.
func sortedCalls(c []string) []string {
	slices.SortStableFunc(c, func(a, b string) int {
		ta, tb := a[len("192.0.2.1@"):], b[len("192.0.2.1@"):]
		da, _ := time.ParseDuration(ta)
		db, _ := time.ParseDuration(tb)
		if da != db {
			return int(da - db)
		}
		return cmpString(a, b)
	})
	return c
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestSchedulerDeadline(t *testing.T) {
	p := Params{Interval: 10 * time.Second, Timeout: 3 * time.Second, Retry: 0, DelayBeforeRetry: time.Second}
	h := newHarness(t, Options{}, []Job{mkJob("a", "192.0.2.9", p)})
	h.fc.mu.Lock()
	h.fc.hang[netip.MustParseAddr("192.0.2.9")] = "hang"
	h.fc.mu.Unlock()
	h.clk.Advance(0) // the first check starts and hangs until its deadline
	<-h.fc.entered
	// A hanging check is never idle: move the clock without waiting.
	h.clk.Advance(2999 * time.Millisecond)
	if got := h.transitions(); len(got) != 0 {
		t.Fatalf("transitions before the deadline: %q", got)
	}
	h.clk.Advance(time.Millisecond)
	h.idle()
	if diff := cmp.Diff([]string{"192.0.2.9 down@3s"}, h.transitions()); diff != "" {
		t.Fatalf("transitions (-want +got):\n%s", diff)
	}
	st := h.s.Status()[0]
	if !errors.Is(st.Last.Err, ErrTimeout) || st.Last.Latency != 3*time.Second {
		t.Fatalf("last result %+v, want a 3s timeout", st.Last)
	}
	// The next check is an interval after the start of the last one.
	h.fc.mu.Lock()
	delete(h.fc.hang, netip.MustParseAddr("192.0.2.9"))
	h.fc.mu.Unlock()
	h.advance(7 * time.Second)
	if diff := cmp.Diff([]string{"192.0.2.9@0s", "192.0.2.9@10s"}, h.fc.takeCalls()); diff != "" {
		t.Fatalf("check times (-want +got):\n%s", diff)
	}
}

// TestSchedulerStuckChecker: a checker that ignores its context is
// recorded failed Grace after its deadline, and its job waits for it.
func TestSchedulerStuckChecker(t *testing.T) {
	p := Params{Interval: 2 * time.Second, Timeout: time.Second, Retry: 0}
	h := newHarness(t, Options{Grace: 2 * time.Second}, []Job{mkJob("a", "192.0.2.3", p)})
	h.fc.mu.Lock()
	h.fc.hang[netip.MustParseAddr("192.0.2.3")] = "stuck"
	h.fc.mu.Unlock()
	h.clk.Advance(0)
	<-h.fc.entered
	// Deadline at 1s, grace until 3s: recorded down at 3s.
	for range 3 {
		h.clk.Advance(time.Second)
	}
	h.idle()
	if diff := cmp.Diff([]string{"192.0.2.3 down@3s"}, h.transitions()); diff != "" {
		t.Fatalf("transitions (-want +got):\n%s", diff)
	}
	// The next check (due at 2s) has not started: the stuck one holds it.
	h.clk.Advance(5 * time.Second)
	if got := h.fc.takeCalls(); len(got) != 1 {
		t.Fatalf("calls %q, want the stuck one only", got)
	}
	// The next check hangs until its deadline, so that its start is seen.
	h.fc.mu.Lock()
	h.fc.hang[netip.MustParseAddr("192.0.2.3")] = "hang"
	h.fc.mu.Unlock()
	h.fc.unstick() // the late OK is dropped; the due check starts at once
	if a := <-h.fc.entered; a != netip.MustParseAddr("192.0.2.3") {
		t.Fatalf("entered %s", a)
	}
	if diff := cmp.Diff([]string{"192.0.2.3@8s"}, h.fc.takeCalls()); diff != "" {
		t.Fatalf("calls after release (-want +got):\n%s", diff)
	}
	h.clk.Advance(time.Second)
	h.idle()
	if diff := cmp.Diff([]string{"192.0.2.3 down@3s"}, h.transitions()); diff != "" {
		t.Fatalf("transitions (-want +got):\n%s", diff)
	}
	if st := h.s.Status()[0]; st.Running || st.Up || st.LastAt != epoch.Add(9*time.Second) {
		t.Fatalf("status %+v", st)
	}
}

func TestSchedulerConcurrencyBound(t *testing.T) {
	p := Params{Interval: 100 * time.Second, Timeout: 5 * time.Second}
	var jobs []Job
	for i := range 5 {
		jobs = append(jobs, mkJob(fmt.Sprintf("rs%d", i), fmt.Sprintf("192.0.2.%d", 10+i), p))
	}
	h := newHarness(t, Options{MaxConcurrent: 2}, jobs)
	h.fc.mu.Lock()
	for i := range 5 {
		h.fc.hang[netip.MustParseAddr(fmt.Sprintf("192.0.2.%d", 10+i))] = "hang"
	}
	h.fc.mu.Unlock()
	h.clk.Advance(0) // all five due; two start
	<-h.fc.entered
	<-h.fc.entered
	select {
	case a := <-h.fc.entered:
		t.Fatalf("third check %s started beyond the bound", a)
	default:
	}
	// Each deadline frees a slot for the next in line, in due order.
	h.clk.Advance(5 * time.Second)
	<-h.fc.entered
	<-h.fc.entered
	h.clk.Advance(5 * time.Second)
	<-h.fc.entered
	h.fc.mu.Lock()
	peak := h.fc.peak
	h.fc.mu.Unlock()
	if peak != 2 {
		t.Fatalf("peak concurrency %d, want 2", peak)
	}
	calls := h.fc.takeCalls()
	want := []string{"192.0.2.10@0s", "192.0.2.11@0s", "192.0.2.12@5s", "192.0.2.13@5s", "192.0.2.14@10s"}
	if diff := cmp.Diff(want, sortedCalls(calls)); diff != "" {
		t.Fatalf("start times (-want +got):\n%s", diff)
	}
}

func TestSchedulerBatches(t *testing.T) {
	p := Params{Interval: 5 * time.Second, Timeout: time.Second, Retry: 0}
	var jobs []Job
	for i := range 4 {
		jobs = append(jobs, mkJob(fmt.Sprintf("rs%d", i), fmt.Sprintf("192.0.2.%d", 20+i), p))
	}
	h := newHarness(t, Options{BatchWindow: 500 * time.Millisecond}, jobs)
	h.advance(time.Second)
	for i := range 4 {
		h.fc.set(fmt.Sprintf("192.0.2.%d", 20+i), false)
	}
	h.advance(5 * time.Second)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.batches) != 1 || len(h.batches[0]) != 4 {
		t.Fatalf("batches %v, want one batch of 4 transitions", h.batches)
	}
}

func TestSchedulerDynamicWeight(t *testing.T) {
	p := Params{Interval: 5 * time.Second, Timeout: time.Second}
	h := newHarness(t, Options{}, []Job{mkJob("a", "192.0.2.30", p)})
	addr := netip.MustParseAddr("192.0.2.30")
	h.fc.mu.Lock()
	h.fc.weight[addr] = 7
	h.fc.mu.Unlock()
	h.advance(6 * time.Second)
	h.fc.mu.Lock()
	delete(h.fc.weight, addr) // exit 0: the weight stays
	h.fc.mu.Unlock()
	h.advance(5 * time.Second)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.batches) != 1 || len(h.batches[0]) != 1 {
		t.Fatalf("batches %v, want one weight event", h.batches)
	}
	e := h.batches[0][0]
	if !e.Up || !e.WeightSet || e.Weight != 7 {
		t.Fatalf("event %+v, want up with weight 7", e)
	}
	if st := h.s.Status()[0]; !st.WeightSet || st.Weight != 7 {
		t.Fatalf("status %+v, want weight 7 kept", st)
	}
}

func TestSchedulerUpdate(t *testing.T) {
	p := Params{Interval: 5 * time.Second, Timeout: time.Second, Retry: 0}
	h := newHarness(t, Options{}, []Job{mkJob("a", "192.0.2.40", p), mkJob("b", "192.0.2.41", p)})
	h.fc.set("192.0.2.41", false)
	h.advance(time.Second) // b down at 0s
	h.fc.takeCalls()

	// Keep b (its state too), drop a, add c with a warmup.
	c := mkJob("c", "192.0.2.42", p)
	c.Checker = h.fc
	c.Params.Warmup = 4 * time.Second
	b := mkJob("b", "192.0.2.41", p)
	b.Checker = h.fc
	b.Params.Retry = 3
	if err := h.s.Update([]Job{b, c}); err != nil {
		t.Fatal(err)
	}
	if st := h.s.Status(); len(st) != 2 || st[0].ID != "b" || st[0].Up || st[1].ID != "c" || !st[1].Up {
		t.Fatalf("Status after Update = %+v", st)
	}
	h.advance(5 * time.Second)
	// c starts at 1s+4s×0.5; b keeps its phase; a is gone.
	want := []string{"192.0.2.42@3s", "192.0.2.41@5s"}
	if diff := cmp.Diff(want, h.fc.takeCalls()); diff != "" {
		t.Fatalf("calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"192.0.2.41 down@0s"}, h.transitions()); diff != "" {
		t.Fatalf("transitions (-want +got):\n%s", diff)
	}

	for _, bad := range [][]Job{
		{{ID: "", Checker: h.fc, Params: p}},
		{{ID: "x", Checker: h.fc, Params: p}, {ID: "x", Checker: h.fc, Params: p}},
		{{ID: "x", Params: p}},
		{{ID: "x", Checker: h.fc, Params: Params{Timeout: time.Second}}},
		{{ID: "x", Checker: h.fc, Params: Params{Interval: time.Second}}},
		{{ID: "x", Checker: h.fc, Params: Params{Interval: time.Second, Timeout: time.Second, Retry: -1}}},
	} {
		if err := h.s.Update(bad); !errors.Is(err, ErrInvalidJob) {
			t.Errorf("Update(%+v) = %v, want ErrInvalidJob", bad, err)
		}
	}
	if st := h.s.Status(); len(st) != 2 {
		t.Fatalf("a failed Update changed the jobs: %+v", st)
	}
}

// TestSchedulerRemoveRunning: removing a job cancels its check in flight
// and drops its result.
func TestSchedulerRemoveRunning(t *testing.T) {
	p := Params{Interval: 5 * time.Second, Timeout: 3 * time.Second, Retry: 0}
	h := newHarness(t, Options{}, []Job{mkJob("a", "192.0.2.50", p)})
	h.fc.mu.Lock()
	h.fc.hang[netip.MustParseAddr("192.0.2.50")] = "hang"
	h.fc.mu.Unlock()
	h.clk.Advance(0)
	<-h.fc.entered
	if err := h.s.Update(nil); err != nil {
		t.Fatal(err)
	}
	h.idle()
	h.advance(10 * time.Second)
	if got := h.transitions(); len(got) != 0 {
		t.Fatalf("transitions %q from a removed job", got)
	}
	if h.clk.Pending() != 0 {
		t.Fatalf("%d timers left", h.clk.Pending())
	}
}

// TestSchedulerStop: cancelling the context stops everything, even a
// check in flight, and Start cannot be called again.
func TestSchedulerStop(t *testing.T) {
	p := Params{Interval: 5 * time.Second, Timeout: time.Hour}
	h := newHarness(t, Options{}, []Job{mkJob("a", "192.0.2.60", p), mkJob("b", "192.0.2.61", p)})
	h.fc.mu.Lock()
	h.fc.hang[netip.MustParseAddr("192.0.2.60")] = "hang"
	h.fc.mu.Unlock()
	h.clk.Advance(0)
	<-h.fc.entered
	h.cancel()
	h.s.Wait()
	if h.clk.Pending() != 0 {
		t.Fatalf("%d timers left after stop", h.clk.Pending())
	}
	if err := h.s.Start(context.Background()); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Start = %v", err)
	}
}
