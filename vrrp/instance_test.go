package vrrp

import (
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lvsctl/lvsctl/internal/clock"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// rec is one action and when (since t0) the instance returned it.
type rec struct {
	At  time.Duration
	Act Action
}

// harness runs one Instance the way the runner will: SetTimer arms a fake
// clock timer that feeds TimerFired back, StopTimer disarms it. Every action
// is logged with its time, SetTimer's Seq zeroed for comparison.
type harness struct {
	t      *testing.T
	clk    *clock.Fake
	in     *Instance
	timers map[Timer]clock.Timer
	log    []rec
	// onAction, when set, sees every action (the two-router wire).
	onAction func(a Action)
}

func newHarness(t *testing.T, clk *clock.Fake, cfg Config) *harness {
	t.Helper()
	in, err := NewInstance(cfg, clk)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, clk: clk, in: in, timers: map[Timer]clock.Timer{}}
}

func (h *harness) step(ev Event) {
	for _, a := range h.in.Step(ev) {
		switch a := a.(type) {
		case SetTimer:
			if old := h.timers[a.Timer]; old != nil {
				old.Stop()
			}
			h.timers[a.Timer] = h.clk.AfterFunc(a.After, func() {
				h.step(TimerFired{Timer: a.Timer, Seq: a.Seq})
			})
			h.record(SetTimer{Timer: a.Timer, After: a.After})
		case StopTimer:
			if old := h.timers[a.Timer]; old != nil {
				old.Stop()
				delete(h.timers, a.Timer)
			}
			h.record(a)
		default:
			h.record(a)
		}
		if h.onAction != nil {
			h.onAction(a)
		}
	}
}

func (h *harness) record(a Action) { h.log = append(h.log, rec{h.clk.Since(t0), a}) }

// advanceTo moves the clock to t0+d.
func (h *harness) advanceTo(d time.Duration) { h.clk.Set(t0.Add(d)) }

// take returns the log so far and empties it.
func (h *harness) take() []rec {
	l := h.log
	h.log = nil
	return l
}

func (h *harness) expect(want ...rec) {
	h.t.Helper()
	if diff := cmp.Diff(want, h.take(), cmpopts.EquateEmpty()); diff != "" {
		h.t.Fatalf("actions (-want +got):\n%s", diff)
	}
}

func at(d time.Duration, acts ...Action) []rec {
	out := make([]rec, len(acts))
	for i, a := range acts {
		out[i] = rec{d, a}
	}
	return out
}

func cat(rs ...[]rec) []rec {
	var out []rec
	for _, r := range rs {
		out = append(out, r...)
	}
	return out
}

// ms returns f milliseconds, exact to the nanosecond.
func ms(f float64) time.Duration { return time.Duration(math.Round(f * 1e6)) }

var (
	local  = netip.MustParseAddr("192.0.2.1")
	peer   = netip.MustParseAddr("192.0.2.2")
	lower  = netip.MustParseAddr("192.0.2.0")
	local6 = netip.MustParseAddr("fe80::1")
)

func v2cfg() Config {
	return Config{Name: "VI_1", Version: Version2, VRID: 1, Priority: 100,
		AdvertInterval: time.Second, LocalAddr: local}
}

func v3cfg(interval time.Duration) Config {
	c := v2cfg()
	c.Version, c.AdvertInterval = Version3, interval
	return c
}

func advert(v Version, prio uint8, interval time.Duration) Advert {
	return Advert{Version: v, VRID: 1, Priority: prio, Interval: interval}
}

// becameMaster is what becomeMaster returns with the default GARP schedule.
func becameMaster(d time.Duration, prio uint8) []rec {
	return at(d, SendAdvert{prio}, AddVIPs{}, SendGratuitous{5},
		SetTimer{TimerAdvert, time.Second, 0}, SetTimer{TimerGARPDelay, 5 * time.Second, 0},
		Notify{StateMaster, prio})
}

