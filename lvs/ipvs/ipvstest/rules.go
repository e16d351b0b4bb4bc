package ipvstest

import (
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lvsctl/lvsctl/lvs"
	"github.com/lvsctl/lvsctl/lvs/ipvs"
)

// This file holds the rules: first those the client applies before sending
// (errors wrapping ipvs.ErrInvalid), then those of the kernel's
// ip_vs_genl_set_cmd and the functions it calls (errors of type
// *ipvs.Error).

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ipvs.ErrInvalid}, args...)...)
}

// opCmd is the IPVS command an operation is sent as.
func opCmd(op lvs.Op) (ipvs.Cmd, error) {
	switch op.Kind {
	case lvs.AddService:
		return ipvs.CmdNewService, nil
	case lvs.EditService:
		return ipvs.CmdSetService, nil
	case lvs.DeleteService:
		return ipvs.CmdDelService, nil
	case lvs.Flush:
		return ipvs.CmdFlush, nil
	case lvs.AddDestination:
		return ipvs.CmdNewDest, nil
	case lvs.EditDestination:
		return ipvs.CmdSetDest, nil
	case lvs.DeleteDestination:
		return ipvs.CmdDelDest, nil
	case lvs.Zero:
		return ipvs.CmdZero, nil
	case lvs.SetTimeouts:
		return ipvs.CmdSetConfig, nil
	case lvs.StartDaemon:
		return ipvs.CmdNewDaemon, nil
	case lvs.StopDaemon:
		return ipvs.CmdDelDaemon, nil
	}
	return 0, invalid("unknown operation %d", int(op.Kind))
}

// serviceFamily is the family the client sends a service key with: the
// one given, else the address's, else IPv4 for a firewall-mark service.
func serviceFamily(family lvs.Family, fwmark uint32, addr netip.Addr) (lvs.Family, error) {
	if family == 0 {
		if fwmark != 0 || !addr.IsValid() {
			family = lvs.IPv4
		} else {
			family = lvs.FamilyOf(addr)
		}
	}
	if family != lvs.IPv4 && family != lvs.IPv6 {
		return 0, invalid("address family %d", uint16(family))
	}
	return family, nil
}

// normAddr is what survives the trip through a union nf_inet_addr: an
// IPv4-mapped address sent as IPv4 comes back plain, zones are lost.
func normAddr(family lvs.Family, addr netip.Addr) (netip.Addr, error) {
	switch {
	case !addr.IsValid():
		return netip.Addr{}, invalid("missing address")
	case family == lvs.IPv4 && addr.Unmap().Is4():
		return addr.Unmap(), nil
	case family == lvs.IPv6 && addr.Is6():
		return addr.WithZone(""), nil
	}
	return netip.Addr{}, invalid("address %s is not %s", addr, family)
}

// normKey is the key the kernel looks a service up by.
func normKey(k lvs.ServiceKey) (lvs.ServiceKey, error) {
	fam, err := serviceFamily(k.Family, k.FWMark, k.Address)
	if err != nil {
		return lvs.ServiceKey{}, err
	}
	if k.FWMark != 0 {
		return lvs.ServiceKey{Family: fam, FWMark: k.FWMark}, nil
	}
	addr, err := normAddr(fam, k.Address)
	if err != nil {
		return lvs.ServiceKey{}, fmt.Errorf("service %s: %w", k, err)
	}
	return lvs.ServiceKey{Family: fam, Protocol: k.Protocol, Address: addr, Port: k.Port}, nil
}

// normService is the service as the kernel stores it from a NEW or SET
// request: the key normalised, the timeout in whole seconds (kept in
// jiffies in an unsigned int, so huge values wrap as they do in the
// kernel), the flags without FlagHashed.
func normService(s lvs.Service) (lvs.Service, error) {
	key, err := normKey(s.Key())
	if err != nil {
		return lvs.Service{}, err
	}
	if len(s.Scheduler) >= schedNameMaxLen {
		return lvs.Service{}, invalid("scheduler name %q longer than %d bytes", s.Scheduler, schedNameMaxLen-1)
	}
	if len(s.PEName) >= peNameMaxLen {
		return lvs.Service{}, invalid("persistence engine name %q longer than %d bytes", s.PEName, peNameMaxLen-1)
	}
	if s.Timeout < 0 || s.Timeout/time.Second > 1<<32-1 {
		return lvs.Service{}, invalid("persistence timeout %v", s.Timeout)
	}
	secs := uint32(s.Timeout / time.Second)
	return lvs.Service{
		Family: key.Family, Protocol: key.Protocol, Address: key.Address, Port: key.Port, FWMark: key.FWMark,
		Scheduler: s.Scheduler,
		Flags:     s.Flags &^ lvs.FlagHashed,
		Timeout:   time.Duration(secs*hz/hz) * time.Second,
		Netmask:   s.Netmask,
		PEName:    s.PEName,
	}, nil
}

