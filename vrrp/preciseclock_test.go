package vrrp

import (
	"testing"
	"time"
)

func TestPreciseClock(t *testing.T) {
	var c PreciseClock
	t.Run("fires on time", func(t *testing.T) {
		for _, d := range []time.Duration{0, 500 * time.Microsecond, 5 * time.Millisecond} {
			start := time.Now()
			fired := make(chan time.Time, 1)
			c.AfterFunc(d, func() { fired <- time.Now() })
			select {
			case at := <-fired:
				if late := at.Sub(start) - d; late < 0 {
					t.Errorf("AfterFunc(%v) fired %v early", d, -late)
				}
			case <-time.After(time.Second):
				t.Fatalf("AfterFunc(%v) did not fire", d)
			}
		}
	})
	t.Run("stop before and during the kernel sleep", func(t *testing.T) {
		// 3 ms: stopped in the runtime timer's phase; 1.8 ms: in the
		// kernel sleep.
		for _, d := range []time.Duration{3 * time.Millisecond, 1800 * time.Microsecond} {
			fired := make(chan struct{}, 1)
			tm := c.AfterFunc(d, func() { fired <- struct{}{} })
			sleepPrecise(d / 8) // time.Sleep itself would be up to 1 ms late
			if !tm.Stop() {
				select {
				case <-fired:
					t.Logf("%v: the machine was too slow to stop the timer in time", d)
					continue
				default:
				}
				t.Errorf("%v: Stop of an active timer returned false", d)
			}
			if tm.Stop() {
				t.Errorf("%v: second Stop returned true", d)
			}
			select {
			case <-fired:
				t.Errorf("%v: stopped timer fired", d)
			case <-time.After(d + 10*time.Millisecond):
			}
		}
	})
	t.Run("reset fires once, at the new time", func(t *testing.T) {
		fired := make(chan time.Time, 2)
		start := time.Now()
		tm := c.AfterFunc(time.Millisecond, func() { fired <- time.Now() })
		if !tm.Reset(20 * time.Millisecond) {
			t.Error("Reset of an active timer returned false")
		}
		at := <-fired
		if at.Sub(start) < 20*time.Millisecond {
			t.Errorf("fired after %v, want at least 20ms", at.Sub(start))
		}
		select {
		case <-fired:
			t.Error("fired twice")
		case <-time.After(30 * time.Millisecond):
		}
		if tm.Stop() {
			t.Error("Stop after firing returned true")
		}
	})
}
