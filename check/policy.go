package check

import (
	"fmt"
	"net/netip"

	"github.com/lvsctl/lvsctl/lvs"
	"github.com/lvsctl/lvsctl/lvs/reconcile"
)

// VirtualService is what Decide needs of a configured virtual_server.
type VirtualService struct {
	lvs.Service
	RealServers []RealServer
	// Sorry is sorry_server; nil for none.
	Sorry *SorryServer
	// Quorum is the minimum total weight of live real servers for the
	// service to be in quorum; zero: 1, keepalived's default.
	Quorum int64
	// Hysteresis is subtracted from Quorum when deciding that quorum is
	// lost and added when deciding that it is regained.
	Hysteresis int64
	// Omega makes Shutdown report quorum and real-server down events.
	Omega bool
}

// RealServer is a configured real_server. Destination.Weight is its
// configured weight.
type RealServer struct {
	lvs.Destination
	// InhibitOnFailure keeps the server in the table with weight 0 while
	// it is down, instead of removing it.
	InhibitOnFailure bool
}

// SorryServer is a sorry_server. Destination.Weight is the weight it gets
// while in use (keepalived's is 1).
type SorryServer struct {
	lvs.Destination
	// Inhibit is sorry_server_inhibit: the sorry server stays in the table
	// with weight 0 while not in use.
	Inhibit bool
}

// DestKey identifies a destination within a service.
type DestKey struct {
	Addr netip.Addr
	Port uint16
}

// KeyOf returns d's key.
func KeyOf(d lvs.Destination) DestKey { return DestKey{d.Address, d.Port} }

func (k DestKey) String() string { return netip.AddrPortFrom(k.Addr, k.Port).String() }

// Health is a real server's health as Decide reads it.
type Health struct {
	Up bool
	// Weight replaces the configured weight when WeightSet
	// (misc_dynamic).
	Weight    int32
	WeightSet bool
}

// Combine folds the states of one real server's jobs into its Health: up
// when there is at least one job and every job is up (keepalived's
// num_failed_checkers == 0), with the dynamic weight of the last job (in
// the order given) that has one.
func Combine(jobs []Status) Health {
	h := Health{Up: len(jobs) > 0}
	for _, j := range jobs {
		h.Up = h.Up && j.Up
		if j.WeightSet {
			h.Weight, h.WeightSet = j.Weight, true
		}
	}
	return h
}

// ServiceState is what Decide remembers of a service between calls. The
// zero value is a service not decided yet.
type ServiceState struct {
	Started  bool
	QuorumUp bool
	// Alive is the health each real server had at the last call.
	Alive map[DestKey]bool
}

// PolicyEventKind says what a PolicyEvent reports.
type PolicyEventKind int

// Kinds of policy events.
const (
	RealServerUp   PolicyEventKind = iota + 1 // a real server passed its checks (notify_up)
	RealServerDown                            // a real server failed (notify_down)
	QuorumUp                                  // quorum gained: run quorum_up
	QuorumDown                                // quorum lost: run quorum_down
	SorryIn                                   // the sorry server took over
	SorryOut                                  // the sorry server stepped back
)

func (k PolicyEventKind) String() string {
	switch k {
	case RealServerUp:
		return "real server up"
	case RealServerDown:
		return "real server down"
	case QuorumUp:
		return "quorum up"
	case QuorumDown:
		return "quorum down"
	case SorryIn:
		return "sorry server in"
	case SorryOut:
		return "sorry server out"
	}
	return fmt.Sprintf("PolicyEventKind(%d)", int(k))
}

// PolicyEvent is a change Decide found.
type PolicyEvent struct {
	Kind    PolicyEventKind
	Service lvs.ServiceKey
	// Dest is the real or sorry server concerned; zero for quorum events.
	Dest lvs.Destination
	// WeightSum and Threshold explain quorum events: the live weight and
	// the bound it crossed.
	WeightSum, Threshold int64
	// Initial marks events of the first decision (keepalived's "Starting
	// with quorum down").
	Initial bool
}

// Decision is Decide's answer.
type Decision struct {
	// Desired is the table the service should have: its real servers and
	// sorry server that belong in the kernel, with their weights, in
	// configuration order (the sorry server last). A destination the
	// service had and Desired lacks is to be removed.
	Desired reconcile.Service
	State   ServiceState
	Events  []PolicyEvent
}

