package ipvstest_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/lvsctl/lvsctl/lvs"
	"github.com/lvsctl/lvsctl/lvs/ipvs"
	"github.com/lvsctl/lvsctl/lvs/ipvs/ipvstest"
)

var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b }),
}

// TestMethodSet keeps Kernel a drop-in for *ipvs.Client: every exported
// method of the client must exist on Kernel with the same signature.
func TestMethodSet(t *testing.T) {
	client := reflect.TypeOf((*ipvs.Client)(nil))
	fake := reflect.TypeOf((*ipvstest.Kernel)(nil))
	for i := 0; i < client.NumMethod(); i++ {
		m := client.Method(i)
		f, ok := fake.MethodByName(m.Name)
		if !ok {
			t.Errorf("Kernel lacks %s%s", m.Name, m.Type.String()[len("func(*ipvs.Client)"):])
			continue
		}
		// Compare without the receiver.
		mt, ft := m.Type, f.Type
		same := mt.NumIn() == ft.NumIn() && mt.NumOut() == ft.NumOut()
		for j := 1; same && j < mt.NumIn(); j++ {
			same = mt.In(j) == ft.In(j)
		}
		for j := 0; same && j < mt.NumOut(); j++ {
			same = mt.Out(j) == ft.Out(j)
		}
		if !same {
			t.Errorf("Kernel.%s is %v, client's is %v", m.Name, ft, mt)
		}
	}
}

var (
	vip   = netip.MustParseAddr("192.0.2.1")
	vip6  = netip.MustParseAddr("2001:db8::1")
	rs1   = netip.MustParseAddr("198.51.100.1")
	rs2   = netip.MustParseAddr("198.51.100.2")
	rs3   = netip.MustParseAddr("198.51.100.3")
	rs6   = netip.MustParseAddr("2001:db8::10")
	web   = lvs.Service{Protocol: lvs.TCP, Address: vip, Port: 80, Scheduler: "wlc", Netmask: 0xffffffff}
	web6  = lvs.Service{Protocol: lvs.TCP, Address: vip6, Port: 80, Scheduler: "rr", Netmask: 128}
	fwm   = lvs.Service{FWMark: 7, Scheduler: "rr", Flags: lvs.FlagPersistent, Timeout: 300 * time.Second, Netmask: 0xffffffff}
	webK  = web.Key()
	web6K = web6.Key()
	fwmK  = fwm.Key()
)

func kerr(cmd ipvs.Cmd, errno unix.Errno) error { return &ipvs.Error{Cmd: cmd, Errno: errno} }

// checkErr compares got with want: nil, an *ipvs.Error compared by command
// and errno, or a sentinel matched with errors.Is.
func checkErr(t *testing.T, what string, got, want error) {
	t.Helper()
	switch w := want.(type) {
	case nil:
		if got != nil {
			t.Errorf("%s: error %v, want none", what, got)
		}
	case *ipvs.Error:
		var e *ipvs.Error
		if !errors.As(got, &e) || e.Cmd != w.Cmd || e.Errno != w.Errno {
			t.Errorf("%s: error %v, want %v", what, got, w)
		}
	default:
		if !errors.Is(got, want) {
			t.Errorf("%s: error %v, want one matching %v", what, got, want)
		}
	}
}

func mustExec(t *testing.T, k *ipvstest.Kernel, ops ...lvs.Op) {
	t.Helper()
	for _, op := range ops {
		if err := k.Exec(context.Background(), op); err != nil {
			t.Fatalf("setup %s: %v", op.Kind, err)
		}
	}
}

func addSvc(s lvs.Service) lvs.Op  { return lvs.Op{Kind: lvs.AddService, Service: s} }
func editSvc(s lvs.Service) lvs.Op { return lvs.Op{Kind: lvs.EditService, Service: s} }
func delSvc(k lvs.ServiceKey) lvs.Op {
	return lvs.Op{Kind: lvs.DeleteService, Service: lvs.Service{Family: k.Family, Protocol: k.Protocol, Address: k.Address, Port: k.Port, FWMark: k.FWMark}}
}
func svcOf(k lvs.ServiceKey) lvs.Service {
	return lvs.Service{Family: k.Family, Protocol: k.Protocol, Address: k.Address, Port: k.Port, FWMark: k.FWMark}
}
func addDst(k lvs.ServiceKey, d lvs.Destination) lvs.Op {
	return lvs.Op{Kind: lvs.AddDestination, Service: svcOf(k), Destination: d}
}
func editDst(k lvs.ServiceKey, d lvs.Destination) lvs.Op {
	return lvs.Op{Kind: lvs.EditDestination, Service: svcOf(k), Destination: d}
}
func delDst(k lvs.ServiceKey, d lvs.Destination) lvs.Op {
	return lvs.Op{Kind: lvs.DeleteDestination, Service: svcOf(k), Destination: d}
}
func dst(a netip.Addr, port uint16, w int32) lvs.Destination {
	return lvs.Destination{Address: a, Port: port, Forward: lvs.DirectRoute, Weight: w}
}

