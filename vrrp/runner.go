package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/lvsctl/lvsctl/internal/clock"
)

// SpeakerConfig is everything one `lvsctl vrrp run` runs: instances, the
// vrrp_scripts they track and their sync groups. FromConfig builds it from
// keepalived.conf.
type SpeakerConfig struct {
	Instances []InstanceConfig
	Scripts   []ScriptConfig
	Groups    []GroupConfig
}

// InstanceConfig is one vrrp_instance as the runner needs it. Machine is
// the state machine's configuration; its LocalAddr may be left invalid for
// the runner to take from Interface (the first IPv4 address that is not a
// VIP, or the IPv6 link-local address, RFC 5798 §5.1.2.1), and its
// Interfaces must not hold Interface itself, which is added unless
// DontTrackPrimary.
type InstanceConfig struct {
	Machine Config
	// Interface is where adverts are sent and received and VIPs without a
	// dev go. Empty only for unicast with a given source.
	Interface        string
	DontTrackPrimary bool
	// VIPs are advertised and added; ExcludedVIPs only added.
	VIPs         []VIP
	ExcludedVIPs []VIP
	// Group is the multicast destination (224.0.0.18, ff02::12 or
	// vrrp_mcast_group4/6); ignored with UnicastPeers.
	Group        netip.Addr
	UnicastPeers []UnicastPeer
	UnicastTTL   int // 0: 255
	AuthType     AuthType
	AuthPass     [authDataLen]byte
	// ChecksumForm is what VRRPv3 IPv4 adverts are sent with (the zero
	// value is keepalived 2.2's pseudo-header form).
	ChecksumForm ChecksumForm
	// SkipCheckAddrs: do not drop adverts whose address list differs
	// (vrrp_skip_check_adv_addr).
	SkipCheckAddrs bool
	// TrackScripts name ScriptConfigs; Reverse inverts the script's
	// result for this instance (keepalived "weight W reverse").
	TrackScripts []TrackScriptRef
	Notify       NotifyScripts
}

// UnicastPeer is one unicast_peer. MinTTL and MaxTTL of 0 leave the TTL
// unchecked, as keepalived does for peers (their adverts may be routed).
type UnicastPeer struct {
	Addr           netip.Addr
	MinTTL, MaxTTL int
}

// TrackScriptRef is one track_script line.
type TrackScriptRef struct {
	Name    string
	Weight  int
	Reverse bool
}

// NotifyScripts are an instance's or group's notify commands, each an
// argv run without a shell; nil means none.
type NotifyScripts struct {
	Master, Backup, Fault, Stop []string
	// Any is "notify": run after the state's own script with TYPE NAME
	// STATE PRIORITY appended (TYPE is INSTANCE or GROUP).
	Any []string
}

// ScriptConfig is one vrrp_script.
type ScriptConfig struct {
	Name     string
	Argv     []string
	Interval time.Duration // 0: 1 s
	Timeout  time.Duration // 0: Interval
	Rise     int
	Fall     int
	InitFail bool
}

// GroupConfig is one vrrp_sync_group: its members move between master and
// backup together, and their tracking is pooled (FromConfig gives every
// member the union, as keepalived faults the whole group).
type GroupConfig struct {
	Name      string
	Instances []string
	Notify    NotifyScripts
}

// TransportKey identifies the socket an instance uses; instances with
// equal keys share one and are told apart by VRID.
type TransportKey struct {
	Interface string
	Source    netip.Addr
	Group     netip.Addr // invalid for unicast
	TTL       int
}

// LinkMonitor reports interface link state for track_interface.
type LinkMonitor interface {
	LinkUp(name string) (bool, error)
	// Watch calls report on every link change until ctx ends.
	Watch(ctx context.Context, report func(name string, up bool)) error
}

// Env is what a Speaker needs from the system. Every field must be set but
// SyncDaemon (nil: lvs_sync_daemon_interface is ignored) and Log.
type Env struct {
	Clock   clock.Clock
	Network Network
	Links   LinkMonitor
	// OpenTransport opens the socket for key.
	OpenTransport func(key TransportKey) (Transport, error)
	// LocalAddr returns the address adverts from ifname are sent from.
	LocalAddr func(ifname string, v6 bool, exclude []netip.Addr) (netip.Addr, error)
	// Exec runs argv without a shell and waits; an error means failure
	// (non-zero exit, timeout through ctx).
	Exec       func(ctx context.Context, argv []string) error
	SyncDaemon SyncDaemon
	Log        *slog.Logger
}