// RFC 5798 §6.4.1 (non-owner) and §6.4.2 "Master_Down_Timer fires", VRRPv2:
// Master_Down_Interval = 3 * 1 s + (256-100)/256 s = 3.609375 s exactly, and
// not a microsecond earlier; then adverts every second and the second round
// of gratuitous ARPs 5 s after the first.
func TestBackupBecomesMasterAfterMasterDownInterval(t *testing.T) {
	h := newHarness(t, clock.NewFake(t0), v2cfg())
	h.step(Startup{})
	h.expect(at(0, SetTimer{TimerMasterDown, ms(3609.375), 0}, Notify{StateBackup, 100})...)
	h.advanceTo(ms(3609.374))
	h.expect()
	h.advanceTo(ms(3609.375))
	h.expect(becameMaster(ms(3609.375), 100)...)
	h.advanceTo(ms(8609.375))
	h.expect(cat(
		at(ms(4609.375), SendAdvert{100}, SetTimer{TimerAdvert, time.Second, 0}),
		at(ms(5609.375), SendAdvert{100}, SetTimer{TimerAdvert, time.Second, 0}),
		at(ms(6609.375), SendAdvert{100}, SetTimer{TimerAdvert, time.Second, 0}),
		at(ms(7609.375), SendAdvert{100}, SetTimer{TimerAdvert, time.Second, 0}),
		at(ms(8609.375), SendGratuitous{5}),
		at(ms(8609.375), SendAdvert{100}, SetTimer{TimerAdvert, time.Second, 0}),
	)...)
	if st := h.in.State(); st != StateMaster {
		t.Fatalf("state %v", st)
	}
}

// VRRPv3 scales the skew by the interval (RFC 5798 §6.1): at 100 ms and
// priority 100, Skew_Time = 156 * 100 ms / 256 = 60.9375 ms, truncated to
// 60.937 ms as keepalived does; Master_Down_Interval 360.937 ms.
func TestV3MasterDownIntervalScalesWithInterval(t *testing.T) {
	h := newHarness(t, clock.NewFake(t0), v3cfg(100*time.Millisecond))
	h.step(Startup{})
	h.expect(at(0, SetTimer{TimerMasterDown, ms(360.937), 0}, Notify{StateBackup, 100})...)
	h.advanceTo(ms(360.937))
	got := h.take()
	if len(got) == 0 || got[0] != (rec{ms(360.937), SendAdvert{100}}) {
		t.Fatalf("takeover: %v", got)
	}
	h.advanceTo(ms(460.937))
	h.expect(at(ms(460.937), SendAdvert{100}, SetTimer{TimerAdvert, 100 * time.Millisecond, 0})...)
}

func TestSkewAndMasterDownInterval(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		prio     uint8
		skew     time.Duration
		downIntv time.Duration
	}{
		{"v2 prio 100", v2cfg(), 100, ms(609.375), ms(3609.375)},
		{"v2 prio 254", v2cfg(), 254, ms(7.812), ms(3007.812)},
		{"v2 prio 1, interval ignored by skew", func() Config { c := v2cfg(); c.AdvertInterval = 3 * time.Second; return c }(), 1, ms(996.093), ms(9996.093)},
		{"v3 1s prio 100", v3cfg(time.Second), 100, ms(609.375), ms(3609.375)},
		{"v3 10ms prio 200", v3cfg(10 * time.Millisecond), 200, ms(2.187), ms(32.187)},
		{"v3 40.95s prio 255", v3cfg(40950 * time.Millisecond), 255, ms(159.960), ms(123009.960)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg
			c.Priority = tt.prio
			in, err := NewInstance(c, clock.NewFake(t0))
			if err != nil {
				t.Fatal(err)
			}
			if got := in.skewTime(); got != tt.skew {
				t.Errorf("Skew_Time = %v, want %v", got, tt.skew)
			}
			if got := in.masterDownInterval(); got != tt.downIntv {
				t.Errorf("Master_Down_Interval = %v, want %v", got, tt.downIntv)
			}
		})
	}
}

