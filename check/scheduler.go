package check

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/lvsctl/lvsctl/internal/clock"
)

// Job is one checker run periodically against one target. A real server
// with several checkers is several jobs; it is healthy when all are up.
type Job struct {
	// ID identifies the job across Update calls: a job whose ID is kept
	// keeps its state (up or down, retries, since when).
	ID      string
	Target  Target
	Checker Checker
	Params  Params
	// Observe, when set, is given every result of the job's checks (and
	// the failure recorded for a check abandoned past its deadline), its
	// Latency filled in. It is called with the Scheduler's lock held, so
	// it must be quick and must not call the Scheduler.
	Observe func(Result)
}

// Event reports that a job went up or down.
type Event struct {
	ID     string
	Target Target
	Up     bool
	// Since is when the job entered this state: the time of the result
	// that decided it.
	Since time.Time
	// Result is the check that decided the transition.
	Result Result
	// Weight is the weight the job's last misc_dynamic result asked for,
	// meaningful when WeightSet. A change of it is an Event too, as
	// keepalived changes the real server's weight at once.
	Weight    int32
	WeightSet bool
}

// Status is a job's state as Scheduler.Status reports it.
type Status struct {
	ID     string
	Target Target
	Kind   Kind
	Up     bool
	Since  time.Time
	// Checked is false until the first check has completed.
	Checked bool
	Last    Result
	LastAt  time.Time
	Running bool
	// Weight is the last weight a misc_dynamic result asked for; it stays
	// until another such result changes it.
	Weight    int32
	WeightSet bool
}

// Options configure a Scheduler. The zero value runs on the real clock with
// 1,024 concurrent checks, delivers no events, and logs nothing.
type Options struct {
	// Clock drives every delay and deadline; nil: the real clock.
	Clock clock.Clock
	// MaxConcurrent bounds the checks in flight; checks due beyond it wait
	// their turn in the order they fell due. Zero: 1,024, enough for 1,000
	// targets every second even when a good share of them time out.
	MaxConcurrent int
	// Notify receives the transitions, in order, in batches: all the
	// transitions decided while the previous batch was being delivered, or
	// within BatchWindow of the first of them. It is called from one
	// goroutine at a time and never from a checker's; a slow Notify delays
	// later batches, never checks.
	Notify func([]Event)
	// BatchWindow holds the first transition of a batch back this long so
	// that others can join it; zero: deliver at once.
	BatchWindow time.Duration
	// Grace is how long past its deadline a check that has not returned is
	// recorded as failed without its result; its late result is dropped
	// and the job is not started again until it returns. Zero: 5 s, which
	// covers a script's SIGTERM-to-SIGKILL delay.
	Grace time.Duration
	// Rand returns a number in [0, 1) for the warmup delays; nil:
	// math/rand/v2.
	Rand func() float64
	// Logger receives warnings (checks that overrun their deadline); nil:
	// discarded.
	Logger *slog.Logger
}

// ErrRunning is returned by a second call of Start or Run.
var ErrRunning = errors.New("scheduler already running")

// Scheduler runs jobs: each job's checks every interval from a staggered
// start, keepalived's retry, delay_before_retry and alpha rules (see
// Params), a hard deadline per check from the injected clock, at most
// MaxConcurrent checks at once, and transitions delivered in batches.
type Scheduler struct {
	clock  clock.Clock
	limit  int
	notify func([]Event)
	window time.Duration
	grace  time.Duration
	rand   func() float64
	log    *slog.Logger
	// ownGoroutine: the clock runs each timer's function in a goroutine
	// of its own (clock.Real does; a fake one runs them in Advance).
	ownGoroutine bool
	// loop, on the real clock, is the clock: timers and the checks that
	// implement loopChecker run on its one goroutine.
	loop *loop

	mu       sync.Mutex
	jobs     map[string]*job
	started  bool
	stopped  bool
	runCtx   context.Context
	running  int
	stray    int      // running checks already recorded failed (abandoned)
	queue    []queued // due jobs waiting for a slot
	wg       sync.WaitGroup
	outbox   []Event
	ready    bool // outbox may be delivered now
	armed    clock.Timer
	busyOut  bool          // Notify is running
	kick     chan struct{} // wakes the delivery goroutine
	changed  chan struct{} // closed on progress, for WaitIdle; nil: nobody waits
	deliverD chan struct{} // closed when the delivery goroutine exits
	stoppedC chan struct{} // closed when the Scheduler has stopped
}