func TestOperationRules(t *testing.T) {
	with := func(s lvs.Service, f func(*lvs.Service)) lvs.Service { f(&s); return s }
	withD := func(d lvs.Destination, f func(*lvs.Destination)) lvs.Destination { f(&d); return d }
	tests := []struct {
		name  string
		setup []lvs.Op
		op    lvs.Op
		want  error
	}{
		// Services.
		{name: "add service", op: addSvc(web)},
		{name: "add duplicate service", setup: []lvs.Op{addSvc(web)}, op: addSvc(web), want: kerr(ipvs.CmdNewService, unix.EEXIST)},
		{name: "duplicate wins over bad scheduler", setup: []lvs.Op{addSvc(web)},
			op: addSvc(with(web, func(s *lvs.Service) { s.Scheduler = "nope" })), want: kerr(ipvs.CmdNewService, unix.EEXIST)},
		{name: "duplicate is a sentinel too", setup: []lvs.Op{addSvc(web)}, op: addSvc(web), want: lvs.ErrServiceExists},
		{name: "same address other port", setup: []lvs.Op{addSvc(web)}, op: addSvc(with(web, func(s *lvs.Service) { s.Port = 443 }))},
		{name: "same address other protocol", setup: []lvs.Op{addSvc(web)}, op: addSvc(with(web, func(s *lvs.Service) { s.Protocol = lvs.UDP }))},
		{name: "mapped address is the ipv4 service", setup: []lvs.Op{addSvc(web)},
			op:   addSvc(with(web, func(s *lvs.Service) { s.Family = lvs.IPv4; s.Address = netip.MustParseAddr("::ffff:192.0.2.1") })),
			want: kerr(ipvs.CmdNewService, unix.EEXIST)},
		{name: "unknown scheduler", op: addSvc(with(web, func(s *lvs.Service) { s.Scheduler = "twos" })), want: kerr(ipvs.CmdNewService, unix.ENOENT)},
		{name: "unknown scheduler sentinel", op: addSvc(with(web, func(s *lvs.Service) { s.Scheduler = "xyz" })), want: lvs.ErrNoSuchScheduler},
		{name: "empty scheduler", op: addSvc(with(web, func(s *lvs.Service) { s.Scheduler = "" })), want: kerr(ipvs.CmdNewService, unix.ENOENT)},
		{name: "scheduler none", op: addSvc(with(web, func(s *lvs.Service) { s.Scheduler = "none" }))},
		{name: "unknown persistence engine", op: addSvc(with(web, func(s *lvs.Service) { s.PEName = "http" })), want: kerr(ipvs.CmdNewService, unix.ENOENT)},
		{name: "sip engine", op: addSvc(with(web, func(s *lvs.Service) { s.Protocol = lvs.UDP; s.PEName = "sip"; s.Flags = lvs.FlagPersistent }))},
		{name: "ipv6 netmask 0", op: addSvc(with(web6, func(s *lvs.Service) { s.Netmask = 0 })), want: kerr(ipvs.CmdNewService, unix.EINVAL)},
		{name: "ipv6 netmask 129", op: addSvc(with(web6, func(s *lvs.Service) { s.Netmask = 129 })), want: kerr(ipvs.CmdNewService, unix.EINVAL)},
		{name: "ipv6 netmask 64", op: addSvc(with(web6, func(s *lvs.Service) { s.Netmask = 64 }))},
		{name: "ipv4 netmask unchecked", op: addSvc(with(web, func(s *lvs.Service) { s.Netmask = 0x00ff00ff }))},
		{name: "port 0 without persistence is accepted", op: addSvc(with(web, func(s *lvs.Service) { s.Port = 0 }))},
		{name: "protocol 0 with an address is accepted", op: addSvc(with(web, func(s *lvs.Service) { s.Protocol = 0 }))},
		{name: "fwmark service", op: addSvc(fwm)},
		{name: "fwmark ignores protocol and address", setup: []lvs.Op{addSvc(fwm)},
			op: addSvc(with(fwm, func(s *lvs.Service) { s.Protocol = lvs.UDP; s.Address = vip })), want: kerr(ipvs.CmdNewService, unix.EEXIST)},
		{name: "same fwmark other family", setup: []lvs.Op{addSvc(fwm)},
			op: addSvc(with(fwm, func(s *lvs.Service) { s.Family = lvs.IPv6; s.Netmask = 128 }))},
		{name: "scheduler name too long", op: addSvc(with(web, func(s *lvs.Service) { s.Scheduler = "sixteen-chars-xx" })), want: ipvs.ErrInvalid},
		{name: "pe name too long", op: addSvc(with(web, func(s *lvs.Service) { s.PEName = "sixteen-chars-xx" })), want: ipvs.ErrInvalid},
		{name: "negative timeout", op: addSvc(with(web, func(s *lvs.Service) { s.Timeout = -time.Second })), want: ipvs.ErrInvalid},
		{name: "address of the wrong family", op: addSvc(with(web, func(s *lvs.Service) { s.Family = lvs.IPv6 })), want: ipvs.ErrInvalid},
		{name: "missing address", op: addSvc(with(web, func(s *lvs.Service) { s.Address = netip.Addr{} })), want: ipvs.ErrInvalid},
		{name: "bad family", op: addSvc(with(web, func(s *lvs.Service) { s.Family = 7 })), want: ipvs.ErrInvalid},
		{name: "unknown op", op: lvs.Op{Kind: 99}, want: ipvs.ErrInvalid},
		{name: "edit service", setup: []lvs.Op{addSvc(web)}, op: editSvc(with(web, func(s *lvs.Service) { s.Scheduler = "rr" }))},
		{name: "edit missing service", op: editSvc(web), want: kerr(ipvs.CmdSetService, unix.ESRCH)},
		{name: "edit missing service sentinel", op: editSvc(web), want: lvs.ErrNoSuchService},
		{name: "edit missing service before bad scheduler", op: editSvc(with(web, func(s *lvs.Service) { s.Scheduler = "nope" })),
			want: kerr(ipvs.CmdSetService, unix.ESRCH)},
		{name: "edit to unknown scheduler", setup: []lvs.Op{addSvc(web)},
			op: editSvc(with(web, func(s *lvs.Service) { s.Scheduler = "nope" })), want: kerr(ipvs.CmdSetService, unix.ENOENT)},
		{name: "edit to unknown engine", setup: []lvs.Op{addSvc(web)},
			op: editSvc(with(web, func(s *lvs.Service) { s.PEName = "nope" })), want: kerr(ipvs.CmdSetService, unix.ENOENT)},
		{name: "edit ipv6 netmask", setup: []lvs.Op{addSvc(web6)},
			op: editSvc(with(web6, func(s *lvs.Service) { s.Netmask = 200 })), want: kerr(ipvs.CmdSetService, unix.EINVAL)},
		{name: "delete service", setup: []lvs.Op{addSvc(web)}, op: delSvc(webK)},
		{name: "delete missing service", op: delSvc(webK), want: kerr(ipvs.CmdDelService, unix.ESRCH)},
		{name: "delete twice", setup: []lvs.Op{addSvc(web), delSvc(webK)}, op: delSvc(webK), want: kerr(ipvs.CmdDelService, unix.ESRCH)},
		{name: "zero missing service", op: lvs.Op{Kind: lvs.Zero, Service: web}, want: kerr(ipvs.CmdZero, unix.ESRCH)},
		{name: "zero all without services", op: lvs.Op{Kind: lvs.Zero, AllServices: true}},
		{name: "flush empty", op: lvs.Op{Kind: lvs.Flush}},

		// Destinations.
		{name: "add destination", setup: []lvs.Op{addSvc(web)}, op: addDst(webK, dst(rs1, 80, 1))},
		{name: "destination of missing service", op: addDst(webK, dst(rs1, 80, 1)), want: kerr(ipvs.CmdNewDest, unix.ESRCH)},
		{name: "destination of missing service sentinel", op: addDst(webK, dst(rs1, 80, 1)), want: lvs.ErrNoSuchService},
		{name: "edit destination of missing service", op: editDst(webK, dst(rs1, 80, 1)), want: kerr(ipvs.CmdSetDest, unix.ESRCH)},
		{name: "delete destination of missing service", op: delDst(webK, dst(rs1, 80, 1)), want: kerr(ipvs.CmdDelDest, unix.ESRCH)},
		{name: "duplicate destination", setup: []lvs.Op{addSvc(web), addDst(webK, dst(rs1, 80, 1))},
			op: addDst(webK, dst(rs1, 80, 5)), want: kerr(ipvs.CmdNewDest, unix.EEXIST)},
		{name: "duplicate destination sentinel", setup: []lvs.Op{addSvc(web), addDst(webK, dst(rs1, 80, 1))},
			op: addDst(webK, dst(rs1, 80, 5)), want: lvs.ErrDestinationExists},
		{name: "same server other port", setup: []lvs.Op{addSvc(web), addDst(webK, dst(rs1, 80, 1))}, op: addDst(webK, dst(rs1, 8080, 1))},
		{name: "negative weight", setup: []lvs.Op{addSvc(web)}, op: addDst(webK, dst(rs1, 80, -1)), want: kerr(ipvs.CmdNewDest, unix.ERANGE)},
		{name: "weight checked before duplicate", setup: []lvs.Op{addSvc(web), addDst(webK, dst(rs1, 80, 1))},
			op: addDst(webK, dst(rs1, 80, -1)), want: kerr(ipvs.CmdNewDest, unix.ERANGE)},
		{name: "weight zero", setup: []lvs.Op{addSvc(web)}, op: addDst(webK, dst(rs1, 80, 0))},
		{name: "lower threshold above upper", setup: []lvs.Op{addSvc(web)},
			op:   addDst(webK, withD(dst(rs1, 80, 1), func(d *lvs.Destination) { d.UpperThreshold, d.LowerThreshold = 10, 20 })),
			want: kerr(ipvs.CmdNewDest, unix.ERANGE)},
		{name: "lower threshold without upper", setup: []lvs.Op{addSvc(web)},
			op:   addDst(webK, withD(dst(rs1, 80, 1), func(d *lvs.Destination) { d.LowerThreshold = 5 })),
			want: kerr(ipvs.CmdNewDest, unix.ERANGE)},
		{name: "upper threshold above INT_MAX", setup: []lvs.Op{addSvc(web)},
			op:   addDst(webK, withD(dst(rs1, 80, 1), func(d *lvs.Destination) { d.UpperThreshold = 1 << 31 })),
			want: kerr(ipvs.CmdNewDest, unix.EINVAL)},
		{name: "gue without port", setup: []lvs.Op{addSvc(web)},
			op: addDst(webK, withD(dst(rs1, 80, 1), func(d *lvs.Destination) {
				d.Forward, d.TunnelType = lvs.Tunnel, lvs.TunnelGUE
			})), want: kerr(ipvs.CmdNewDest, unix.EINVAL)},
		{name: "gue with port", setup: []lvs.Op{addSvc(web)},
			op: addDst(webK, withD(dst(rs1, 80, 1), func(d *lvs.Destination) {
				d.Forward, d.TunnelType, d.TunnelPort = lvs.Tunnel, lvs.TunnelGUE, 6080
			}))},
		{name: "forwarding method beyond the mask", setup: []lvs.Op{addSvc(web)},
			op: addDst(webK, withD(dst(rs1, 80, 1), func(d *lvs.Destination) { d.Forward = 8 })), want: ipvs.ErrInvalid},
		{name: "bypass forwarding accepted", setup: []lvs.Op{addSvc(web)},
			op: addDst(webK, withD(dst(rs1, 80, 1), func(d *lvs.Destination) { d.Forward = lvs.Bypass }))},
		{name: "multicast destination", setup: []lvs.Op{addSvc(web)}, op: addDst(webK, dst(netip.MustParseAddr("224.0.0.1"), 80, 1)),
			want: kerr(ipvs.CmdNewDest, unix.EINVAL)},
		{name: "zero-net destination", setup: []lvs.Op{addSvc(web)}, op: addDst(webK, dst(netip.MustParseAddr("0.0.0.0"), 80, 1)),
			want: kerr(ipvs.CmdNewDest, unix.EINVAL)},
		{name: "broadcast destination", setup: []lvs.Op{addSvc(web)}, op: addDst(webK, dst(netip.MustParseAddr("255.255.255.255"), 80, 1)),
			want: kerr(ipvs.CmdNewDest, unix.EINVAL)},
		{name: "link-local ipv6 destination", setup: []lvs.Op{addSvc(web6)}, op: addDst(web6K, dst(netip.MustParseAddr("fe80::1"), 80, 1)),
			want: kerr(ipvs.CmdNewDest, unix.EINVAL)},
		{name: "mapped ipv6 destination", setup: []lvs.Op{addSvc(web6)},
			op:   addDst(web6K, withD(dst(netip.MustParseAddr("::ffff:198.51.100.1"), 80, 1), func(d *lvs.Destination) { d.Family = lvs.IPv6 })),
			want: kerr(ipvs.CmdNewDest, unix.EINVAL)},
		{name: "edit destination", setup: []lvs.Op{addSvc(web), addDst(webK, dst(rs1, 80, 1))}, op: editDst(webK, dst(rs1, 80, 9))},
		{name: "edit missing destination", setup: []lvs.Op{addSvc(web)}, op: editDst(webK, dst(rs1, 80, 9)), want: kerr(ipvs.CmdSetDest, unix.ENOENT)},
		{name: "edit missing destination sentinel", setup: []lvs.Op{addSvc(web)}, op: editDst(webK, dst(rs1, 80, 9)), want: lvs.ErrNoSuchDestination},
		{name: "edit with negative weight", setup: []lvs.Op{addSvc(web), addDst(webK, dst(rs1, 80, 1))},
			op: editDst(webK, dst(rs1, 80, -3)), want: kerr(ipvs.CmdSetDest, unix.ERANGE)},
		{name: "delete destination", setup: []lvs.Op{addSvc(web), addDst(webK, dst(rs1, 80, 1))}, op: delDst(webK, dst(rs1, 80, 0))},
		{name: "delete missing destination", setup: []lvs.Op{addSvc(web)}, op: delDst(webK, dst(rs1, 80, 0)), want: kerr(ipvs.CmdDelDest, unix.ENOENT)},
		{name: "delete destination other port", setup: []lvs.Op{addSvc(web), addDst(webK, dst(rs1, 80, 1))},
			op: delDst(webK, dst(rs1, 81, 0)), want: kerr(ipvs.CmdDelDest, unix.ENOENT)},
		{name: "destination without address", setup: []lvs.Op{addSvc(web)}, op: addDst(webK, lvs.Destination{Port: 80}), want: ipvs.ErrInvalid},
		{name: "destination address of the wrong family", setup: []lvs.Op{addSvc(web)},
			op: addDst(webK, withD(dst(rs1, 80, 1), func(d *lvs.Destination) { d.Family = lvs.IPv6 })), want: ipvs.ErrInvalid},
		{name: "destinations of a fwmark service", setup: []lvs.Op{addSvc(fwm)}, op: addDst(fwmK, dst(rs1, 0, 1))},

		// Mixed families.
		{name: "ipv6 tunnel destination of an ipv4 service", setup: []lvs.Op{addSvc(web)},
			op: addDst(webK, withD(dst(rs6, 80, 1), func(d *lvs.Destination) { d.Forward = lvs.Tunnel }))},
		{name: "ipv6 routed destination of an ipv4 service", setup: []lvs.Op{addSvc(web)},
			op: addDst(webK, dst(rs6, 80, 1)), want: kerr(ipvs.CmdNewDest, unix.EINVAL)},
		{name: "mixed family checked before duplicate", setup: []lvs.Op{addSvc(web),
			addDst(webK, withD(dst(rs6, 80, 1), func(d *lvs.Destination) { d.Forward = lvs.Tunnel }))},
			op: editDst(webK, dst(rs6, 80, 1)), want: kerr(ipvs.CmdSetDest, unix.EINVAL)},
		{name: "mixed family while sync daemon runs", setup: []lvs.Op{addSvc(web),
			{Kind: lvs.StartDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncMaster, Interface: "eth0"}}},
			op:   addDst(webK, withD(dst(rs6, 80, 1), func(d *lvs.Destination) { d.Forward = lvs.Tunnel })),
			want: kerr(ipvs.CmdNewDest, unix.EINVAL)},
		{name: "sync daemon refused with mixed destinations", setup: []lvs.Op{addSvc(web),
			addDst(webK, withD(dst(rs6, 80, 1), func(d *lvs.Destination) { d.Forward = lvs.Tunnel }))},
			op:   lvs.Op{Kind: lvs.StartDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncBackup, Interface: "eth0"}},
			want: kerr(ipvs.CmdNewDaemon, unix.EINVAL)},
		{name: "sync daemon allowed once mixed destination is gone", setup: []lvs.Op{addSvc(web),
			addDst(webK, withD(dst(rs6, 80, 1), func(d *lvs.Destination) { d.Forward = lvs.Tunnel })),
			delDst(webK, dst(rs6, 80, 0))},
			op: lvs.Op{Kind: lvs.StartDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncBackup, Interface: "eth0"}}},
		{name: "sync daemon allowed once mixed service is gone", setup: []lvs.Op{addSvc(web),
			addDst(webK, withD(dst(rs6, 80, 1), func(d *lvs.Destination) { d.Forward = lvs.Tunnel })),
			delSvc(webK)},
			op: lvs.Op{Kind: lvs.StartDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncBackup, Interface: "eth0"}}},

		// Sync daemons.
		{name: "start master", op: lvs.Op{Kind: lvs.StartDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncMaster, Interface: "eth0"}}},
		{name: "second master", setup: []lvs.Op{{Kind: lvs.StartDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncMaster, Interface: "eth0"}}},
			op:   lvs.Op{Kind: lvs.StartDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncMaster, Interface: "eth1", SyncID: 2}},
			want: kerr(ipvs.CmdNewDaemon, unix.EEXIST)},
		{name: "second master sentinel", setup: []lvs.Op{{Kind: lvs.StartDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncMaster, Interface: "eth0"}}},
			op:   lvs.Op{Kind: lvs.StartDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncMaster, Interface: "eth0"}},
			want: lvs.ErrDaemonRunning},
		{name: "master and backup", setup: []lvs.Op{{Kind: lvs.StartDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncMaster, Interface: "eth0"}}},
			op: lvs.Op{Kind: lvs.StartDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncBackup, Interface: "eth0"}}},
		{name: "second backup", setup: []lvs.Op{{Kind: lvs.StartDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncBackup, Interface: "eth0"}}},
			op:   lvs.Op{Kind: lvs.StartDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncBackup, Interface: "eth0"}},
			want: kerr(ipvs.CmdNewDaemon, unix.EEXIST)},
		{name: "non-multicast group", op: lvs.Op{Kind: lvs.StartDaemon,
			Daemon: lvs.SyncDaemon{State: lvs.SyncMaster, Interface: "eth0", Group: netip.MustParseAddr("192.0.2.9")}},
			want: kerr(ipvs.CmdNewDaemon, unix.EINVAL)},
		{name: "non-multicast ipv6 group", op: lvs.Op{Kind: lvs.StartDaemon,
			Daemon: lvs.SyncDaemon{State: lvs.SyncMaster, Interface: "eth0", Group: netip.MustParseAddr("2001:db8::9")}},
			want: kerr(ipvs.CmdNewDaemon, unix.EINVAL)},
		{name: "daemon without interface", op: lvs.Op{Kind: lvs.StartDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncMaster}},
			want: ipvs.ErrInvalid},
		{name: "daemon with bad state", op: lvs.Op{Kind: lvs.StartDaemon, Daemon: lvs.SyncDaemon{State: 3, Interface: "eth0"}},
			want: ipvs.ErrInvalid},
		{name: "stop daemon not running", op: lvs.Op{Kind: lvs.StopDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncBackup}},
			want: kerr(ipvs.CmdDelDaemon, unix.ESRCH)},
		{name: "stop daemon not running sentinel", op: lvs.Op{Kind: lvs.StopDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncMaster}},
			want: lvs.ErrNoDaemon},
		{name: "stop the other role", setup: []lvs.Op{{Kind: lvs.StartDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncMaster, Interface: "eth0"}}},
			op: lvs.Op{Kind: lvs.StopDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncBackup}}, want: kerr(ipvs.CmdDelDaemon, unix.ESRCH)},
		{name: "stop master", setup: []lvs.Op{{Kind: lvs.StartDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncMaster, Interface: "eth0"}}},
			op: lvs.Op{Kind: lvs.StopDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncMaster}}},

		// Timeouts.
		{name: "set timeouts", op: lvs.Op{Kind: lvs.SetTimeouts, Timeouts: lvs.Timeouts{TCP: time.Hour}}},
		{name: "timeout above INT_MAX/HZ", op: lvs.Op{Kind: lvs.SetTimeouts, Timeouts: lvs.Timeouts{UDP: 8589935 * time.Second}},
			want: kerr(ipvs.CmdSetConfig, unix.EINVAL)},
		{name: "timeout at INT_MAX/HZ", op: lvs.Op{Kind: lvs.SetTimeouts, Timeouts: lvs.Timeouts{UDP: 8589934 * time.Second}}},
		{name: "negative timeout", op: lvs.Op{Kind: lvs.SetTimeouts, Timeouts: lvs.Timeouts{TCP: -time.Second}}, want: ipvs.ErrInvalid},
		{name: "timeout beyond int32", op: lvs.Op{Kind: lvs.SetTimeouts, Timeouts: lvs.Timeouts{TCP: 1 << 31 * time.Second}}, want: ipvs.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := ipvstest.New()
			mustExec(t, k, tt.setup...)
			checkErr(t, tt.op.Kind.String(), k.Exec(context.Background(), tt.op), tt.want)
		})
	}
}