// RFC 5798 §6.4.1: "If the Priority = 255 ... Send an ADVERTISEMENT ...
// transition to the Master state", at once.
func TestOwnerStartsAsMaster(t *testing.T) {
	c := v2cfg()
	c.Priority = 255
	h := newHarness(t, clock.NewFake(t0), c)
	h.step(Startup{})
	h.expect(becameMaster(0, 255)...)
}

// keepalived's "state MASTER" below 255 starts as BACKUP and waits the full
// Master_Down_Interval (measured from keepalived 2.2.7, see
// TestKeepalivedStartTimes).
func TestStateMasterBelowOwnerStartsAsBackup(t *testing.T) {
	c := v2cfg()
	c.StartMaster = true
	h := newHarness(t, clock.NewFake(t0), c)
	h.step(Startup{})
	h.expect(at(0, SetTimer{TimerMasterDown, ms(3609.375), 0}, Notify{StateBackup, 100})...)
}

// RFC 5798 §6.4.2: a backup hearing an equal or higher priority resets its
// Master_Down_Timer; a VRRPv3 backup first learns Master_Adver_Interval.
func TestBackupAcceptsHigherPriority(t *testing.T) {
	t.Run("v2", func(t *testing.T) {
		h := newHarness(t, clock.NewFake(t0), v2cfg())
		h.step(Startup{})
		h.take()
		h.advanceTo(ms(2000))
		h.step(AdvertReceived{From: peer, Advert: advert(Version2, 100, time.Second)}) // equal
		h.expect(at(ms(2000), SetTimer{TimerMasterDown, ms(3609.375), 0})...)
		h.advanceTo(ms(5609.374))
		h.step(AdvertReceived{From: peer, Advert: advert(Version2, 150, time.Second)})
		h.expect(at(ms(5609.374), SetTimer{TimerMasterDown, ms(3609.375), 0})...)
		if s := h.in.Status(); s.MasterAddr != peer || s.MasterPriority != 150 || s.State != StateBackup {
			t.Fatalf("status %+v", s)
		}
	})
	t.Run("v3 learns the master's interval", func(t *testing.T) {
		h := newHarness(t, clock.NewFake(t0), v3cfg(time.Second))
		h.step(Startup{})
		h.take()
		h.step(AdvertReceived{From: peer, Advert: advert(Version3, 200, 2*time.Second)})
		// 3 * 2 s + 156 * 2 s / 256 = 7.21875 s.
		h.expect(at(0, SetTimer{TimerMasterDown, ms(7218.75), 0})...)
		if got := h.in.Status().MasterAdverInterval; got != 2*time.Second {
			t.Fatalf("Master_Adver_Interval %v", got)
		}
		h.advanceTo(ms(7218.75))
		h.expect(becameMaster(ms(7218.75), 100)...) // adverts at its own 1 s
	})
	t.Run("v2 does not learn", func(t *testing.T) {
		h := newHarness(t, clock.NewFake(t0), v2cfg())
		h.step(Startup{})
		h.take()
		h.step(AdvertReceived{From: peer, Advert: advert(Version2, 200, 2*time.Second)})
		h.expect(at(0, SetTimer{TimerMasterDown, ms(3609.375), 0})...)
	})
}

// RFC 5798 §6.4.2: priority 0 sets the Master_Down_Timer to Skew_Time.
func TestBackupHearsPriorityZero(t *testing.T) {
	h := newHarness(t, clock.NewFake(t0), v2cfg())
	h.step(Startup{})
	h.take()
	h.advanceTo(time.Second)
	h.step(AdvertReceived{From: peer, Advert: advert(Version2, 0, time.Second)})
	h.expect(at(time.Second, SetTimer{TimerMasterDown, ms(609.375), 0})...)
	h.advanceTo(ms(1609.375))
	h.expect(becameMaster(ms(1609.375), 100)...)
}

