package ipvsadm

import (
	"context"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/lvsctl/lvsctl/lvs"
	"github.com/lvsctl/lvsctl/lvs/ipvs"
)

// fakeKernel is a small in-memory IPVS for this package's tests: it keeps
// services in the order they were added (the order of a kernel listing)
// and refuses what the kernel refuses with the kernel's errnos.
type fakeKernel struct {
	info     lvs.Info
	svcs     []*fakeService
	timeouts lvs.Timeouts
	daemons  []lvs.SyncDaemon
	conns    []lvs.Connection
	batches  int
}

type fakeService struct {
	s     lvs.Service
	dests []lvs.Destination
}

func newFakeKernel() *fakeKernel {
	return &fakeKernel{
		info:     lvs.Info{Version: 1<<16 | 2<<8 | 1, ConnTableSize: 4096},
		timeouts: lvs.Timeouts{TCP: 900e9, TCPFin: 120e9, UDP: 300e9},
	}
}

func (k *fakeKernel) find(key lvs.ServiceKey) *fakeService {
	for _, s := range k.svcs {
		if s.s.Key() == key {
			return s
		}
	}
	return nil
}

func kerr(cmd ipvs.Cmd, errno unix.Errno) error { return &ipvs.Error{Cmd: cmd, Errno: errno} }

func (k *fakeKernel) Info(context.Context) (lvs.Info, error) { return k.info, nil }

func (k *fakeKernel) Services(context.Context) ([]lvs.Service, error) {
	out := []lvs.Service{}
	for _, s := range k.svcs {
		out = append(out, s.s)
	}
	return out, nil
}

func (k *fakeKernel) Service(_ context.Context, key lvs.ServiceKey) (lvs.Service, error) {
	if s := k.find(key); s != nil {
		return s.s, nil
	}
	return lvs.Service{}, kerr(ipvs.CmdGetService, unix.ESRCH)
}

func (k *fakeKernel) Destinations(_ context.Context, key lvs.ServiceKey) ([]lvs.Destination, error) {
	if s := k.find(key); s != nil {
		return append([]lvs.Destination{}, s.dests...), nil
	}
	return nil, kerr(ipvs.CmdGetDest, unix.ESRCH)
}

func (k *fakeKernel) Timeouts(context.Context) (lvs.Timeouts, error) { return k.timeouts, nil }

func (k *fakeKernel) SyncDaemons(context.Context) ([]lvs.SyncDaemon, error) { return k.daemons, nil }

func (k *fakeKernel) Connections(context.Context) ([]lvs.Connection, error) { return k.conns, nil }

var fakeSchedulers = map[string]bool{"rr": true, "wrr": true, "lc": true, "wlc": true, "lblc": true, "lblcr": true,
	"dh": true, "sh": true, "sed": true, "nq": true, "fo": true, "ovf": true, "mh": true}

