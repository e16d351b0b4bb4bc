package netif

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Mode is how the director forwards to this real server.
type Mode string

// Forwarding modes a real server can be prepared for.
const (
	// DR (direct routing, ipvsadm -g): the VIP goes on lo.
	DR Mode = "dr"
	// TUN (IP-in-IP, ipvsadm -i): the VIP goes on tunl0 (ip6tnl0 for
	// IPv6), whose packets must pass the reverse-path filter.
	TUN Mode = "tun"
)

// ParseMode reads dr or tun.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(s)); m {
	case DR, TUN:
		return m, nil
	}
	return "", fmt.Errorf("mode %q: want dr or tun", s)
}

// DefaultStatePath is where RealServer records what it changed: one file
// per network namespace (named by the namespace's inode), because the
// addresses and sysctls it describes are per namespace and namespaces
// share /run. /run is a tmpfs: the record goes at reboot, together with
// what it describes.
func DefaultStatePath() string {
	name := "realserver.json"
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err == nil {
		name = fmt.Sprintf("realserver-net%d.json", st.Ino)
	}
	return filepath.Join("/run/lvsctl", name)
}

// ErrNotManaged: Down was asked to remove a VIP that Up did not set up.
var ErrNotManaged = errors.New("VIP was not set up by lvsctl realserver")

// RealServer prepares this host as a real server for DR or TUN.
type RealServer struct {
	Links   Links
	Sysctls Sysctls
	// StatePath is the state file; "" means DefaultStatePath().
	StatePath string
}

// VIPState is one VIP in the state file.
type VIPState struct {
	Addr netip.Addr `json:"addr"`
	Link string     `json:"link"`
	Mode Mode       `json:"mode"`
	// Added is false when the address was on the link before Up, in
	// which case Down leaves it there.
	Added bool `json:"added"`
}

// State is what Up changed: the VIPs, and every sysctl it set with the
// value it had before.
type State struct {
	VIPs    []VIPState        `json:"vips"`
	Sysctls map[string]string `json:"sysctls"`
}

func (r *RealServer) statePath() string {
	if r.StatePath == "" {
		return DefaultStatePath()
	}
	return r.StatePath
}