// RFC 5798 §6.4.2 with Preempt_Mode True: a lower priority advert is
// discarded, so the backup takes over when the timer set by the last
// accepted advert runs out; with nopreempt it is accepted.
func TestBackupPreemption(t *testing.T) {
	t.Run("preempt", func(t *testing.T) {
		h := newHarness(t, clock.NewFake(t0), v2cfg())
		h.step(Startup{})
		h.take()
		h.advanceTo(time.Second)
		h.step(AdvertReceived{From: peer, Advert: advert(Version2, 50, time.Second)})
		h.expect()
		h.advanceTo(ms(3609.375))
		h.expect(becameMaster(ms(3609.375), 100)...)
	})
	t.Run("nopreempt", func(t *testing.T) {
		c := v2cfg()
		c.NoPreempt = true
		h := newHarness(t, clock.NewFake(t0), c)
		h.step(Startup{})
		h.take()
		for s := 1; s <= 10; s++ {
			h.advanceTo(time.Duration(s) * time.Second)
			h.step(AdvertReceived{From: peer, Advert: advert(Version2, 50, time.Second)})
			h.expect(at(time.Duration(s)*time.Second, SetTimer{TimerMasterDown, ms(3609.375), 0})...)
		}
		if h.in.State() != StateBackup {
			t.Fatal("nopreempt backup took over")
		}
	})
}

// keepalived preempt_delay: lower priority adverts are accepted until the
// delay after startup has passed; then they are discarded and the backup
// takes over one Master_Down_Interval after the last accepted one. An
// equal or higher advert cancels the delay, and the next lower one starts a
// new one.
func TestPreemptDelay(t *testing.T) {
	c := v2cfg()
	c.PreemptDelay = 5 * time.Second
	h := newHarness(t, clock.NewFake(t0), c)
	h.step(Startup{})
	h.take()
	low := AdvertReceived{From: peer, Advert: advert(Version2, 50, time.Second)}
	for s := 1; s <= 4; s++ {
		h.advanceTo(time.Duration(s) * time.Second)
		h.step(low)
		h.expect(at(time.Duration(s)*time.Second, SetTimer{TimerMasterDown, ms(3609.375), 0})...)
	}
	h.advanceTo(ms(4999.999))
	h.step(low)
	h.expect(at(ms(4999.999), SetTimer{TimerMasterDown, ms(3609.375), 0})...)
	h.advanceTo(5 * time.Second) // the delay is over: discarded
	h.step(low)
	h.expect()
	h.advanceTo(ms(8609.373))
	h.step(AdvertReceived{From: peer, Advert: advert(Version2, 100, time.Second)}) // equal: accepted, cancels
	h.expect(at(ms(8609.373), SetTimer{TimerMasterDown, ms(3609.375), 0})...)
	// The first lower advert after that starts a new delay, until 15 s.
	for _, d := range []time.Duration{10 * time.Second, 11 * time.Second, 12 * time.Second,
		13 * time.Second, 14 * time.Second, ms(14999)} {
		h.advanceTo(d)
		h.step(low)
		h.expect(at(d, SetTimer{TimerMasterDown, ms(3609.375), 0})...)
	}
	h.advanceTo(15 * time.Second)
	h.step(low)
	h.expect()
	h.advanceTo(ms(18608.375))
	h.expect(becameMaster(ms(18608.375), 100)...)
}

func startMaster(t *testing.T, c Config) *harness {
	t.Helper()
	c.Priority = 255
	h := newHarness(t, clock.NewFake(t0), c)
	h.step(Startup{})
	h.take()
	return h
}

