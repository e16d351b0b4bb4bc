package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lvsctl/lvsctl/internal/clock"
)

// bystander is a port on a fake link that decodes what it hears.
type bystander struct {
	port *fakePort
}

func newBystander(t *testing.T, link *fakeLink) *bystander {
	t.Helper()
	p, err := link.open(TransportKey{Source: netip.MustParseAddr("192.0.2.9")})
	if err != nil {
		t.Fatal(err)
	}
	return &bystander{port: p.(*fakePort)}
}

// heard drains what arrived so far as "VRID/PRIORITY/ADDRS" strings;
// Send delivers synchronously, so after run's barrier nothing is in flight.
func (b *bystander) heard(t *testing.T) []string {
	t.Helper()
	var out []string
	for {
		select {
		case r := <-b.port.in:
			a, err := Decode(r.Msg, r.Src, r.Dst)
			if err != nil {
				t.Fatalf("bystander: %v", err)
			}
			out = append(out, fmt.Sprintf("%d/%d/%v", a.VRID, a.Priority, a.Addrs))
		default:
			return out
		}
	}
}

// stops are the priority 0 adverts among heard.
func stops(heard []string) []string {
	var out []string
	for _, h := range heard {
		var vrid, prio int
		fmt.Sscanf(h, "%d/%d/", &vrid, &prio)
		if prio == 0 {
			out = append(out, h)
		}
	}
	return out
}

func reloadInstance(name string, vrid uint8, prio uint8, vips ...string) InstanceConfig {
	ic := pairConfig(prio).Instances[0]
	ic.Machine.Name, ic.Machine.VRID = name, vrid
	ic.Machine.LocalAddr = netip.MustParseAddr("192.0.2.1")
	ic.VIPs = nil
	for _, v := range vips {
		ic.VIPs = append(ic.VIPs, VIP{Prefix: netip.MustParsePrefix(v)})
	}
	return ic
}

func twoInstances() SpeakerConfig {
	return SpeakerConfig{Instances: []InstanceConfig{
		reloadInstance("VI_1", 51, 150, "192.0.2.100/24"),
		reloadInstance("VI_2", 52, 150, "192.0.2.101/24"),
	}}
}

func reload(t *testing.T, ts *testSpeaker, cfg SpeakerConfig) (ReloadResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return ts.sp.Reload(ctx, cfg)
}

func states(t *testing.T, ts *testSpeaker) []string {
	t.Helper()
	var out []string
	for _, in := range ts.snap(t).Instances {
		out = append(out, fmt.Sprint(in.Name, " ", in.State, " ", in.EffectivePriority))
	}
	return out
}

// startMasters starts cfg alone on a link with a bystander and runs until
// every instance is master.
func startMasters(t *testing.T, cfg SpeakerConfig) (*clock.Fake, *testSpeaker, *bystander) {
	t.Helper()
	clk := clock.NewFake(time.Unix(1e9, 0))
	link := &fakeLink{}
	by := newBystander(t, link)
	s := startSpeaker(t, clk, link, "192.0.2.1", cfg)
	run(t, clk, 500*time.Millisecond, s)
	for _, in := range s.snap(t).Instances {
		if in.State != StateMaster {
			t.Fatalf("not all master: %v", states(t, s))
		}
	}
	by.heard(t)
	return clk, s, by
}