// normDest is the destination as the client sends it: the family
// defaulted from the address, the address normalised, and (full) the
// forwarding method within IP_VS_CONN_F_FWD_MASK.
func normDest(d lvs.Destination, full bool) (lvs.Destination, error) {
	family := d.Family
	if family == 0 {
		if !d.Address.IsValid() {
			return lvs.Destination{}, invalid("destination without an address")
		}
		family = lvs.FamilyOf(d.Address)
	}
	addr, err := normAddr(family, d.Address)
	if err != nil {
		return lvs.Destination{}, fmt.Errorf("destination %s: %w", d, err)
	}
	if full && d.Forward&^lvs.ForwardMethod(7) != 0 {
		return lvs.Destination{}, invalid("forwarding method %d", uint32(d.Forward))
	}
	return lvs.Destination{
		Family: family, Address: addr, Port: d.Port,
		Forward: d.Forward, Weight: d.Weight,
		UpperThreshold: d.UpperThreshold, LowerThreshold: d.LowerThreshold,
		TunnelType: d.TunnelType, TunnelPort: d.TunnelPort, TunnelFlags: d.TunnelFlags,
	}, nil
}

// check applies the client's own validation of an operation.
func check(op lvs.Op) error {
	switch op.Kind {
	case lvs.AddService, lvs.EditService:
		_, err := normService(op.Service)
		return err
	case lvs.DeleteService:
		_, err := normKey(op.Service.Key())
		return err
	case lvs.AddDestination, lvs.EditDestination, lvs.DeleteDestination:
		if _, err := normKey(op.Service.Key()); err != nil {
			return err
		}
		_, err := normDest(op.Destination, op.Kind != lvs.DeleteDestination)
		return err
	case lvs.Zero:
		if op.AllServices {
			return nil
		}
		_, err := normKey(op.Service.Key())
		return err
	case lvs.SetTimeouts:
		for _, d := range []time.Duration{op.Timeouts.TCP, op.Timeouts.TCPFin, op.Timeouts.UDP} {
			if d < 0 || d/time.Second > 1<<31-1 {
				return invalid("timeout %v", d)
			}
		}
	case lvs.StartDaemon, lvs.StopDaemon:
		d := op.Daemon
		if d.State != lvs.SyncMaster && d.State != lvs.SyncBackup {
			return invalid("sync daemon state %d", uint32(d.State))
		}
		if op.Kind == lvs.StartDaemon && (d.Interface == "" || len(d.Interface) >= ifNameMaxLen) {
			return invalid("sync daemon interface %q", d.Interface)
		}
	}
	return nil
}

