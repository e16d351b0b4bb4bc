package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/lvsctl/lvsctl/lvs"
)

// Service is a virtual service together with its destinations: one entry of
// a desired or a current table.
type Service struct {
	lvs.Service
	Destinations []lvs.Destination
}

// Options change what Plan may do. The zero value adds and edits but never
// deletes.
type Options struct {
	// Prune deletes the services of the current table that the desired
	// one does not have, and the destinations the desired services do not
	// have. Without it, what the desired table does not name is left alone.
	Prune bool
}

// ErrDuplicate is returned by Plan for a desired table that names a service
// twice, or a destination twice within one service.
var ErrDuplicate = errors.New("defined twice")

// Lister is what Read needs of the kernel; *ipvs.Client and
// *ipvstest.Kernel both are.
type Lister interface {
	Services(ctx context.Context) ([]lvs.Service, error)
	Destinations(ctx context.Context, k lvs.ServiceKey) ([]lvs.Destination, error)
}

// Read lists the kernel's table once: every service, then the destinations
// of each.
func Read(ctx context.Context, k Lister) ([]Service, error) {
	svcs, err := k.Services(ctx)
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	out := make([]Service, 0, len(svcs))
	for _, s := range svcs {
		dests, err := k.Destinations(ctx, s.Key())
		if err != nil {
			return nil, fmt.Errorf("list destinations of %s: %w", s, err)
		}
		out = append(out, Service{Service: s, Destinations: dests})
	}
	return out, nil
}

// Plan returns the operations that turn current into desired, in this
// order:
//
//  1. with Prune, DeleteService for each current service not desired;
//  2. for each desired service: AddService, or EditService when an
//     editable attribute differs; then, with Prune, DeleteDestination for
//     its current destinations not desired; EditDestination for those whose
//     editable attributes differ; AddDestination for the new ones.
//
// Services go in the order of CompareKeys, destinations in the order of
// CompareDestinations, so the plan does not depend on the order of either
// table. Deleting a service takes its destinations with it, so none are
// deleted one by one. Removals come before additions within a service so
// that a plan never holds more than one of the two destinations, old and
// new, for longer than it must; the kernel itself does not care.
//
// Attributes compare as the kernel uses them (see Equal and
// EqualDestinations): an empty plan means the kernel already matches.
// Counters, connection counts and IP_VS_SVC_F_HASHED are ignored.
func Plan(desired, current []Service, opt Options) ([]lvs.Op, error) {
	want, err := index(desired)
	if err != nil {
		return nil, err
	}
	have, _ := index(current) // the kernel's own table has no duplicates
	var ops []lvs.Op

	if opt.Prune {
		for _, k := range sortedKeys(have) {
			if _, ok := want[k]; !ok {
				ops = append(ops, lvs.Op{Kind: lvs.DeleteService, Service: k.Service()})
			}
		}
	}
	for _, k := range sortedKeys(want) {
		w := want[k]
		h, exists := have[k]
		switch {
		case !exists:
			ops = append(ops, lvs.Op{Kind: lvs.AddService, Service: clean(w.Service)})
		case !Equal(w.Service, h.Service):
			ops = append(ops, lvs.Op{Kind: lvs.EditService, Service: clean(w.Service)})
		}
		ops = append(ops, planDestinations(k, w, h, exists, opt)...)
	}
	return ops, nil
}

func planDestinations(k lvs.ServiceKey, w, h *entry, exists bool, opt Options) []lvs.Op {
	svc := k.Service()
	var dels, edits, adds []lvs.Op
	if exists && opt.Prune {
		for _, dk := range sortedDestKeys(h.dests) {
			if _, ok := w.dests[dk]; !ok {
				dels = append(dels, lvs.Op{Kind: lvs.DeleteDestination, Service: svc, Destination: dk.destination()})
			}
		}
	}
	for _, dk := range sortedDestKeys(w.dests) {
		d := cleanDest(w.dests[dk])
		var cur lvs.Destination
		found := false
		if exists {
			cur, found = h.dests[dk]
		}
		switch {
		case !found:
			adds = append(adds, lvs.Op{Kind: lvs.AddDestination, Service: svc, Destination: d})
		case !EqualDestinations(d, cur):
			edits = append(edits, lvs.Op{Kind: lvs.EditDestination, Service: svc, Destination: d})
		}
	}
	return slices.Concat(dels, edits, adds)
}

// Equal reports whether two services with the same key need no
// IPVS_CMD_SET_SERVICE between them: same scheduler, flags (but
// IP_VS_SVC_F_HASHED, which the kernel sets on every service it holds),
// persistence engine and, for persistent services only, persistence
// timeout and netmask (the kernel ignores both without
// IP_VS_SVC_F_PERSISTENT, and ipvsadm -S does not show them).
func Equal(a, b lvs.Service) bool {
	return attrs(a) == attrs(b)
}

type serviceAttrs struct {
	sched   string
	flags   lvs.ServiceFlags
	timeout int64
	netmask uint32
	pe      string
}

func attrs(s lvs.Service) serviceAttrs {
	a := serviceAttrs{sched: s.Scheduler, flags: s.Flags &^ lvs.FlagHashed, pe: s.PEName}
	if a.flags&lvs.FlagPersistent != 0 {
		a.timeout = int64(s.Timeout.Seconds()) // the kernel keeps whole seconds
		a.netmask = s.Netmask
	}
	return a
}

