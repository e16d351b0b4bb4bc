package vrrp

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/lvsctl/lvsctl/internal/config"
)

// SyncDaemonConfig is the IPVS connection sync daemon an instance's state
// drives (global_defs lvs_sync_daemon, or the deprecated
// lvs_sync_daemon_interface): IPVS_DAEMON_ATTR_* values, zero for the
// kernel's defaults.
type SyncDaemonConfig struct {
	Interface string
	SyncID    uint8
	MaxLen    uint16
	Port      uint16
	TTL       uint8
	Group     netip.Addr
}

// FromConfig selects the instances to run from a parsed keepalived.conf
// (all when names is empty) and returns the speaker's configuration and,
// when one of them drives the IPVS sync daemon, that daemon's settings.
func FromConfig(c *config.Config, names []string) (SpeakerConfig, *SyncDaemonConfig, error) {
	var sc SpeakerConfig
	var sd *SyncDaemonConfig
	selected := map[string]bool{}
	for _, n := range names {
		selected[n] = true
	}
	found := map[string]bool{}
	groupOf := map[string]*config.SyncGroup{}
	for _, g := range c.SyncGroups {
		for _, m := range g.Instances {
			groupOf[m] = g
		}
	}
	byName := map[string]*config.VRRPInstance{}
	for _, in := range c.Instances {
		byName[in.Name] = in
	}
	scripts := map[string]*config.VRRPScript{}
	for _, s := range c.Scripts {
		scripts[s.Name] = s
	}
	usedScripts := map[string]bool{}
	for _, in := range c.Instances {
		if len(selected) > 0 && !selected[in.Name] {
			continue
		}
		found[in.Name] = true
		ic, err := instanceFromConfig(c, in)
		if err != nil {
			return sc, nil, err
		}
		if g := groupOf[in.Name]; g != nil {
			// keepalived faults the whole group when one member
			// faults; giving every member every member's tracking (and
			// the group's own), weight 0, does the same.
			ic.Machine.Interfaces, ic.TrackScripts = nil, nil
			for _, m := range append([]string{in.Name}, g.Instances...) {
				mi := byName[m]
				if mi == nil {
					continue
				}
				ic.Machine.Interfaces = addInterfaces(ic.Machine.Interfaces, mi.Interface, mi.DontTrackPrimary, mi.TrackInterfaces)
				ic.TrackScripts = addScripts(ic.TrackScripts, mi.TrackScripts)
			}
			ic.Machine.Interfaces = addInterfaces(ic.Machine.Interfaces, "", true, g.TrackInterfaces)
			ic.TrackScripts = addScripts(ic.TrackScripts, g.TrackScripts)
		}
		for _, ts := range ic.TrackScripts {
			if scripts[ts.Name] == nil {
				return sc, nil, fmt.Errorf("vrrp_instance %s: track_script %s is not a vrrp_script", in.Name, ts.Name)
			}
			usedScripts[ts.Name] = true
		}
		if d := syncDaemonFor(c, in); d != nil {
			ic.Machine.SyncDaemon = true
			if sd != nil && sd.Interface != d.Interface {
				return sc, nil, fmt.Errorf("vrrp_instance %s: a second IPVS sync daemon interface %s (%s already)", in.Name, d.Interface, sd.Interface)
			}
			sd = d
		}
		sc.Instances = append(sc.Instances, ic)
	}
	for _, n := range names {
		if !found[n] {
			return sc, nil, fmt.Errorf("--instance %s: no vrrp_instance of that name", n)
		}
	}
	if len(sc.Instances) == 0 {
		return sc, nil, fmt.Errorf("no vrrp_instance to run")
	}
	for _, s := range c.Scripts {
		if !usedScripts[s.Name] {
			continue
		}
		sc.Scripts = append(sc.Scripts, ScriptConfig{
			Name: s.Name, Argv: s.Script.Args, Interval: s.Interval, Timeout: s.Timeout,
			Rise: s.Rise, Fall: s.Fall, InitFail: s.InitFail,
		})
	}
	for _, g := range c.SyncGroups {
		sc.Groups = append(sc.Groups, GroupConfig{Name: g.Name, Instances: g.Instances, Notify: notifyFromConfig(g.Notify)})
	}
	return sc, sd, nil
}

func addInterfaces(dst []TrackedInterface, primary string, dontTrack bool, tis []config.TrackInterface) []TrackedInterface {
	add := func(name string, w int) {
		if !slices.ContainsFunc(dst, func(t TrackedInterface) bool { return t.Name == name }) {
			dst = append(dst, TrackedInterface{Name: name, Weight: w})
		}
	}
	if primary != "" && !dontTrack {
		add(primary, 0)
	}
	for _, ti := range tis {
		add(ti.Name, 0)
	}
	return dst
}

func addScripts(dst []TrackScriptRef, tss []config.TrackScript) []TrackScriptRef {
	for _, ts := range tss {
		if !slices.ContainsFunc(dst, func(t TrackScriptRef) bool { return t.Name == ts.Name && t.Reverse == ts.Reverse }) {
			dst = append(dst, TrackScriptRef{Name: ts.Name, Reverse: ts.Reverse})
		}
	}
	return dst
}

