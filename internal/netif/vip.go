package netif

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

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
	if err := netlink.AddrAdd(l, a); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add %s to %s: %w", p, link, err)
	}
	return nil
}

// VIPs is the VRRP speaker's vrrp.Network: it adds and removes virtual
// addresses through Links and announces them with gratuitous ARPs and
// unsolicited neighbour advertisements (garp.go).
type VIPs struct {
	Links Links
	// Announce sends the announcements; nil means SendGratuitous on the
	// host's interfaces (tests replace it).
	Announce func(ctx context.Context, dev string, addr netip.Addr) error
}

var _ vrrp.Network = (*VIPs)(nil)

// AddVIPs implements vrrp.Network. Every VIP must name its device; all
// are tried, and the first error is returned.
func (v *VIPs) AddVIPs(ctx context.Context, vips []vrrp.VIP) error {
	var first error
	for _, vip := range vips {
		var err error
		at := AddrAttrs{Label: vip.Label, Scope: vip.Scope, Broadcast: vip.Broadcast, NoDAD: vip.NoDAD}
		if al, ok := v.Links.(AttrLinks); ok {
			err = al.AddAddrAttrs(vip.Dev, vip.Prefix, at)
		} else {
			err = v.Links.AddAddr(vip.Dev, vip.Prefix)
		}
		if err != nil && first == nil {
			first = fmt.Errorf("add VIP: %w", err)
		}
	}
	return first
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
// every VIP once, as keepalived sends them (vrrp_send_link_update).
func (v *VIPs) SendGratuitous(ctx context.Context, vips []vrrp.VIP, repeat int) error {
	announce := v.Announce
	if announce == nil {
		announce = Announce
	}
	var first error
	for range repeat {
		for _, vip := range vips {
			if err := announce(ctx, vip.Dev, vip.Prefix.Addr()); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}