// InstanceStatus is one instance in a speaker's Snapshot.
type InstanceStatus struct {
	Status
	Interface       string
	VRID            uint8
	AdvertsSent     uint64
	AdvertsReceived uint64
	Errors          map[string]uint64
}

// Snapshot is what `lvsctl vrrp status` shows.
type Snapshot struct {
	Instances []InstanceStatus
	// Drops counts packets no instance could take, per interface: of an
	// unknown VRID, or too broken to say whose they were.
	Drops map[string]map[string]uint64
}

// Speaker runs VRRP instances: one goroutine owns every state machine and
// carries out their actions; receivers, timers, scripts and link updates
// hand it work through one channel.
type Speaker struct {
	cfg SpeakerConfig
	env Env
	log *slog.Logger
	// bgctx is Run's context for the goroutines it starts (receivers,
	// scripts, the link monitor), also those a Reload starts; set before
	// the loop takes work.
	bgctx    context.Context
	watching bool // the link monitor runs
	// timers runs the machines' timers: env.Clock, or PreciseClock in
	// place of clock.Real.
	timers clock.Clock

	work    chan func()
	stopped chan struct{} // closed when the loop stops taking work

	insts   []*runInstance
	byName  map[string]*runInstance
	socks   map[TransportKey]*runSocket
	groups  map[string]*runGroup
	scripts map[string]*runScript
	links   map[string]bool // last reported state of tracked links

	// arrived is when the packet being handled arrived, while the loop
	// handles it; zero otherwise (see do, SetTimer).
	arrived time.Time

	notifyQ  chan []string
	syncQ    chan syncRole
	bg       sync.WaitGroup
	stopOnce sync.Once
}

type runInstance struct {
	// orig is the configuration as given, which Reload compares; cfg is
	// it completed by prepare (source address, tracking).
	orig   InstanceConfig
	cfg    InstanceConfig
	m      *Instance
	key    TransportKey
	sock   *runSocket
	gone   bool // stopped by a Reload: late timers and results are ignored
	expect Expect
	dsts   []netip.Addr
	peers  map[netip.Addr]UnicastPeer
	all    []VIP // VIPs then excluded VIPs, with Dev filled in
	timers map[Timer]clock.Timer
	group  *runGroup

	sent, received uint64
	errs           map[string]uint64
}

type runSocket struct {
	key    TransportKey
	t      Transport
	cancel context.CancelFunc // stops its receiver
	byID   map[uint8]*runInstance
	drops  map[string]uint64
}

type runGroup struct {
	cfg     GroupConfig
	members []*runInstance
	state   State
}

type runScript struct {
	cfg     ScriptConfig
	tracker *ScriptTracker
	users   []*runInstance
	cancel  context.CancelFunc // stops its goroutine; nil until started
	gone    bool               // dropped by a Reload
}

// compiled is a SpeakerConfig checked and turned into the runner's
// structures, before anything is resolved or opened.
type compiled struct {
	insts   []*runInstance
	byName  map[string]*runInstance
	scripts map[string]*runScript
	groups  map[string]*runGroup
}

// NewSpeaker checks cfg and returns a speaker ready to Run.
func NewSpeaker(cfg SpeakerConfig, env Env) (*Speaker, error) {
	if env.Clock == nil || env.Network == nil || env.Links == nil || env.OpenTransport == nil || env.LocalAddr == nil || env.Exec == nil {
		return nil, errors.New("vrrp speaker: incomplete environment")
	}
	log := env.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Speaker{cfg: cfg, env: env, log: log, timers: env.Clock,
		work: make(chan func(), 256), stopped: make(chan struct{}),
		socks: map[TransportKey]*runSocket{}, links: map[string]bool{},
		notifyQ: make(chan []string, 64), syncQ: make(chan syncRole, 64),
	}
	if _, real := env.Clock.(clock.Real); real {
		s.timers = PreciseClock{}
	}
	c, err := s.compile(cfg)
	if err != nil {
		return nil, err
	}
	s.insts, s.byName, s.scripts, s.groups = c.insts, c.byName, c.scripts, c.groups
	return s, nil
}

