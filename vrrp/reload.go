package vrrp

import (
	"context"
	"fmt"
	"reflect"
	"slices"
)

// ReloadResult says what a Reload did, by instance name, in configuration
// order.
type ReloadResult struct {
	// Unchanged instances were not touched at all.
	Unchanged []string
	// Updated instances took their new settings in place (see
	// Instance.Reconfigure, and the VIP list, notify scripts).
	Updated []string
	// Restarted instances were stopped (priority 0 advert if master,
	// VIPs removed, notify stop) and started again with their new
	// configuration.
	Restarted []string
	Added     []string
	Removed   []string
}

// Reload replaces the running configuration with cfg, as keepalived does
// on SIGHUP, keeping the state of what did not change. Instances are
// matched by name:
//   - an instance whose configuration is the same is not touched: its
//     state, timers and VIPs stay as they are;
//   - one whose changes are all of priority, nopreempt, preempt_delay,
//     advert_int, state, the gratuitous ARP settings, the sync daemon
//     switch, virtual_ipaddress(_excluded) (the same address family), the
//     notify scripts, vrrp_skip_check_adv_addr or the tracked scripts and
//     their weights is updated in place: a master adds the new VIPs (with
//     gratuitous ARPs / NAs) and removes the dropped ones, its adverts
//     carry the new effective priority, and it stays master unless a
//     tracked weight-0 script has failed (FAULT, as the script's result
//     would make it);
//   - any other change (interface, virtual_router_id, version, source
//     address, unicast peers, multicast group, authentication, tracked
//     interfaces, sync group membership) stops the instance gracefully and
//     starts it again;
//   - a vrrp_script whose settings changed starts anew (its fall and rise
//     counts from the start); the instances tracking it keep the state
//     they had of it until its first result;
//   - instances no longer configured stop gracefully, new ones start.
//
// cfg is checked in full first, and everything that can fail (source
// addresses, machines, VRIDs per socket, link states, new sockets) is
// done before anything changes: an error leaves the running configuration
// as it was. Reload may be called from any goroutine while Run runs.
func (s *Speaker) Reload(ctx context.Context, cfg SpeakerConfig) (ReloadResult, error) {
	c, err := s.compile(cfg)
	if err != nil {
		return ReloadResult{}, err
	}
	type reply struct {
		res ReloadResult
		err error
	}
	ch := make(chan reply, 1)
	select {
	case s.work <- func() {
		res, err := s.reload(cfg, c)
		ch <- reply{res, err}
	}:
	case <-s.stopped:
		return ReloadResult{}, ErrStopped
	case <-ctx.Done():
		return ReloadResult{}, ctx.Err()
	}
	select {
	case r := <-ch:
		return r.res, r.err
	case <-s.stopped:
		select {
		case r := <-ch:
			return r.res, r.err
		default:
			return ReloadResult{}, ErrStopped
		}
	case <-ctx.Done():
		return ReloadResult{}, ctx.Err()
	}
}

// reloadKind is what a Reload does with an instance present before and
// after.
type reloadKind uint8

const (
	reloadUnchanged reloadKind = iota
	reloadUpdate
	reloadRestart
)

// classify compares an instance's configuration before and after.
func classify(old, new InstanceConfig, oldCfg, newCfg SpeakerConfig) reloadKind {
	if !reflect.DeepEqual(restartFields(old), restartFields(new)) ||
		vipFamily6(old) != vipFamily6(new) ||
		!reflect.DeepEqual(groupOf(old.Machine.Name, oldCfg), groupOf(new.Machine.Name, newCfg)) {
		return reloadRestart
	}
	if reflect.DeepEqual(old, new) {
		return reloadUnchanged
	}
	return reloadUpdate
}