func TestReloadUnchanged(t *testing.T) {
	t.Parallel()
	clk, s, by := startMasters(t, twoInstances())
	defer s.stop(t)
	before := s.snap(t)
	calls, runs := s.net.callCount(), s.exe.count()
	res, err := reload(t, s, twoInstances())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ReloadResult{Unchanged: []string{"VI_1", "VI_2"}}, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	run(t, clk, time.Second, s)
	if got := s.net.callsSince(calls); len(got) != 0 {
		t.Errorf("network calls after an unchanged reload: %q", got)
	}
	if got := s.exe.since(runs); len(got) != 0 {
		t.Errorf("scripts run after an unchanged reload: %q", got)
	}
	heard := by.heard(t)
	if got := stops(heard); len(got) != 0 {
		t.Errorf("priority 0 adverts: %q", got)
	}
	// The advert timers kept running: ten adverts a second for each.
	if n := len(heard); n < 19 || n > 21 {
		t.Errorf("%d adverts in 1 s from two instances at 100 ms, want 20: %q", n, heard)
	}
	after := s.snap(t)
	for i := range after.Instances {
		b, a := before.Instances[i], after.Instances[i]
		if a.State != StateMaster || !a.LastTransition.Equal(b.LastTransition) || a.AdvertsSent < b.AdvertsSent {
			t.Errorf("%s: before %+v, after %+v", a.Name, b, a)
		}
	}
}

func TestReloadRemoved(t *testing.T) {
	t.Parallel()
	clk, s, by := startMasters(t, twoInstances())
	defer s.stop(t)
	calls := s.net.callCount()
	cfg := twoInstances()
	cfg.Instances = cfg.Instances[:1]
	res, err := reload(t, s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ReloadResult{Unchanged: []string{"VI_1"}, Removed: []string{"VI_2"}}, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"52/0/[192.0.2.101]"}, stops(by.heard(t))); diff != "" {
		t.Errorf("priority 0 adverts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"remove 192.0.2.101/24"}, s.net.callsSince(calls)); diff != "" {
		t.Errorf("network calls (-want +got):\n%s", diff)
	}
	waitSpeakerNotify(t, s, "INSTANCE VI_2 STOP 150")
	run(t, clk, 500*time.Millisecond, s)
	if diff := cmp.Diff([]string{"VI_1 MASTER 150"}, states(t, s)); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	if got := stops(by.heard(t)); len(got) != 0 {
		t.Errorf("priority 0 adverts after the reload: %q", got)
	}
	if !s.net.has("192.0.2.100/24") {
		t.Error("VI_1 lost its VIP")
	}
}

func TestReloadAdded(t *testing.T) {
	t.Parallel()
	cfg := twoInstances()
	cfg.Instances = cfg.Instances[:1]
	clk, s, by := startMasters(t, cfg)
	defer s.stop(t)
	calls := s.net.callCount()
	res, err := reload(t, s, twoInstances())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ReloadResult{Unchanged: []string{"VI_1"}, Added: []string{"VI_2"}}, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"VI_1 MASTER 150", "VI_2 BACKUP 150"}, states(t, s)); diff != "" {
		t.Errorf("states right after (-want +got):\n%s", diff)
	}
	// VI_2 waits its Master_Down_Interval (341 ms) as any start does.
	run(t, clk, 500*time.Millisecond, s)
	if diff := cmp.Diff([]string{"VI_1 MASTER 150", "VI_2 MASTER 150"}, states(t, s)); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"add 192.0.2.101/24", "garp 192.0.2.101/24"}, s.net.callsSince(calls)); diff != "" {
		t.Errorf("network calls (-want +got):\n%s", diff)
	}
	if got := stops(by.heard(t)); len(got) != 0 {
		t.Errorf("priority 0 adverts: %q", got)
	}
}

