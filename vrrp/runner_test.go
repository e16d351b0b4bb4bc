package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lvsctl/lvsctl/internal/clock"
)

// fakeLink is a LAN of fake transports: what one port sends, every other
// port receives (with TTL 255 unless the test says otherwise).
type fakeLink struct {
	mu    sync.Mutex
	ports []Transport
}

type fakePort struct {
	link      *fakeLink
	src       netip.Addr
	in        chan Received
	closeOnce sync.Once
	closed    chan struct{}
}

func (l *fakeLink) open(key TransportKey) (Transport, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := &fakePort{link: l, src: key.Source, in: make(chan Received, 64), closed: make(chan struct{})}
	l.ports = append(l.ports, p)
	return p, nil
}

func (p *fakePort) Send(ctx context.Context, msg []byte, dst netip.Addr) error {
	p.link.mu.Lock()
	defer p.link.mu.Unlock()
	for _, q := range p.link.ports {
		if q != Transport(p) {
			q.(*fakePort).deliver(Received{Src: p.src, Dst: dst, HopLimit: 255, Msg: slices.Clone(msg)})
		}
	}
	return nil
}

func (p *fakePort) deliver(r Received) {
	select {
	case p.in <- r:
	case <-p.closed:
	}
}

func (p *fakePort) Receive(ctx context.Context) (Received, error) {
	select {
	case r := <-p.in:
		return r, nil
	case <-p.closed:
		return Received{}, errors.New("closed")
	case <-ctx.Done():
		return Received{}, ctx.Err()
	}
}

func (p *fakePort) Close() error {
	p.closeOnce.Do(func() { close(p.closed) })
	return nil
}

// fakeNet records the address actions and holds the VIPs.
type fakeNet struct {
	mu    sync.Mutex
	vips  map[netip.Prefix]bool
	garps int
	calls []string // "add 192.0.2.100/24", "remove ...", "garp ..."
}

func (n *fakeNet) record(op string, vs []VIP) {
	var ps []string
	for _, v := range vs {
		ps = append(ps, v.Prefix.String())
	}
	n.calls = append(n.calls, op+" "+strings.Join(ps, ","))
}

// callCount is how many calls the network has had, to compare later.
func (n *fakeNet) callCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.calls)
}

// callsSince returns the calls after the first i.
func (n *fakeNet) callsSince(i int) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.calls[i:])
}

func (n *fakeNet) AddVIPs(_ context.Context, vs []VIP) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.record("add", vs)
	for _, v := range vs {
		n.vips[v.Prefix] = true
	}
	return nil
}

func (n *fakeNet) RemoveVIPs(_ context.Context, vs []VIP) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.record("remove", vs)
	for _, v := range vs {
		delete(n.vips, v.Prefix)
	}
	return nil
}

func (n *fakeNet) SendGratuitous(_ context.Context, vs []VIP, repeat int) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.record("garp", vs)
	n.garps += repeat * len(vs)
	return nil
}

func (n *fakeNet) has(p string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.vips[netip.MustParsePrefix(p)]
}

type upLinks struct{}

func (upLinks) LinkUp(string) (bool, error) { return true, nil }
func (upLinks) Watch(ctx context.Context, _ func(string, bool)) error {
	<-ctx.Done()
	return nil
}

// fakeExec records commands and answers track scripts from fail.
type fakeExec struct {
	mu   sync.Mutex
	runs [][]string
	fail map[string]bool
}

func (e *fakeExec) exec(_ context.Context, argv []string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.runs = append(e.runs, argv)
	if e.fail[argv[0]] {
		return errors.New("exit status 1")
	}
	return nil
}

func (e *fakeExec) setFail(cmd string, f bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fail[cmd] = f
}

// notifies returns the "notify" runs, without the command.
func (e *fakeExec) notifies() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, r := range e.runs {
		if r[0] == "/notify" {
			out = append(out, strings.Join(r[1:], " "))
		}
	}
	return out
}

type testSpeaker struct {
	sp     *Speaker
	net    *fakeNet
	exe    *fakeExec
	cancel context.CancelFunc
	done   chan error
}