// restartFields is ic without what Reload changes in place.
func restartFields(ic InstanceConfig) InstanceConfig {
	m := &ic.Machine
	m.Priority, m.NoPreempt, m.PreemptDelay, m.AdvertInterval, m.StartMaster = 0, false, 0, 0, false
	m.GARPRepeat, m.GARPDelay, m.GARPRefresh, m.GARPRefreshRepeat, m.SyncDaemon = 0, 0, 0, 0, false
	ic.VIPs, ic.ExcludedVIPs, ic.Notify, ic.SkipCheckAddrs = nil, nil, NotifyScripts{}, false
	ic.TrackScripts = nil
	return ic
}

// vipFamily6: the first VIP's family picks the source address and the
// multicast group when they are not configured.
func vipFamily6(ic InstanceConfig) bool {
	return len(ic.VIPs) > 0 && ic.VIPs[0].Prefix.Addr().Unmap().Is6()
}

// groupOf is the name and members of the sync group holding name (its
// notify scripts change in place).
func groupOf(name string, cfg SpeakerConfig) []string {
	for _, g := range cfg.Groups {
		if slices.Contains(g.Instances, name) {
			return append([]string{g.Name}, g.Instances...)
		}
	}
	return nil
}

// reload runs on the loop: Reload's work.
func (s *Speaker) reload(cfg SpeakerConfig, c compiled) (ReloadResult, error) {
	var res ReloadResult
	final := map[string]*runInstance{}
	var fresh, stopping []*runInstance
	type update struct{ old, new *runInstance }
	var updates []update
	for _, nri := range c.insts {
		name := nri.orig.Machine.Name
		ori := s.byName[name]
		if ori == nil {
			res.Added = append(res.Added, name)
			fresh = append(fresh, nri)
			final[name] = nri
			continue
		}
		switch classify(ori.orig, nri.orig, s.cfg, cfg) {
		case reloadUnchanged:
			res.Unchanged = append(res.Unchanged, name)
			final[name] = ori
		case reloadUpdate:
			res.Updated = append(res.Updated, name)
			updates = append(updates, update{ori, nri})
			final[name] = ori
		case reloadRestart:
			res.Restarted = append(res.Restarted, name)
			fresh = append(fresh, nri)
			stopping = append(stopping, ori)
			final[name] = nri
		}
	}
	for _, ori := range s.insts {
		if c.byName[ori.orig.Machine.Name] == nil {
			res.Removed = append(res.Removed, ori.orig.Machine.Name)
			stopping = append(stopping, ori)
		}
	}

	// Everything that can fail, before anything changes.
	for _, nri := range fresh {
		if err := s.prepare(nri); err != nil {
			return ReloadResult{}, err
		}
	}
	machines := map[*runInstance]Config{}
	for _, u := range updates {
		mc := mergeMachine(u.old, u.new)
		if err := mc.validate(); err != nil {
			return ReloadResult{}, fmt.Errorf("vrrp_instance %s: %w", mc.Name, err)
		}
		machines[u.old] = mc
	}
	used := map[TransportKey]map[uint8]string{}
	for _, nri := range c.insts {
		ri := final[nri.orig.Machine.Name]
		ids := used[ri.key]
		if ids == nil {
			ids = map[uint8]string{}
			used[ri.key] = ids
		}
		if other, dup := ids[ri.cfg.Machine.VRID]; dup {
			return ReloadResult{}, fmt.Errorf("vrrp_instance %s: virtual_router_id %d already used by %s on %s",
				ri.cfg.Machine.Name, ri.cfg.Machine.VRID, other, ri.cfg.Interface)
		}
		ids[ri.cfg.Machine.VRID] = ri.cfg.Machine.Name
	}
	newLinks := map[string]bool{}
	for _, nri := range fresh {
		for _, ti := range nri.cfg.Machine.Interfaces {
			_, known := s.links[ti.Name]
			_, seen := newLinks[ti.Name]
			if known || seen {
				continue
			}
			up, err := s.env.Links.LinkUp(ti.Name)
			if err != nil {
				return ReloadResult{}, fmt.Errorf("vrrp_instance %s: track_interface %s: %w", nri.cfg.Machine.Name, ti.Name, err)
			}
			newLinks[ti.Name] = up
		}
	}
	opened := map[TransportKey]*runSocket{}
	for _, nri := range fresh {
		if s.socks[nri.key] != nil || opened[nri.key] != nil {
			continue
		}
		t, err := s.env.OpenTransport(nri.key)
		if err != nil {
			for _, sock := range opened {
				sock.t.Close()
			}
			return ReloadResult{}, fmt.Errorf("vrrp_instance %s: %w", nri.cfg.Machine.Name, err)
		}
		opened[nri.key] = newRunSocket(nri.key, t)
	}

	// Commit. Stop first, so that a restarted instance's VRID and VIPs
	// are free for its successor.
	for _, ri := range stopping {
		s.stopInstance(ri)
	}
	for _, u := range updates {
		s.update(u.old, u.new, machines[u.old])
	}
	s.insts = s.insts[:0:0]
	for _, nri := range c.insts {
		s.insts = append(s.insts, final[nri.orig.Machine.Name])
	}
	s.byName = final
	s.reloadScripts(c, final)
	s.reloadGroups(c, final)
	for key, sock := range opened {
		s.socks[key] = sock
		s.startReceiver(sock)
	}
	for _, nri := range fresh {
		sock := s.socks[nri.key]
		sock.byID[nri.cfg.Machine.VRID] = nri
		nri.sock = sock
	}
	for _, sock := range s.socks {
		if len(sock.byID) == 0 {
			s.closeSocket(sock)
		}
	}
	for name := range s.links {
		if !s.tracksLink(name) {
			delete(s.links, name) // its state is read again if tracked again
		}
	}
	for name, up := range newLinks {
		s.links[name] = up
		s.log.Info("link", "interface", name, "up", up)
	}
	if len(s.links) > 0 {
		s.watchLinks()
	}
	s.cfg = cfg
	for _, u := range updates {
		// A script it tracks now may have a result already.
		s.learnScripts(u.old, true)
	}
	for _, nri := range fresh {
		// The new machine learns what the speaker already knows of its
		// links and scripts, then starts (RFC 5798 §6.4.1).
		for _, ti := range nri.cfg.Machine.Interfaces {
			s.step(nri, InterfaceChanged{Name: ti.Name, Up: s.links[ti.Name]}, false)
		}
		s.learnScripts(nri, false)
		s.step(nri, Startup{}, true)
	}
	s.log.Info("reloaded", "unchanged", res.Unchanged, "updated", res.Updated, "restarted", res.Restarted,
		"added", res.Added, "removed", res.Removed)
	return res, nil
}