func syncDaemonFor(c *config.Config, in *config.VRRPInstance) *SyncDaemonConfig {
	g := c.Global.LVSSyncDaemon
	switch {
	case g != nil && (g.Instance == in.Name || (g.Instance == "" && in.LVSSyncDaemonInterface != "")):
		d := &SyncDaemonConfig{Interface: g.Interface, MaxLen: uint16(g.MaxLen), Port: g.Port, TTL: uint8(g.TTL), Group: g.Group}
		d.SyncID = uint8(in.VirtualRouterID)
		if g.SyncID >= 0 {
			d.SyncID = uint8(g.SyncID)
		}
		return d
	case in.LVSSyncDaemonInterface != "":
		// keepalived's default sync id is the instance's VRID.
		return &SyncDaemonConfig{Interface: in.LVSSyncDaemonInterface, SyncID: uint8(in.VirtualRouterID)}
	}
	return nil
}

func vipFromConfig(v config.VirtualAddress) VIP {
	return VIP{Prefix: v.Prefix, Dev: v.Dev, Label: v.Label, Scope: v.Scope, Broadcast: v.Broadcast, NoDAD: v.NoDAD}
}

func scriptArgv(s *config.Script) []string {
	if s == nil || len(s.Args) == 0 {
		return nil
	}
	return s.Args
}

func notifyFromConfig(n config.Notify) NotifyScripts {
	return NotifyScripts{Master: scriptArgv(n.Master), Backup: scriptArgv(n.Backup), Fault: scriptArgv(n.Fault),
		Stop: scriptArgv(n.Stop), Any: scriptArgv(n.Any)}
}

func instanceFromConfig(c *config.Config, in *config.VRRPInstance) (InstanceConfig, error) {
	bad := func(format string, args ...any) (InstanceConfig, error) {
		return InstanceConfig{}, &config.Error{File: in.File, Line: in.Line,
			Msg: fmt.Sprintf("vrrp_instance %s: ", in.Name) + fmt.Sprintf(format, args...)}
	}
	if err := in.Validate(); err != nil {
		return InstanceConfig{}, err
	}
	if in.Authentication == config.AuthAH {
		return bad("auth_type AH is not supported (IPsec AH, RFC 2338 §5.3.6)")
	}
	mc := Config{
		Name: in.Name, Version: Version(in.Version), VRID: uint8(in.VirtualRouterID), Priority: uint8(in.Priority),
		AdvertInterval: in.AdvertInt, StartMaster: in.State == config.StateMaster,
		NoPreempt: in.NoPreempt, PreemptDelay: in.PreemptDelay,
		GARPRepeat: in.GARPMasterRepeat, GARPDelay: in.GARPMasterDelay,
		GARPRefresh: in.GARPMasterRefresh, GARPRefreshRepeat: in.GARPMasterRefreshRepeat,
	}
	if mc.GARPDelay == 0 {
		mc.GARPDelay = -1 // config's 0 is "no second burst"; the machine's is the default
	}
	if mc.GARPRepeat <= 0 {
		mc.GARPRepeat = DefaultGARPRepeat
	}
	ic := InstanceConfig{
		Interface: in.Interface, DontTrackPrimary: in.DontTrackPrimary,
		UnicastTTL: in.UnicastTTL, SkipCheckAddrs: c.Global.VRRPSkipCheckAdvAddr,
		Notify: notifyFromConfig(in.Notify),
	}
	for _, v := range in.VIPs {
		ic.VIPs = append(ic.VIPs, vipFromConfig(v))
	}
	for _, v := range in.ExcludedVIPs {
		ic.ExcludedVIPs = append(ic.ExcludedVIPs, vipFromConfig(v))
	}
	v6 := len(in.VIPs) > 0 && in.VIPs[0].Prefix.Addr().Is6()
	if len(in.UnicastPeers) > 0 {
		mc.LocalAddr = in.UnicastSrcIP
		for _, p := range in.UnicastPeers {
			ic.UnicastPeers = append(ic.UnicastPeers, UnicastPeer{Addr: p.Addr, MinTTL: p.MinTTL, MaxTTL: p.MaxTTL})
		}
		if in.Interface == "" && !mc.LocalAddr.IsValid() {
			return bad("unicast without an interface needs unicast_src_ip")
		}
	} else {
		mc.LocalAddr = in.McastSrcIP
		ic.Group = in.McastDstIP
		if !ic.Group.IsValid() {
			ic.Group = c.Global.VRRPMcastGroup4
			if v6 {
				ic.Group = c.Global.VRRPMcastGroup6
			}
		}
	}
	if in.Authentication == config.AuthPass {
		ic.AuthType, ic.AuthPass = AuthPass, PassFromString(in.AuthPass)
	}
	for _, ti := range in.TrackInterfaces {
		if ti.Name != in.Interface {
			mc.Interfaces = append(mc.Interfaces, TrackedInterface{Name: ti.Name, Weight: ti.Weight})
		}
		if ti.Reverse {
			// Reversed interface weights (up lowers, down raises) are
			// rare enough not to be modelled; say so rather than
			// track the opposite.
			return bad("track_interface %s: weight ... reverse is not supported", ti.Name)
		}
	}
	for _, ts := range in.TrackScripts {
		ic.TrackScripts = append(ic.TrackScripts, TrackScriptRef{Name: ts.Name, Weight: ts.Weight, Reverse: ts.Reverse})
	}
	ic.Machine = mc
	return ic, nil
}