// TestFailedOpsChangeNothing runs every refused operation of a scenario and
// checks the table is as before.
func TestFailedOpsChangeNothing(t *testing.T) {
	ctx := context.Background()
	k := ipvstest.New()
	mustExec(t, k, addSvc(web), addDst(webK, dst(rs1, 80, 1)), addSvc(fwm))
	before := snapshot(t, k)
	bad := []lvs.Op{
		addSvc(web),
		editSvc(lvs.Service{Protocol: lvs.TCP, Address: vip, Port: 80, Scheduler: "nope"}),
		addDst(webK, dst(rs1, 80, 7)),
		editDst(webK, dst(rs2, 80, 7)),
		editDst(webK, dst(rs1, 80, -7)),
		delDst(webK, dst(rs2, 80, 0)),
		{Kind: lvs.SetTimeouts, Timeouts: lvs.Timeouts{TCP: 9e6 * time.Second}},
	}
	for _, op := range bad {
		if err := k.Exec(ctx, op); err == nil {
			t.Fatalf("%s succeeded", op.Kind)
		}
	}
	if diff := cmp.Diff(before, snapshot(t, k), cmpOpts); diff != "" {
		t.Errorf("refused operations changed the table (-before +after):\n%s", diff)
	}
}

type state struct {
	Services []lvs.Service
	Dests    map[string][]lvs.Destination
	Timeouts lvs.Timeouts
	Daemons  []lvs.SyncDaemon
}