// RFC 5798 §6.4.3 "If an ADVERTISEMENT is received" in Master.
func TestMasterReceivesAdvert(t *testing.T) {
	tests := []struct {
		name  string
		prio  uint8 // ours
		from  netip.Addr
		adv   Advert
		want  []Action
		state State
	}{
		{"priority 0: advert and reset Adver_Timer", 100, peer, advert(Version3, 0, time.Second),
			[]Action{SendAdvert{100}, SetTimer{TimerAdvert, time.Second, 0}}, StateMaster},
		{"higher priority: to backup, learning its interval", 100, lower, advert(Version3, 101, 2*time.Second),
			[]Action{StopTimer{TimerAdvert}, StopTimer{TimerGARPDelay}, RemoveVIPs{},
				SetTimer{TimerMasterDown, ms(7218.75), 0}, Notify{StateBackup, 100}}, StateBackup},
		{"equal priority, higher address: to backup", 100, peer, advert(Version3, 100, time.Second),
			[]Action{StopTimer{TimerAdvert}, StopTimer{TimerGARPDelay}, RemoveVIPs{},
				SetTimer{TimerMasterDown, ms(3609.375), 0}, Notify{StateBackup, 100}}, StateBackup},
		{"equal priority, lower address: answer, stay", 100, lower, advert(Version3, 100, time.Second),
			[]Action{SendAdvert{100}}, StateMaster},
		{"lower priority: answer at once (keepalived), stay", 100, peer, advert(Version3, 99, time.Second),
			[]Action{SendAdvert{100}}, StateMaster},
		{"own advert looped back", 100, local, advert(Version3, 100, time.Second),
			nil, StateMaster},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := v3cfg(time.Second)
			c.Priority = tt.prio
			h := newHarness(t, clock.NewFake(t0), c)
			h.step(Startup{})
			h.advanceTo(ms(3609.375))
			if h.in.State() != StateMaster {
				t.Fatal("not master")
			}
			h.take()
			h.step(AdvertReceived{From: tt.from, Advert: tt.adv})
			var got []Action
			for _, r := range h.take() {
				got = append(got, r.Act)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
			if h.in.State() != tt.state {
				t.Errorf("state %v, want %v", h.in.State(), tt.state)
			}
		})
	}
}

// A master that steps down stops its timers: no advert or GARP after it.
func TestSteppedDownMasterIsQuiet(t *testing.T) {
	h := newHarness(t, clock.NewFake(t0), v2cfg())
	h.step(Startup{})
	h.advanceTo(ms(3609.375))
	h.take()
	h.advanceTo(4 * time.Second)
	h.step(AdvertReceived{From: peer, Advert: advert(Version2, 200, time.Second)})
	h.take()
	h.advanceTo(ms(7609))
	h.expect()
	h.advanceTo(ms(7609.375)) // its own Master_Down_Interval after the advert
	h.expect(becameMaster(ms(7609.375), 100)...)
}

// RFC 5798 §6.4.3 Shutdown: "Cancel the Adver_Timer; Send an ADVERTISEMENT
// with Priority = 0"; keepalived then removes the VIPs and notifies STOP.
// §6.4.2: a backup cancels the Master_Down_Timer.
func TestShutdown(t *testing.T) {
	t.Run("master", func(t *testing.T) {
		h := startMaster(t, v2cfg())
		h.advanceTo(ms(1500))
		h.take()
		h.step(Shutdown{})
		h.expect(at(ms(1500), StopTimer{TimerAdvert}, StopTimer{TimerGARPDelay}, SendAdvert{0}, RemoveVIPs{},
			Notify{StateStop, 255})...)
		h.advanceTo(time.Minute)
		h.expect()
	})
	t.Run("backup", func(t *testing.T) {
		h := newHarness(t, clock.NewFake(t0), v2cfg())
		h.step(Startup{})
		h.take()
		h.step(Shutdown{})
		h.expect(at(0, StopTimer{TimerMasterDown}, Notify{StateStop, 100})...)
		h.advanceTo(time.Minute)
		h.expect()
	})
	t.Run("restart after stop", func(t *testing.T) {
		h := newHarness(t, clock.NewFake(t0), v2cfg())
		h.step(Startup{})
		h.step(Shutdown{})
		h.take()
		h.step(Startup{})
		h.expect(at(0, SetTimer{TimerMasterDown, ms(3609.375), 0}, Notify{StateBackup, 100})...)
	})
	t.Run("before startup", func(t *testing.T) {
		h := newHarness(t, clock.NewFake(t0), v2cfg())
		h.step(Shutdown{})
		h.expect()
	})
}