// compile checks cfg and builds the runner's structures for it; it
// touches nothing, so that NewSpeaker and Reload share it.
func (s *Speaker) compile(cfg SpeakerConfig) (compiled, error) {
	if len(cfg.Instances) == 0 {
		return compiled{}, errors.New("vrrp speaker: no instances")
	}
	c := compiled{byName: map[string]*runInstance{}, scripts: map[string]*runScript{}, groups: map[string]*runGroup{}}
	for _, sc := range cfg.Scripts {
		if len(sc.Argv) == 0 {
			return compiled{}, fmt.Errorf("vrrp_script %s: no command", sc.Name)
		}
		c.scripts[sc.Name] = &runScript{cfg: sc, tracker: NewScriptTracker(sc.Rise, sc.Fall, sc.InitFail)}
	}
	for _, ic := range cfg.Instances {
		if _, dup := c.byName[ic.Machine.Name]; dup {
			return compiled{}, fmt.Errorf("vrrp_instance %s defined twice", ic.Machine.Name)
		}
		ri := &runInstance{orig: ic, cfg: ic, timers: map[Timer]clock.Timer{}, errs: map[string]uint64{}, peers: map[netip.Addr]UnicastPeer{}}
		for _, v := range ic.VIPs {
			ri.all = append(ri.all, s.withDev(v, ic.Interface))
		}
		for _, v := range ic.ExcludedVIPs {
			ri.all = append(ri.all, s.withDev(v, ic.Interface))
		}
		for _, v := range ri.all {
			if v.Dev == "" {
				return compiled{}, fmt.Errorf("vrrp_instance %s: VIP %s has no device", ic.Machine.Name, v.Prefix)
			}
		}
		for _, ts := range ic.TrackScripts {
			rs := c.scripts[ts.Name]
			if rs == nil {
				return compiled{}, fmt.Errorf("vrrp_instance %s: track_script %s is not a vrrp_script", ic.Machine.Name, ts.Name)
			}
			rs.users = append(rs.users, ri)
		}
		c.insts = append(c.insts, ri)
		c.byName[ic.Machine.Name] = ri
	}
	for _, gc := range cfg.Groups {
		g := &runGroup{cfg: gc}
		for _, name := range gc.Instances {
			ri := c.byName[name]
			if ri == nil {
				// --instance may have left a member out; the group
				// moves what runs here.
				continue
			}
			ri.group = g
			g.members = append(g.members, ri)
		}
		c.groups[gc.Name] = g
	}
	return c, nil
}

func (s *Speaker) withDev(v VIP, dev string) VIP {
	if v.Dev == "" {
		v.Dev = dev
	}
	return v
}

// trackedName is how a reversed track_script appears to the machine: a
// name of its own whose state is the script's, inverted.
// machineScripts is what ic's machine tracks of its scripts: a reversed
// script under its own name, its weight negated.
func machineScripts(ic InstanceConfig) []TrackedScript {
	var out []TrackedScript
	for _, ts := range ic.TrackScripts {
		w := ts.Weight
		if ts.Reverse {
			w = -w
		}
		out = append(out, TrackedScript{Name: trackedName(ts), Weight: w})
	}
	return out
}

func trackedName(ts TrackScriptRef) string {
	if ts.Reverse {
		return "!" + ts.Name
	}
	return ts.Name
}

// setup removes stale VIPs, resolves addresses, builds the machines and
// opens the sockets. It runs before the loop, on Run's goroutine.
func (s *Speaker) setup(ctx context.Context) error {
	for _, ri := range s.insts {
		// A restarted speaker finds the VIPs a killed one left behind;
		// keepalived removes them at startup too, so that a backup does
		// not answer for them.
		if err := s.env.Network.RemoveVIPs(ctx, ri.all); err != nil {
			s.log.Warn("remove stale VIPs", "instance", ri.cfg.Machine.Name, "err", err)
		}
		if err := s.prepare(ri); err != nil {
			return err
		}
		sock := s.socks[ri.key]
		if sock == nil {
			t, err := s.env.OpenTransport(ri.key)
			if err != nil {
				return fmt.Errorf("vrrp_instance %s: %w", ri.cfg.Machine.Name, err)
			}
			sock = newRunSocket(ri.key, t)
			s.socks[ri.key] = sock
		}
		if other := sock.byID[ri.cfg.Machine.VRID]; other != nil {
			return fmt.Errorf("vrrp_instance %s: virtual_router_id %d already used by %s on %s", ri.cfg.Machine.Name, ri.cfg.Machine.VRID, other.cfg.Machine.Name, ri.cfg.Interface)
		}
		sock.byID[ri.cfg.Machine.VRID] = ri
		ri.sock = sock
	}
	return nil
}