// EqualDestinations reports whether two destinations with the same address
// need no IPVS_CMD_SET_DEST between them: same forwarding method, weight
// and thresholds and, for tunnel destinations, the same tunnel settings as
// far as the tunnel type uses them (a port for GUE, checksum flags for GUE
// and GRE).
func EqualDestinations(a, b lvs.Destination) bool {
	return destAttrs(a) == destAttrs(b)
}

type destinationAttrs struct {
	fwd          lvs.ForwardMethod
	weight       int32
	upper, lower uint32
	tunType      lvs.TunnelType
	tunPort      uint16
	tunFlags     lvs.TunnelFlags
}

func destAttrs(d lvs.Destination) destinationAttrs {
	a := destinationAttrs{fwd: d.Forward & 7, weight: d.Weight, upper: d.UpperThreshold, lower: d.LowerThreshold}
	if a.fwd == lvs.Tunnel {
		a.tunType = d.TunnelType
		switch d.TunnelType {
		case lvs.TunnelGUE:
			a.tunPort, a.tunFlags = d.TunnelPort, d.TunnelFlags
		case lvs.TunnelGRE:
			a.tunFlags = d.TunnelFlags
		case lvs.TunnelIPIP:
		default:
			a.tunPort, a.tunFlags = d.TunnelPort, d.TunnelFlags
		}
	}
	return a
}

// clean drops what a listing reports but a request does not carry.
func clean(s lvs.Service) lvs.Service {
	s.Flags &^= lvs.FlagHashed
	s.Stats = lvs.Stats{}
	return s
}

func cleanDest(d lvs.Destination) lvs.Destination {
	d.Family = destFamily(d)
	d.ActiveConns, d.InactiveConns, d.PersistentConns = 0, 0, 0
	d.Stats = lvs.Stats{}
	return d
}

// entry is a service of a table, with its destinations by identity.
type entry struct {
	lvs.Service
	dests map[destKey]lvs.Destination
}

// destKey is how ip_vs_lookup_dest identifies a destination of a service.
type destKey struct {
	family lvs.Family
	addr   netip.Addr
	port   uint16
}

func (k destKey) destination() lvs.Destination {
	return lvs.Destination{Family: k.family, Address: k.addr, Port: k.port}
}

func destFamily(d lvs.Destination) lvs.Family {
	if d.Family != 0 {
		return d.Family
	}
	return lvs.FamilyOf(d.Address)
}

func keyOfDest(d lvs.Destination) destKey {
	f := destFamily(d)
	a := d.Address
	if f == lvs.IPv4 {
		a = a.Unmap()
	}
	return destKey{family: f, addr: a.WithZone(""), port: d.Port}
}

// Key returns the identity of s as Plan matches services: s.Key() with
// the family filled in (a firewall-mark service without one is IPv4, an
// address service has its address's) and the address in its plain form.
func Key(s lvs.Service) lvs.ServiceKey {
	k := s.Key()
	if k.Family == 0 {
		if k.FWMark != 0 || !k.Address.IsValid() {
			k.Family = lvs.IPv4
		} else {
			k.Family = lvs.FamilyOf(k.Address)
		}
	}
	if k.FWMark == 0 && k.Family == lvs.IPv4 {
		k.Address = k.Address.Unmap()
	}
	return k
}

func index(table []Service) (map[lvs.ServiceKey]*entry, error) {
	m := make(map[lvs.ServiceKey]*entry, len(table))
	for _, s := range table {
		k := Key(s.Service)
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("service %s: %w", k, ErrDuplicate)
		}
		e := &entry{Service: s.Service, dests: make(map[destKey]lvs.Destination, len(s.Destinations))}
		e.Service.Family = k.Family
		for _, d := range s.Destinations {
			dk := keyOfDest(d)
			if _, dup := e.dests[dk]; dup {
				return nil, fmt.Errorf("service %s: destination %s: %w", k, d, ErrDuplicate)
			}
			d.Family, d.Address = dk.family, dk.addr
			e.dests[dk] = d
		}
		m[k] = e
	}
	return m, nil
}

// CompareKeys orders service keys: IPv4 before IPv6, address services
// before firewall-mark ones, then by protocol, address and port, or by
// mark. It is a total order, unlike ipvsadm's listing sort.
func CompareKeys(a, b lvs.ServiceKey) int {
	return cmp.Or(
		cmp.Compare(a.Family, b.Family),
		cmpBool(a.FWMark != 0, b.FWMark != 0),
		cmp.Compare(a.FWMark, b.FWMark),
		cmp.Compare(a.Protocol, b.Protocol),
		a.Address.Compare(b.Address),
		cmp.Compare(a.Port, b.Port),
	)
}

// CompareDestinations orders destinations by family, address and port.
func CompareDestinations(a, b lvs.Destination) int {
	ka, kb := keyOfDest(a), keyOfDest(b)
	return compareDestKeys(ka, kb)
}

func compareDestKeys(a, b destKey) int {
	return cmp.Or(cmp.Compare(a.family, b.family), a.addr.Compare(b.addr), cmp.Compare(a.port, b.port))
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

func sortedKeys(m map[lvs.ServiceKey]*entry) []lvs.ServiceKey {
	keys := make([]lvs.ServiceKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, CompareKeys)
	return keys
}

func sortedDestKeys(m map[destKey]lvs.Destination) []destKey {
	keys := make([]destKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareDestKeys)
	return keys
}
