package vrrp

import (
	"sync"
	"time"

	"github.com/lvsctl/lvsctl/internal/clock"
)

// PreciseClock is the real clock with AfterFunc timers that fire within
// tens of microseconds of their deadline. The Speaker uses it in place of
// clock.Real.
//
// The Go runtime parks an idle process in epoll_wait, whose timeout is in
// whole milliseconds, so a time.AfterFunc deadline is met up to about a
// millisecond late. Takeover is measured against the timers (RFC 5798
// §6.4.2: a backup becomes master when the Master_Down_Timer fires; §6.4.3's
// Skew_Time after a priority 0 advert), and keepalived meets them within
// 0.1 ms (timerfd), so each timer here is armed in the runtime preciseLead
// early and sleeps the rest in the kernel on its own thread
// (clock_nanosleep on CLOCK_MONOTONIC with a 1 µs timer slack).
type PreciseClock struct{ clock.Real }

var _ clock.Clock = PreciseClock{}

// preciseLead covers the runtime timer's lateness (under 1.1 ms when idle)
// with room; a thread sleeps in the kernel for about this long per firing.
const preciseLead = 2 * time.Millisecond

// AfterFunc calls f in its own goroutine after d.
func (PreciseClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	t := &preciseTimer{f: f}
	t.Reset(d)
	return t
}

// preciseTimer is a clock.Timer made of a runtime timer that fires
// preciseLead early and a kernel sleep for the rest. gen tells a firing of
// an earlier arming (one that Stop or Reset overtook while it slept) to do
// nothing.
type preciseTimer struct {
	f func()

	mu     sync.Mutex
	gen    uint64
	active bool
	coarse *time.Timer
}

func (t *preciseTimer) C() <-chan time.Time { return nil }

// Stop implements clock.Timer.
func (t *preciseTimer) Stop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	was := t.active
	t.active = false
	t.gen++
	if t.coarse != nil {
		t.coarse.Stop()
	}
	return was
}

// Reset implements clock.Timer.
func (t *preciseTimer) Reset(d time.Duration) bool {
	deadline := time.Now().Add(d)
	t.mu.Lock()
	defer t.mu.Unlock()
	was := t.active
	t.active = true
	t.gen++
	gen := t.gen
	if t.coarse != nil {
		t.coarse.Stop()
	}
	t.coarse = time.AfterFunc(d-preciseLead, func() { t.fire(gen, deadline) })
	return was
}

func (t *preciseTimer) fire(gen uint64, deadline time.Time) {
	if rest := time.Until(deadline); rest > 0 {
		sleepPrecise(rest)
	}
	t.mu.Lock()
	if t.gen != gen || !t.active {
		t.mu.Unlock()
		return
	}
	t.active = false
	t.mu.Unlock()
	t.f()
}
