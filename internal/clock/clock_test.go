package clock

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestFakeFiresInDeadlineOrder(t *testing.T) {
	f := NewFake(epoch)
	var got []string
	rec := func(name string) func() {
		return func() { got = append(got, name+"@"+f.Since(epoch).String()) }
	}
	f.AfterFunc(3*time.Second, rec("c"))
	f.AfterFunc(1*time.Second, rec("a"))
	f.AfterFunc(1*time.Second, rec("a2")) // same deadline: creation order
	f.AfterFunc(2*time.Second, rec("b"))

	f.Advance(1500 * time.Millisecond)
	if diff := cmp.Diff([]string{"a@1s", "a2@1s"}, got); diff != "" {
		t.Fatalf("after 1.5s (-want +got):\n%s", diff)
	}
	if now := f.Since(epoch); now != 1500*time.Millisecond {
		t.Fatalf("Now = epoch+%v, want epoch+1.5s", now)
	}
	f.Advance(10 * time.Second)
	want := []string{"a@1s", "a2@1s", "b@2s", "c@3s"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("after 11.5s (-want +got):\n%s", diff)
	}
	if f.Pending() != 0 {
		t.Fatalf("Pending = %d, want 0", f.Pending())
	}
}

func TestFakeStopAndReset(t *testing.T) {
	f := NewFake(epoch)
	fired := 0
	tm := f.AfterFunc(time.Second, func() { fired++ })
	if !tm.Stop() {
		t.Fatal("Stop of an active timer reported false")
	}
	if tm.Stop() {
		t.Fatal("second Stop reported true")
	}
	f.Advance(2 * time.Second)
	if fired != 0 {
		t.Fatalf("stopped timer fired %d times", fired)
	}
	if tm.Reset(time.Second) {
		t.Fatal("Reset of a stopped timer reported active")
	}
	f.Advance(999 * time.Millisecond)
	if fired != 0 {
		t.Fatal("timer fired early")
	}
	if !tm.Reset(time.Second) { // pushes the deadline to epoch+3.999s
		t.Fatal("Reset of an active timer reported inactive")
	}
	f.Advance(999 * time.Millisecond)
	if fired != 0 {
		t.Fatal("reset timer fired at its old deadline")
	}
	f.Advance(time.Millisecond)
	if fired != 1 {
		t.Fatalf("fired = %d, want 1", fired)
	}
}

func TestFakeCallbackSchedulesWithinAdvance(t *testing.T) {
	f := NewFake(epoch)
	var at []time.Duration
	var tick func()
	tick = func() {
		at = append(at, f.Since(epoch))
		if len(at) < 5 {
			f.AfterFunc(time.Second, tick)
		}
	}
	f.AfterFunc(time.Second, tick)
	f.Advance(3500 * time.Millisecond)
	want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}
	if diff := cmp.Diff(want, at); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestFakeChannelTimer(t *testing.T) {
	f := NewFake(epoch)
	tm := f.NewTimer(time.Second)
	select {
	case <-tm.C():
		t.Fatal("fired before Advance")
	default:
	}
	f.Advance(time.Second)
	select {
	case got := <-tm.C():
		if !got.Equal(epoch.Add(time.Second)) {
			t.Fatalf("delivered %v, want epoch+1s", got)
		}
	default:
		t.Fatal("did not fire")
	}
	if d, ok := f.NextDeadline(); ok {
		t.Fatalf("NextDeadline = %v, want none", d)
	}
}

func TestRealTimer(t *testing.T) {
	var c Clock = Real{}
	start := c.Now()
	tm := c.NewTimer(time.Millisecond)
	<-tm.C()
	if c.Since(start) < time.Millisecond {
		t.Fatal("real timer fired early")
	}
	done := make(chan struct{})
	c.AfterFunc(time.Millisecond, func() { close(done) })
	<-done
}
