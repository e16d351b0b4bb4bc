package netif

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/lvsctl/lvsctl/vrrp"
)

// AddrAttrs are the attributes of a virtual address beyond its prefix, as
// keepalived's virtual_ipaddress takes them (brd, scope, label, -nodad).
type AddrAttrs struct {
	Label     string     // IFA_LABEL; must start with the device name
	Scope     string     // global, site, link, host, nowhere or a number; empty: global
	Broadcast netip.Addr // IFA_BROADCAST; invalid: none
	NoDAD     bool       // IFA_F_NODAD (IPv6): usable at once, no tentative phase
}

// AttrLinks is Links that can also add an address with attributes.
// System implements it; a Links that does not gets the bare prefix.
type AttrLinks interface {
	Links
	AddAddrAttrs(link string, p netip.Prefix, at AddrAttrs) error
}

var _ AttrLinks = System{}

// ParseScope maps an address scope name (iproute2's rt_scopes) or number
// to its RT_SCOPE_* value.
func ParseScope(s string) (netlink.Scope, error) {
	switch s {
	case "", "global", "universe":
		return netlink.SCOPE_UNIVERSE, nil
	case "site":
		return netlink.SCOPE_SITE, nil
	case "link":
		return netlink.SCOPE_LINK, nil
	case "host":
		return netlink.SCOPE_HOST, nil
	case "nowhere":
		return netlink.SCOPE_NOWHERE, nil
	}
	n, err := strconv.ParseUint(s, 0, 8)
	if err != nil {
		return 0, fmt.Errorf("address scope %q: not a scope name or 0..255", s)
	}
	return netlink.Scope(n), nil
}

// AddAddrAttrs implements AttrLinks: RTM_NEWADDR with IFA_LABEL,
// IFA_BROADCAST, the scope and IFA_F_NODAD. An address already there is
// not an error.
func (System) AddAddrAttrs(link string, p netip.Prefix, at AddrAttrs) error {
	l, err := netlink.LinkByName(link)
	if err != nil {
		return fmt.Errorf("link %s: %w", link, err)
	}
	return addAddrAttrs(nil, l, p, at)
}

// addAddrAttrs adds p to l through h (nil: a socket of its own).
func addAddrAttrs(h *netlink.Handle, l netlink.Link, p netip.Prefix, at AddrAttrs) error {
	a := toAddr(p)
	a.Label = at.Label
	scope, err := ParseScope(at.Scope)
	if err != nil {
		return err
	}
	a.Scope = int(scope)
	if at.Broadcast.IsValid() {
		a.Broadcast = net.IP(at.Broadcast.AsSlice())
	}
	if at.NoDAD && p.Addr().Is6() {
		a.Flags |= unix.IFA_F_NODAD
	}
	if h != nil {
		err = h.AddrAdd(l, a)
	} else {
		err = netlink.AddrAdd(l, a)
	}
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add %s to %s: %w", p, l.Attrs().Name, err)
	}
	return nil
}

// VIPs is the VRRP speaker's vrrp.Network: it adds and removes virtual
// addresses through Links and announces them with gratuitous ARPs and
// unsolicited neighbour advertisements (garp.go).
//
// With System links and no Announce function, the way from a backup's
// Master_Down_Timer to the first gratuitous ARP is kept short (RFC 5798
// §6.4.2; keepalived takes 0.1 ms): the devices' indexes and Ethernet
// addresses and the AF_PACKET sockets are kept between calls (Announcer),
// and addresses are added over one rtnetlink socket, so no link lookup and
// no socket opening stand between the timer and the frames. The cache is
// checked after the first round of announcements went out, and a device
// whose index or address changed is announced again.
type VIPs struct {
	Links Links
	// Announce sends the announcements; nil means an Announcer of the
	// VIPs' own on the host's interfaces (tests replace it).
	Announce func(ctx context.Context, dev string, addr netip.Addr) error

	mu  sync.Mutex
	ann Announcer
	h   *netlink.Handle // for System links; nil until first used
}

var _ vrrp.Network = (*VIPs)(nil)

// Close releases the cached sockets.
func (v *VIPs) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.h != nil {
		v.h.Close()
		v.h = nil
	}
	return v.ann.Close()
}

// AddVIPs implements vrrp.Network. Every VIP must name its device; all
// are tried, and the first error is returned.
func (v *VIPs) AddVIPs(ctx context.Context, vips []vrrp.VIP) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	var first error
	for _, vip := range vips {
		var err error
		at := AddrAttrs{Label: vip.Label, Scope: vip.Scope, Broadcast: vip.Broadcast, NoDAD: vip.NoDAD}
		switch l := v.Links.(type) {
		case System:
			err = v.addCached(vip.Dev, vip.Prefix, at)
		case AttrLinks:
			err = l.AddAddrAttrs(vip.Dev, vip.Prefix, at)
		default:
			err = v.Links.AddAddr(vip.Dev, vip.Prefix)
		}
		if err != nil && first == nil {
			first = fmt.Errorf("add VIP: %w", err)
		}
	}
	return first
}

// addCached adds p to dev by the cached index over the kept rtnetlink
// socket; when that fails the device is looked up again and the add tried
// once more (it may have been recreated with another index).
func (v *VIPs) addCached(dev string, p netip.Prefix, at AddrAttrs) error {
	if v.h == nil {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return System{}.AddAddrAttrs(dev, p, at)
		}
		v.h = h
	}
	idx, err := v.ann.Index(dev)
	if err == nil {
		err = addAddrAttrs(v.h, &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: idx, Name: dev}}, p, at)
	}
	if err == nil {
		return nil
	}
	v.ann.Forget(dev)
	return System{}.AddAddrAttrs(dev, p, at)
}

// RemoveVIPs implements vrrp.Network; a VIP already gone is not an error.
func (v *VIPs) RemoveVIPs(ctx context.Context, vips []vrrp.VIP) error {
	var first error
	for _, vip := range vips {
		if err := v.Links.DelAddr(vip.Dev, vip.Prefix); err != nil && first == nil {
			first = fmt.Errorf("remove VIP: %w", err)
		}
	}
	return first
}

// SendGratuitous implements vrrp.Network: repeat rounds, each announcing
// every VIP once, as keepalived sends them (vrrp_send_link_update). With
// the cached Announcer, the devices are looked up again after the first
// round, and those that changed get that round again.
func (v *VIPs) SendGratuitous(ctx context.Context, vips []vrrp.VIP, repeat int) error {
	announce := v.Announce
	cached := announce == nil
	if cached {
		announce = v.ann.Announce
	}
	var first error
	round := func(vips []vrrp.VIP) {
		for _, vip := range vips {
			if err := announce(ctx, vip.Dev, vip.Prefix.Addr()); err != nil && first == nil {
				first = err
			}
		}
	}
	for i := range repeat {
		round(vips)
		if i > 0 || !cached {
			continue
		}
		changed := map[string]bool{}
		for _, vip := range vips {
			if _, seen := changed[vip.Dev]; !seen {
				changed[vip.Dev], _ = v.ann.Refresh(vip.Dev)
			}
		}
		var again []vrrp.VIP
		for _, vip := range vips {
			if changed[vip.Dev] {
				again = append(again, vip)
			}
		}
		round(again)
	}
	return first
}