func TestReloadUpdatedInPlace(t *testing.T) {
	t.Parallel()
	clk, s, by := startMasters(t, twoInstances())
	before := s.snap(t).Instances[0]
	calls, runs := s.net.callCount(), s.exe.count()
	cfg := twoInstances()
	vi1 := &cfg.Instances[0]
	vi1.Machine.Priority = 200
	vi1.VIPs = []VIP{{Prefix: netip.MustParsePrefix("192.0.2.102/24")}, {Prefix: netip.MustParsePrefix("192.0.2.100/24")}}
	vi1.ExcludedVIPs = []VIP{{Prefix: netip.MustParsePrefix("198.51.100.1/32"), Dev: "lo"}}
	vi1.Notify = NotifyScripts{Any: []string{"/notify-new"}}
	res, err := reload(t, s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ReloadResult{Unchanged: []string{"VI_2"}, Updated: []string{"VI_1"}}, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"add 192.0.2.102/24,198.51.100.1/32", "garp 192.0.2.102/24,198.51.100.1/32"}, s.net.callsSince(calls)); diff != "" {
		t.Errorf("network calls (-want +got):\n%s", diff)
	}
	run(t, clk, 200*time.Millisecond, s)
	heard := by.heard(t)
	if got := stops(heard); len(got) != 0 {
		t.Errorf("priority 0 adverts: %q", got)
	}
	if !slices.Contains(heard, "51/200/[192.0.2.102 192.0.2.100]") {
		t.Errorf("no advert with the new priority and addresses: %q", heard)
	}
	after := s.snap(t).Instances[0]
	if after.State != StateMaster || after.Priority != 200 || !after.LastTransition.Equal(before.LastTransition) {
		t.Errorf("VI_1 after: %+v", after)
	}
	if got := s.exe.since(runs); len(got) != 0 {
		t.Errorf("scripts run: %q", got)
	}

	// Dropping a VIP removes it, and only it.
	calls = s.net.callCount()
	vi1.VIPs = vi1.VIPs[:1]
	vi1.ExcludedVIPs = nil
	if _, err := reload(t, s, cfg); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"remove 192.0.2.100/24,198.51.100.1/32"}, s.net.callsSince(calls)); diff != "" {
		t.Errorf("network calls (-want +got):\n%s", diff)
	}
	// The new notify script runs on the next transition.
	s.stop(t)
	want := []string{"/notify-new", "INSTANCE", "VI_1", "STOP", "200"}
	if !slices.ContainsFunc(s.exe.runs, func(r []string) bool { return slices.Equal(r, want) }) {
		t.Errorf("new notify %q not run on stop: %q", want, s.exe.runs)
	}
}

func TestReloadUpdatedBackupPreempts(t *testing.T) {
	t.Parallel()
	// A backup whose priority a reload raises above the master's takes
	// over as RFC 5798 §6.4.2 says: it discards the lower priority
	// adverts and its Master_Down_Timer runs out.
	clk := clock.NewFake(time.Unix(1e9, 0))
	link := &fakeLink{}
	a := startSpeaker(t, clk, link, "192.0.2.1", pairConfig(150))
	b := startSpeaker(t, clk, link, "192.0.2.2", pairConfig(100))
	defer a.stop(t)
	defer b.stop(t)
	run(t, clk, 500*time.Millisecond, a, b)
	cfg := pairConfig(200)
	cfg.Instances[0].Machine.LocalAddr = netip.MustParseAddr("192.0.2.2")
	res, err := reload(t, b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ReloadResult{Updated: []string{"VI_1"}}, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	run(t, clk, 500*time.Millisecond, a, b)
	if st := b.snap(t).Instances[0].State; st != StateMaster {
		t.Errorf("b is %v, want MASTER", st)
	}
	if st := a.snap(t).Instances[0].State; st != StateBackup {
		t.Errorf("a is %v, want BACKUP", st)
	}
}

func TestReloadRestarted(t *testing.T) {
	t.Parallel()
	clk, s, by := startMasters(t, twoInstances())
	defer s.stop(t)
	calls := s.net.callCount()
	cfg := twoInstances()
	cfg.Instances[1].Machine.VRID = 62
	res, err := reload(t, s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ReloadResult{Unchanged: []string{"VI_1"}, Restarted: []string{"VI_2"}}, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"52/0/[192.0.2.101]"}, stops(by.heard(t))); diff != "" {
		t.Errorf("priority 0 adverts (-want +got):\n%s", diff)
	}
	run(t, clk, 500*time.Millisecond, s)
	if diff := cmp.Diff([]string{"VI_1 MASTER 150", "VI_2 MASTER 150"}, states(t, s)); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	if snap := s.snap(t); snap.Instances[1].VRID != 62 {
		t.Errorf("VI_2 runs VRID %d", snap.Instances[1].VRID)
	}
	if diff := cmp.Diff([]string{"remove 192.0.2.101/24", "add 192.0.2.101/24", "garp 192.0.2.101/24"}, s.net.callsSince(calls)); diff != "" {
		t.Errorf("network calls (-want +got):\n%s", diff)
	}
	want := []string{"INSTANCE VI_2 STOP 150", "INSTANCE VI_2 BACKUP 150", "INSTANCE VI_2 MASTER 150"}
	if got := s.exe.notifies(); len(got) < 3 || !slices.Equal(want, got[len(got)-3:]) {
		t.Errorf("notify runs %q, want to end with %q", got, want)
	}
}