func newRunSocket(key TransportKey, t Transport) *runSocket {
	return &runSocket{key: key, t: t, byID: map[uint8]*runInstance{}, drops: map[string]uint64{}}
}

// prepare completes ri.cfg from ri.orig (the source address, the tracked
// interfaces and scripts as the machine sees them), builds the machine,
// what received adverts are checked against and where adverts go, and
// ri.key, the socket it needs. It adds, removes and opens nothing.
func (s *Speaker) prepare(ri *runInstance) error {
	ic := ri.orig
	mc := ic.Machine
	v6 := len(ic.VIPs) > 0 && ic.VIPs[0].Prefix.Addr().Unmap().Is6()
	if !mc.LocalAddr.IsValid() {
		var exclude []netip.Addr
		for _, v := range ri.all {
			exclude = append(exclude, v.Prefix.Addr())
		}
		a, err := s.env.LocalAddr(ic.Interface, v6, exclude)
		if err != nil {
			return fmt.Errorf("vrrp_instance %s: source address: %w", mc.Name, err)
		}
		mc.LocalAddr = a
	}
	v6 = mc.LocalAddr.Unmap().Is6()
	var ifs []TrackedInterface
	if ic.Interface != "" && !ic.DontTrackPrimary {
		ifs = append(ifs, TrackedInterface{Name: ic.Interface})
	}
	for _, ti := range mc.Interfaces {
		if ti.Name != ic.Interface {
			ifs = append(ifs, ti)
		}
	}
	mc.Interfaces = ifs
	mc.Scripts = machineScripts(ic)
	m, err := NewInstance(mc, s.env.Clock)
	if err != nil {
		return err
	}
	ri.m = m
	ri.cfg = ic
	ri.cfg.Machine = mc
	ri.expect = expectFor(ri.cfg)
	key := TransportKey{Interface: ic.Interface, Source: mc.LocalAddr.Unmap(), TTL: ic.UnicastTTL}
	ri.dsts, ri.peers = nil, map[netip.Addr]UnicastPeer{}
	if len(ic.UnicastPeers) == 0 {
		key.TTL = 0
		key.Group = ic.Group
		if !key.Group.IsValid() {
			key.Group = MulticastGroup4
			if v6 {
				key.Group = MulticastGroup6
			}
		}
		ri.dsts = []netip.Addr{key.Group}
	} else {
		for _, p := range ic.UnicastPeers {
			ri.dsts = append(ri.dsts, p.Addr.Unmap())
			ri.peers[p.Addr.Unmap()] = p
		}
	}
	ri.key = key
	return nil
}

// expectFor is what ic's received adverts must match (RFC 5798 §7.1).
func expectFor(ic InstanceConfig) Expect {
	mc := ic.Machine
	e := Expect{Version: mc.Version, VRID: mc.VRID, AuthType: ic.AuthType, AuthPass: ic.AuthPass, Interval: mc.AdvertInterval}
	if !ic.SkipCheckAddrs {
		e.Addrs = []netip.Addr{}
		for _, v := range ic.VIPs {
			e.Addrs = append(e.Addrs, v.Prefix.Addr())
		}
	}
	return e
}

// startReceiver hands sock's packets to the loop until sock is closed or
// the speaker stops.
func (s *Speaker) startReceiver(sock *runSocket) {
	ctx, cancel := context.WithCancel(s.bgctx)
	sock.cancel = cancel
	s.bg.Add(1)
	go s.receive(ctx, sock)
}

