package vrrp

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/lvsctl/lvsctl/internal/clock"
)

// State is an instance's VRRP state (RFC 5798 §6.4), plus Fault
// (keepalived's: a tracked interface or weight-0 script is down) and Stop
// (after Shutdown; RFC 5798 calls it Initialize).
type State uint8

// The states.
const (
	StateInit State = iota
	StateBackup
	StateMaster
	StateFault
	StateStop
)

// String returns the name keepalived passes to notify scripts.
func (s State) String() string {
	switch s {
	case StateInit:
		return "INIT"
	case StateBackup:
		return "BACKUP"
	case StateMaster:
		return "MASTER"
	case StateFault:
		return "FAULT"
	case StateStop:
		return "STOP"
	}
	return fmt.Sprintf("STATE(%d)", uint8(s))
}

// keepalived's defaults for the gratuitous ARP / NA schedule of a new master
// (vrrp_garp_master_repeat, vrrp_garp_master_delay,
// vrrp_garp_master_refresh_repeat).
const (
	DefaultGARPRepeat        = 5
	DefaultGARPDelay         = 5 * time.Second
	DefaultGARPRefreshRepeat = 1
)

// TrackedScript is a vrrp_script an instance tracks, with its weight
// (keepalived: weight > 0 is added to the priority while the script is OK,
// weight < 0 subtracted while it has failed, weight 0 puts the instance in
// FAULT while it has failed).
type TrackedScript struct {
	Name   string
	Weight int
}

// TrackedInterface is a track_interface entry (weight as for scripts; the
// usual weight 0 means link down is FAULT). The instance's own interface
// belongs here with weight 0, as keepalived always tracks it.
type TrackedInterface struct {
	Name   string
	Weight int
}

// Config is one vrrp_instance, in plain values. The zero value of each field
// is documented; NewInstance rejects what cannot work.
type Config struct {
	Name    string
	Version Version // 2 or 3
	VRID    uint8   // 1..255
	// Priority is the base priority, 1..255; 255 is the address owner.
	Priority uint8
	// AdvertInterval: v2 whole seconds 1..255, v3 10 ms steps 10ms..40.95s.
	AdvertInterval time.Duration
	// StartMaster is keepalived's "state MASTER". Below priority 255 it
	// changes nothing: keepalived 2.2.7 was measured (testdata/capture.sh,
	// TestKeepalivedStartTimes) to start such an instance as BACKUP and wait
	// the full Master_Down_Interval. Priority 255 starts as master anyway.
	StartMaster bool
	// NoPreempt: a backup does not take over from a lower priority master.
	NoPreempt bool
	// PreemptDelay (keepalived preempt_delay): after start, and after
	// hearing a lower priority master, wait this long before preempting it.
	PreemptDelay time.Duration
	// LocalAddr is the instance's primary address (the adverts' source),
	// compared with a master's on equal priority (RFC 5798 §6.4.3).
	LocalAddr netip.Addr
	// GARPRepeat: gratuitous ARPs / NAs per VIP on becoming master; 0 means
	// DefaultGARPRepeat.
	GARPRepeat int
	// GARPDelay: when to repeat them (garp_master_delay); 0 means
	// DefaultGARPDelay, negative means no second round.
	GARPDelay time.Duration
	// GARPRefresh: resend them this often while master; 0 is off.
	GARPRefresh time.Duration
	// GARPRefreshRepeat: how many per refresh; 0 means 1.
	GARPRefreshRepeat int
	Scripts           []TrackedScript
	Interfaces        []TrackedInterface
	// SyncDaemon: lvs_sync_daemon_interface is set for this instance, so
	// the machine emits SetSyncDaemon as keepalived switches the IPVS sync
	// daemon's role.
	SyncDaemon bool
}

// Timer names one of an instance's timers.
type Timer uint8

// The timers (RFC 5798 §6.2, plus keepalived's gratuitous ARP timers).
const (
	TimerMasterDown Timer = iota + 1
	TimerAdvert
	TimerGARPDelay
	TimerGARPRefresh
)