func TestReloadTrackScriptChange(t *testing.T) {
	t.Parallel()
	cfg := twoInstances()
	cfg.Scripts = []ScriptConfig{{Name: "chk", Argv: []string{"/chk"}, Interval: time.Second}}
	cfg.Instances[0].TrackScripts = []TrackScriptRef{{Name: "chk", Weight: 10}}
	clk, s, by := startMasters(t, cfg)
	defer s.stop(t)
	if diff := cmp.Diff([]string{"VI_1 MASTER 160", "VI_2 MASTER 150"}, states(t, s)); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	// The same script tracked by a second instance as well: VI_2 learns
	// the script's state at once and its effective priority changes in
	// place, a master staying master (no priority 0 advert, no notify,
	// VIPs untouched), as keepalived's reload keeps it; VI_1 and the
	// script's schedule stay.
	notifies, calls := len(s.exe.notifies()), s.net.callCount()
	cfg2 := twoInstances()
	cfg2.Scripts = cfg.Scripts
	cfg2.Instances[0].TrackScripts = cfg.Instances[0].TrackScripts
	cfg2.Instances[1].TrackScripts = []TrackScriptRef{{Name: "chk", Weight: 20}}
	res, err := reload(t, s, cfg2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ReloadResult{Unchanged: []string{"VI_1"}, Updated: []string{"VI_2"}}, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"VI_1 MASTER 160", "VI_2 MASTER 170"}, states(t, s)); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	if got := stops(by.heard(t)); len(got) > 0 {
		t.Errorf("priority 0 adverts: %q", got)
	}
	if got := s.exe.notifies()[notifies:]; len(got) > 0 {
		t.Errorf("notify runs %q after the reload", got)
	}
	if got := s.net.callsSince(calls); len(got) > 0 {
		t.Errorf("network calls %q after the reload", got)
	}
	runs := s.exe.count()
	run(t, clk, 1010*time.Millisecond, s)
	if heard := by.heard(t); !slices.ContainsFunc(heard, func(h string) bool { return strings.HasPrefix(h, "52/170/") }) {
		t.Errorf("VI_2's adverts after the reload %q, want priority 170", heard)
	}
	n := 0
	for _, r := range s.exe.since(runs) {
		if r[0] == "/chk" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("/chk ran %d times in 1 s after the reload, want 1 (one schedule)", n)
	}
}