func snapshot(t *testing.T, k *ipvstest.Kernel) state {
	t.Helper()
	ctx := context.Background()
	var s state
	var err error
	if s.Services, err = k.Services(ctx); err != nil {
		t.Fatal(err)
	}
	s.Dests = map[string][]lvs.Destination{}
	for _, svc := range s.Services {
		if s.Dests[svc.Key().String()], err = k.Destinations(ctx, svc.Key()); err != nil {
			t.Fatal(err)
		}
	}
	if s.Timeouts, err = k.Timeouts(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Daemons, err = k.SyncDaemons(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestServiceListing(t *testing.T) {
	ctx := context.Background()
	k := ipvstest.New()
	svcs, err := k.Services(ctx)
	if err != nil || svcs == nil || len(svcs) != 0 {
		t.Fatalf("Services of an empty table = %#v, %v; want an empty non-nil slice", svcs, err)
	}
	fwmUDP := fwm
	fwmUDP.Protocol, fwmUDP.Address, fwmUDP.Port = lvs.UDP, vip, 53 // ignored for a fwmark service
	mapped := web
	mapped.Family, mapped.Address, mapped.Port = lvs.IPv4, netip.MustParseAddr("::ffff:192.0.2.1"), 443
	mapped.Timeout = 1500 * time.Millisecond // whole seconds only
	mapped.Flags = lvs.FlagHashed | lvs.FlagOnePacket
	mustExec(t, k, addSvc(fwmUDP), addSvc(web), addSvc(web6), addSvc(mapped))

	want := []lvs.Service{
		{Family: lvs.IPv4, Protocol: lvs.TCP, Address: vip, Port: 80, Scheduler: "wlc", Flags: lvs.FlagHashed, Netmask: 0xffffffff},
		{Family: lvs.IPv6, Protocol: lvs.TCP, Address: vip6, Port: 80, Scheduler: "rr", Flags: lvs.FlagHashed, Netmask: 128},
		{Family: lvs.IPv4, Protocol: lvs.TCP, Address: vip, Port: 443, Scheduler: "wlc", Flags: lvs.FlagHashed | lvs.FlagOnePacket,
			Timeout: time.Second, Netmask: 0xffffffff},
		{Family: lvs.IPv4, FWMark: 7, Scheduler: "rr", Flags: lvs.FlagHashed | lvs.FlagPersistent, Timeout: 300 * time.Second,
			Netmask: 0xffffffff},
	}
	got, err := k.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("Services mismatch (-want +got):\n%s", diff)
	}

	one, err := k.Service(ctx, lvs.ServiceKey{FWMark: 7})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[3], one, cmpOpts); diff != "" {
		t.Errorf("Service(fwmark 7) mismatch (-want +got):\n%s", diff)
	}
	_, err = k.Service(ctx, lvs.ServiceKey{FWMark: 7, Family: lvs.IPv6})
	checkErr(t, "Service(fwmark 7 IPv6)", err, kerr(ipvs.CmdGetService, unix.ESRCH))
	_, err = k.Service(ctx, lvs.ServiceKey{Protocol: lvs.UDP, Address: vip, Port: 80})
	checkErr(t, "Service(udp)", err, lvs.ErrNoSuchService)
	_, err = k.Service(ctx, lvs.ServiceKey{Protocol: lvs.UDP, Port: 80})
	checkErr(t, "Service(no address)", err, ipvs.ErrInvalid)

	// Editing replaces the settings and keeps the place in the listing;
	// the persistence engine and flags can be removed.
	edit := web
	edit.Scheduler, edit.PEName, edit.Flags, edit.Timeout = "none", "sip", lvs.FlagPersistent, 60*time.Second
	mustExec(t, k, editSvc(edit))
	edit.PEName, edit.Flags = "", 0
	mustExec(t, k, editSvc(edit))
	got, _ = k.Services(ctx)
	want[0] = lvs.Service{Family: lvs.IPv4, Protocol: lvs.TCP, Address: vip, Port: 80, Scheduler: "none", Flags: lvs.FlagHashed,
		Timeout: 60 * time.Second, Netmask: 0xffffffff}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("after edit (-want +got):\n%s", diff)
	}

	mustExec(t, k, lvs.Op{Kind: lvs.Flush})
	got, _ = k.Services(ctx)
	if len(got) != 0 {
		t.Errorf("after Flush: %d services", len(got))
	}
}

