package config

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/lvsctl/lvsctl/lvs"
)

// NewInstance returns a VRRP instance with keepalived's defaults, for
// callers that build one from flags rather than from a file.
func NewInstance(name string) *VRRPInstance {
	g := newConfig().Global
	return &VRRPInstance{
		Name: name, State: StateBackup, Priority: 100, AdvertInt: time.Second,
		Version: g.VRRPVersion, Accept: true, DownTimerAdverts: 3, UnicastTTL: 255,
		GARPMasterDelay: g.VRRPGARPMasterDelay, GARPMasterRepeat: g.VRRPGARPMasterRepeat,
		GARPLowerPrioDelay: g.VRRPGARPMasterDelay, GARPLowerPrioRepeat: g.VRRPGARPMasterRepeat,
		GARPMasterRefreshRepeat: g.VRRPGARPMasterRefreshRepeat,
	}
}

// Validate checks what a VRRP instance needs to run, whatever built it.
// Errors carry the instance's File and Line when it came from a file.
func (in *VRRPInstance) Validate() error {
	bad := func(format string, args ...any) error {
		return &Error{File: in.File, Line: in.Line, Msg: fmt.Sprintf("vrrp_instance %s: ", in.Name) + fmt.Sprintf(format, args...)}
	}
	switch {
	case in.VirtualRouterID < 1 || in.VirtualRouterID > 255:
		return bad("virtual_router_id must be set, 1 to 255")
	case in.Priority < 1 || in.Priority > 255:
		return bad("priority %d outside [1, 255]", in.Priority)
	case in.AdvertInt <= 0:
		return bad("advert_int must be positive")
	case in.Version != 2 && in.Version != 3:
		return bad("version %d is neither 2 nor 3", in.Version)
	case in.Interface == "" && len(in.UnicastPeers) == 0:
		return bad("no interface (required unless unicast peers are given)")
	case len(in.VIPs) == 0 && len(in.ExcludedVIPs) == 0:
		// keepalived allows it outside strict mode, but an instance that
		// moves no address is almost always a mistake in a director.
		if in.Strict {
			return bad("no virtual_ipaddress (strict mode)")
		}
	}
	if in.Version == 2 && in.AdvertInt%time.Second != 0 {
		// RFC 3768 §5.3.7: Adver Int is in whole seconds.
		return bad("advert_int %s is not whole seconds, which VRRPv2 needs", in.AdvertInt)
	}
	if in.Version == 3 && (in.AdvertInt%(10*time.Millisecond) != 0 || in.AdvertInt > 40950*time.Millisecond) {
		// RFC 5798 §5.2.7: 12 bits of centiseconds.
		return bad("advert_int %s is not a multiple of 10ms up to 40.95s, which VRRPv3 needs", in.AdvertInt)
	}
	if in.Authentication != AuthNone && in.Version == 3 {
		return bad("authentication is not part of VRRPv3")
	}
	if in.Authentication == AuthPass && in.AuthPass == "" {
		return bad("auth_type PASS without auth_pass")
	}
	var fam4 *bool
	for _, v := range in.VIPs {
		if !v.Prefix.IsValid() {
			return bad("invalid virtual address")
		}
		is4 := v.Prefix.Addr().Is4()
		if fam4 != nil && *fam4 != is4 {
			// Adverts carry one family (RFC 5798 §5.2.9).
			return bad("virtual_ipaddress mixes IPv4 and IPv6; put one family in virtual_ipaddress_excluded")
		}
		fam4 = &is4
	}
	if fam4 != nil && !*fam4 && in.Version == 2 {
		return bad("IPv6 addresses need version 3")
	}
	for _, up := range in.UnicastPeers {
		if !up.Addr.IsValid() {
			return bad("invalid unicast peer")
		}
		if in.UnicastSrcIP.IsValid() && in.UnicastSrcIP.Is4() != up.Addr.Is4() {
			return bad("unicast peer %s and unicast_src_ip %s differ in family", up.Addr, in.UnicastSrcIP)
		}
		if up.MaxTTL != 0 && up.MinTTL > up.MaxTTL {
			return bad("unicast peer %s: min_ttl above max_ttl", up.Addr)
		}
	}
	return nil
}

// NewVirtualServer returns a virtual server with keepalived's defaults,
// for callers that build one from flags.
func NewVirtualServer(addr netip.Addr, port uint16, proto lvs.Protocol) *VirtualServer {
	return &VirtualServer{
		Addr: addr, Port: port, Protocol: proto, Family: lvs.FamilyOf(addr),
		Scheduler: "wlc", Forwarding: Forwarding{Method: lvs.Masquerade},
		DelayLoop: 60 * time.Second, ConnectTimeout: 5 * time.Second,
		Warmup: 60 * time.Second, Quorum: 1,
	}
}