func (t Timer) String() string {
	switch t {
	case TimerMasterDown:
		return "master-down"
	case TimerAdvert:
		return "advert"
	case TimerGARPDelay:
		return "garp-delay"
	case TimerGARPRefresh:
		return "garp-refresh"
	}
	return fmt.Sprintf("timer(%d)", uint8(t))
}

// Event is an input of Step.
type Event interface{ isEvent() }

// Startup starts the instance (RFC 5798 §6.4.1 Startup event).
type Startup struct{}

// Shutdown stops it (RFC 5798 §6.4.2, §6.4.3 Shutdown event).
type Shutdown struct{}

// AdvertReceived is an advert that passed Decode, CheckHopLimit (where the
// transport applies it) and the instance's Expect.Check.
type AdvertReceived struct {
	From   netip.Addr
	Advert Advert
}

// TimerFired is a timer set by SetTimer firing. Seq must be the SetTimer's:
// a timer that fired after it was reset or stopped is ignored.
type TimerFired struct {
	Timer Timer
	Seq   uint64
}

// ScriptChanged reports a tracked script's new state (from its
// ScriptTracker).
type ScriptChanged struct {
	Name  string
	State TrackState
}

// InterfaceChanged reports a tracked interface's link going up or down.
type InterfaceChanged struct {
	Name string
	Up   bool
}

// GroupMaster: another member of this instance's vrrp_sync_group became
// master; a backup follows it at once (keepalived vrrp_sync_master).
type GroupMaster struct{}

// GroupBackup: another member of the sync group left master for backup;
// a master follows it, without a priority 0 advert (keepalived
// vrrp_sync_backup).
type GroupBackup struct{}

func (GroupMaster) isEvent()      {}
func (GroupBackup) isEvent()      {}
func (Startup) isEvent()          {}
func (Shutdown) isEvent()         {}
func (AdvertReceived) isEvent()   {}
func (TimerFired) isEvent()       {}
func (ScriptChanged) isEvent()    {}
func (InterfaceChanged) isEvent() {}

// Action is an output of Step, for the runner to carry out in order.
type Action interface{ isAction() }

// SendAdvert: send an advert with this priority (0 on stop and fault).
type SendAdvert struct{ Priority uint8 }

// SetTimer: (re)arm Timer to fire After from now, then deliver
// TimerFired{Timer, Seq}.
type SetTimer struct {
	Timer Timer
	After time.Duration
	Seq   uint64
}

// StopTimer: disarm Timer.
type StopTimer struct{ Timer Timer }

// AddVIPs: add the virtual addresses (virtual_ipaddress and _excluded).
type AddVIPs struct{}

// RemoveVIPs: remove them.
type RemoveVIPs struct{}

// SendGratuitous: send Repeat gratuitous ARPs (IPv4) or unsolicited
// neighbour advertisements (IPv6) for each VIP (RFC 5798 §6.4.1, §6.4.2).
type SendGratuitous struct{ Repeat int }

// Notify: the instance entered State; run notify_<state> and notify
// (keepalived passes INSTANCE name state priority).
type Notify struct {
	State    State
	Priority uint8
}

// SetSyncDaemon: run the IPVS sync daemon as master (Master) or backup.
type SetSyncDaemon struct{ Master bool }

func (SendAdvert) isAction()     {}
func (SetTimer) isAction()       {}
func (StopTimer) isAction()      {}
func (AddVIPs) isAction()        {}
func (RemoveVIPs) isAction()     {}
func (SendGratuitous) isAction() {}
func (Notify) isAction()         {}
func (SetSyncDaemon) isAction()  {}

// Status is a snapshot for `lvsctl vrrp status`.
type Status struct {
	Name              string
	State             State
	Priority          uint8 // base
	EffectivePriority uint8
	// MasterAddr and MasterPriority are the last master heard (backup).
	MasterAddr          netip.Addr
	MasterPriority      uint8
	MasterAdverInterval time.Duration
	LastTransition      time.Time
}