// mergeMachine is the machine configuration an updated instance runs
// with: the new settings, with what prepare resolved (source address,
// tracking; unchanged by classify) kept from the running one.
func mergeMachine(old, new *runInstance) Config {
	mc := new.orig.Machine
	mc.LocalAddr = old.cfg.Machine.LocalAddr
	mc.Interfaces = old.cfg.Machine.Interfaces
	mc.Scripts = machineScripts(new.orig)
	return mc
}

// learnScripts tells ri's machine the known state of each script it
// tracks (propagate as for step).
func (s *Speaker) learnScripts(ri *runInstance, propagate bool) {
	for _, ts := range ri.cfg.TrackScripts {
		rs := s.scripts[ts.Name]
		if rs == nil {
			continue
		}
		if st := rs.tracker.State(); st != TrackUnknown {
			if ts.Reverse {
				st = map[TrackState]TrackState{TrackUp: TrackDown, TrackDown: TrackUp}[st]
			}
			s.step(ri, ScriptChanged{Name: trackedName(ts), State: st}, propagate)
		}
	}
}

// stopInstance stops ri as keepalived stops an instance a reload drops:
// priority 0 advert if master, VIPs removed, notify stop; its sync group
// is not moved.
func (s *Speaker) stopInstance(ri *runInstance) {
	s.step(ri, Shutdown{}, false)
	for t, tm := range ri.timers {
		tm.Stop()
		delete(ri.timers, t)
	}
	ri.gone = true
	if ri.sock != nil && ri.sock.byID[ri.cfg.Machine.VRID] == ri {
		delete(ri.sock.byID, ri.cfg.Machine.VRID)
	}
}