// A timer that fires after it was re-armed or stopped is ignored.
func TestStaleTimerIgnored(t *testing.T) {
	in, err := NewInstance(v2cfg(), clock.NewFake(t0))
	if err != nil {
		t.Fatal(err)
	}
	acts := in.Step(Startup{})
	first := acts[0].(SetTimer)
	acts = in.Step(AdvertReceived{From: peer, Advert: advert(Version2, 100, time.Second)})
	second := acts[0].(SetTimer)
	if got := in.Step(TimerFired{Timer: TimerMasterDown, Seq: first.Seq}); got != nil {
		t.Fatalf("stale fire gave %v", got)
	}
	if got := in.Step(TimerFired{Timer: TimerAdvert, Seq: second.Seq}); got != nil {
		t.Fatalf("fire of another timer's seq gave %v", got)
	}
	if got := in.Step(TimerFired{Timer: TimerMasterDown, Seq: second.Seq}); len(got) == 0 || in.State() != StateMaster {
		t.Fatalf("current fire gave %v, state %v", got, in.State())
	}
	if got := in.Step(TimerFired{Timer: TimerMasterDown, Seq: second.Seq}); got != nil {
		t.Fatalf("second fire of the same timer gave %v", got)
	}
}

// keepalived's track weights: weight > 0 added while OK, weight < 0
// subtracted while failed, the sum kept within 1..254, none for the owner.
func TestEffectivePriority(t *testing.T) {
	scripts := []TrackedScript{{"plus10", 10}, {"minus2", -2}, {"minus200", -200}, {"plus200", 200}}
	ifs := []TrackedInterface{{"eth1", -20}, {"eth2", 5}}
	tests := []struct {
		name    string
		base    uint8
		scripts map[string]TrackState
		down    []string
		want    uint8
	}{
		{"all unknown", 100, nil, nil, 100 + 5},
		{"plus10 up", 100, map[string]TrackState{"plus10": TrackUp}, nil, 115},
		{"plus10 down", 100, map[string]TrackState{"plus10": TrackDown}, nil, 105},
		{"minus2 down", 100, map[string]TrackState{"minus2": TrackDown}, nil, 103},
		{"minus2 up", 100, map[string]TrackState{"minus2": TrackUp}, nil, 105},
		{"interfaces down", 100, nil, []string{"eth1", "eth2"}, 80},
		{"clamped at 1", 100, map[string]TrackState{"minus200": TrackDown}, nil, 1},
		{"clamped at 254", 100, map[string]TrackState{"plus200": TrackUp}, nil, 254},
		{"owner ignores weights", 255, map[string]TrackState{"minus200": TrackDown}, []string{"eth1"}, 255},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := v2cfg()
			c.Priority, c.Scripts, c.Interfaces = tt.base, scripts, ifs
			in, err := NewInstance(c, clock.NewFake(t0))
			if err != nil {
				t.Fatal(err)
			}
			for n, s := range tt.scripts {
				in.Step(ScriptChanged{Name: n, State: s})
			}
			for _, n := range tt.down {
				in.Step(InterfaceChanged{Name: n, Up: false})
			}
			if got := in.EffectivePriority(); got != tt.want {
				t.Errorf("effective priority %d, want %d", got, tt.want)
			}
		})
	}
}