// Instance is the pure VRRP state machine of one virtual router: Step takes
// an event and returns the actions to carry out. It does no I/O; time comes
// from the clock given to NewInstance and timers are SetTimer/StopTimer
// actions. It is not safe for concurrent use.
type Instance struct {
	cfg   Config
	clock clock.Clock

	state               State
	masterAdverInterval time.Duration // RFC 5798 §6.1 Master_Adver_Interval
	masterAddr          netip.Addr
	masterPriority      uint8
	preemptDeadline     time.Time // zero: not running (keepalived preempt_time)
	lastTransition      time.Time

	scripts    map[string]TrackState
	interfaces map[string]bool // up

	seq   uint64
	armed map[Timer]uint64
}

// NewInstance checks cfg and returns an instance in StateInit.
func NewInstance(cfg Config, clk clock.Clock) (*Instance, error) {
	if clk == nil {
		return nil, fmt.Errorf("vrrp instance %q: no clock", cfg.Name)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("vrrp instance %q: %w", cfg.Name, err)
	}
	cfg = cfg.withDefaults()
	in := &Instance{
		cfg:                 cfg,
		clock:               clk,
		masterAdverInterval: cfg.AdvertInterval,
		scripts:             make(map[string]TrackState),
		interfaces:          make(map[string]bool),
		armed:               make(map[Timer]uint64),
	}
	for _, s := range cfg.Scripts {
		in.scripts[s.Name] = TrackUnknown
	}
	for _, i := range cfg.Interfaces {
		in.interfaces[i.Name] = true
	}
	return in, nil
}

func (c Config) withDefaults() Config {
	if c.GARPRepeat == 0 {
		c.GARPRepeat = DefaultGARPRepeat
	}
	if c.GARPDelay == 0 {
		c.GARPDelay = DefaultGARPDelay
	}
	if c.GARPRefreshRepeat == 0 {
		c.GARPRefreshRepeat = DefaultGARPRefreshRepeat
	}
	return c
}

// Reconfigure applies cfg to a running instance in place: no transition,
// no advert, the timers as they are unless a setting needs one. It takes
// what keepalived lets a reload change without touching the instance's
// state: the base priority (the next advert carries the new effective
// priority, and a peer preempts or yields as RFC 5798 §6.4 says), preempt
// and preempt_delay (a running delay is kept), the advert interval (from
// the next advert on; a VRRPv3 backup keeps the interval it learnt from
// its master), the gratuitous ARP settings, "state" (it only matters at
// start) and the sync daemon switch. The tracked scripts and their
// weights change in place too: a script tracked before keeps its state, a
// new one is unknown until ScriptChanged, and the change acts as a
// script's result would (a failed weight-0 script is FAULT). The
// instance's identity (Name, Version, VRID, LocalAddr) and its tracked
// interfaces must not change: that is ErrReconfigure, and the caller
// restarts the instance instead.
func (in *Instance) Reconfigure(cfg Config) ([]Action, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("vrrp instance %q: %w", cfg.Name, err)
	}
	cfg = cfg.withDefaults()
	old := in.cfg
	if cfg.Name != old.Name || cfg.Version != old.Version || cfg.VRID != old.VRID || cfg.LocalAddr != old.LocalAddr ||
		!slices.Equal(cfg.Interfaces, old.Interfaces) {
		return nil, fmt.Errorf("vrrp instance %q: %w", cfg.Name, ErrReconfigure)
	}
	in.cfg = cfg
	var acts []Action
	if !slices.Equal(cfg.Scripts, old.Scripts) {
		states := make(map[string]TrackState, len(cfg.Scripts))
		for _, s := range cfg.Scripts {
			st, ok := in.scripts[s.Name]
			if !ok {
				st = TrackUnknown
			}
			states[s.Name] = st
		}
		in.scripts = states
		acts = in.trackChanged(acts)
	}
	if !(in.state == StateBackup && cfg.Version == Version3) {
		// RFC 3768 §6.1: a v2 backup times the master with its own
		// Advertisement_Interval; a v3 backup keeps the learnt one.
		in.masterAdverInterval = cfg.AdvertInterval
	}
	if in.state == StateMaster {
		in.masterPriority = in.EffectivePriority()
		if cfg.GARPRefresh != old.GARPRefresh {
			if cfg.GARPRefresh > 0 {
				acts = in.setTimer(acts, TimerGARPRefresh, cfg.GARPRefresh)
			} else {
				acts = in.stopTimer(acts, TimerGARPRefresh)
			}
		}
	}
	if cfg.SyncDaemon && !old.SyncDaemon && (in.state == StateMaster || in.state == StateBackup) {
		acts = append(acts, SetSyncDaemon{Master: in.state == StateMaster})
	}
	return acts, nil
}

