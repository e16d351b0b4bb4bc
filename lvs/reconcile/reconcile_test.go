package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lvsctl/lvsctl/lvs"
	"github.com/lvsctl/lvsctl/lvs/ipvs/ipvstest"
	"github.com/lvsctl/lvsctl/lvs/reconcile"
)

var (
	vip1 = netip.MustParseAddr("192.0.2.1")
	vip2 = netip.MustParseAddr("192.0.2.2")
	vip6 = netip.MustParseAddr("2001:db8::1")
	rs1  = netip.MustParseAddr("198.51.100.1")
	rs2  = netip.MustParseAddr("198.51.100.2")
	rs3  = netip.MustParseAddr("198.51.100.3")
	rs6  = netip.MustParseAddr("2001:db8::10")
)

func tcp(addr netip.Addr, port uint16, sched string) lvs.Service {
	return lvs.Service{Family: lvs.FamilyOf(addr), Protocol: lvs.TCP, Address: addr, Port: port,
		Scheduler: sched, Netmask: 0xffffffff}
}

func dest(addr netip.Addr, port uint16, fwd lvs.ForwardMethod, w int32) lvs.Destination {
	return lvs.Destination{Family: lvs.FamilyOf(addr), Address: addr, Port: port, Forward: fwd, Weight: w}
}

func svc(s lvs.Service, ds ...lvs.Destination) reconcile.Service {
	return reconcile.Service{Service: s, Destinations: ds}
}

func op(kind lvs.OpKind, s lvs.Service, d ...lvs.Destination) lvs.Op {
	o := lvs.Op{Kind: kind, Service: s}
	if len(d) > 0 {
		o.Destination = d[0]
	}
	return o
}

func keyOnly(s lvs.Service) lvs.Service { return s.Key().Service() }

func keyDest(d lvs.Destination) lvs.Destination {
	return lvs.Destination{Family: d.Family, Address: d.Address, Port: d.Port}
}

var cmpOpts = cmp.Options{cmpopts.EquateComparable(netip.Addr{}), cmpopts.EquateEmpty()}

