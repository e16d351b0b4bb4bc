package clock

import (
	"sync"
	"time"
)

// Fake is a Clock whose time moves only when the test calls Advance or Set.
// Timers fire from within Advance, in deadline order (ties in creation
// order), with Now equal to their deadline while they fire; so a test that
// advances by one second sees exactly the timers due in that second, in the
// order a real clock would fire them. AfterFunc callbacks run synchronously
// on the goroutine calling Advance and may create, stop or reset timers,
// including ones that then fall due within the same Advance.
//
// The zero value is not usable; call NewFake.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64 // creation order, breaks deadline ties
	timers map[*fakeTimer]struct{}
}

var _ Clock = (*Fake)(nil)

// NewFake returns a fake clock reading start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, timers: make(map[*fakeTimer]struct{})}
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Since returns Now().Sub(t).
func (f *Fake) Since(t time.Time) time.Duration { return f.Now().Sub(t) }

// NewTimer returns a timer whose channel (buffer 1, like time.Timer)
// receives the fake time when it fires.
func (f *Fake) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{clock: f, ch: make(chan time.Time, 1)}
	f.start(t, d)
	return t
}

// AfterFunc returns a timer that calls fn from Advance when it falls due.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	t := &fakeTimer{clock: f, fn: fn}
	f.start(t, d)
	return t
}

// Advance moves the clock forward by d, firing every timer that falls due on
// the way. A negative d is treated as zero.
func (f *Fake) Advance(d time.Duration) {
	if d < 0 {
		d = 0
	}
	f.mu.Lock()
	target := f.now.Add(d)
	f.mu.Unlock()
	f.advanceTo(target)
}

// Set moves the clock to t (if t is later than Now), firing due timers.
func (f *Fake) Set(t time.Time) { f.advanceTo(t) }

// Pending returns the number of timers that have not fired or been stopped.
func (f *Fake) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// NextDeadline returns the earliest deadline of a pending timer, and false if
// there is none.
func (f *Fake) NextDeadline() (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.earliestLocked()
	if t == nil {
		return time.Time{}, false
	}
	return t.when, true
}

func (f *Fake) advanceTo(target time.Time) {
	for {
		f.mu.Lock()
		next := f.earliestLocked()
		if next == nil || next.when.After(target) {
			if target.After(f.now) {
				f.now = target
			}
			f.mu.Unlock()
			return
		}
		delete(f.timers, next)
		if next.when.After(f.now) {
			f.now = next.when
		}
		now := f.now
		f.mu.Unlock()
		// Fire outside the lock: a callback may use the clock.
		if next.fn != nil {
			next.fn()
		} else {
			select {
			case next.ch <- now:
			default:
			}
		}
	}
}

func (f *Fake) earliestLocked() *fakeTimer {
	var best *fakeTimer
	for t := range f.timers {
		if best == nil || t.when.Before(best.when) || (t.when.Equal(best.when) && t.seq < best.seq) {
			best = t
		}
	}
	return best
}

func (f *Fake) start(t *fakeTimer, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	t.seq = f.seq
	t.when = f.now.Add(d)
	f.timers[t] = struct{}{}
}

type fakeTimer struct {
	clock *Fake
	when  time.Time
	seq   uint64
	fn    func()
	ch    chan time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	_, active := t.clock.timers[t]
	delete(t.clock.timers, t)
	return active
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	active := t.Stop()
	t.clock.start(t, d)
	return active
}
