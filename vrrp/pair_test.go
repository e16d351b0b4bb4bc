package vrrp

import (
	"fmt"
	"testing"
	"time"

	"github.com/lvsctl/lvsctl/internal/clock"
)

// wire connects harnesses the way a LAN would: every SendAdvert is
// marshalled with the real codec, carried with a fixed latency, decoded,
// checked against the receiver's Expect and delivered. A router marked down
// neither sends nor receives (SIGKILL as seen from the wire).
type wire struct {
	t       *testing.T
	clk     *clock.Fake
	latency time.Duration
	routers []*router
	// overlap is how long two routers believed themselves master at once.
	overlap    time.Duration
	overlapBeg time.Time
}

type router struct {
	h    *harness
	cfg  Config
	down bool
}

func (w *wire) add(cfg Config) *router {
	r := &router{cfg: cfg}
	w.boot(r)
	w.routers = append(w.routers, r)
	return r
}

// boot gives r a fresh instance (a new process), not yet started.
func (w *wire) boot(r *router) {
	h := newHarness(w.t, w.clk, r.cfg)
	h.onAction = func(a Action) {
		if r.h == h { // a killed process's leftovers go nowhere
			w.onAction(r, a)
		}
	}
	r.h, r.down = h, false
}

// kill is SIGKILL: the process and its timers are gone, nothing is sent.
func (w *wire) kill(r *router) {
	for _, tm := range r.h.timers {
		tm.Stop()
	}
	r.down = true
}

func (w *wire) masters() int {
	n := 0
	for _, r := range w.routers {
		if !r.down && r.h.in.State() == StateMaster {
			n++
		}
	}
	return n
}

func (w *wire) onAction(from *router, a Action) {
	if _, ok := a.(Notify); ok {
		switch m := w.masters(); {
		case m > 1 && w.overlapBeg.IsZero():
			w.overlapBeg = w.clk.Now()
		case m <= 1 && !w.overlapBeg.IsZero():
			w.overlap += w.clk.Now().Sub(w.overlapBeg)
			w.overlapBeg = time.Time{}
		}
	}
	sa, ok := a.(SendAdvert)
	if !ok || from.down {
		return
	}
	adv := Advert{Version: from.cfg.Version, VRID: from.cfg.VRID, Priority: sa.Priority,
		Interval: from.cfg.AdvertInterval, Addrs: addrs("192.0.2.100")}
	msg, err := adv.Marshal(from.cfg.LocalAddr, MulticastGroup4, ChecksumPseudoHeader)
	if err != nil {
		w.t.Fatal(err)
	}
	w.clk.AfterFunc(w.latency, func() {
		for _, to := range w.routers {
			if to == from || to.down {
				continue
			}
			got, err := Decode(msg, from.cfg.LocalAddr, MulticastGroup4)
			if err != nil {
				w.t.Fatal(err)
			}
			exp := Expect{Version: to.cfg.Version, VRID: to.cfg.VRID, Interval: to.cfg.AdvertInterval, Addrs: addrs("192.0.2.100")}
			if err := exp.Check(&got); err != nil {
				w.t.Fatal(err)
			}
			to.h.step(AdvertReceived{From: from.cfg.LocalAddr, Advert: got})
		}
	})
}

// masterSince returns when r last notified MASTER.
func masterSince(r *router) (time.Duration, error) {
	var at time.Duration = -1
	for _, l := range r.h.log {
		if n, ok := l.Act.(Notify); ok && n.State == StateMaster {
			at = l.At
		}
	}
	if at < 0 {
		return 0, fmt.Errorf("never master")
	}
	return at, nil
}