// apply runs an operation that passed check, with k.mu held: the kernel's
// side of ip_vs_genl_set_cmd and ip_vs_genl_set_daemon.
func (k *Kernel) apply(cmd ipvs.Cmd, op lvs.Op) error {
	kerr := func(errno unix.Errno) error { return &ipvs.Error{Cmd: cmd, Errno: errno} }
	switch op.Kind {
	case lvs.Flush:
		k.flush()
		return nil
	case lvs.SetTimeouts:
		return k.setTimeouts(op.Timeouts, kerr)
	case lvs.StartDaemon:
		return k.startDaemon(op.Daemon, kerr)
	case lvs.StopDaemon:
		return k.stopDaemon(op.Daemon.State, kerr)
	case lvs.Zero:
		if op.AllServices {
			for _, s := range k.services {
				s.zero()
			}
			return nil
		}
	}

	// Every other command names a service.
	var (
		usvc lvs.Service
		key  lvs.ServiceKey
	)
	if op.Kind == lvs.AddService || op.Kind == lvs.EditService {
		usvc, _ = normService(op.Service) // checked already
		key = usvc.Key()
	} else {
		key, _ = normKey(op.Service.Key())
	}
	svc := k.find(key)
	if op.Kind != lvs.AddService && svc == nil {
		return kerr(unix.ESRCH)
	}

	var udest lvs.Destination
	switch op.Kind {
	case lvs.AddDestination, lvs.EditDestination, lvs.DeleteDestination:
		udest, _ = normDest(op.Destination, op.Kind != lvs.DeleteDestination)
		udest.Forward &= 7 // IP_VS_CONN_F_FWD_MASK
		if udest.Family != svc.svc.Family && op.Kind != lvs.DeleteDestination {
			// The sync protocol cannot carry mixed-family services, and
			// only tunnelling can forward to the other family.
			if k.master != nil || k.backup != nil || udest.Forward != lvs.Tunnel {
				return kerr(unix.EINVAL)
			}
		}
	}

	switch op.Kind {
	case lvs.AddService:
		if svc != nil {
			return kerr(unix.EEXIST)
		}
		if err := k.checkServiceParams(usvc, kerr); err != nil {
			return err
		}
		k.services = append(k.services, &service{svc: usvc})
	case lvs.EditService:
		if err := k.checkServiceParams(usvc, kerr); err != nil {
			return err
		}
		usvc.Stats = svc.svc.Stats
		svc.svc = usvc
	case lvs.DeleteService:
		k.deleteService(svc)
	case lvs.Zero:
		svc.zero()
	case lvs.AddDestination:
		if err := checkDestParams(udest, kerr); err != nil {
			return err
		}
		if svc.findDest(udest) >= 0 {
			return kerr(unix.EEXIST)
		}
		if !destAddrOK(udest.Address) {
			return kerr(unix.EINVAL)
		}
		d := udest
		svc.dests = append([]*lvs.Destination{&d}, svc.dests...)
		if d.Family != svc.svc.Family {
			k.mixedDests++
		}
	case lvs.EditDestination:
		if err := checkDestParams(udest, kerr); err != nil {
			return err
		}
		i := svc.findDest(udest)
		if i < 0 {
			return kerr(unix.ENOENT)
		}
		x := svc.dests[i]
		x.Forward, x.Weight = udest.Forward, udest.Weight
		x.UpperThreshold, x.LowerThreshold = udest.UpperThreshold, udest.LowerThreshold
		x.TunnelType, x.TunnelPort, x.TunnelFlags = udest.TunnelType, udest.TunnelPort, udest.TunnelFlags
	case lvs.DeleteDestination:
		i := svc.findDest(udest)
		if i < 0 {
			return kerr(unix.ENOENT)
		}
		if svc.dests[i].Family != svc.svc.Family {
			k.mixedDests--
		}
		svc.dests = append(svc.dests[:i], svc.dests[i+1:]...)
	}
	return nil
}

// checkServiceParams is the part of ip_vs_add_service and
// ip_vs_edit_service after the lookup: the scheduler ("none" means none)
// and persistence engine must be loadable, and an IPv6 service's netmask is
// a prefix length of 1..128. Nothing else is checked by the kernel: not the
// protocol, not the port, not the IPv4 netmask, not the timeout.
func (k *Kernel) checkServiceParams(s lvs.Service, kerr func(unix.Errno) error) error {
	if s.Scheduler != "none" && !k.schedulers[s.Scheduler] {
		return kerr(unix.ENOENT)
	}
	if s.PEName != "" && !k.pes[s.PEName] {
		return kerr(unix.ENOENT)
	}
	if s.Family == lvs.IPv6 && (s.Netmask < 1 || s.Netmask > 128) {
		return kerr(unix.EINVAL)
	}
	return nil
}

// checkDestParams is the start of ip_vs_add_dest and ip_vs_edit_dest,
// which runs before the destination is looked up.
func checkDestParams(d lvs.Destination, kerr func(unix.Errno) error) error {
	switch {
	case d.Weight < 0:
		return kerr(unix.ERANGE) // "server weight less than zero"
	case d.LowerThreshold > d.UpperThreshold:
		return kerr(unix.ERANGE) // "lower threshold is higher than upper threshold"
	case d.UpperThreshold > 1<<31-1:
		return kerr(unix.EINVAL)
	case d.TunnelType == lvs.TunnelGUE && d.TunnelPort == 0:
		return kerr(unix.EINVAL) // "tunnel port is zero"
	}
	return nil
}