type queued struct {
	j   *job
	gen uint64
}

type job struct {
	Job
	gen       uint64 // bumped on removal: stale timers and results are ignored
	h         health
	timer     clock.Timer
	due       bool // fell due while the previous check was still running
	running   bool
	run       uint64 // sequence of the check in flight
	cancel    context.CancelFunc
	deadline  clock.Timer
	abandoned bool // recorded failed at deadline+grace; waiting for it to return
	started   time.Time
	last      Result
	lastAt    time.Time
	removed   bool
	onLoop    *loopRun // runs the job's checks on the loop
	weight    int32    // sticky misc_dynamic weight
	weightSet bool
}

// NewScheduler returns a Scheduler with no jobs.
func NewScheduler(o Options) *Scheduler {
	s := &Scheduler{
		clock:  o.Clock,
		limit:  o.MaxConcurrent,
		notify: o.Notify,
		window: o.BatchWindow,
		grace:  o.Grace,
		rand:   o.Rand,
		log:    o.Logger,
		jobs:   make(map[string]*job),
		kick:   make(chan struct{}, 1),
	}
	if _, real := s.clock.(clock.Real); real || s.clock == nil {
		s.loop = newLoop()
		s.clock = s.loop
	}
	_, s.ownGoroutine = s.clock.(clock.Real)
	if s.limit <= 0 {
		s.limit = 1024
	}
	if s.grace <= 0 {
		s.grace = 5 * time.Second
	}
	if s.rand == nil {
		s.rand = rand.Float64
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return s
}

// Update replaces the set of jobs. Jobs whose ID is new start in their
// initial state (down with Alpha, up without) after a warmup delay; jobs
// whose ID is gone stop, a check in flight cancelled and its result
// dropped; jobs whose ID is kept take the new target, checker and params
// and keep their state, with the retry count cut to the new Retry (as
// keepalived carries checker state over a reload). An invalid job fails the
// whole call and changes nothing.
func (s *Scheduler) Update(jobs []Job) error {
	seen := make(map[string]bool, len(jobs))
	for _, j := range jobs {
		switch {
		case j.ID == "":
			return fmt.Errorf("%w: empty ID", ErrInvalidJob)
		case seen[j.ID]:
			return fmt.Errorf("%w: ID %q given twice", ErrInvalidJob, j.ID)
		case j.Checker == nil:
			return fmt.Errorf("%w: %s: no checker", ErrInvalidJob, j.ID)
		}
		if err := j.Params.validate(); err != nil {
			return fmt.Errorf("%s: %w", j.ID, err)
		}
		seen[j.ID] = true
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	for id, j := range s.jobs {
		if !seen[id] {
			s.removeLocked(j)
			delete(s.jobs, id)
		}
	}
	var added []*job
	for _, nj := range jobs {
		if j, ok := s.jobs[nj.ID]; ok {
			j.Job = nj
			j.h.retryIt = min(j.h.retryIt, nj.Params.Retry)
			continue
		}
		j := &job{Job: nj, h: newHealth(nj.Params, now)}
		s.jobs[nj.ID] = j
		added = append(added, j)
	}
	if s.started && !s.stopped {
		s.warmupLocked(added)
	}
	return nil
}

// removeLocked stops a job: its timer, its check in flight.
func (s *Scheduler) removeLocked(j *job) {
	j.removed = true
	j.gen++
	if j.timer != nil {
		j.timer.Stop()
	}
	if j.running {
		j.cancel()
	}
}

// warmupLocked arms the first check of each job, spread over its warmup:
// job i of n (in ID order) at Warmup×(i+u)/n with u random in [0, 1). A
// uniform random start as keepalived's can bunch checks together; this
// keeps them apart while still varying from run to run.
func (s *Scheduler) warmupLocked(js []*job) {
	slices.SortFunc(js, func(a, b *job) int { return cmp.Compare(a.ID, b.ID) })
	n := float64(len(js))
	for i, j := range js {
		d := time.Duration(float64(j.Params.Warmup) * (float64(i) + s.rand()) / n)
		s.armLocked(j, d)
	}
}

// armLocked sets j's timer to fire after d. A job keeps one timer for its
// life (its gen only changes when it is removed) and resets it.
func (s *Scheduler) armLocked(j *job, d time.Duration) {
	if j.timer != nil {
		j.timer.Reset(max(d, 0))
		return
	}
	gen := j.gen
	j.timer = s.clock.AfterFunc(max(d, 0), func() { s.fire(j, gen) })
}

// fire is a job's timer: start its check, or queue it for a slot. On the
// real clock a timer's function runs in a goroutine of its own, and the
// check runs on in it: handing it to another goroutine would cost a
// goroutine and a wake-up of the runtime's scheduler for every check.
func (s *Scheduler) fire(j *job, gen uint64) {
	s.mu.Lock()
	if s.stopped || j.gen != gen {
		s.mu.Unlock()
		return
	}
	if j.running {
		j.due = true
		s.mu.Unlock()
		return
	}
	if !s.ownGoroutine || s.running >= s.limit {
		s.enqueueLocked(j)
		s.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(s.runCtx)
	run := s.beginLocked(j, cancel)
	c, t := j.Checker, j.Target
	s.mu.Unlock()
	s.exec(ctx, j, c, t, run)
}

func (s *Scheduler) enqueueLocked(j *job) {
	if s.running < s.limit {
		s.startLocked(j)
		return
	}
	s.queue = append(s.queue, queued{j, j.gen})
}

// onLoopLocked tells whether j's checks run on the loop.
func (s *Scheduler) onLoopLocked(j *job) (loopChecker, bool) {
	lc, ok := j.Checker.(loopChecker)
	return lc, ok && s.loop != nil && lc.onLoop(j.Target)
}

// OnLoopOnly reports whether every job's checks run on the event loop,
// none in a goroutine of its own: true for HTTP_GET and TCP_CHECK without
// TLS, digest or source address, on the real clock. A program that runs
// nothing else much can then run on one CPU (see lvsctl monitor).
func (s *Scheduler) OnLoopOnly() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.jobs {
		if _, ok := s.onLoopLocked(j); !ok {
			return false
		}
	}
	return s.loop != nil
}

// startLocked runs one check of j, with a deadline from the clock: on the
// loop when the checker can, else in a goroutine of its own.
func (s *Scheduler) startLocked(j *job) {
	if lc, ok := s.onLoopLocked(j); ok {
		a := j.onLoop
		if a == nil {
			a = newLoopRun(s, j)
			j.onLoop = a
		}
		a.run = s.beginLocked(j, a.cancelFn)
		a.lc, a.t, a.ended = lc, j.Target, false
		s.loop.post(a.startFn)
		return
	}
	ctx, cancel := context.WithCancel(s.runCtx)
	run := s.beginLocked(j, cancel)
	go s.exec(ctx, j, j.Checker, j.Target, run)
}

// beginLocked records the start of a check of j and arms its deadline;
// cancel ends the check. It returns the check's sequence number.
func (s *Scheduler) beginLocked(j *job, cancel func()) uint64 {
	s.running++
	j.running, j.due, j.abandoned = true, false, false
	j.run++
	j.started = s.clock.Now()
	j.cancel = cancel
	run, gen := j.run, j.gen
	expire := func() { s.expire(j, gen, run) }
	if s.loop != nil {
		j.deadline = s.loop.deadline(j.Params.Timeout, expire)
	} else {
		j.deadline = s.clock.AfterFunc(j.Params.Timeout, expire)
	}
	s.wg.Add(1)
	return run
}

// loopRun runs a job's checks on the loop, one at a time; a job keeps
// its loopRun, and the checker's task, from one check to the next.
type loopRun struct {
	s   *Scheduler
	j   *job
	run uint64 // the check in flight (or last); set under the lock
	lc  loopChecker
	t   Target
	// ended: the result was delivered or the check cancelled; under the
	// Scheduler's lock.
	ended bool

	// The loop's goroutine alone uses these.
	task     loopTask
	started  uint64 // the check start last began
	finished bool   // done was called for it

	startFn, cancelFn func()
	doneFn            func(Result)
}

func newLoopRun(s *Scheduler, j *job) *loopRun {
	a := &loopRun{s: s, j: j}
	a.startFn, a.cancelFn, a.doneFn = a.start, a.cancel, a.done
	return a
}

// start runs on the loop's goroutine. The check it begins is the one
// posted: a job's next check is not begun until this one is done.
func (a *loopRun) start() {
	a.s.mu.Lock()
	run, lc, t := a.run, a.lc, a.t
	a.s.mu.Unlock()
	a.started, a.finished = run, false
	a.task = lc.startOn(a.s.loop, t, a.task, a.doneFn)
}

// done takes the result, on the loop's goroutine.
func (a *loopRun) done(r Result) {
	if a.finished {
		return
	}
	a.finished = true
	s := a.s
	s.mu.Lock()
	a.ended = true
	s.finishLocked(a.j, a.started, r)
	s.mu.Unlock()
	s.wg.Done()
}

// cancel ends the check in flight at its deadline, at its job's removal
// or at the Scheduler's stop; called under the Scheduler's lock.
func (a *loopRun) cancel() {
	if a.ended {
		return
	}
	a.ended = true
	run := a.run
	a.s.loop.post(func() { a.abort(run) })
}

// abort runs on the loop's goroutine, after the start of check run.
func (a *loopRun) abort(run uint64) {
	if a.started == run && !a.finished && a.task != nil {
		a.task.abort()
	}
}

func (s *Scheduler) exec(ctx context.Context, j *job, c Checker, t Target, run uint64) {
	defer s.wg.Done()
	r := c.Check(ctx, t)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finishLocked(j, run, r)
}

// expire is a check's deadline: cancel it, and if it has still not
// returned Grace later, record it as failed.
func (s *Scheduler) expire(j *job, gen, run uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || j.gen != gen || !j.running || j.run != run {
		return
	}
	j.cancel()
	j.deadline = s.clock.AfterFunc(s.grace, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.stopped || j.gen != gen || !j.running || j.run != run {
			return
		}
		s.log.Warn("check did not return after its deadline", "job", j.ID, "target", j.Target.String(),
			"timeout", j.Params.Timeout, "grace", s.grace)
		j.abandoned = true
		s.stray++
		s.recordLocked(j, Result{Err: fmt.Errorf("%w: checker did not return within %v of its %v deadline", ErrTimeout, s.grace, j.Params.Timeout)})
	})
}

// finishLocked takes a check's result: free its slot, record it (unless it
// was abandoned or its job removed), start what waits.
func (s *Scheduler) finishLocked(j *job, run uint64, r Result) {
	defer s.progressLocked()
	s.running--
	if j.abandoned {
		s.stray--
	}
	if j.run == run {
		j.running = false
		j.deadline.Stop()
		j.cancel()
	}
	if !s.stopped {
		if !j.removed && !j.abandoned {
			s.recordLocked(j, r)
		} else if !j.removed && j.due {
			s.enqueueLocked(j)
		}
		s.pumpLocked()
	}
}

// recordLocked applies a result to the job's state, reports a transition
// and arms the next check, timed from the start of this one so that the
// staggered phases persist.
func (s *Scheduler) recordLocked(j *job, r Result) {
	now := s.clock.Now()
	if r.Latency == 0 {
		r.Latency = now.Sub(j.started)
	}
	if r.OK {
		r.Err = nil
	} else if r.Err == nil {
		r.Err = errors.New("check failed")
	}
	if j.Observe != nil {
		j.Observe(r)
	}
	changed, next := j.h.observe(j.Params, r.OK, now)
	j.last, j.lastAt = r, now
	if r.OK && r.WeightSet && (!j.weightSet || j.weight != r.Weight) {
		j.weight, j.weightSet = r.Weight, true
		changed = true
	}
	if changed {
		s.emitLocked(Event{ID: j.ID, Target: j.Target, Up: j.h.up, Since: j.h.since, Result: r,
			Weight: j.weight, WeightSet: j.weightSet})
	}
	s.armLocked(j, j.started.Add(next).Sub(now))
}

func (s *Scheduler) pumpLocked() {
	for s.running < s.limit && len(s.queue) > 0 {
		q := s.queue[0]
		s.queue[0] = queued{}
		s.queue = s.queue[1:]
		if q.j.gen != q.gen || q.j.running {
			continue
		}
		s.startLocked(q.j)
	}
}

func (s *Scheduler) emitLocked(e Event) {
	s.outbox = append(s.outbox, e)
	if s.window <= 0 {
		s.ready = true
		s.kickDelivery()
		return
	}
	if s.armed == nil {
		s.armed = s.clock.AfterFunc(s.window, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.armed = nil
			if !s.stopped {
				s.ready = true
				s.kickDelivery()
			}
		})
	}
}