func (c *Config) validate() error {
	if c.Version != Version2 && c.Version != Version3 {
		return fmt.Errorf("version %d: %w", c.Version, ErrVersion)
	}
	if c.VRID == 0 {
		return fmt.Errorf("virtual_router_id 0: %w", ErrVRID)
	}
	if c.Priority == 0 {
		return fmt.Errorf("priority 0 is reserved for a stopping master (RFC 5798 §5.2.4)")
	}
	if !c.LocalAddr.IsValid() {
		return fmt.Errorf("no local address")
	}
	// The advert encoder knows the wire limits of each version.
	probe := Advert{Version: c.Version, Interval: c.AdvertInterval}
	dst := MulticastGroup4
	if c.LocalAddr.Unmap().Is6() {
		dst = MulticastGroup6
	}
	if _, err := probe.Marshal(c.LocalAddr, dst, 0); err != nil {
		return err
	}
	return nil
}

// State returns the current state.
func (in *Instance) State() State { return in.state }

// Status returns a snapshot.
func (in *Instance) Status() Status {
	return Status{
		Name:                in.cfg.Name,
		State:               in.state,
		Priority:            in.cfg.Priority,
		EffectivePriority:   in.EffectivePriority(),
		MasterAddr:          in.masterAddr,
		MasterPriority:      in.masterPriority,
		MasterAdverInterval: in.masterAdverInterval,
		LastTransition:      in.lastTransition,
	}
}

// EffectivePriority is the base priority adjusted by the tracked scripts'
// and interfaces' weights, kept within 1..254 as keepalived does
// (vrrp_set_effective_priority). The address owner's 255 is not adjusted.
func (in *Instance) EffectivePriority() uint8 {
	if in.cfg.Priority == PriorityOwner {
		return PriorityOwner
	}
	p := int(in.cfg.Priority)
	for _, s := range in.cfg.Scripts {
		switch st := in.scripts[s.Name]; {
		case s.Weight > 0 && st == TrackUp:
			p += s.Weight
		case s.Weight < 0 && st == TrackDown:
			p += s.Weight
		}
	}
	for _, i := range in.cfg.Interfaces {
		up := in.interfaces[i.Name]
		switch {
		case i.Weight > 0 && up:
			p += i.Weight
		case i.Weight < 0 && !up:
			p += i.Weight
		}
	}
	return uint8(min(max(p, 1), PriorityOwner-1))
}

// faulted reports whether a weight-0 tracked script has failed or a
// weight-0 tracked interface is down (keepalived's FAULT condition).
func (in *Instance) faulted() bool {
	for _, s := range in.cfg.Scripts {
		if s.Weight == 0 && in.scripts[s.Name] == TrackDown {
			return true
		}
	}
	for _, i := range in.cfg.Interfaces {
		if i.Weight == 0 && !in.interfaces[i.Name] {
			return true
		}
	}
	return false
}

// skewTime is RFC 5798 §6.1's Skew_Time, ((256 - Priority) *
// Master_Adver_Interval) / 256, and for VRRPv2 RFC 3768 §6.1's (256 -
// Priority) / 256 seconds. Like keepalived (VRRP_TIMER_SKEW) it uses the
// effective priority and truncates to microseconds, so both speakers' timers
// agree to the microsecond.
func (in *Instance) skewTime() time.Duration {
	prio := int64(256 - int(in.EffectivePriority()))
	interval := in.masterAdverInterval
	if in.cfg.Version == Version2 {
		interval = time.Second
	}
	return time.Duration(prio*interval.Microseconds()/256) * time.Microsecond
}