// closeSocket stops sock's receiver and closes it; its instances are gone.
func (s *Speaker) closeSocket(sock *runSocket) {
	if sock.cancel != nil {
		sock.cancel()
	}
	sock.t.Close()
	delete(s.socks, sock.key)
}

// startScript runs rs until it is dropped or the speaker stops.
func (s *Speaker) startScript(rs *runScript) {
	ctx, cancel := context.WithCancel(s.bgctx)
	rs.cancel = cancel
	s.bg.Add(1)
	go s.runScript(ctx, rs)
}

// tracksLink reports whether an instance tracks the interface name.
func (s *Speaker) tracksLink(name string) bool {
	for _, ri := range s.insts {
		for _, ti := range ri.cfg.Machine.Interfaces {
			if ti.Name == name {
				return true
			}
		}
	}
	return false
}

// watchLinks starts the link monitor once an instance tracks a link; the
// loop filters what it reports (linkChanged), so instances a Reload adds
// are covered too.
func (s *Speaker) watchLinks() {
	if s.watching {
		return
	}
	s.watching = true
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		if err := s.env.Links.Watch(s.bgctx, func(name string, up bool) {
			s.post(func() { s.linkChanged(name, up) })
		}); err != nil {
			s.log.Error("link monitor stopped", "err", err)
		}
	}()
}

// Run runs the speaker until ctx ends, then stops every instance as
// keepalived does on SIGTERM (priority 0 advert, VIPs removed, notify
// stop) and returns once every goroutine it started has ended.
func (s *Speaker) Run(ctx context.Context) error {
	bgctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		s.stopOnce.Do(func() { close(s.stopped) })
		cancel()
		for _, sock := range s.socks {
			sock.t.Close()
		}
		// The notifier drains the queue (notify stop included) with a
		// context of its own: bgctx is already cancelled.
		close(s.notifyQ)
		close(s.syncQ)
		s.bg.Wait()
	}()
	s.bg.Add(2)
	go s.notifier(context.WithoutCancel(ctx))
	go s.syncSwitcher(context.WithoutCancel(ctx))
	s.bgctx = bgctx
	if err := s.setup(ctx); err != nil {
		return err
	}
	for _, sock := range s.socks {
		s.startReceiver(sock)
	}
	// Links: watch first, then read the current state, so no change
	// falls between the two.
	tracked := map[string]bool{}
	for _, ri := range s.insts {
		for _, ti := range ri.cfg.Machine.Interfaces {
			tracked[ti.Name] = true
		}
	}
	if len(tracked) > 0 {
		s.watchLinks()
		for name := range tracked {
			up, err := s.env.Links.LinkUp(name)
			if err != nil {
				return err
			}
			s.linkChanged(name, up)
		}
	}
	for _, rs := range s.scripts {
		if len(rs.users) > 0 {
			s.startScript(rs)
		}
	}
	for _, ri := range s.insts {
		s.step(ri, Startup{}, true)
	}
	for {
		select {
		case f := <-s.work:
			f()
		case <-ctx.Done():
			s.shutdown()
			return nil
		}
	}
}

func (s *Speaker) shutdown() {
	for _, ri := range s.insts {
		s.step(ri, Shutdown{}, false)
	}
	for _, ri := range s.insts {
		for t, tm := range ri.timers {
			tm.Stop()
			delete(ri.timers, t)
		}
	}
	s.stopOnce.Do(func() { close(s.stopped) })
}

// post hands f to the loop; after shutdown it is dropped.
func (s *Speaker) post(f func()) {
	select {
	case s.work <- f:
	case <-s.stopped:
	}
}

// Snapshot returns the speaker's state, taken on its loop.
func (s *Speaker) Snapshot(ctx context.Context) (Snapshot, error) {
	reply := make(chan Snapshot, 1)
	select {
	case s.work <- func() { reply <- s.snapshot() }:
	case <-s.stopped:
		return Snapshot{}, errors.New("vrrp speaker stopped")
	case <-ctx.Done():
		return Snapshot{}, ctx.Err()
	}
	select {
	case snap := <-reply:
		return snap, nil
	case <-ctx.Done():
		return Snapshot{}, ctx.Err()
	}
}