func (s *Scheduler) kickDelivery() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// deliver is the goroutine that calls Notify.
func (s *Scheduler) deliver(done <-chan struct{}) {
	defer close(s.deliverD)
	for {
		select {
		case <-s.kick:
		case <-done:
			return
		}
		for {
			s.mu.Lock()
			if !s.ready || len(s.outbox) == 0 {
				s.ready = false
				s.progressLocked()
				s.mu.Unlock()
				break
			}
			batch := s.outbox
			s.outbox, s.ready, s.busyOut = nil, false, true
			s.mu.Unlock()
			if s.notify != nil {
				s.notify(batch)
			}
			s.mu.Lock()
			s.busyOut = false
			if len(s.outbox) > 0 && s.armed == nil {
				// Transitions decided while Notify ran form the next batch.
				s.ready = true
			}
			s.progressLocked()
			s.mu.Unlock()
		}
	}
}

// progressLocked wakes WaitIdle callers.
func (s *Scheduler) progressLocked() {
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

func (s *Scheduler) idleLocked() bool {
	return s.running == s.stray && len(s.queue) == 0 && !s.busyOut && !(s.ready && len(s.outbox) > 0)
}

// WaitIdle returns when no check is running (but those already recorded
// failed past their deadline) or waiting for a slot, and no batch of
// events is waiting for or inside Notify: when nothing will happen until
// the clock moves, provided the checks in flight do not wait for the
// clock themselves. Tests on a fake clock call it after each
// Advance; it returns ctx's error if ctx ends first.
func (s *Scheduler) WaitIdle(ctx context.Context) error {
	for {
		s.mu.Lock()
		if s.idleLocked() {
			s.mu.Unlock()
			return nil
		}
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Start arms the jobs' first checks and returns; the Scheduler runs until
// ctx ends, then stops every timer, cancels the checks in flight, waits
// for them to return and delivers the remaining events. Wait blocks until
// that is done. Start may be called once.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return ErrRunning
	}
	if s.loop != nil {
		if err := s.loop.start(); err != nil {
			return err
		}
	}
	s.started = true
	s.runCtx = ctx
	s.deliverD = make(chan struct{})
	s.stoppedC = make(chan struct{})
	js := make([]*job, 0, len(s.jobs))
	for _, j := range s.jobs {
		js = append(js, j)
	}
	s.warmupLocked(js)
	done := make(chan struct{})
	go s.deliver(done)
	go s.stopOn(ctx, done)
	return nil
}

// Run is Start followed by Wait.
func (s *Scheduler) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	s.Wait()
	return nil
}