func TestReloadBroken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		edit    func(*SpeakerConfig)
		env     func(*Env)
		wantErr string
	}{
		{"unknown track script", func(c *SpeakerConfig) {
			c.Instances[0].TrackScripts = []TrackScriptRef{{Name: "nope"}}
		}, nil, "track_script nope is not a vrrp_script"},
		{"duplicate name", func(c *SpeakerConfig) {
			c.Instances[1].Machine.Name = "VI_1"
		}, nil, "defined twice"},
		{"duplicate VRID", func(c *SpeakerConfig) {
			c.Instances[1].Machine.VRID = 51
			c.Instances = append(c.Instances, reloadInstance("VI_3", 53, 100, "192.0.2.103/24"))
		}, nil, "virtual_router_id 51 already used by VI_1"},
		{"bad interval in place", func(c *SpeakerConfig) {
			c.Instances[0].Machine.AdvertInterval = 5 * time.Millisecond
		}, nil, "VI_1"},
		{"no instances", func(c *SpeakerConfig) { c.Instances = nil }, nil, "no instances"},
		{"no source address", func(c *SpeakerConfig) {
			c.Instances = append(c.Instances, reloadInstance("VI_3", 53, 100, "192.0.2.103/24"))
			c.Instances[2].Machine.LocalAddr = netip.Addr{}
		}, nil, "VI_3: source address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk, s, by := startMasters(t, twoInstances())
			defer s.stop(t)
			before := states(t, s)
			calls, runs := s.net.callCount(), s.exe.count()
			socks := len(s.sp.socks)
			cfg := twoInstances()
			cfg.Instances[1].Machine.Priority = 10 // would be an update
			tt.edit(&cfg)
			_, err := reload(t, s, cfg)
			if err == nil || !containsErr(err, tt.wantErr) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
			run(t, clk, 100*time.Millisecond, s)
			if diff := cmp.Diff(before, states(t, s)); diff != "" {
				t.Errorf("states changed (-before +after):\n%s", diff)
			}
			if got := s.net.callsSince(calls); len(got) != 0 {
				t.Errorf("network calls: %q", got)
			}
			if got := s.exe.since(runs); len(got) != 0 {
				t.Errorf("scripts run: %q", got)
			}
			if got := stops(by.heard(t)); len(got) != 0 {
				t.Errorf("priority 0 adverts: %q", got)
			}
			if got := len(s.sp.socks); got != socks {
				t.Errorf("%d sockets, want %d", got, socks)
			}
		})
	}
}

func containsErr(err error, want string) bool {
	return err != nil && strings.Contains(err.Error(), want)
}

func TestReloadAfterStop(t *testing.T) {
	t.Parallel()
	_, s, _ := startMasters(t, twoInstances())
	s.stop(t)
	if _, err := reload(t, s, twoInstances()); !errors.Is(err, ErrStopped) {
		t.Errorf("err %v, want ErrStopped", err)
	}
}

func TestReconfigure(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	cfg := Config{Name: "VI_1", Version: Version3, VRID: 51, Priority: 150, AdvertInterval: 100 * time.Millisecond,
		LocalAddr: netip.MustParseAddr("192.0.2.1"), GARPDelay: -1, Interfaces: []TrackedInterface{{Name: "eth0"}}}
	in, err := NewInstance(cfg, clk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Reconfigure(cfg); err != nil {
		t.Errorf("reconfigure before start: %v", err)
	}
	tests := []struct {
		name string
		edit func(*Config)
		want []Action
		err  error
	}{
		{"priority", func(c *Config) { c.Priority = 200 }, nil, nil},
		{"refresh on", func(c *Config) { c.GARPRefresh = time.Minute }, []Action{SetTimer{Timer: TimerGARPRefresh, After: time.Minute, Seq: 2}}, nil},
		{"sync daemon on", func(c *Config) { c.SyncDaemon = true }, []Action{SetSyncDaemon{Master: true}}, nil},
		{"vrid", func(c *Config) { c.VRID = 52 }, nil, ErrReconfigure},
		{"tracking", func(c *Config) { c.Interfaces = nil }, nil, ErrReconfigure},
		{"source", func(c *Config) { c.LocalAddr = netip.MustParseAddr("192.0.2.2") }, nil, ErrReconfigure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewInstance(Config{Name: "VI_1", Version: Version3, VRID: 51, Priority: 255, AdvertInterval: 100 * time.Millisecond,
				LocalAddr: netip.MustParseAddr("192.0.2.1"), GARPDelay: -1, Interfaces: []TrackedInterface{{Name: "eth0"}}}, clk)
			if err != nil {
				t.Fatal(err)
			}
			m.Step(Startup{})
			c := m.cfg
			tt.edit(&c)
			acts, err := m.Reconfigure(c)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if diff := cmp.Diff(tt.want, acts); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
			if m.State() != StateMaster {
				t.Errorf("state %v", m.State())
			}
			if err == nil && m.Status().Priority != c.Priority {
				t.Errorf("priority %d, want %d", m.Status().Priority, c.Priority)
			}
		})
	}
}