func TestDestinations(t *testing.T) {
	ctx := context.Background()
	k := ipvstest.New()
	mustExec(t, k, addSvc(web))
	_, err := k.Destinations(ctx, web6K)
	checkErr(t, "Destinations of a missing service", err, kerr(ipvs.CmdGetService, unix.ESRCH))
	got, err := k.Destinations(ctx, webK)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("Destinations of a bare service = %#v, %v; want empty non-nil", got, err)
	}

	tun := lvs.Destination{Address: rs6, Port: 80, Forward: lvs.Tunnel, Weight: 2, TunnelType: lvs.TunnelGRE,
		TunnelFlags: lvs.TunnelCsum}
	masq := lvs.Destination{Address: rs2, Port: 8080, Forward: lvs.Masquerade, Weight: 3, UpperThreshold: 100, LowerThreshold: 50}
	mustExec(t, k,
		addDst(webK, dst(rs1, 80, 1)),
		addDst(webK, masq),
		addDst(webK, tun),
		addDst(webK, dst(rs3, 80, 4)),
		delDst(webK, lvs.Destination{Address: rs3, Port: 80}),
		addDst(webK, dst(rs3, 80, 5)),
		editDst(webK, lvs.Destination{Address: rs1, Port: 80, Forward: lvs.Masquerade, Weight: 0}),
	)
	// Newest first; an edit keeps the place; a re-added one goes to the head.
	want := []lvs.Destination{
		{Family: lvs.IPv4, Address: rs3, Port: 80, Forward: lvs.DirectRoute, Weight: 5},
		{Family: lvs.IPv6, Address: rs6, Port: 80, Forward: lvs.Tunnel, Weight: 2, TunnelType: lvs.TunnelGRE, TunnelFlags: lvs.TunnelCsum},
		{Family: lvs.IPv4, Address: rs2, Port: 8080, Forward: lvs.Masquerade, Weight: 3, UpperThreshold: 100, LowerThreshold: 50},
		{Family: lvs.IPv4, Address: rs1, Port: 80, Forward: lvs.Masquerade, Weight: 0},
	}
	got, err = k.Destinations(ctx, webK)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("Destinations mismatch (-want +got):\n%s", diff)
	}

	// Deleting the service drops its destinations: a new one starts empty.
	mustExec(t, k, delSvc(webK), addSvc(web))
	got, _ = k.Destinations(ctx, webK)
	if len(got) != 0 {
		t.Errorf("re-created service has %d destinations", len(got))
	}
}

