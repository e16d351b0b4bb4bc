package netif

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Links is the part of rtnetlink RealServer uses. System is the real one;
// tests use an in-memory fake.
type Links interface {
	// EnsureLink makes sure the link exists and is up. lo always exists;
	// tunl0 and ip6tnl0 are the fallback devices of the ipip and
	// ip6_tunnel modules, which appear when the module loads.
	EnsureLink(name string) error
	// Addrs lists the addresses on a link; a missing link has none.
	Addrs(link string) ([]netip.Prefix, error)
	// AddAddr adds an address; one already there is not an error.
	AddAddr(link string, p netip.Prefix) error
	// DelAddr removes an address; one already gone is not an error.
	DelAddr(link string, p netip.Prefix) error
}

// System is Links on the calling thread's network namespace.
type System struct{}

var _ Links = System{}

// EnsureLink implements Links.
func (System) EnsureLink(name string) error {
	l, err := netlink.LinkByName(name)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		// Asking for a tunnel link loads its module (request_module of
		// "rtnl-link-ipip"), which creates the fallback device in every
		// namespace; the add itself then fails with EEXIST.
		var tun netlink.Link
		switch name {
		case "tunl0":
			tun = &netlink.Iptun{LinkAttrs: netlink.LinkAttrs{Name: name}}
		case "ip6tnl0":
			tun = &netlink.Ip6tnl{LinkAttrs: netlink.LinkAttrs{Name: name}}
		default:
			return fmt.Errorf("link %s: %w", name, err)
		}
		if err := netlink.LinkAdd(tun); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create %s: %w", name, err)
		}
		l, err = netlink.LinkByName(name)
	}
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		if err := netlink.LinkSetUp(l); err != nil {
			return fmt.Errorf("set %s up: %w", name, err)
		}
	}
	return nil
}

// Addrs implements Links.
func (System) Addrs(link string) ([]netip.Prefix, error) {
	l, err := netlink.LinkByName(link)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("link %s: %w", link, err)
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("addresses of %s: %w", link, err)
	}
	out := make([]netip.Prefix, 0, len(addrs))
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ones, _ := a.Mask.Size()
		out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return out, nil
}

func toAddr(p netip.Prefix) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{
		IP:   p.Addr().AsSlice(),
		Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
	}}
}

// AddAddr implements Links.
func (System) AddAddr(link string, p netip.Prefix) error {
	l, err := netlink.LinkByName(link)
	if err != nil {
		return fmt.Errorf("link %s: %w", link, err)
	}
	if err := netlink.AddrAdd(l, toAddr(p)); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add %s to %s: %w", p, link, err)
	}
	return nil
}

// DelAddr implements Links.
func (System) DelAddr(link string, p netip.Prefix) error {
	l, err := netlink.LinkByName(link)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("link %s: %w", link, err)
	}
	if err := netlink.AddrDel(l, toAddr(p)); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("remove %s from %s: %w", p, link, err)
	}
	return nil
}