// TestReconfigureScripts: the tracked scripts change in place. A script
// tracked before keeps its state under a new weight, a dropped one no
// longer counts, a new one is unknown until its result, and a new weight-0
// script already failed is FAULT as its result would make it.
func TestReconfigureScripts(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	m, err := NewInstance(Config{Name: "VI_1", Version: Version3, VRID: 51, Priority: 150, AdvertInterval: 100 * time.Millisecond,
		LocalAddr: netip.MustParseAddr("192.0.2.1"), GARPDelay: -1,
		Scripts: []TrackedScript{{"maint", -60}, {"chk", 10}}}, clk)
	if err != nil {
		t.Fatal(err)
	}
	m.Step(Startup{})
	m.Step(TimerFired{Timer: TimerMasterDown, Seq: m.armed[TimerMasterDown]})
	m.Step(ScriptChanged{Name: "maint", State: TrackDown})
	m.Step(ScriptChanged{Name: "chk", State: TrackUp})
	if m.State() != StateMaster || m.EffectivePriority() != 100 {
		t.Fatalf("before: %v %d, want MASTER 100", m.State(), m.EffectivePriority())
	}
	reconf := func(scripts ...TrackedScript) []Action {
		t.Helper()
		c := m.cfg
		c.Scripts = scripts
		acts, err := m.Reconfigure(c)
		if err != nil {
			t.Fatal(err)
		}
		return acts
	}
	// The maintenance weight changed: still down, now -100.
	if acts := reconf(TrackedScript{"maint", -100}, TrackedScript{"chk", 10}); len(acts) > 0 {
		t.Errorf("weight change: actions %v", acts)
	}
	if m.State() != StateMaster || m.EffectivePriority() != 60 || m.masterPriority != 60 {
		t.Errorf("weight change: %v %d (adverts %d), want MASTER 60", m.State(), m.EffectivePriority(), m.masterPriority)
	}
	// chk dropped, web added: web unknown counts nothing.
	if acts := reconf(TrackedScript{"maint", -100}, TrackedScript{"web", 20}); len(acts) > 0 {
		t.Errorf("scripts swapped: actions %v", acts)
	}
	if p := m.EffectivePriority(); p != 50 {
		t.Errorf("scripts swapped: priority %d, want 50", p)
	}
	m.Step(ScriptChanged{Name: "web", State: TrackUp})
	if p := m.EffectivePriority(); p != 70 {
		t.Errorf("web up: priority %d, want 70", p)
	}
	// maint now weight 0 while down: FAULT, as a result would make it.
	acts := reconf(TrackedScript{"maint", 0}, TrackedScript{"web", 20})
	if m.State() != StateFault {
		t.Errorf("weight-0 failed script: state %v, want FAULT (actions %v)", m.State(), acts)
	}
}

// waitSpeakerNotify waits for the notifier, which runs scripts off the loop, to
// have run notify with args.
func waitSpeakerNotify(t *testing.T, s *testSpeaker, args string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !slices.Contains(s.exe.notifies(), args); {
		if time.Now().After(deadline) {
			t.Fatalf("notify %q never ran: %q", args, s.exe.notifies())
		}
		time.Sleep(time.Millisecond)
	}
}

func (e *fakeExec) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.runs)
}

func (e *fakeExec) since(i int) [][]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.runs[i:])
}