// Decide computes a service's desired destinations from the health of its
// real servers, following keepalived 2.2's ipwrapper.c:
//
//   - A live real server is in with its weight (its dynamic weight when
//     set). A failed one is out, or in with weight 0 under
//     inhibit_on_failure.
//   - Quorum: the weights of live servers are summed. At the first
//     decision the service is in quorum when the sum reaches
//     Quorum+Hysteresis. Later, in quorum, it is lost when the sum is 0 or
//     below Quorum-Hysteresis; out of quorum, it is gained when the sum
//     reaches Quorum+Hysteresis. Each change is a QuorumUp or QuorumDown
//     event (quorum_up, quorum_down).
//   - With a sorry server, losing quorum takes every real server out
//     (inhibited ones stay in at weight 0) and puts the sorry server in;
//     regaining it does the reverse. Without one, losing quorum changes no
//     destination. sorry_server_inhibit keeps the sorry server in at
//     weight 0 while it is not needed.
//   - The first decision reports no real-server events, and a quorum down
//     only when there is a sorry server to put in (as keepalived logs
//     "Starting with quorum down" only then).
//
// A real server missing from health counts as down. Decide is pure: prev
// is not modified.
func Decide(vs VirtualService, health map[DestKey]Health, prev ServiceState) Decision {
	quorum := vs.Quorum
	if quorum <= 0 {
		quorum = 1
	}
	var sum int64
	alive := make(map[DestKey]bool, len(vs.RealServers))
	for _, rs := range vs.RealServers {
		h := health[KeyOf(rs.Destination)]
		alive[KeyOf(rs.Destination)] = h.Up
		if h.Up {
			sum += int64(max(effectiveWeight(rs, h), 0))
		}
	}

	key := vs.Key()
	d := Decision{State: ServiceState{Started: true, QuorumUp: prev.QuorumUp, Alive: alive}}
	if !prev.Started {
		threshold := quorum + vs.Hysteresis
		d.State.QuorumUp = sum >= threshold
		if !d.State.QuorumUp && vs.Sorry != nil {
			d.Events = append(d.Events,
				PolicyEvent{Kind: QuorumDown, Service: key, WeightSum: sum, Threshold: threshold, Initial: true},
				PolicyEvent{Kind: SorryIn, Service: key, Dest: vs.Sorry.Destination, Initial: true})
		}
	} else {
		for _, rs := range vs.RealServers {
			k := KeyOf(rs.Destination)
			if was, now := prev.Alive[k], alive[k]; was != now {
				kind := RealServerDown
				if now {
					kind = RealServerUp
				}
				d.Events = append(d.Events, PolicyEvent{Kind: kind, Service: key, Dest: rs.Destination})
			}
		}
		switch {
		case !prev.QuorumUp && sum >= quorum+vs.Hysteresis:
			d.State.QuorumUp = true
			d.Events = append(d.Events, PolicyEvent{Kind: QuorumUp, Service: key, WeightSum: sum, Threshold: quorum + vs.Hysteresis})
			if vs.Sorry != nil {
				d.Events = append(d.Events, PolicyEvent{Kind: SorryOut, Service: key, Dest: vs.Sorry.Destination})
			}
		case prev.QuorumUp && (sum == 0 || sum < quorum-vs.Hysteresis):
			d.State.QuorumUp = false
			d.Events = append(d.Events, PolicyEvent{Kind: QuorumDown, Service: key, WeightSum: sum, Threshold: quorum - vs.Hysteresis})
			if vs.Sorry != nil {
				d.Events = append(d.Events, PolicyEvent{Kind: SorryIn, Service: key, Dest: vs.Sorry.Destination})
			}
		}
	}

	sorryIn := vs.Sorry != nil && !d.State.QuorumUp
	d.Desired.Service = vs.Service
	index := make(map[DestKey]int)
	put := func(dst lvs.Destination, weight int32) {
		dst.Weight = weight
		if i, ok := index[KeyOf(dst)]; ok {
			d.Desired.Destinations[i] = dst // a sorry server that is also a real server
			return
		}
		index[KeyOf(dst)] = len(d.Desired.Destinations)
		d.Desired.Destinations = append(d.Desired.Destinations, dst)
	}
	for _, rs := range vs.RealServers {
		h := health[KeyOf(rs.Destination)]
		switch {
		case h.Up && !sorryIn:
			put(rs.Destination, max(effectiveWeight(rs, h), 0))
		case rs.InhibitOnFailure:
			put(rs.Destination, 0)
		}
	}
	if vs.Sorry != nil {
		switch {
		case sorryIn:
			put(vs.Sorry.Destination, vs.Sorry.Weight)
		case vs.Sorry.Inhibit:
			put(vs.Sorry.Destination, 0)
		}
	}
	return d
}

func effectiveWeight(rs RealServer, h Health) int32 {
	if h.WeightSet {
		return h.Weight
	}
	return rs.Weight
}

// Shutdown returns the events keepalived's omega mode reports when the
// monitor stops: the quorum going down and every live real server going
// down. Without Omega it returns none.
func Shutdown(vs VirtualService, st ServiceState) []PolicyEvent {
	if !vs.Omega || !st.Started {
		return nil
	}
	key := vs.Key()
	var evs []PolicyEvent
	for _, rs := range vs.RealServers {
		if st.Alive[KeyOf(rs.Destination)] {
			evs = append(evs, PolicyEvent{Kind: RealServerDown, Service: key, Dest: rs.Destination})
		}
	}
	return append(evs, PolicyEvent{Kind: QuorumDown, Service: key})
}

// Adopt decides the starting state of a service's real servers from the
// kernel's table when the monitor starts, so that a restart changes
// nothing that was right: a real server the kernel has with a positive
// weight (or with weight 0 when that is its configured weight) starts up
// and stays in; one the kernel lacks, or holds at weight 0 (quiesced by
// inhibit_on_failure), starts down and comes in only after passing a
// check. current is the kernel's entry for the service, nil when it has
// none; then ok is false and the configuration (alpha) decides.
func Adopt(vs VirtualService, current *reconcile.Service) (startUp map[DestKey]bool, ok bool) {
	if current == nil {
		return nil, false
	}
	have := make(map[DestKey]int32, len(current.Destinations))
	for _, d := range current.Destinations {
		have[KeyOf(d)] = d.Weight
	}
	startUp = make(map[DestKey]bool, len(vs.RealServers))
	for _, rs := range vs.RealServers {
		w, in := have[KeyOf(rs.Destination)]
		startUp[KeyOf(rs.Destination)] = in && (w > 0 || rs.Weight == 0)
	}
	return startUp, true
}