// Validate checks a virtual server on its own (group references are
// checked by the parser, which sees the groups).
func (vs *VirtualServer) Validate() error {
	bad := func(format string, args ...any) error {
		return &Error{File: vs.File, Line: vs.Line, Msg: fmt.Sprintf("virtual_server %s: ", vs.name()) + fmt.Sprintf(format, args...)}
	}
	n := 0
	if vs.Addr.IsValid() {
		n++
	}
	if vs.FWMark != 0 {
		n++
	}
	if vs.Group != "" {
		n++
	}
	if n != 1 {
		return bad("exactly one of an address, a fwmark or a group identifies a virtual server")
	}
	if vs.Quorum < 0 {
		return bad("quorum must not be negative")
	}
	if vs.Hysteresis < 0 {
		return bad("hysteresis must not be negative")
	}
	if vs.DelayLoop <= 0 || vs.ConnectTimeout <= 0 {
		return bad("delay_loop and connect_timeout must be positive")
	}
	seen := map[netip.AddrPort]bool{}
	for _, rs := range vs.RealServers {
		ap := netip.AddrPortFrom(rs.Addr, rs.Port)
		if seen[ap] {
			return &Error{File: rs.File, Line: rs.Line, Msg: fmt.Sprintf("real_server %s repeated in virtual_server %s", ap, vs.name())}
		}
		seen[ap] = true
		if rs.Forwarding.Method != lvs.Tunnel && vs.Family != 0 && lvs.FamilyOf(rs.Addr) != vs.Family {
			// Only tunnelled real servers may differ in family.
			return &Error{File: rs.File, Line: rs.Line, Msg: fmt.Sprintf("real_server %s is not of the virtual server's family and not tunnelled", rs.Addr)}
		}
	}
	if ss := vs.SorryServer; ss != nil && ss.Forwarding.Method != lvs.Tunnel && vs.Family != 0 && lvs.FamilyOf(ss.Addr) != vs.Family {
		return bad("sorry_server %s is not of the virtual server's family", ss.Addr)
	}
	return nil
}

func (vs *VirtualServer) name() string {
	switch {
	case vs.FWMark != 0:
		return fmt.Sprintf("fwmark %d", vs.FWMark)
	case vs.Group != "":
		return "group " + vs.Group
	}
	return fmt.Sprintf("%s %d", vs.Addr, vs.Port)
}

// validate checks references between blocks and uniqueness, after
// defaults and inheritance are applied.
func (c *Config) validate() []error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	at := func(file string, line int, format string, args ...any) {
		errs = append(errs, &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
	}

	scripts := map[string]*VRRPScript{}
	for _, s := range c.Scripts {
		if scripts[s.Name] != nil {
			at(s.File, s.Line, "vrrp_script %s defined twice", s.Name)
		}
		scripts[s.Name] = s
	}
	instances := map[string]*VRRPInstance{}
	type vrid struct {
		ifname string
		v4     bool
		id     int
	}
	vrids := map[vrid]string{}
	for _, in := range c.Instances {
		if instances[in.Name] != nil {
			at(in.File, in.Line, "vrrp_instance %s defined twice", in.Name)
		}
		instances[in.Name] = in
		add(in.Validate())
		v4 := len(in.VIPs) == 0 || in.VIPs[0].Prefix.Addr().Is4()
		k := vrid{in.Interface, v4, in.VirtualRouterID}
		if other, dup := vrids[k]; dup && len(in.UnicastPeers) == 0 {
			at(in.File, in.Line, "vrrp_instance %s: virtual_router_id %d already used by %s on %s", in.Name, in.VirtualRouterID, other, in.Interface)
		}
		vrids[k] = in.Name
		for _, ts := range in.TrackScripts {
			if scripts[ts.Name] == nil {
				at(in.File, in.Line, "vrrp_instance %s: track_script %s is not a vrrp_script", in.Name, ts.Name)
			}
		}
	}
	member := map[string]string{}
	for _, g := range c.SyncGroups {
		for _, name := range g.Instances {
			if instances[name] == nil {
				at(g.File, g.Line, "vrrp_sync_group %s: no vrrp_instance %s", g.Name, name)
			}
			if other, dup := member[name]; dup {
				at(g.File, g.Line, "vrrp_sync_group %s: instance %s is already in group %s", g.Name, name, other)
			}
			member[name] = g.Name
		}
		for _, ts := range g.TrackScripts {
			if scripts[ts.Name] == nil {
				at(g.File, g.Line, "vrrp_sync_group %s: track_script %s is not a vrrp_script", g.Name, ts.Name)
			}
		}
	}
	if sd := c.Global.LVSSyncDaemon; sd != nil && sd.Instance != "" && instances[sd.Instance] == nil {
		at(c.Files[0], 0, "lvs_sync_daemon: no vrrp_instance %s", sd.Instance)
	}

	groups := map[string]bool{}
	for _, g := range c.VirtualServerGroups {
		if groups[g.Name] {
			at(g.File, g.Line, "virtual_server_group %s defined twice", g.Name)
		}
		groups[g.Name] = true
		var v4, v6, markNoFamily bool
		for _, e := range g.Entries {
			switch {
			case e.FWMark != 0:
				markNoFamily = markNoFamily || e.Family == 0
			case e.First.Is4():
				v4 = true
			default:
				v6 = true
			}
		}
		if v4 && v6 && markNoFamily {
			// keepalived cannot tell the family of such a mark and drops
			// the whole group.
			at(g.File, g.Line, "virtual_server_group %s has IPv4 and IPv6 addresses: its fwmark lines need inet or inet6", g.Name)
		}
	}
	type vsKey struct {
		lvs.ServiceKey
		group string
	}
	services := map[vsKey]bool{}
	for _, vs := range c.VirtualServers {
		add(vs.Validate())
		if vs.Group != "" && !groups[vs.Group] {
			at(vs.File, vs.Line, "virtual_server group %s: no virtual_server_group of that name", vs.Group)
		}
		k := vsKey{lvs.ServiceKey{Family: vs.Family, Protocol: vs.Protocol, Address: vs.Addr, Port: vs.Port, FWMark: vs.FWMark}, vs.Group}
		if vs.FWMark != 0 {
			k.Protocol = 0
		}
		if services[k] {
			at(vs.File, vs.Line, "virtual_server %s defined twice", vs.name())
		}
		services[k] = true
	}
	return errs
}