// masterDownInterval is RFC 5798 §6.1's Master_Down_Interval, (3 *
// Master_Adver_Interval) + Skew_Time (RFC 3768 §6.1: 3 * Advertisement_Interval
// + Skew_Time).
func (in *Instance) masterDownInterval() time.Duration {
	return 3*in.masterAdverInterval + in.skewTime()
}

// Step feeds one event to the machine and returns the actions to carry out,
// in order.
func (in *Instance) Step(ev Event) []Action {
	var acts []Action
	switch ev := ev.(type) {
	case Startup:
		if in.state == StateInit || in.state == StateStop {
			acts = in.startup(acts)
		}
	case Shutdown:
		acts = in.shutdown(acts)
	case TimerFired:
		if seq, ok := in.armed[ev.Timer]; !ok || seq != ev.Seq {
			return nil // stopped or re-armed since: stale
		}
		delete(in.armed, ev.Timer)
		acts = in.timer(acts, ev.Timer)
	case AdvertReceived:
		switch in.state {
		case StateBackup:
			acts = in.backupAdvert(acts, ev)
		case StateMaster:
			acts = in.masterAdvert(acts, ev)
		}
	case GroupMaster:
		if in.state == StateBackup {
			acts = in.becomeMaster(acts)
		}
	case GroupBackup:
		if in.state == StateMaster {
			acts = in.leaveMaster(acts, false)
			acts = in.enterBackup(acts)
		}
	case ScriptChanged:
		if _, ok := in.scripts[ev.Name]; ok {
			in.scripts[ev.Name] = ev.State
			acts = in.trackChanged(acts)
		}
	case InterfaceChanged:
		if _, ok := in.interfaces[ev.Name]; ok {
			in.interfaces[ev.Name] = ev.Up
			acts = in.trackChanged(acts)
		}
	}
	return acts
}

// RFC 5798 §6.4.1 (Initialize), on Startup.
func (in *Instance) startup(acts []Action) []Action {
	in.masterAdverInterval = in.cfg.AdvertInterval
	in.masterAddr, in.masterPriority = netip.Addr{}, 0
	in.preemptDeadline = time.Time{}
	if in.cfg.PreemptDelay > 0 {
		// keepalived: "Seconds after startup ... until preemption".
		in.preemptDeadline = in.clock.Now().Add(in.cfg.PreemptDelay)
	}
	if in.faulted() {
		return in.enterFault(acts)
	}
	// "If the Priority = 255 ... transition to the Master state";
	// keepalived's "state MASTER" below 255 changes nothing (see
	// Config.StartMaster).
	if in.cfg.Priority == PriorityOwner {
		return in.becomeMaster(acts)
	}
	return in.enterBackup(acts)
}

// enterBackup sets Master_Adver_Interval to Advertisement_Interval and the
// Master_Down_Timer to Master_Down_Interval (RFC 5798 §6.4.1, "else" branch).
func (in *Instance) enterBackup(acts []Action) []Action {
	in.masterAdverInterval = in.cfg.AdvertInterval
	acts = in.setTimer(acts, TimerMasterDown, in.masterDownInterval())
	return in.transition(acts, StateBackup)
}

// becomeMaster is RFC 5798 §6.4.1 / §6.4.2's way into Master: send an
// advert, add the VIPs, broadcast gratuitous ARPs / unsolicited NAs (5 now
// and 5 more after garp_master_delay, as keepalived), set the Adver_Timer.
// keepalived sends the advert first so that the old master drops the VIPs
// before the GARPs go out (vrrp_state_master_tx).
func (in *Instance) becomeMaster(acts []Action) []Action {
	acts = in.stopTimer(acts, TimerMasterDown)
	in.preemptDeadline = time.Time{}
	in.masterAddr, in.masterPriority = in.cfg.LocalAddr, in.EffectivePriority()
	acts = append(acts, SendAdvert{Priority: in.EffectivePriority()}, AddVIPs{},
		SendGratuitous{Repeat: in.cfg.GARPRepeat})
	acts = in.setTimer(acts, TimerAdvert, in.cfg.AdvertInterval)
	if in.cfg.GARPDelay > 0 {
		acts = in.setTimer(acts, TimerGARPDelay, in.cfg.GARPDelay)
	}
	if in.cfg.GARPRefresh > 0 {
		acts = in.setTimer(acts, TimerGARPRefresh, in.cfg.GARPRefresh)
	}
	return in.transition(acts, StateMaster)
}