// A failing weight -2 script lowers the master's next adverts; skew follows
// the effective priority.
func TestTrackWeightChangesAdverts(t *testing.T) {
	c := v2cfg()
	c.Scripts = []TrackedScript{{"maint", -2}}
	h := newHarness(t, clock.NewFake(t0), c)
	h.step(Startup{})
	h.advanceTo(ms(3609.375))
	h.take()
	h.advanceTo(4 * time.Second)
	h.step(ScriptChanged{Name: "maint", State: TrackDown})
	h.expect() // no state change: applies from the next advert
	h.advanceTo(ms(4609.375))
	h.expect(at(ms(4609.375), SendAdvert{98}, SetTimer{TimerAdvert, time.Second, 0})...)
	h.step(ScriptChanged{Name: "maint", State: TrackUp})
	h.advanceTo(ms(5609.375))
	h.expect(at(ms(5609.375), SendAdvert{100}, SetTimer{TimerAdvert, time.Second, 0})...)
	if h.in.skewTime() != ms(609.375) {
		t.Fatal("skew")
	}
	h.step(ScriptChanged{Name: "maint", State: TrackDown})
	if got := h.in.skewTime(); got != ms(617.187) { // (256-98)/256 s
		t.Fatalf("skew with priority 98: %v", got)
	}
	h.step(ScriptChanged{Name: "unknown-script", State: TrackDown})
	if h.in.EffectivePriority() != 98 {
		t.Fatal("an untracked script changed the priority")
	}
}

// Weight 0 failures and a tracked interface going down put the instance in
// FAULT: a master sends priority 0 and removes the VIPs; recovery is a fresh
// backup (keepalived vrrp_state_leave_fault), or master for the owner.
func TestFault(t *testing.T) {
	t.Run("master interface down and up", func(t *testing.T) {
		c := v2cfg()
		c.Interfaces = []TrackedInterface{{"eth0", 0}}
		h := newHarness(t, clock.NewFake(t0), c)
		h.step(Startup{})
		h.advanceTo(ms(3609.375))
		h.take()
		h.advanceTo(5 * time.Second)
		h.take()
		h.step(InterfaceChanged{Name: "eth0", Up: false})
		h.expect(at(5*time.Second, StopTimer{TimerAdvert}, StopTimer{TimerGARPDelay}, SendAdvert{0}, RemoveVIPs{},
			Notify{StateFault, 100})...)
		h.step(AdvertReceived{From: peer, Advert: advert(Version2, 50, time.Second)})
		h.advanceTo(time.Minute)
		h.expect() // deaf and silent in FAULT
		h.step(InterfaceChanged{Name: "eth0", Up: true})
		h.expect(at(time.Minute, SetTimer{TimerMasterDown, ms(3609.375), 0}, Notify{StateBackup, 100})...)
	})
	t.Run("backup script weight 0 fails", func(t *testing.T) {
		c := v2cfg()
		c.Scripts = []TrackedScript{{"chk", 0}}
		h := newHarness(t, clock.NewFake(t0), c)
		h.step(Startup{})
		h.take()
		h.step(ScriptChanged{Name: "chk", State: TrackDown})
		h.expect(at(0, StopTimer{TimerMasterDown}, Notify{StateFault, 100})...)
		h.step(ScriptChanged{Name: "chk", State: TrackDown})
		h.expect()
	})
	t.Run("starts in fault", func(t *testing.T) {
		c := v2cfg()
		c.Interfaces = []TrackedInterface{{"eth0", 0}}
		h := newHarness(t, clock.NewFake(t0), c)
		h.step(InterfaceChanged{Name: "eth0", Up: false})
		h.expect()
		h.step(Startup{})
		h.expect(at(0, Notify{StateFault, 100})...)
	})
	t.Run("owner recovers as master", func(t *testing.T) {
		c := v2cfg()
		c.Interfaces = []TrackedInterface{{"eth0", 0}}
		h := startMaster(t, c)
		h.step(InterfaceChanged{Name: "eth0", Up: false})
		h.take()
		h.step(InterfaceChanged{Name: "eth0", Up: true})
		h.expect(becameMaster(0, 255)...)
	})
	t.Run("weighted interface only changes priority", func(t *testing.T) {
		c := v2cfg()
		c.Interfaces = []TrackedInterface{{"eth1", -10}}
		h := newHarness(t, clock.NewFake(t0), c)
		h.step(Startup{})
		h.take()
		h.step(InterfaceChanged{Name: "eth1", Up: false})
		h.expect()
		if h.in.State() != StateBackup || h.in.EffectivePriority() != 90 {
			t.Fatalf("state %v priority %d", h.in.State(), h.in.EffectivePriority())
		}
	})
}