func (k *fakeKernel) Exec(_ context.Context, op lvs.Op) error {
	switch op.Kind {
	case lvs.AddService:
		if k.find(op.Service.Key()) != nil {
			return kerr(ipvs.CmdNewService, unix.EEXIST)
		}
		if !fakeSchedulers[op.Service.Scheduler] || (op.Service.PEName != "" && op.Service.PEName != "sip") {
			return kerr(ipvs.CmdNewService, unix.ENOENT)
		}
		k.svcs = append(k.svcs, &fakeService{s: op.Service})
	case lvs.EditService:
		s := k.find(op.Service.Key())
		if s == nil {
			return kerr(ipvs.CmdSetService, unix.ESRCH)
		}
		if !fakeSchedulers[op.Service.Scheduler] {
			return kerr(ipvs.CmdSetService, unix.ENOENT)
		}
		stats := s.s.Stats
		s.s = op.Service
		s.s.Stats = stats
	case lvs.DeleteService:
		for i, s := range k.svcs {
			if s.s.Key() == op.Service.Key() {
				k.svcs = append(k.svcs[:i], k.svcs[i+1:]...)
				return nil
			}
		}
		return kerr(ipvs.CmdDelService, unix.ESRCH)
	case lvs.Flush:
		k.svcs = nil
	case lvs.AddDestination, lvs.EditDestination, lvs.DeleteDestination:
		cmd := map[lvs.OpKind]ipvs.Cmd{lvs.AddDestination: ipvs.CmdNewDest, lvs.EditDestination: ipvs.CmdSetDest, lvs.DeleteDestination: ipvs.CmdDelDest}[op.Kind]
		s := k.find(op.Service.Key())
		if s == nil {
			return kerr(cmd, unix.ESRCH)
		}
		idx := -1
		for i, d := range s.dests {
			if d.Address == op.Destination.Address && d.Port == op.Destination.Port {
				idx = i
			}
		}
		switch {
		case op.Kind == lvs.AddDestination && idx >= 0:
			return kerr(cmd, unix.EEXIST)
		case op.Kind == lvs.AddDestination:
			// The kernel adds a destination at the head of its list.
			s.dests = append([]lvs.Destination{op.Destination}, s.dests...)
		case idx < 0:
			return kerr(cmd, unix.ENOENT)
		case op.Kind == lvs.EditDestination:
			d := op.Destination
			d.ActiveConns, d.InactiveConns, d.PersistentConns, d.Stats = s.dests[idx].ActiveConns, s.dests[idx].InactiveConns, s.dests[idx].PersistentConns, s.dests[idx].Stats
			s.dests[idx] = d
		default:
			s.dests = append(s.dests[:idx], s.dests[idx+1:]...)
		}
	case lvs.Zero:
		if op.AllServices {
			for _, s := range k.svcs {
				s.s.Stats = lvs.Stats{}
			}
			return nil
		}
		s := k.find(op.Service.Key())
		if s == nil {
			return kerr(ipvs.CmdZero, unix.ESRCH)
		}
		s.s.Stats = lvs.Stats{}
	case lvs.SetTimeouts:
		if op.Timeouts.TCP != 0 {
			k.timeouts.TCP = op.Timeouts.TCP
		}
		if op.Timeouts.TCPFin != 0 {
			k.timeouts.TCPFin = op.Timeouts.TCPFin
		}
		if op.Timeouts.UDP != 0 {
			k.timeouts.UDP = op.Timeouts.UDP
		}
	case lvs.StartDaemon:
		// The lab VM has eth0 and eth1 (a veth pair) and nothing else.
		if op.Daemon.Interface != "eth0" && op.Daemon.Interface != "eth1" {
			return kerr(ipvs.CmdNewDaemon, unix.ENODEV)
		}
		for _, d := range k.daemons {
			if d.State == op.Daemon.State {
				return kerr(ipvs.CmdNewDaemon, unix.EEXIST)
			}
		}
		d := op.Daemon
		if !d.Group.IsValid() {
			d.Group = netip.MustParseAddr("224.0.0.81")
		}
		if d.MaxLen == 0 {
			// The MTU less the IP and UDP headers.
			d.MaxLen = 1500 - 20 - 8
			if d.Group.Is6() {
				d.MaxLen = 1500 - 40 - 8
			}
		}
		if d.Port == 0 {
			d.Port = 8848
		}
		if d.TTL == 0 {
			d.TTL = 1
		}
		k.daemons = append(k.daemons, d)
	case lvs.StopDaemon:
		for i, d := range k.daemons {
			if d.State == op.Daemon.State {
				k.daemons = append(k.daemons[:i], k.daemons[i+1:]...)
				return nil
			}
		}
		return kerr(ipvs.CmdDelDaemon, unix.ESRCH)
	}
	return nil
}

func (k *fakeKernel) ExecBatch(ctx context.Context, ops []lvs.Op) ([]error, error) {
	k.batches++
	errs := make([]error, len(ops))
	for i, op := range ops {
		errs[i] = k.Exec(ctx, op)
	}
	return errs, nil
}

// mapResolver is a name service from tables.
type mapResolver struct {
	hosts    map[string]netip.Addr
	services map[string]uint16 // "name/proto"
}

func (r mapResolver) LookupHost(_ context.Context, name string) (netip.Addr, bool) {
	a, ok := r.hosts[name]
	return a, ok
}

func (r mapResolver) LookupAddr(_ context.Context, addr netip.Addr) (string, bool) {
	best := ""
	for n, a := range r.hosts {
		if a == addr && (best == "" || n < best) {
			best = n
		}
	}
	return best, best != ""
}

func (r mapResolver) LookupService(name, proto string) (uint16, bool) {
	p, ok := r.services[name+"/"+proto]
	return p, ok
}

func (r mapResolver) LookupPort(port uint16, proto string) (string, bool) {
	best := ""
	for k, p := range r.services {
		n, pr, _ := cutLast(k, "/")
		if p == port && pr == proto && (best == "" || n < best) {
			best = n
		}
	}
	return best, best != ""
}

func cutLast(s, sep string) (string, string, bool) {
	for i := len(s) - len(sep); i >= 0; i-- {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

var testResolver = mapResolver{
	hosts: map[string]netip.Addr{
		"www.example.com":   netip.MustParseAddr("192.0.2.10"),
		"real1.example.com": netip.MustParseAddr("198.51.100.1"),
		"mask.example.com":  netip.MustParseAddr("255.255.255.0"),
	},
	services: map[string]uint16{
		"http/tcp": 80, "https/tcp": 443, "domain/udp": 53, "domain/tcp": 53, "sip/udp": 5060,
	},
}