// leaveMaster undoes becomeMaster: timers, VIPs. prio0 sends the priority 0
// advert first (RFC 5798 §6.4.3 Shutdown; keepalived also on FAULT).
func (in *Instance) leaveMaster(acts []Action, prio0 bool) []Action {
	acts = in.stopTimer(acts, TimerAdvert)
	acts = in.stopTimer(acts, TimerGARPDelay)
	acts = in.stopTimer(acts, TimerGARPRefresh)
	if prio0 {
		acts = append(acts, SendAdvert{Priority: PriorityStop})
	}
	return append(acts, RemoveVIPs{})
}

func (in *Instance) shutdown(acts []Action) []Action {
	switch in.state {
	case StateMaster:
		acts = in.leaveMaster(acts, true)
	case StateBackup:
		acts = in.stopTimer(acts, TimerMasterDown)
	case StateFault:
	default:
		return acts
	}
	return in.transition(acts, StateStop)
}

func (in *Instance) enterFault(acts []Action) []Action {
	switch in.state {
	case StateMaster:
		acts = in.leaveMaster(acts, true)
	case StateBackup:
		acts = in.stopTimer(acts, TimerMasterDown)
	}
	in.masterAddr, in.masterPriority = netip.Addr{}, 0
	return in.transition(acts, StateFault)
}

func (in *Instance) timer(acts []Action, t Timer) []Action {
	switch {
	case t == TimerMasterDown && in.state == StateBackup:
		// RFC 5798 §6.4.2: "If the Master_Down_Timer fires".
		return in.becomeMaster(acts)
	case t == TimerAdvert && in.state == StateMaster:
		// RFC 5798 §6.4.3: "If the Adver_Timer fires": send, reset.
		acts = append(acts, SendAdvert{Priority: in.EffectivePriority()})
		return in.setTimer(acts, TimerAdvert, in.cfg.AdvertInterval)
	case t == TimerGARPDelay && in.state == StateMaster:
		return append(acts, SendGratuitous{Repeat: in.cfg.GARPRepeat})
	case t == TimerGARPRefresh && in.state == StateMaster:
		acts = append(acts, SendGratuitous{Repeat: in.cfg.GARPRefreshRepeat})
		return in.setTimer(acts, TimerGARPRefresh, in.cfg.GARPRefresh)
	}
	return acts
}

// backupAdvert is RFC 5798 §6.4.2 "If an ADVERTISEMENT is received", with
// keepalived's preempt_delay (vrrp_state_backup).
func (in *Instance) backupAdvert(acts []Action, ev AdvertReceived) []Action {
	prio := ev.Advert.Priority
	if prio == PriorityStop {
		// "If the Priority in the ADVERTISEMENT is zero, then: Set the
		// Master_Down_Timer to Skew_Time."
		return in.setTimer(acts, TimerMasterDown, in.skewTime())
	}
	now := in.clock.Now()
	ours := in.EffectivePriority()
	delaying := in.cfg.PreemptDelay > 0 && (in.preemptDeadline.IsZero() || now.Before(in.preemptDeadline))
	if !(in.cfg.NoPreempt || prio >= ours || delaying) {
		// "Else: Discard the ADVERTISEMENT": the Master_Down_Timer runs
		// out and this backup preempts the lower priority master.
		in.masterAddr = ev.From
		return acts
	}
	// "If Preempt_Mode is False, or if the Priority in the ADVERTISEMENT
	// is greater than or equal to the local Priority, then:"
	if in.cfg.Version == Version3 {
		// "Set Master_Adver_Interval to Adver Interval contained in the
		// ADVERTISEMENT; Recompute the Skew_Time; Recompute the
		// Master_Down_Interval" (VRRPv2 has no such learning).
		in.masterAdverInterval = ev.Advert.Interval
	}
	in.masterAddr, in.masterPriority = ev.From, prio
	if in.cfg.PreemptDelay > 0 {
		if prio >= ours {
			in.preemptDeadline = time.Time{}
		} else if in.preemptDeadline.IsZero() {
			in.preemptDeadline = now.Add(in.cfg.PreemptDelay)
		}
	}
	// "Reset the Master_Down_Timer to Master_Down_Interval".
	return in.setTimer(acts, TimerMasterDown, in.masterDownInterval())
}