func TestPlan(t *testing.T) {
	web := tcp(vip1, 80, "rr")
	webWLC := tcp(vip1, 80, "wlc")
	web2 := tcp(vip2, 443, "rr")
	hashed := web
	hashed.Flags |= lvs.FlagHashed
	hashed.Stats = lvs.Stats{Conns: 7}
	persist := tcp(vip1, 80, "rr")
	persist.Flags |= lvs.FlagPersistent
	persist.Timeout = 300 * time.Second
	nonPersistOddMask := web
	nonPersistOddMask.Netmask = 0xffffff00
	nonPersistOddMask.Timeout = 60 * time.Second
	persistMask := persist
	persistMask.Netmask = 0xffffff00
	fwm := lvs.Service{Family: lvs.IPv4, FWMark: 5, Scheduler: "rr", Netmask: 0xffffffff}
	fwm6 := lvs.Service{Family: lvs.IPv6, FWMark: 5, Scheduler: "rr", Netmask: 128}

	d1 := dest(rs1, 80, lvs.DirectRoute, 1)
	d1w3 := dest(rs1, 80, lvs.DirectRoute, 3)
	d1nat := dest(rs1, 80, lvs.Masquerade, 1)
	d2 := dest(rs2, 80, lvs.DirectRoute, 1)
	d3 := dest(rs3, 80, lvs.DirectRoute, 1)
	d1busy := d1
	d1busy.ActiveConns, d1busy.Stats = 5, lvs.Stats{InBytes: 99}
	ipip := dest(rs1, 80, lvs.Tunnel, 1)
	ipipJunk := ipip
	ipipJunk.TunnelPort, ipipJunk.TunnelFlags = 6080, lvs.TunnelCsum
	gue := dest(rs1, 80, lvs.Tunnel, 1)
	gue.TunnelType, gue.TunnelPort = lvs.TunnelGUE, 6080
	gueCsum := gue
	gueCsum.TunnelFlags = lvs.TunnelCsum
	gre := dest(rs1, 80, lvs.Tunnel, 1)
	gre.TunnelType = lvs.TunnelGRE
	greJunkPort := gre
	greJunkPort.TunnelPort = 99
	natJunkTun := d1nat
	natJunkTun.TunnelType, natJunkTun.TunnelPort = lvs.TunnelGUE, 1
	mixed := dest(rs6, 80, lvs.Tunnel, 1)
	noFamily := d2
	noFamily.Family = 0
	thresh := d1
	thresh.UpperThreshold, thresh.LowerThreshold = 100, 10

	tests := []struct {
		name             string
		desired, current []reconcile.Service
		prune            bool
		want             []lvs.Op
	}{
		{name: "both empty"},
		{name: "add into empty",
			desired: []reconcile.Service{svc(web, d2, d1)},
			want:    []lvs.Op{op(lvs.AddService, web), op(lvs.AddDestination, keyOnly(web), d1), op(lvs.AddDestination, keyOnly(web), d2)}},
		{name: "equal tables, kernel flags and counters ignored",
			desired: []reconcile.Service{svc(web, d1)}, current: []reconcile.Service{svc(hashed, d1busy)}},
		{name: "scheduler edited, not re-added",
			desired: []reconcile.Service{svc(webWLC, d1)}, current: []reconcile.Service{svc(hashed, d1)},
			want: []lvs.Op{op(lvs.EditService, webWLC)}},
		{name: "persistence added",
			desired: []reconcile.Service{svc(persist)}, current: []reconcile.Service{svc(web)},
			want: []lvs.Op{op(lvs.EditService, persist)}},
		{name: "persistence netmask edited",
			desired: []reconcile.Service{svc(persistMask)}, current: []reconcile.Service{svc(persist)},
			want: []lvs.Op{op(lvs.EditService, persistMask)}},
		{name: "timeout and netmask ignored without persistence",
			desired: []reconcile.Service{svc(web)}, current: []reconcile.Service{svc(nonPersistOddMask)}},
		{name: "weight edited",
			desired: []reconcile.Service{svc(web, d1w3)}, current: []reconcile.Service{svc(web, d1)},
			want: []lvs.Op{op(lvs.EditDestination, keyOnly(web), d1w3)}},
		{name: "forwarding method edited",
			desired: []reconcile.Service{svc(web, d1nat)}, current: []reconcile.Service{svc(web, d1)},
			want: []lvs.Op{op(lvs.EditDestination, keyOnly(web), d1nat)}},
		{name: "thresholds edited",
			desired: []reconcile.Service{svc(web, thresh)}, current: []reconcile.Service{svc(web, d1)},
			want: []lvs.Op{op(lvs.EditDestination, keyOnly(web), thresh)}},
		{name: "tunnel type edited",
			desired: []reconcile.Service{svc(web, gue)}, current: []reconcile.Service{svc(web, ipip)},
			want: []lvs.Op{op(lvs.EditDestination, keyOnly(web), gue)}},
		{name: "tunnel checksum edited",
			desired: []reconcile.Service{svc(web, gueCsum)}, current: []reconcile.Service{svc(web, gue)},
			want: []lvs.Op{op(lvs.EditDestination, keyOnly(web), gueCsum)}},
		{name: "tunnel settings the type does not use are ignored",
			desired: []reconcile.Service{svc(web, ipip), svc(web2, gre)},
			current: []reconcile.Service{svc(web, ipipJunk), svc(web2, greJunkPort)}},
		{name: "tunnel settings ignored without tunnelling",
			desired: []reconcile.Service{svc(web, d1nat)}, current: []reconcile.Service{svc(web, natJunkTun)}},
		{name: "destination family defaults from its address",
			desired: []reconcile.Service{svc(web, noFamily)}, current: []reconcile.Service{svc(web, d2)}},
		{name: "no prune keeps extra services and destinations",
			desired: []reconcile.Service{svc(web, d1)},
			current: []reconcile.Service{svc(web, d1, d2), svc(web2, d3)}},
		{name: "no prune with no destinations desired",
			desired: []reconcile.Service{svc(web)}, current: []reconcile.Service{svc(web, d1, d2)}},
		{name: "prune deletes services first, destinations before additions",
			desired: []reconcile.Service{svc(webWLC, d3, d1w3)},
			current: []reconcile.Service{svc(web2, d1), svc(web, d2, d1)},
			prune:   true,
			want: []lvs.Op{
				op(lvs.DeleteService, keyOnly(web2)),
				op(lvs.EditService, webWLC),
				op(lvs.DeleteDestination, keyOnly(web), keyDest(d2)),
				op(lvs.EditDestination, keyOnly(web), d1w3),
				op(lvs.AddDestination, keyOnly(web), d3),
			}},
		{name: "prune does not delete destinations of a deleted service one by one",
			current: []reconcile.Service{svc(web, d1, d2)}, prune: true,
			want: []lvs.Op{op(lvs.DeleteService, keyOnly(web))}},
		{name: "services in a total order: IPv4, then marks, then IPv6",
			desired: []reconcile.Service{svc(fwm6), svc(tcp(vip6, 80, "rr"), mixed), svc(fwm), svc(web2), svc(web)},
			want: []lvs.Op{
				op(lvs.AddService, web), op(lvs.AddService, web2), op(lvs.AddService, fwm),
				op(lvs.AddService, tcp(vip6, 80, "rr")), op(lvs.AddDestination, keyOnly(tcp(vip6, 80, "rr")), mixed),
				op(lvs.AddService, fwm6),
			}},
		{name: "a mark's family is part of its identity",
			desired: []reconcile.Service{svc(fwm6)}, current: []reconcile.Service{svc(fwm)}, prune: true,
			want: []lvs.Op{op(lvs.DeleteService, keyOnly(fwm)), op(lvs.AddService, fwm6)}},
		{name: "a destination's port is part of its identity",
			desired: []reconcile.Service{svc(web, dest(rs1, 8080, lvs.Masquerade, 1))},
			current: []reconcile.Service{svc(web, d1)}, prune: true,
			want: []lvs.Op{
				op(lvs.DeleteDestination, keyOnly(web), keyDest(d1)),
				op(lvs.AddDestination, keyOnly(web), dest(rs1, 8080, lvs.Masquerade, 1)),
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := reconcile.Plan(tt.desired, tt.current, reconcile.Options{Prune: tt.prune})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpOpts); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanDuplicates(t *testing.T) {
	web := tcp(vip1, 80, "rr")
	d := dest(rs1, 80, lvs.DirectRoute, 1)
	for name, desired := range map[string][]reconcile.Service{
		"service":        {svc(web), svc(tcp(vip1, 80, "wlc"))},
		"destination":    {svc(web, d, dest(rs1, 80, lvs.Masquerade, 2))},
		"family implied": {svc(web), svc(lvs.Service{Protocol: lvs.TCP, Address: vip1, Port: 80, Scheduler: "rr"})},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := reconcile.Plan(desired, nil, reconcile.Options{}); !errors.Is(err, reconcile.ErrDuplicate) {
				t.Errorf("err = %v, want ErrDuplicate", err)
			}
		})
	}
}

// TestPlanDeterministic: the order of the input tables does not change the
// plan.
func TestPlanDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 50; i++ {
		desired, current := randomTable(r), randomTable(r)
		want, err := reconcile.Plan(desired, current, reconcile.Options{Prune: true})
		if err != nil {
			t.Fatal(err)
		}
		shuffle(r, desired)
		shuffle(r, current)
		got, err := reconcile.Plan(desired, current, reconcile.Options{Prune: true})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
			t.Fatalf("shuffled inputs changed the plan (-want +got):\n%s", diff)
		}
	}
}