func TestZero(t *testing.T) {
	ctx := context.Background()
	k := ipvstest.New()
	mustExec(t, k, addSvc(web), addSvc(fwm), addDst(webK, dst(rs1, 80, 1)), addDst(fwmK, dst(rs2, 0, 1)))
	st := lvs.Stats{Conns: 5, InPkts: 50, OutPkts: 40, InBytes: 5000, OutBytes: 4000, CPS: 1}
	for _, key := range []lvs.ServiceKey{webK, fwmK} {
		if err := k.SetServiceStats(key, st); err != nil {
			t.Fatal(err)
		}
	}
	if err := k.SetDestinationCounters(webK, lvs.Destination{Address: rs1, Port: 80, ActiveConns: 3, Stats: st}); err != nil {
		t.Fatal(err)
	}
	if err := k.SetDestinationCounters(fwmK, lvs.Destination{Address: rs2, Stats: st}); err != nil {
		t.Fatal(err)
	}
	checkErr(t, "SetServiceStats(missing)", k.SetServiceStats(web6K, st), lvs.ErrNoSuchService)
	checkErr(t, "SetDestinationCounters(missing)", k.SetDestinationCounters(webK, dst(rs3, 80, 0)), lvs.ErrNoSuchDestination)

	if err := k.ZeroService(ctx, webK); err != nil {
		t.Fatal(err)
	}
	s, _ := k.Service(ctx, webK)
	d, _ := k.Destinations(ctx, webK)
	f, _ := k.Service(ctx, fwmK)
	if s.Stats != (lvs.Stats{}) || d[0].Stats != (lvs.Stats{}) {
		t.Errorf("ZeroService left stats %+v and %+v", s.Stats, d[0].Stats)
	}
	if d[0].ActiveConns != 3 {
		t.Errorf("ZeroService cleared the connection counters (%d), which the kernel keeps", d[0].ActiveConns)
	}
	if f.Stats != st {
		t.Errorf("ZeroService touched another service: %+v", f.Stats)
	}
	if err := k.Zero(ctx); err != nil {
		t.Fatal(err)
	}
	f, _ = k.Service(ctx, fwmK)
	fd, _ := k.Destinations(ctx, fwmK)
	if f.Stats != (lvs.Stats{}) || fd[0].Stats != (lvs.Stats{}) {
		t.Errorf("Zero left stats %+v and %+v", f.Stats, fd[0].Stats)
	}
	// Editing a service keeps its counters.
	_ = k.SetServiceStats(webK, st)
	mustExec(t, k, editSvc(web))
	s, _ = k.Service(ctx, webK)
	if s.Stats != st {
		t.Errorf("edit reset the counters to %+v", s.Stats)
	}
}