// Wait returns when a started Scheduler has stopped, and at once if it was
// never started.
func (s *Scheduler) Wait() {
	s.mu.Lock()
	c := s.stoppedC
	s.mu.Unlock()
	if c != nil {
		<-c
	}
}

func (s *Scheduler) stopOn(ctx context.Context, done chan struct{}) {
	defer close(s.stoppedC)
	<-ctx.Done()

	s.mu.Lock()
	s.stopped = true
	for _, j := range s.jobs {
		if j.timer != nil {
			j.timer.Stop()
		}
		if j.running {
			j.deadline.Stop()
			j.cancel()
		}
	}
	if s.armed != nil {
		s.armed.Stop()
		s.armed = nil
	}
	s.queue = nil
	s.mu.Unlock()

	s.wg.Wait()
	close(done)
	<-s.deliverD

	s.mu.Lock()
	batch := s.outbox
	s.outbox, s.ready = nil, false
	s.progressLocked()
	s.mu.Unlock()
	if len(batch) > 0 && s.notify != nil {
		s.notify(batch)
	}
	if s.loop != nil {
		s.loop.close()
	}
}

// Status returns every job's state, ordered by ID.
func (s *Scheduler) Status() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.jobs))
	for _, j := range s.jobs {
		out = append(out, Status{
			ID: j.ID, Target: j.Target, Kind: KindOf(j.Checker),
			Up: j.h.up, Since: j.h.since, Checked: j.h.hasRun,
			Last: j.last, LastAt: j.lastAt, Running: j.running,
			Weight: j.weight, WeightSet: j.weightSet,
		})
	}
	slices.SortFunc(out, func(a, b Status) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