func shuffle(r *rand.Rand, t []reconcile.Service) {
	r.Shuffle(len(t), func(i, j int) { t[i], t[j] = t[j], t[i] })
	for _, s := range t {
		r.Shuffle(len(s.Destinations), func(i, j int) {
			s.Destinations[i], s.Destinations[j] = s.Destinations[j], s.Destinations[i]
		})
	}
}

// randomTable draws a valid table from a small space of services and
// destinations, so that two draws overlap and differ in attributes.
func randomTable(r *rand.Rand) []reconcile.Service {
	scheds := ipvstest.Schedulers61()
	var table []reconcile.Service
	seen := map[lvs.ServiceKey]bool{}
	for n := r.IntN(6); n > 0; n-- {
		var s lvs.Service
		switch r.IntN(4) {
		case 0:
			s = lvs.Service{Family: lvs.IPv4, FWMark: uint32(1 + r.IntN(3)), Netmask: 0xffffffff}
		case 1:
			s = lvs.Service{Family: lvs.IPv6, Protocol: lvs.TCP, Address: vip6, Port: uint16(80 + r.IntN(2)), Netmask: 128}
		default:
			proto := []lvs.Protocol{lvs.TCP, lvs.UDP, lvs.SCTP}[r.IntN(3)]
			s = lvs.Service{Family: lvs.IPv4, Protocol: proto, Address: []netip.Addr{vip1, vip2}[r.IntN(2)],
				Port: uint16(80 + r.IntN(2)), Netmask: 0xffffffff}
		}
		if seen[s.Key()] {
			continue
		}
		seen[s.Key()] = true
		s.Scheduler = scheds[r.IntN(len(scheds))]
		if r.IntN(2) == 0 {
			s.Flags |= lvs.FlagPersistent
			s.Timeout = time.Duration(1+r.IntN(3)*100) * time.Second
			if s.Family == lvs.IPv4 && r.IntN(2) == 0 {
				s.Netmask = 0xffffff00
			}
			if s.Family == lvs.IPv6 && r.IntN(2) == 0 {
				s.Netmask = 64
			}
		}
		if r.IntN(4) == 0 {
			s.Flags |= lvs.FlagSched1
		}
		if r.IntN(5) == 0 {
			s.PEName = "sip"
		}
		entry := reconcile.Service{Service: s}
		dseen := map[netip.AddrPort]bool{}
		for m := r.IntN(5); m > 0; m-- {
			addrs := []netip.Addr{rs1, rs2, rs3}
			if s.Family == lvs.IPv6 {
				addrs = []netip.Addr{rs6, netip.MustParseAddr("2001:db8::11"), rs1}
			}
			a := addrs[r.IntN(len(addrs))]
			port := s.Port
			fwd := []lvs.ForwardMethod{lvs.Masquerade, lvs.DirectRoute, lvs.Tunnel}[r.IntN(3)]
			if lvs.FamilyOf(a) != s.Family {
				fwd = lvs.Tunnel // only tunnels cross families
			}
			if fwd == lvs.Masquerade {
				port = uint16(8080 + r.IntN(2))
			}
			if dseen[netip.AddrPortFrom(a, port)] {
				continue
			}
			dseen[netip.AddrPortFrom(a, port)] = true
			d := lvs.Destination{Family: lvs.FamilyOf(a), Address: a, Port: port, Forward: fwd, Weight: int32(r.IntN(4))}
			if r.IntN(3) == 0 {
				d.UpperThreshold = uint32(100 + r.IntN(2))
				d.LowerThreshold = uint32(r.IntN(10))
			}
			if fwd == lvs.Tunnel {
				switch r.IntN(3) {
				case 1:
					d.TunnelType, d.TunnelPort = lvs.TunnelGUE, uint16(6080+r.IntN(2))
					d.TunnelFlags = lvs.TunnelFlags(r.IntN(3))
				case 2:
					d.TunnelType = lvs.TunnelGRE
					d.TunnelFlags = lvs.TunnelFlags(r.IntN(2))
				}
			}
			entry.Destinations = append(entry.Destinations, d)
		}
		table = append(table, entry)
	}
	return table
}