func TestTimeouts(t *testing.T) {
	ctx := context.Background()
	k := ipvstest.New()
	got, err := k.Timeouts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := lvs.Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}
	if got != want {
		t.Errorf("default timeouts %+v, want %+v", got, want)
	}
	// Zero fields are left alone; sub-second parts are dropped, so 0.5 s
	// changes nothing.
	if err := k.SetTimeouts(ctx, lvs.Timeouts{TCPFin: 30*time.Second + 700*time.Millisecond, UDP: 500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	got, _ = k.Timeouts(ctx)
	want.TCPFin = 30 * time.Second
	if got != want {
		t.Errorf("after SetTimeouts %+v, want %+v", got, want)
	}
}

func TestSyncDaemons(t *testing.T) {
	ctx := context.Background()
	k := ipvstest.New()
	got, err := k.SyncDaemons(ctx)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("SyncDaemons = %#v, %v; want empty non-nil", got, err)
	}
	k.SetInterface("eth0", 9000)
	k.SetInterface("eth1", 1500)
	checkErr(t, "unknown interface", k.StartSyncDaemon(ctx, lvs.SyncDaemon{State: lvs.SyncMaster, Interface: "eth9"}),
		kerr(ipvs.CmdNewDaemon, unix.ENODEV))
	mustExec(t, k,
		lvs.Op{Kind: lvs.StartDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncBackup, Interface: "eth0", SyncID: 9}},
		lvs.Op{Kind: lvs.StartDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncMaster, Interface: "eth1", SyncID: 3,
			Group: netip.MustParseAddr("ff02::81"), Port: 9999, TTL: 4, MaxLen: 70000 % 65536}},
	)
	want := []lvs.SyncDaemon{
		// Master: MTU fixed at 1500; a given length is clamped to
		// 1..65535-hlen (4464 stays); IPv6 group.
		{State: lvs.SyncMaster, Interface: "eth1", SyncID: 3, MaxLen: 4464, Group: netip.MustParseAddr("ff02::81"), Port: 9999, TTL: 4},
		// Backup: length from the interface MTU minus IPv4+UDP headers,
		// default group, port and TTL.
		{State: lvs.SyncBackup, Interface: "eth0", SyncID: 9, MaxLen: 9000 - 28, Group: netip.MustParseAddr("224.0.0.81"), Port: 8848, TTL: 1},
	}
	got, _ = k.SyncDaemons(ctx)
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("SyncDaemons mismatch (-want +got):\n%s", diff)
	}
	mustExec(t, k, lvs.Op{Kind: lvs.StopDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncMaster}})
	got, _ = k.SyncDaemons(ctx)
	if len(got) != 1 || got[0].State != lvs.SyncBackup {
		t.Errorf("after stopping the master: %+v", got)
	}
	// Backup lengths are clamped to at least 1024.
	mustExec(t, k,
		lvs.Op{Kind: lvs.StopDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncBackup}},
		lvs.Op{Kind: lvs.StartDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncBackup, Interface: "eth1", MaxLen: 100}},
	)
	got, _ = k.SyncDaemons(ctx)
	if len(got) != 1 || got[0].MaxLen != 1024 {
		t.Errorf("backup with MaxLen 100: %+v, want MaxLen 1024", got)
	}
}