func (s *Speaker) snapshot() Snapshot {
	var snap Snapshot
	for _, ri := range s.insts {
		is := InstanceStatus{Interface: ri.cfg.Interface, VRID: ri.cfg.Machine.VRID,
			AdvertsSent: ri.sent, AdvertsReceived: ri.received}
		if ri.m != nil {
			is.Status = ri.m.Status()
		} else {
			is.Status = Status{Name: ri.cfg.Machine.Name}
		}
		if len(ri.errs) > 0 {
			is.Errors = map[string]uint64{}
			for k, v := range ri.errs {
				is.Errors[k] = v
			}
		}
		snap.Instances = append(snap.Instances, is)
	}
	for _, sock := range s.socks {
		if len(sock.drops) == 0 {
			continue
		}
		if snap.Drops == nil {
			snap.Drops = map[string]map[string]uint64{}
		}
		name := sock.key.Interface
		if name == "" {
			name = sock.key.Source.String()
		}
		d := snap.Drops[name]
		if d == nil {
			d = map[string]uint64{}
			snap.Drops[name] = d
		}
		for k, v := range sock.drops {
			d[k] += v
		}
	}
	return snap
}

func (s *Speaker) receive(ctx context.Context, sock *runSocket) {
	defer s.bg.Done()
	for {
		r, err := sock.t.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("receive", "interface", sock.key.Interface, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		s.post(func() { s.packet(sock, r) })
	}
}

// packet checks a received packet in RFC 5798 §7.1's order and hands it
// to its instance.
func (s *Speaker) packet(sock *runSocket, r Received) {
	if len(r.Msg) < 2 {
		sock.drops[KindLength.String()]++
		return
	}
	ri := sock.byID[r.Msg[1]]
	if ri == nil {
		// Another router's VRID on this link: keepalived counts these
		// too, since a misconfigured VRID shows up here first.
		sock.drops[KindVRID.String()]++
		return
	}
	drop := func(err error) {
		k := KindOf(err)
		ri.errs[k.String()]++
		s.log.Debug("advert dropped", "instance", ri.cfg.Machine.Name, "from", r.Src, "err", err)
	}
	if len(ri.peers) > 0 {
		// keepalived checks a unicast peer's TTL only against the
		// min_ttl / max_ttl given for it: unicast adverts may be routed.
		p := ri.peers[r.Src.Unmap()]
		if p.MinTTL > 0 && r.HopLimit < p.MinTTL || p.MaxTTL > 0 && r.HopLimit > p.MaxTTL {
			drop(packetErr(KindTTL, "TTL %d outside [%d, %d] for peer %s", r.HopLimit, p.MinTTL, p.MaxTTL, r.Src))
			return
		}
	} else if err := CheckHopLimit(r.HopLimit); err != nil {
		drop(err)
		return
	}
	a, err := Decode(r.Msg, r.Src, r.Dst)
	if err != nil {
		drop(err)
		return
	}
	if err := ri.expect.Check(&a); err != nil {
		drop(err)
		return
	}
	ri.received++
	s.arrived = r.At
	s.step(ri, AdvertReceived{From: r.Src.Unmap(), Advert: a}, true)
	s.arrived = time.Time{}
}

func (s *Speaker) linkChanged(name string, up bool) {
	if !s.tracksLink(name) {
		return
	}
	if old, seen := s.links[name]; seen && old == up {
		return
	}
	s.links[name] = up
	s.log.Info("link", "interface", name, "up", up)
	for _, ri := range s.insts {
		for _, ti := range ri.cfg.Machine.Interfaces {
			if ti.Name == name {
				s.step(ri, InterfaceChanged{Name: name, Up: up}, true)
				break
			}
		}
	}
}

// runScript runs a vrrp_script every interval (the first run at once),
// skipping a tick while a run is still going, and feeds the result to the
// loop, where its tracker and the instances live.
func (s *Speaker) runScript(ctx context.Context, rs *runScript) {
	defer s.bg.Done()
	interval := rs.cfg.Interval
	if interval <= 0 {
		interval = time.Second
	}
	timeout := rs.cfg.Timeout
	if timeout <= 0 {
		timeout = interval
	}
	t := s.env.Clock.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		t.Reset(interval)
		rctx, cancel := context.WithTimeout(ctx, timeout)
		err := s.env.Exec(rctx, rs.cfg.Argv)
		cancel()
		if ctx.Err() != nil {
			return
		}
		ok := err == nil
		s.post(func() { s.scriptResult(rs, ok) })
	}
}