// update applies an instance's new settings in place: the machine's
// (Reconfigure), the VIPs (a master swaps them and announces the new
// ones), what adverts carry and are checked against, notify scripts.
func (s *Speaker) update(ri, nri *runInstance, mc Config) {
	acts, err := ri.m.Reconfigure(mc)
	if err != nil {
		// classify and validate let only in-place changes through.
		s.log.Error("reconfigure", "instance", mc.Name, "err", err)
		return
	}
	ctx := context.Background()
	oldAll := ri.all
	ri.orig = nri.orig
	ri.cfg = nri.orig
	ri.cfg.Machine = ri.m.cfg
	ri.all = nri.all
	ri.expect = expectFor(ri.cfg)
	if ri.m.State() == StateMaster {
		var gone, added []VIP
		for _, v := range oldAll {
			if !slices.Contains(ri.all, v) {
				gone = append(gone, v)
			}
		}
		for _, v := range ri.all {
			if !slices.Contains(oldAll, v) {
				added = append(added, v)
			}
		}
		if len(gone) > 0 {
			if err := s.env.Network.RemoveVIPs(ctx, gone); err != nil {
				s.log.Error("remove VIPs", "instance", mc.Name, "err", err)
			}
		}
		if len(added) > 0 {
			if err := s.env.Network.AddVIPs(ctx, added); err != nil {
				s.log.Error("add VIPs", "instance", mc.Name, "err", err)
			}
			if err := s.env.Network.SendGratuitous(ctx, added, ri.m.cfg.GARPRepeat); err != nil {
				s.log.Warn("gratuitous ARP/NA", "instance", mc.Name, "err", err)
			}
		}
	}
	s.do(ri, acts)
}

// reloadScripts keeps the vrrp_scripts whose settings are the same (their
// goroutine and fall/rise state), starts new or changed ones and stops
// those no longer used.
func (s *Speaker) reloadScripts(c compiled, final map[string]*runInstance) {
	next := map[string]*runScript{}
	for name, nrs := range c.scripts {
		rs := nrs
		if old := s.scripts[name]; old != nil && reflect.DeepEqual(old.cfg, nrs.cfg) {
			rs = old
		}
		rs.users = rs.users[:0:0]
		for _, u := range nrs.users {
			rs.users = append(rs.users, final[u.orig.Machine.Name])
		}
		next[name] = rs
	}
	for name, old := range s.scripts {
		if next[name] != old {
			old.gone = true
			if old.cancel != nil {
				old.cancel()
			}
		}
	}
	s.scripts = next
	for _, rs := range next {
		switch {
		case len(rs.users) > 0 && rs.cancel == nil:
			s.startScript(rs)
		case len(rs.users) == 0 && rs.cancel != nil:
			rs.cancel()
			rs.cancel = nil
		}
	}
}

// reloadGroups rebuilds the sync groups over the running instances; a
// group of the same name keeps its state, so that no group notify runs
// for a move that did not happen.
func (s *Speaker) reloadGroups(c compiled, final map[string]*runInstance) {
	for _, ri := range final {
		ri.group = nil
	}
	for name, g := range c.groups {
		if old := s.groups[name]; old != nil {
			g.state = old.state
		}
		for i, m := range g.members {
			g.members[i] = final[m.orig.Machine.Name]
			g.members[i].group = g
		}
	}
	s.groups = c.groups
}