// destAddrOK is ip_vs_new_dest's address check. IPv4: inet_addr_type must
// say RTN_LOCAL or RTN_UNICAST, which rules out 0.0.0.0/8, the limited
// broadcast and multicast (a subnet's broadcast address, also refused by
// the kernel, depends on the host's routes and is not modelled). IPv6:
// ipv6_addr_type must say unicast and not link-local (unless the address is
// local to the host, not modelled), which rules out ::, multicast,
// link-local and IPv4-mapped addresses.
func destAddrOK(a netip.Addr) bool {
	if a.Is4() {
		b := a.As4()
		return b[0] != 0 && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	return !a.IsUnspecified() && !a.IsMulticast() && !a.IsLinkLocalUnicast() && !a.Is4In6()
}

func (s *service) zero() {
	s.svc.Stats = lvs.Stats{}
	for _, d := range s.dests {
		d.Stats = lvs.Stats{}
	}
}

func (k *Kernel) deleteService(svc *service) {
	for _, d := range svc.dests {
		if d.Family != svc.svc.Family {
			k.mixedDests--
		}
	}
	for i, s := range k.services {
		if s == svc {
			k.services = append(k.services[:i], k.services[i+1:]...)
			return
		}
	}
}

func (k *Kernel) flush() {
	k.services = nil
	k.mixedDests = 0
}

// setTimeouts is ip_vs_genl_set_config and ip_vs_set_timeout: the new
// values are merged into the current ones, all three are checked against
// INT_MAX/HZ, then the non-zero ones are stored.
func (k *Kernel) setTimeouts(t lvs.Timeouts, kerr func(unix.Errno) error) error {
	merged := k.timeouts
	secs := func(d time.Duration) time.Duration { return d / time.Second * time.Second }
	if s := secs(t.TCP); s != 0 {
		merged.TCP = s
	}
	if s := secs(t.TCPFin); s != 0 {
		merged.TCPFin = s
	}
	if s := secs(t.UDP); s != 0 {
		merged.UDP = s
	}
	for _, d := range []time.Duration{merged.TCP, merged.TCPFin, merged.UDP} {
		if d/time.Second > maxTimeout {
			return kerr(unix.EINVAL)
		}
	}
	k.timeouts = merged
	return nil
}

// startDaemon is ip_vs_genl_new_daemon and start_sync_thread.
func (k *Kernel) startDaemon(d lvs.SyncDaemon, kerr func(unix.Errno) error) error {
	c := lvs.SyncDaemon{State: d.State, Interface: d.Interface, SyncID: d.SyncID, MaxLen: d.MaxLen,
		Port: d.Port, TTL: d.TTL}
	v6 := false
	if d.Group.IsValid() {
		g := d.Group.Unmap()
		if !g.IsMulticast() {
			return kerr(unix.EINVAL)
		}
		c.Group, v6 = g, g.Is6()
	}
	if k.mixedDests > 0 {
		return kerr(unix.EINVAL)
	}
	if !c.Group.IsValid() {
		c.Group = netip.AddrFrom4([4]byte{224, 0, 0, 81}) // IP_VS_SYNC_GROUP
	}
	if c.Port == 0 {
		c.Port = 8848 // IP_VS_SYNC_PORT
	}
	if c.TTL == 0 {
		c.TTL = 1
	}
	mtu := 1500
	if k.ifaces != nil {
		m, ok := k.ifaces[c.Interface]
		if !ok {
			return kerr(unix.ENODEV)
		}
		mtu = m
	}
	hlen := 20 + 8 // struct iphdr + struct udphdr
	if v6 {
		hlen = 40 + 8
	}
	maxMTU, minMTU := 1500, 1
	if c.State == lvs.SyncBackup {
		maxMTU, minMTU = min(max(mtu, 1500), 65535), 1024
	}
	if c.MaxLen != 0 {
		c.MaxLen = uint16(min(max(int(c.MaxLen), minMTU), 65535-hlen))
	} else {
		c.MaxLen = uint16(maxMTU - hlen)
	}
	switch c.State {
	case lvs.SyncMaster:
		if k.master != nil {
			return kerr(unix.EEXIST)
		}
		k.master = &c
	case lvs.SyncBackup:
		if k.backup != nil {
			return kerr(unix.EEXIST)
		}
		k.backup = &c
	}
	return nil
}

// stopDaemon is stop_sync_thread: ESRCH when that role is not running.
func (k *Kernel) stopDaemon(state lvs.SyncState, kerr func(unix.Errno) error) error {
	p := &k.master
	if state == lvs.SyncBackup {
		p = &k.backup
	}
	if *p == nil {
		return kerr(unix.ESRCH)
	}
	*p = nil
	return nil
}