func TestInfo(t *testing.T) {
	info, err := ipvstest.New().Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.VersionString() != "1.2.1" || info.ConnTableSize != 4096 {
		t.Errorf("Info = %+v (%s)", info, info.VersionString())
	}
}

func TestSchedulerSets(t *testing.T) {
	ctx := context.Background()
	k := ipvstest.New()
	for _, s := range ipvstest.Schedulers61() {
		svc := web
		svc.Scheduler = s
		if err := k.AddService(ctx, svc); err != nil {
			t.Errorf("scheduler %s: %v", s, err)
		}
		_ = k.DeleteService(ctx, webK)
	}
	k.SetSchedulers("rr", "twos")
	svc := web
	svc.Scheduler = "twos"
	if err := k.AddService(ctx, svc); err != nil {
		t.Errorf("after SetSchedulers: %v", err)
	}
	k.SetPersistenceEngines()
	svc.PEName, svc.Port = "sip", 5060
	checkErr(t, "no engines", k.AddService(ctx, svc), kerr(ipvs.CmdNewService, unix.ENOENT))
}

func TestExecBatch(t *testing.T) {
	ctx := context.Background()
	k := ipvstest.New()
	ops := []lvs.Op{
		addSvc(web),
		addSvc(web),                     // EEXIST
		addDst(webK, dst(rs1, 80, 1)),   // ok
		addDst(web6K, dst(rs6, 80, 1)),  // ESRCH
		addDst(webK, lvs.Destination{}), // invalid, not sent
		addDst(webK, dst(rs2, 80, 1)),   // ok, after failures
		editDst(webK, dst(rs3, 80, 1)),  // ENOENT
		{Kind: lvs.Zero, AllServices: true},
	}
	errs, err := k.ExecBatch(ctx, ops)
	if err != nil {
		t.Fatalf("ExecBatch: %v", err)
	}
	if len(errs) != len(ops) {
		t.Fatalf("%d results for %d ops", len(errs), len(ops))
	}
	want := []error{nil, kerr(ipvs.CmdNewService, unix.EEXIST), nil, kerr(ipvs.CmdNewDest, unix.ESRCH), ipvs.ErrInvalid,
		nil, kerr(ipvs.CmdSetDest, unix.ENOENT), nil}
	for i := range ops {
		checkErr(t, ops[i].Kind.String(), errs[i], want[i])
	}
	d, _ := k.Destinations(ctx, webK)
	if len(d) != 2 {
		t.Errorf("%d destinations after the batch, want 2", len(d))
	}

	errs, err = k.ExecBatch(ctx, nil)
	if err != nil || len(errs) != 0 {
		t.Errorf("empty batch = %v, %v", errs, err)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	errs, err = k.ExecBatch(cctx, []lvs.Op{addSvc(web6), {Kind: 0}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled batch error = %v", err)
	}
	checkErr(t, "op of a cancelled batch", errs[0], context.Canceled)
	checkErr(t, "invalid op of a cancelled batch", errs[1], ipvs.ErrInvalid)
	if _, err := k.Service(ctx, web6K); err == nil {
		t.Error("a cancelled batch applied an op")
	}
}

func TestClosedAndCancelled(t *testing.T) {
	ctx := context.Background()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	k := ipvstest.New()
	checkErr(t, "AddService with a cancelled context", k.AddService(cctx, web), context.Canceled)
	_, err := k.Services(cctx)
	checkErr(t, "Services with a cancelled context", err, context.Canceled)
	if _, err := k.Service(ctx, webK); !errors.Is(err, lvs.ErrNoSuchService) {
		t.Errorf("cancelled AddService created the service (%v)", err)
	}

	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	checkErr(t, "AddService after Close", k.AddService(ctx, web), net.ErrClosed)
	_, err = k.Info(ctx)
	checkErr(t, "Info after Close", err, net.ErrClosed)
	_, err = k.Connections(ctx)
	checkErr(t, "Connections after Close", err, net.ErrClosed)
	_, err = k.ExecBatch(ctx, []lvs.Op{addSvc(web)})
	checkErr(t, "ExecBatch after Close", err, net.ErrClosed)
}

func TestConnections(t *testing.T) {
	ctx := context.Background()
	k := ipvstest.New()
	got, err := k.Connections(ctx)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("Connections = %#v, %v; want empty non-nil", got, err)
	}
	in := []lvs.Connection{{Protocol: "TCP", Client: netip.MustParseAddrPort("192.0.2.10:40000"),
		Virtual: netip.AddrPortFrom(vip, 80), Real: netip.AddrPortFrom(rs1, 80), State: "ESTABLISHED", Expires: time.Minute}}
	k.SetConnections(in)
	in[0].State = "CLOSE" // the fake keeps its own copy
	got, _ = k.Connections(ctx)
	if len(got) != 1 || got[0].State != "ESTABLISHED" {
		t.Errorf("Connections = %+v", got)
	}
}

// TestConcurrentUse is meant for -race: many goroutines add, list and
// delete at once.
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	k := ipvstest.New()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			svc := web
			svc.Port = uint16(1000 + g)
			for i := 0; i < 50; i++ {
				_ = k.AddService(ctx, svc)
				_ = k.AddDestination(ctx, svc.Key(), dst(rs1, uint16(i), 1))
				_, _ = k.Services(ctx)
				_, _ = k.Destinations(ctx, svc.Key())
				_, _ = k.ExecBatch(ctx, []lvs.Op{{Kind: lvs.Zero, AllServices: true}})
				_ = k.DeleteService(ctx, svc.Key())
			}
		}(g)
	}
	wg.Wait()
	svcs, _ := k.Services(ctx)
	if len(svcs) != 0 {
		t.Errorf("%d services left", len(svcs))
	}
}