func (s *Speaker) scriptResult(rs *runScript, ok bool) {
	if rs.gone {
		return
	}
	st, changed := rs.tracker.Observe(ok)
	if !changed {
		return
	}
	s.log.Info("track script", "script", rs.cfg.Name, "state", st.String())
	for _, ri := range rs.users {
		for _, ts := range ri.cfg.TrackScripts {
			if ts.Name != rs.cfg.Name {
				continue
			}
			mst := st
			if ts.Reverse {
				mst = map[TrackState]TrackState{TrackUp: TrackDown, TrackDown: TrackUp}[st]
			}
			s.step(ri, ScriptChanged{Name: trackedName(ts), State: mst}, true)
		}
	}
}

// step feeds ev to ri's machine, carries out the actions, and when the
// instance moved between master and backup on its own (propagate), moves
// the rest of its sync group with it.
func (s *Speaker) step(ri *runInstance, ev Event, propagate bool) {
	from := ri.m.State()
	s.do(ri, ri.m.Step(ev))
	to := ri.m.State()
	if from == to {
		return
	}
	s.log.Info("state", "instance", ri.cfg.Machine.Name, "from", from.String(), "to", to.String(),
		"priority", ri.m.EffectivePriority())
	g := ri.group
	if g == nil || !propagate {
		return
	}
	if to == StateBackup && from != StateMaster {
		// Starting (or leaving FAULT) into a group whose other members
		// are master: join them, as keepalived's group state decides.
		for _, o := range g.members {
			if o != ri && o.m.State() == StateMaster {
				s.step(ri, GroupMaster{}, false)
				return
			}
		}
	}
	for _, o := range g.members {
		if o == ri {
			continue
		}
		switch {
		case to == StateMaster:
			s.step(o, GroupMaster{}, false)
		case to == StateBackup && from == StateMaster:
			s.step(o, GroupBackup{}, false)
		}
	}
	if to != g.state && to != StateInit {
		g.state = to
		s.runNotify(g.cfg.Notify, "GROUP", g.cfg.Name, to, 0)
	}
}

func (s *Speaker) do(ri *runInstance, acts []Action) {
	ctx := context.Background()
	name := ri.cfg.Machine.Name
	for _, a := range acts {
		switch a := a.(type) {
		case SendAdvert:
			s.sendAdvert(ri, a.Priority)
		case SetTimer:
			if old := ri.timers[a.Timer]; old != nil {
				old.Stop()
			}
			t, seq := a.Timer, a.Seq
			ri.timers[a.Timer] = s.timers.AfterFunc(s.sinceArrival(a.After), func() {
				s.post(func() {
					if !ri.gone {
						s.step(ri, TimerFired{Timer: t, Seq: seq}, true)
					}
				})
			})
		case StopTimer:
			if old := ri.timers[a.Timer]; old != nil {
				old.Stop()
				delete(ri.timers, a.Timer)
			}
		case AddVIPs:
			if err := s.env.Network.AddVIPs(ctx, ri.all); err != nil {
				s.log.Error("add VIPs", "instance", name, "err", err)
			}
		case RemoveVIPs:
			if err := s.env.Network.RemoveVIPs(ctx, ri.all); err != nil {
				s.log.Error("remove VIPs", "instance", name, "err", err)
			}
		case SendGratuitous:
			if err := s.env.Network.SendGratuitous(ctx, ri.all, a.Repeat); err != nil {
				s.log.Warn("gratuitous ARP/NA", "instance", name, "err", err)
			}
		case Notify:
			s.runNotify(ri.cfg.Notify, "INSTANCE", name, a.State, a.Priority)
		case SetSyncDaemon:
			if s.env.SyncDaemon == nil {
				continue
			}
			select {
			case s.syncQ <- syncRole{instance: name, master: a.Master}:
			default:
				s.log.Error("IPVS sync daemon queue full: role not switched", "instance", name, "master", a.Master)
			}
		}
	}
}