// masterAdvert is RFC 5798 §6.4.3 "If an ADVERTISEMENT is received".
func (in *Instance) masterAdvert(acts []Action, ev AdvertReceived) []Action {
	prio, ours := ev.Advert.Priority, in.EffectivePriority()
	if prio == PriorityStop {
		// "Send an ADVERTISEMENT; Reset the Adver_Timer".
		acts = append(acts, SendAdvert{Priority: ours})
		return in.setTimer(acts, TimerAdvert, in.cfg.AdvertInterval)
	}
	from := ev.From.Unmap()
	local := in.cfg.LocalAddr.Unmap()
	if prio > ours || (prio == ours && from.Compare(local) > 0) {
		// "If the Priority in the ADVERTISEMENT is greater than the local
		// Priority or the Priority in the ADVERTISEMENT is equal to the
		// local Priority and the primary IPvX Address of the sender is
		// greater than the local primary IPvX Address, then: Cancel
		// Adver_Timer; Set Master_Adver_Interval to Adver Interval
		// contained in the ADVERTISEMENT; Recompute the Skew_Time and
		// Master_Down_Interval; Set Master_Down_Timer; Transition to
		// Backup." keepalived also removes the VIPs.
		acts = in.leaveMaster(acts, false)
		if in.cfg.Version == Version3 {
			in.masterAdverInterval = ev.Advert.Interval
		}
		in.masterAddr, in.masterPriority = ev.From, prio
		acts = in.setTimer(acts, TimerMasterDown, in.masterDownInterval())
		return in.transition(acts, StateBackup)
	}
	if prio == ours && from == local {
		return acts // our own advert looped back
	}
	// RFC 5798: "Else: Discard the ADVERTISEMENT". keepalived (without
	// lower_prio_no_advert) answers with an advert at once, so that the
	// lower priority router, which believes itself master, backs off
	// within one round trip instead of one Adver_Timer.
	return append(acts, SendAdvert{Priority: ours})
}

// trackChanged reacts to a tracked script or interface changing: FAULT when
// a weight-0 one is down, back out of FAULT when none is; otherwise the new
// effective priority applies from the next advert (and the next
// Master_Down_Interval), as in keepalived.
func (in *Instance) trackChanged(acts []Action) []Action {
	switch {
	case in.state == StateInit || in.state == StateStop:
		return acts
	case in.faulted() && in.state != StateFault:
		return in.enterFault(acts)
	case !in.faulted() && in.state == StateFault:
		// keepalived vrrp_state_leave_fault: owner to master, else
		// backup with a fresh Master_Down_Interval and no preempt delay
		// running.
		in.preemptDeadline = time.Time{}
		if in.cfg.Priority == PriorityOwner {
			return in.becomeMaster(acts)
		}
		return in.enterBackup(acts)
	}
	return acts
}

func (in *Instance) transition(acts []Action, to State) []Action {
	from := in.state
	in.state = to
	in.lastTransition = in.clock.Now()
	acts = append(acts, Notify{State: to, Priority: in.EffectivePriority()})
	if in.cfg.SyncDaemon {
		switch {
		case to == StateMaster:
			acts = append(acts, SetSyncDaemon{Master: true})
		case to == StateBackup && from != StateBackup:
			acts = append(acts, SetSyncDaemon{Master: false})
		}
	}
	return acts
}

func (in *Instance) setTimer(acts []Action, t Timer, d time.Duration) []Action {
	in.seq++
	in.armed[t] = in.seq
	return append(acts, SetTimer{Timer: t, After: d, Seq: in.seq})
}

func (in *Instance) stopTimer(acts []Action, t Timer) []Action {
	if _, ok := in.armed[t]; !ok {
		return acts
	}
	delete(in.armed, t)
	return append(acts, StopTimer{Timer: t})
}