func startSpeaker(t *testing.T, clk *clock.Fake, link *fakeLink, local string, cfg SpeakerConfig) *testSpeaker {
	t.Helper()
	ts := &testSpeaker{net: &fakeNet{vips: map[netip.Prefix]bool{}}, exe: &fakeExec{fail: map[string]bool{}}, done: make(chan error, 1)}
	for i := range cfg.Instances {
		cfg.Instances[i].Machine.LocalAddr = netip.MustParseAddr(local)
	}
	sp, err := NewSpeaker(cfg, Env{
		Clock: clk, Network: ts.net, Links: upLinks{}, OpenTransport: link.open,
		LocalAddr: func(string, bool, []netip.Addr) (netip.Addr, error) { return netip.Addr{}, errors.New("not used") },
		Exec:      ts.exe.exec,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.sp = sp
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	go func() { ts.done <- sp.Run(ctx) }()
	return ts
}

func (ts *testSpeaker) stop(t *testing.T) {
	t.Helper()
	ts.cancel()
	select {
	case err := <-ts.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("speaker did not stop")
	}
}

func (ts *testSpeaker) snap(t *testing.T) Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := ts.sp.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// run advances the fake clock in steps, letting every speaker's loop
// catch up (Snapshot is a barrier: the loop runs work in order) and the
// receivers pass packets on.
func run(t *testing.T, clk *clock.Fake, d time.Duration, sps ...*testSpeaker) {
	t.Helper()
	const step = 5 * time.Millisecond
	for el := time.Duration(0); el < d; el += step {
		clk.Advance(step)
		for range 3 {
			for _, s := range sps {
				s.snap(t)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
}

func pairConfig(prio uint8) SpeakerConfig {
	return SpeakerConfig{Instances: []InstanceConfig{{
		Machine:   Config{Name: "VI_1", Version: Version3, VRID: 51, Priority: prio, AdvertInterval: 100 * time.Millisecond, GARPDelay: -1},
		Interface: "eth0",
		VIPs:      []VIP{{Prefix: netip.MustParsePrefix("192.0.2.100/24")}},
		Group:     MulticastGroup4,
		Notify:    NotifyScripts{Master: []string{"/notify_master"}, Stop: []string{"/notify_stop"}, Any: []string{"/notify"}},
	}}}
}

func TestSpeakerPairFailover(t *testing.T) {
	before := runtime.NumGoroutine()
	clk := clock.NewFake(time.Unix(1e9, 0))
	link := &fakeLink{}
	a := startSpeaker(t, clk, link, "192.0.2.1", pairConfig(150))
	b := startSpeaker(t, clk, link, "192.0.2.2", pairConfig(100))

	// a's Master_Down_Interval (300 ms + 41 ms) runs out first.
	run(t, clk, 500*time.Millisecond, a, b)
	if !a.net.has("192.0.2.100/24") || b.net.has("192.0.2.100/24") {
		t.Fatalf("after election: a VIP %v, b VIP %v", a.net.has("192.0.2.100/24"), b.net.has("192.0.2.100/24"))
	}
	if a.net.garps != 5 {
		t.Errorf("a sent %d gratuitous ARPs, want 5", a.net.garps)
	}
	sa, sb := a.snap(t), b.snap(t)
	if st := sa.Instances[0]; st.State != StateMaster || st.AdvertsSent == 0 {
		t.Errorf("a: %+v", st)
	}
	if st := sb.Instances[0]; st.State != StateBackup || st.AdvertsReceived == 0 || st.MasterAddr != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("b: %+v", st)
	}

	// Graceful stop: priority 0, VIPs gone, notify stop; b takes over
	// within its skew time (156/256 * 100 ms = 61 ms).
	recv := b.snap(t).Instances[0].AdvertsReceived
	a.stop(t)
	if a.net.has("192.0.2.100/24") {
		t.Error("a kept its VIP after stopping")
	}
	// b's receiver hands the priority 0 advert over before time moves.
	for deadline := time.Now().Add(5 * time.Second); b.snap(t).Instances[0].AdvertsReceived == recv; {
		if time.Now().After(deadline) {
			t.Fatal("b never received a's priority 0 advert")
		}
		time.Sleep(time.Millisecond)
	}
	run(t, clk, 50*time.Millisecond, b)
	if b.net.has("192.0.2.100/24") {
		t.Error("b took over before its skew time")
	}
	run(t, clk, 15*time.Millisecond, b)
	if !b.net.has("192.0.2.100/24") {
		t.Error("b did not take over within its skew time")
	}
	want := []string{"INSTANCE VI_1 BACKUP 150", "INSTANCE VI_1 MASTER 150", "INSTANCE VI_1 STOP 150"}
	if diff := cmp.Diff(want, a.exe.notifies()); diff != "" {
		t.Errorf("a's notify runs (-want +got):\n%s", diff)
	}
	if !slices.ContainsFunc(a.exe.runs, func(r []string) bool { return len(r) == 1 && r[0] == "/notify_stop" }) {
		t.Errorf("notify_stop not run without arguments: %v", a.exe.runs)
	}
	b.stop(t)
	waitGoroutines(t, before)
}

func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > want {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after stop, %d before:\n%s", n, want, buf[:runtime.Stack(buf, true)])
	}
}

func TestSpeakerDrops(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	link := &fakeLink{}
	cfg := pairConfig(100)
	cfg.Instances[0].Machine.Version = Version2
	cfg.Instances[0].Machine.AdvertInterval = time.Second
	cfg.Instances[0].AuthType, cfg.Instances[0].AuthPass = AuthPass, PassFromString("s3cr3t")
	s := startSpeaker(t, clk, link, "192.0.2.2", cfg)
	defer s.stop(t)
	s.snap(t) // the speaker's socket is open once its loop answers
	speakerPort := link.ports[0].(*fakePort)
	src := netip.MustParseAddr("192.0.2.9")
	advert := func(vrid uint8, pass string) []byte {
		a := Advert{Version: Version2, VRID: vrid, Priority: 100, Interval: time.Second, AuthType: AuthPass,
			AuthData: PassFromString(pass), Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.100")}}
		msg, err := a.Marshal(src, MulticastGroup4, ChecksumPseudoHeader)
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	corrupt := advert(51, "s3cr3t")
	corrupt[7] ^= 0xff
	for _, r := range []Received{
		{Src: src, Dst: MulticastGroup4, HopLimit: 64, Msg: advert(51, "s3cr3t")},
		{Src: src, Dst: MulticastGroup4, HopLimit: 255, Msg: advert(52, "s3cr3t")},
		{Src: src, Dst: MulticastGroup4, HopLimit: 255, Msg: advert(51, "wrong")},
		{Src: src, Dst: MulticastGroup4, HopLimit: 255, Msg: corrupt},
		{Src: src, Dst: MulticastGroup4, HopLimit: 255, Msg: advert(51, "s3cr3t")},
	} {
		speakerPort.deliver(r)
	}
	run(t, clk, 20*time.Millisecond, s)
	snap := s.snap(t)
	if diff := cmp.Diff(map[string]uint64{"ttl": 1, "auth": 1, "checksum": 1}, snap.Instances[0].Errors); diff != "" {
		t.Errorf("errors by kind (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]map[string]uint64{"eth0": {"vrid": 1}}, snap.Drops); diff != "" {
		t.Errorf("socket drops (-want +got):\n%s", diff)
	}
	if got := snap.Instances[0].AdvertsReceived; got != 1 {
		t.Errorf("received %d adverts, want 1", got)
	}
}

func TestSpeakerTrackScriptFault(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	link := &fakeLink{}
	cfg := pairConfig(100)
	cfg.Scripts = []ScriptConfig{{Name: "chk", Argv: []string{"/chk"}, Interval: time.Second, Rise: 2, Fall: 2}}
	cfg.Instances[0].TrackScripts = []TrackScriptRef{{Name: "chk"}}
	s := startSpeaker(t, clk, link, "192.0.2.2", cfg)
	s.exe.setFail("/chk", true)
	// The first result decides at once: FAULT.
	run(t, clk, 50*time.Millisecond, s)
	if st := s.snap(t).Instances[0].State; st != StateFault {
		t.Fatalf("state %v after a failing weight-0 script, want FAULT", st)
	}
	// Two successes (rise 2) bring it back to BACKUP.
	s.exe.setFail("/chk", false)
	run(t, clk, 2100*time.Millisecond, s)
	if st := s.snap(t).Instances[0].State; st != StateBackup && st != StateMaster {
		t.Fatalf("state %v after the script recovered", st)
	}
	s.stop(t)
	if got := s.exe.notifies(); len(got) < 2 || got[1] != "INSTANCE VI_1 FAULT 100" {
		t.Errorf("notify runs: %q", got)
	}
}

func TestSpeakerSyncGroup(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	link := &fakeLink{}
	cfg := pairConfig(255) // the owner starts as master at once
	second := pairConfig(100).Instances[0]
	second.Machine.Name, second.Machine.VRID = "VI_2", 52
	second.VIPs = []VIP{{Prefix: netip.MustParsePrefix("192.0.2.101/24")}}
	cfg.Instances = append(cfg.Instances, second)
	cfg.Groups = []GroupConfig{{Name: "G", Instances: []string{"VI_1", "VI_2"}, Notify: NotifyScripts{Any: []string{"/notify"}}}}
	s := startSpeaker(t, clk, link, "192.0.2.2", cfg)
	run(t, clk, 10*time.Millisecond, s)
	var states []string
	for _, in := range s.snap(t).Instances {
		states = append(states, fmt.Sprint(in.Name, " ", in.State))
	}
	if diff := cmp.Diff([]string{"VI_1 MASTER", "VI_2 MASTER"}, states); diff != "" {
		t.Errorf("the group did not move together (-want +got):\n%s", diff)
	}
	if !s.net.has("192.0.2.101/24") {
		t.Error("VI_2's VIP not added")
	}
	s.stop(t)
	if !slices.Contains(s.exe.notifies(), "GROUP G MASTER 0") {
		t.Errorf("group notify not run: %q", s.exe.notifies())
	}
}