// load puts a table into a fresh fake kernel.
func load(t *testing.T, table []reconcile.Service) *ipvstest.Kernel {
	t.Helper()
	k := ipvstest.New()
	ops, err := reconcile.Plan(table, nil, reconcile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	exec(t, k, ops)
	return k
}

func exec(t *testing.T, k *ipvstest.Kernel, ops []lvs.Op) {
	t.Helper()
	errs, err := k.ExecBatch(context.Background(), ops)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if e != nil {
			t.Fatalf("op %d %s %s %s: %v", i, ops[i].Kind, ops[i].Service, ops[i].Destination, e)
		}
	}
}

// canonical is a table as the plan compares it, sorted, for cmp.Diff.
type canonService struct {
	Key   string
	Attrs string
	Dests []string
}

func canonical(table []reconcile.Service) []canonService {
	var out []canonService
	for _, s := range table {
		cs := canonService{Key: reconcile.Key(s.Service).String()}
		p := s.Flags &^ lvs.FlagHashed
		cs.Attrs = fmt.Sprintf("%s flags=%#x pe=%q", s.Scheduler, p, s.PEName)
		if p&lvs.FlagPersistent != 0 {
			cs.Attrs += fmt.Sprintf(" timeout=%v mask=%#x", s.Timeout, s.Netmask)
		}
		ds := slices.Clone(s.Destinations)
		slices.SortFunc(ds, reconcile.CompareDestinations)
		for _, d := range ds {
			line := fmt.Sprintf("%s fwd=%s w=%d x=%d y=%d", d, d.Forward, d.Weight, d.UpperThreshold, d.LowerThreshold)
			if d.Forward == lvs.Tunnel {
				line += fmt.Sprintf(" tun=%s:%d:%d", d.TunnelType, d.TunnelPort, d.TunnelFlags)
			}
			cs.Dests = append(cs.Dests, line)
		}
		out = append(out, cs)
	}
	slices.SortFunc(out, func(a, b canonService) int {
		switch {
		case a.Key < b.Key:
			return -1
		case a.Key > b.Key:
			return 1
		}
		return 0
	})
	return out
}