// TestPairFailover runs two routers (VRRPv2, 1 s, priorities 100 and 50,
// 100 µs apart) through the scenarios: election, the master killed,
// the higher priority preempting on restart, a graceful stop. Every takeover
// time is exact: Master_Down_Interval after the last advert heard, or
// Skew_Time after a priority 0 advert.
func TestPairFailover(t *testing.T) {
	clk := clock.NewFake(t0)
	w := &wire{t: t, clk: clk, latency: 100 * time.Microsecond}
	a := w.add(Config{Name: "A", Version: Version2, VRID: 1, Priority: 100, AdvertInterval: time.Second, LocalAddr: local})
	b := w.add(Config{Name: "B", Version: Version2, VRID: 1, Priority: 50, AdvertInterval: time.Second, LocalAddr: peer})
	a.h.step(Startup{})
	b.h.step(Startup{})

	// Election: A's Master_Down_Interval (3.609375 s) is shorter than B's
	// (3 s + 206/256 s = 3.8046875 s); A's first advert reaches B in time.
	clk.Set(t0.Add(10 * time.Second))
	if a.h.in.State() != StateMaster || b.h.in.State() != StateBackup {
		t.Fatalf("after election: A %v, B %v", a.h.in.State(), b.h.in.State())
	}
	if got, _ := masterSince(a); got != ms(3609.375) {
		t.Fatalf("A master at %v", got)
	}

	// Kill A at 10 s: its last advert left at 9.609375 s, reached B 100 µs
	// later; B takes over its Master_Down_Interval, 3 s + 206/256 s
	// (804.6875 ms, truncated to 804.687 ms as keepalived), after that.
	w.kill(a)
	clk.Set(t0.Add(20 * time.Second))
	if got, err := masterSince(b); err != nil || got != ms(9609.475+3804.687) {
		t.Fatalf("B master at %v (%v), want %v", got, err, ms(9609.475+3804.687))
	}

	// Restart A at 20 s (a fresh process): it hears B's priority 50,
	// discards it (preempt), becomes master at 23.609375 s; B, hearing
	// priority 100, steps down 100 µs later.
	w.boot(a)
	a.h.step(Startup{})
	clk.Set(t0.Add(30 * time.Second))
	if got, _ := masterSince(a); got != ms(23609.375) {
		t.Fatalf("restarted A master at %v", got)
	}
	if b.h.in.State() != StateBackup {
		t.Fatalf("B %v after A's preemption", b.h.in.State())
	}
	// A became master at 23.609375 s, B heard it 100 µs later: the only
	// time with two masters.
	if w.overlap != 100*time.Microsecond {
		t.Fatalf("two masters for %v, want the 100 µs latency", w.overlap)
	}

	// Graceful stop of A at 30 s: priority 0 reaches B at 30.0001 s, B
	// takes over after its Skew_Time, 206/256 s = 804.687 ms.
	b.h.take()
	a.h.step(Shutdown{})
	clk.Set(t0.Add(40 * time.Second))
	if got, err := masterSince(b); err != nil || got != ms(30000.1+804.687) {
		t.Fatalf("B master at %v (%v) after graceful stop, want %v", got, err, ms(30000.1+804.687))
	}
	if w.overlap != 100*time.Microsecond {
		t.Fatalf("two masters for %v in all", w.overlap)
	}
}

// TestPairMaintenance: a track script of weight -2 failing on the master
// (100 -> 98) hands mastership to a backup of priority 99 with preempt; the
// backup discards the first advert of 98 and takes over when its
// Master_Down_Interval from the last advert of 100 runs out.
func TestPairMaintenance(t *testing.T) {
	clk := clock.NewFake(t0)
	w := &wire{t: t, clk: clk, latency: 100 * time.Microsecond}
	cfgA := v3cfg(time.Second)
	cfgA.Name, cfgA.Scripts = "A", []TrackedScript{{"maint", -2}}
	a := w.add(cfgA)
	cfgB := v3cfg(time.Second)
	cfgB.Name, cfgB.Priority, cfgB.LocalAddr = "B", 99, peer
	b := w.add(cfgB)
	a.h.step(Startup{})
	b.h.step(Startup{})
	clk.Set(t0.Add(10 * time.Second))
	if a.h.in.State() != StateMaster {
		t.Fatal("A not master")
	}
	a.h.step(ScriptChanged{Name: "maint", State: TrackDown})
	clk.Set(t0.Add(20 * time.Second))
	// A's last advert at 100: 9.609375 s (+100 µs at B); B's
	// Master_Down_Interval at 99: 3 s + 157/256 s = 3.613281 s.
	if got, err := masterSince(b); err != nil || got != ms(9609.475+3613.281) {
		t.Fatalf("B master at %v (%v), want %v", got, err, ms(9609.475+3613.281))
	}
	if a.h.in.State() != StateBackup {
		t.Fatalf("A %v", a.h.in.State())
	}
	// A stays master until B's first advert reaches it, 100 µs.
	if w.overlap != 100*time.Microsecond {
		t.Fatalf("two masters for %v", w.overlap)
	}
}