func TestGARPSchedule(t *testing.T) {
	c := v2cfg()
	c.Priority = 255
	c.GARPRepeat = 3
	c.GARPDelay = -1 // no second round
	c.GARPRefresh = 60 * time.Second
	c.GARPRefreshRepeat = 2
	h := newHarness(t, clock.NewFake(t0), c)
	h.step(Startup{})
	h.expect(at(0, SendAdvert{255}, AddVIPs{}, SendGratuitous{3}, SetTimer{TimerAdvert, time.Second, 0},
		SetTimer{TimerGARPRefresh, time.Minute, 0}, Notify{StateMaster, 255})...)
	h.advanceTo(ms(59999))
	h.take()
	h.advanceTo(time.Minute)
	h.expect(cat(
		at(time.Minute, SendGratuitous{2}, SetTimer{TimerGARPRefresh, time.Minute, 0}),
		at(time.Minute, SendAdvert{255}, SetTimer{TimerAdvert, time.Second, 0}),
	)...)
}

func TestSyncDaemonRole(t *testing.T) {
	c := v2cfg()
	c.SyncDaemon = true
	h := newHarness(t, clock.NewFake(t0), c)
	h.step(Startup{})
	h.expect(at(0, SetTimer{TimerMasterDown, ms(3609.375), 0}, Notify{StateBackup, 100}, SetSyncDaemon{false})...)
	h.advanceTo(ms(3609.375))
	got := h.take()
	if last := got[len(got)-1]; last.Act != (SetSyncDaemon{true}) {
		t.Fatalf("becoming master ends with %v", last.Act)
	}
	h.step(AdvertReceived{From: peer, Advert: advert(Version2, 200, time.Second)})
	got = h.take()
	if last := got[len(got)-1]; last.Act != (SetSyncDaemon{false}) {
		t.Fatalf("stepping down ends with %v", last.Act)
	}
}

func TestNewInstanceRejects(t *testing.T) {
	tests := []struct {
		name string
		mut  func(c *Config)
	}{
		{"version 1", func(c *Config) { c.Version = 1 }},
		{"vrid 0", func(c *Config) { c.VRID = 0 }},
		{"priority 0", func(c *Config) { c.Priority = 0 }},
		{"no local address", func(c *Config) { c.LocalAddr = netip.Addr{} }},
		{"v2 fractional interval", func(c *Config) { c.AdvertInterval = 1500 * time.Millisecond }},
		{"v2 over IPv6", func(c *Config) { c.LocalAddr = local6 }},
		{"v3 interval too long", func(c *Config) { c.Version = Version3; c.AdvertInterval = 41 * time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := v2cfg()
			tt.mut(&c)
			if _, err := NewInstance(c, clock.NewFake(t0)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := NewInstance(v2cfg(), nil); err == nil {
		t.Fatal("accepted a nil clock")
	}
	c := v3cfg(time.Second)
	c.LocalAddr = local6
	if _, err := NewInstance(c, clock.NewFake(t0)); err != nil {
		t.Fatalf("v3 over IPv6: %v", err)
	}
}