// LoadState reads the state file; a missing file is an empty state.
func (r *RealServer) LoadState() (State, error) {
	st := State{Sysctls: map[string]string{}}
	b, err := os.ReadFile(r.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("read state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, fmt.Errorf("read state %s: %w", r.statePath(), err)
	}
	if st.Sysctls == nil {
		st.Sysctls = map[string]string{}
	}
	return st, nil
}

// saveState writes the state file atomically, or removes it when the
// state is empty.
func (r *RealServer) saveState(st State) error {
	path := r.statePath()
	if len(st.VIPs) == 0 && len(st.Sysctls) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove state: %w", err)
		}
		return nil
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// linkFor is the device that carries a VIP in a mode.
func linkFor(vip netip.Addr, mode Mode) string {
	switch {
	case mode == DR:
		return "lo"
	case vip.Is4():
		return "tunl0"
	}
	return "ip6tnl0"
}

// Setting is one sysctl Up sets.
type Setting struct{ Name, Value string }

// Settings returns the sysctls a VIP on link in mode needs. IPv6 has no
// ARP: neighbour discovery answers only for addresses on the interface a
// solicitation arrives on, so a VIP on lo or ip6tnl0 is never announced.
func Settings(vip netip.Addr, link string, mode Mode) []Setting {
	if !vip.Is4() {
		return nil
	}
	// The kernel uses the larger of "all" and the interface's value for
	// arp_ignore and arp_announce (IN_DEV_ARP_IGNORE, IN_DEV_ARP_ANNOUNCE),
	// so "all" covers the LAN interfaces. arp_ignore=1: answer ARP only
	// for addresses on the interface asked; arp_announce=2: never use the
	// VIP as the source of our own ARP requests.
	s := []Setting{
		{"net.ipv4.conf.all.arp_ignore", "1"},
		{"net.ipv4.conf.all.arp_announce", "2"},
		{"net.ipv4.conf." + link + ".arp_ignore", "1"},
		{"net.ipv4.conf." + link + ".arp_announce", "2"},
	}
	if mode == TUN {
		// Decapsulated packets arrive on tunl0 from the client's address,
		// which routes out another interface: strict reverse-path
		// filtering would drop them. rp_filter is also the larger of all
		// and the interface, so both are relaxed.
		s = append(s,
			Setting{"net.ipv4.conf.all.rp_filter", "0"},
			Setting{"net.ipv4.conf." + link + ".rp_filter", "0"})
	}
	return s
}

// Up puts each VIP on its link and sets the sysctls. Values found before
// are recorded (the first time only) before anything changes, so Down can
// restore them even after a failure part-way.
func (r *RealServer) Up(ctx context.Context, vips []netip.Addr, mode Mode) error {
	st, err := r.LoadState()
	if err != nil {
		return err
	}
	for _, vip := range vips {
		if err := ctx.Err(); err != nil {
			return err
		}
		vip = vip.Unmap()
		link := linkFor(vip, mode)
		if i := slices.IndexFunc(st.VIPs, func(v VIPState) bool { return v.Addr == vip }); i >= 0 && st.VIPs[i].Mode != mode {
			return fmt.Errorf("VIP %s is set up for %s already; run down first", vip, st.VIPs[i].Mode)
		}
		settings := Settings(vip, link, mode)
		if err := r.Links.EnsureLink(link); err != nil {
			return err
		}
		// Record the old values first.
		for _, s := range settings {
			if _, ok := st.Sysctls[s.Name]; ok {
				continue
			}
			old, err := r.Sysctls.Get(s.Name)
			if err != nil {
				return err
			}
			st.Sysctls[s.Name] = old
		}
		// ARP must be quiet before the VIP appears, or the host announces
		// it in between.
		if err := r.saveState(st); err != nil {
			return err
		}
		for _, s := range settings {
			if err := r.Sysctls.Set(s.Name, s.Value); err != nil {
				return err
			}
		}
		if slices.ContainsFunc(st.VIPs, func(v VIPState) bool { return v.Addr == vip }) {
			// Set up before: make sure the address is still there.
			if err := r.Links.AddAddr(link, netip.PrefixFrom(vip, vip.BitLen())); err != nil {
				return err
			}
			continue
		}
		have, err := r.Links.Addrs(link)
		if err != nil {
			return err
		}
		p := netip.PrefixFrom(vip, vip.BitLen())
		vs := VIPState{Addr: vip, Link: link, Mode: mode, Added: !slices.ContainsFunc(have, func(h netip.Prefix) bool { return h.Addr() == vip })}
		if vs.Added {
			if err := r.Links.AddAddr(link, p); err != nil {
				return err
			}
		}
		st.VIPs = append(st.VIPs, vs)
		if err := r.saveState(st); err != nil {
			return err
		}
	}
	return nil
}

// Down removes the given VIPs (every recorded one when vips is empty).
// When no VIP is left, the sysctls get their recorded values back and the
// state file goes. Running it with nothing set up does nothing.
func (r *RealServer) Down(ctx context.Context, vips []netip.Addr) error {
	st, err := r.LoadState()
	if err != nil {
		return err
	}
	var unknown []error
	drop := map[netip.Addr]bool{}
	for _, v := range vips {
		v = v.Unmap()
		if !slices.ContainsFunc(st.VIPs, func(s VIPState) bool { return s.Addr == v }) {
			unknown = append(unknown, fmt.Errorf("%s: %w", v, ErrNotManaged))
		}
		drop[v] = true
	}
	var keep []VIPState
	for _, v := range st.VIPs {
		if len(vips) > 0 && !drop[v.Addr] {
			keep = append(keep, v)
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if v.Added {
			if err := r.Links.DelAddr(v.Link, netip.PrefixFrom(v.Addr, v.Addr.BitLen())); err != nil {
				return err
			}
		}
	}
	st.VIPs = keep
	if len(keep) == 0 {
		// Restore in a fixed order, so the outcome does not depend on
		// map iteration.
		names := make([]string, 0, len(st.Sysctls))
		for n := range st.Sysctls {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			if err := r.Sysctls.Set(n, st.Sysctls[n]); err != nil {
				return err
			}
			delete(st.Sysctls, n)
		}
	}
	if err := r.saveState(st); err != nil {
		return err
	}
	return errors.Join(unknown...)
}

// VIPStatus is one VIP as Status finds it.
type VIPStatus struct {
	VIPState
	Present bool // the address is on its link now
}

// SysctlStatus is one sysctl as Status finds it.
type SysctlStatus struct {
	Name, Now, Before string
}

// Status is what is in place.
type Status struct {
	VIPs    []VIPStatus
	Sysctls []SysctlStatus
}

// Status reports the recorded VIPs with whether they are on their link,
// and the recorded sysctls with their current and former values.
func (r *RealServer) Status(ctx context.Context) (Status, error) {
	st, err := r.LoadState()
	if err != nil {
		return Status{}, err
	}
	var out Status
	for _, v := range st.VIPs {
		if err := ctx.Err(); err != nil {
			return Status{}, err
		}
		have, err := r.Links.Addrs(v.Link)
		if err != nil {
			return Status{}, err
		}
		out.VIPs = append(out.VIPs, VIPStatus{VIPState: v, Present: slices.ContainsFunc(have, func(h netip.Prefix) bool { return h.Addr() == v.Addr })})
	}
	names := make([]string, 0, len(st.Sysctls))
	for n := range st.Sysctls {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		now, err := r.Sysctls.Get(n)
		if err != nil {
			now = "?"
		}
		out.Sysctls = append(out.Sysctls, SysctlStatus{Name: n, Now: now, Before: st.Sysctls[n]})
	}
	return out, nil
}