// merge is what a plan without pruning must reach: desired, plus what
// current has that desired does not name.
func merge(desired, current []reconcile.Service) []reconcile.Service {
	out := slices.Clone(desired)
	want := map[lvs.ServiceKey]int{}
	for i, s := range out {
		want[reconcile.Key(s.Service)] = i
	}
	for _, c := range current {
		i, ok := want[reconcile.Key(c.Service)]
		if !ok {
			out = append(out, c)
			continue
		}
		s := out[i]
		s.Destinations = slices.Clone(s.Destinations)
		for _, cd := range c.Destinations {
			if !slices.ContainsFunc(s.Destinations, func(d lvs.Destination) bool {
				return reconcile.CompareDestinations(d, cd) == 0
			}) {
				s.Destinations = append(s.Destinations, cd)
			}
		}
		out[i] = s
	}
	return out
}

// TestPlanReachesDesired is the property test: for random current and
// desired tables, applying the plan to the fake kernel succeeds op by op,
// yields the desired table (with prune) or the desired table over what was
// there (without), and planning again gives nothing.
func TestPlanReachesDesired(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	ctx := context.Background()
	for i := 0; i < 300; i++ {
		desired, current := randomTable(r), randomTable(r)
		for _, prune := range []bool{true, false} {
			k := load(t, current)
			before, err := reconcile.Read(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			ops, err := reconcile.Plan(desired, before, reconcile.Options{Prune: prune})
			if err != nil {
				t.Fatal(err)
			}
			exec(t, k, ops)
			after, err := reconcile.Read(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			want := desired
			if !prune {
				want = merge(desired, current)
			}
			if diff := cmp.Diff(canonical(want), canonical(after)); diff != "" {
				t.Fatalf("case %d prune=%v: kernel after the plan (-want +got):\n%s\nplan: %v", i, prune, diff, ops)
			}
			again, err := reconcile.Plan(desired, after, reconcile.Options{Prune: prune})
			if err != nil {
				t.Fatal(err)
			}
			if len(again) != 0 {
				t.Fatalf("case %d prune=%v: second plan not empty: %v", i, prune, again)
			}
			if !prune {
				for _, o := range ops {
					if o.Kind == lvs.DeleteService || o.Kind == lvs.DeleteDestination {
						t.Fatalf("case %d: deletion without prune: %+v", i, o)
					}
				}
			}
		}
	}
}

// TestPlanIsShortest: each service and destination costs at most one op,
// and only when it differs.
func TestPlanIsShortest(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	for i := 0; i < 200; i++ {
		desired, current := randomTable(r), randomTable(r)
		ops, err := reconcile.Plan(desired, current, reconcile.Options{Prune: true})
		if err != nil {
			t.Fatal(err)
		}
		type target struct {
			svc  lvs.ServiceKey
			dest string
		}
		seen := map[target]bool{}
		for _, o := range ops {
			tg := target{svc: reconcile.Key(o.Service)}
			if o.Kind == lvs.AddDestination || o.Kind == lvs.EditDestination || o.Kind == lvs.DeleteDestination {
				tg.dest = fmt.Sprintf("%d/%s", o.Destination.Family, o.Destination)
			}
			if seen[tg] {
				t.Fatalf("case %d: two ops on %v: %v", i, tg, ops)
			}
			seen[tg] = true
		}
	}
}

func TestRead(t *testing.T) {
	web := tcp(vip1, 80, "rr")
	k := load(t, []reconcile.Service{svc(web, dest(rs1, 80, lvs.DirectRoute, 1))})
	got, err := reconcile.Read(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Destinations) != 1 || got[0].Key() != web.Key() {
		t.Errorf("Read = %+v", got)
	}
	k.Close()
	if _, err := reconcile.Read(context.Background(), k); err == nil {
		t.Error("Read on a closed kernel succeeded")
	}
}