// sinceArrival shortens a timer set for an advert by the time the advert
// waited between the kernel and the machine, so that the
// Master_Down_Timer (RFC 5798 §6.4.2, "Reset the Master_Down_Timer to
// Master_Down_Interval") runs from the advert's arrival: on an idle host,
// waking the receiver takes a few hundred microseconds. A wait that is
// negative or longer than maxArrivalLag (a stepped clock) is ignored.
func (s *Speaker) sinceArrival(d time.Duration) time.Duration {
	if s.arrived.IsZero() {
		return d
	}
	lag := s.env.Clock.Now().Sub(s.arrived)
	if lag <= 0 || lag > maxArrivalLag || lag >= d {
		return d
	}
	return d - lag
}

// maxArrivalLag bounds the wait sinceArrival accounts for.
const maxArrivalLag = 50 * time.Millisecond

func (s *Speaker) sendAdvert(ri *runInstance, prio uint8) {
	mc := ri.cfg.Machine
	adv := Advert{Version: mc.Version, VRID: mc.VRID, Priority: prio, Interval: mc.AdvertInterval}
	for _, v := range ri.cfg.VIPs {
		adv.Addrs = append(adv.Addrs, v.Prefix.Addr().Unmap())
	}
	if mc.Version == Version2 {
		adv.AuthType = ri.cfg.AuthType
		if adv.AuthType == AuthPass {
			adv.AuthData = ri.cfg.AuthPass
		}
	}
	ok := false
	for _, dst := range ri.dsts {
		msg, err := adv.Marshal(mc.LocalAddr, dst, ri.cfg.ChecksumForm)
		if err == nil {
			err = ri.sock.t.Send(context.Background(), msg, dst)
		}
		if err != nil {
			ri.errs["send"]++
			s.log.Warn("send advert", "instance", mc.Name, "to", dst, "err", err)
			continue
		}
		ok = true
	}
	if ok {
		ri.sent++
	}
}

// runNotify queues the notify scripts of a transition: the state's own
// script without arguments, then "notify" with TYPE NAME STATE PRIORITY,
// as keepalived runs them (notify_instance_exec).
func (s *Speaker) runNotify(n NotifyScripts, typ, name string, st State, prio uint8) {
	var own []string
	switch st {
	case StateMaster:
		own = n.Master
	case StateBackup:
		own = n.Backup
	case StateFault:
		own = n.Fault
	case StateStop:
		own = n.Stop
	default:
		return
	}
	if own != nil {
		s.queueNotify(own)
	}
	if n.Any != nil {
		argv := append(append([]string(nil), n.Any...), typ, name, st.String(), fmt.Sprint(prio))
		s.queueNotify(argv)
	}
}

func (s *Speaker) queueNotify(argv []string) {
	select {
	case s.notifyQ <- argv:
	default:
		s.log.Error("notify queue full: script not run", "argv", argv)
	}
}

// syncRole is one SetSyncDaemon for the switcher.
type syncRole struct {
	instance string
	master   bool
}

// syncSwitcher carries out SetSyncDaemon off the loop, in order, until
// the queue is closed and drained: starting and stopping the kernel's
// sync threads (IPVS_CMD_NEW_DAEMON, IPVS_CMD_DEL_DAEMON, which waits for
// a thread to exit) can take long enough, on a slow machine, for the
// adverts to stop and the peer to take over. Of several queued switches
// only the last counts.
func (s *Speaker) syncSwitcher(ctx context.Context) {
	defer s.bg.Done()
	for r := range s.syncQ {
	drain:
		for {
			select {
			case next, ok := <-s.syncQ:
				if !ok {
					break drain
				}
				r = next
			default:
				break drain
			}
		}
		if err := s.env.SyncDaemon.SetRole(ctx, r.master); err != nil {
			s.log.Warn("IPVS sync daemon", "instance", r.instance, "master", r.master, "err", err)
		}
	}
}

// notifier runs notify scripts one after the other, in the order the
// transitions happened, until the queue is closed and drained.
func (s *Speaker) notifier(ctx context.Context) {
	defer s.bg.Done()
	for argv := range s.notifyQ {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := s.env.Exec(rctx, argv); err != nil {
			s.log.Warn("notify script", "argv", argv, "err", err)
		}
		cancel()
	}
}
