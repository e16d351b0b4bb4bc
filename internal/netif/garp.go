package netif

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Frame constants (IEEE 802.3, RFC 826, RFC 4861).
const (
	etherTypeARP  = 0x0806
	etherTypeIPv6 = 0x86dd
	arpHWEther    = 1 // ARPHRD_ETHER
	arpOpRequest  = 1 // ARPOP_REQUEST
	icmpv6NA      = 136
	ndOptTLLA     = 2    // Target Link-Layer Address option (RFC 4861 §4.6.1)
	naFlagOver    = 0x20 // ND_NA_FLAG_OVERRIDE, in the first flags byte
	ipProtoICMPv6 = 58
)

var (
	broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	// allNodes is ff02::1 (RFC 4291 §2.7.1), and allNodesMAC its
	// Ethernet mapping 33:33 + the low 32 bits (RFC 2464 §7).
	allNodes    = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 0x01})
	allNodesMAC = net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}
)

// GratuitousARP builds the Ethernet frame of a gratuitous ARP for addr from
// mac: an ARP request whose sender and target protocol addresses are both
// addr, broadcast, as keepalived sends (RFC 5798 §6.4.2 "broadcast a
// gratuitous ARP request"; RFC 5227 §3 calls it an ARP Announcement).
func GratuitousARP(mac net.HardwareAddr, addr netip.Addr) []byte {
	b := make([]byte, 0, 42)
	b = append(b, broadcastMAC...)
	b = append(b, mac...)
	b = binary.BigEndian.AppendUint16(b, etherTypeARP)
	b = binary.BigEndian.AppendUint16(b, arpHWEther)
	b = binary.BigEndian.AppendUint16(b, unix.ETH_P_IP)
	b = append(b, 6, 4)
	b = binary.BigEndian.AppendUint16(b, arpOpRequest)
	ip := addr.As4()
	b = append(b, mac...)
	b = append(b, ip[:]...)
	b = append(b, broadcastMAC...)
	b = append(b, ip[:]...)
	return b
}

// UnsolicitedNA builds the Ethernet frame of an unsolicited neighbour
// advertisement for addr from mac (RFC 4861 §7.2.6; RFC 5798 §6.4.2): to
// all-nodes with hop limit 255, source and target addr, the Override flag
// and the target link-layer address option. It is built whole, below the
// IP layer, because a VIP that has just been added may still be tentative
// and the socket API would refuse it as a source.
func UnsolicitedNA(mac net.HardwareAddr, addr netip.Addr) []byte {
	const icmpLen = 24 + 8
	b := make([]byte, 0, 14+40+icmpLen)
	b = append(b, allNodesMAC...)
	b = append(b, mac...)
	b = binary.BigEndian.AppendUint16(b, etherTypeIPv6)
	b = append(b, 0x60, 0, 0, 0) // version 6, traffic class 0, flow 0
	b = binary.BigEndian.AppendUint16(b, icmpLen)
	b = append(b, ipProtoICMPv6, 255)
	src, dst := addr.As16(), allNodes.As16()
	b = append(b, src[:]...)
	b = append(b, dst[:]...)
	icmp := len(b)
	b = append(b, icmpv6NA, 0, 0, 0, naFlagOver, 0, 0, 0)
	b = append(b, src[:]...)
	b = append(b, ndOptTLLA, 1)
	b = append(b, mac...)
	binary.BigEndian.PutUint16(b[icmp+2:], icmpv6Checksum(addr, allNodes, b[icmp:]))
	return b
}

// icmpv6Checksum is the RFC 4443 §2.3 checksum over the RFC 8200 §8.1
// pseudo-header and msg (whose checksum field is zero).
func icmpv6Checksum(src, dst netip.Addr, msg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	s, d := src.As16(), dst.As16()
	add(s[:])
	add(d[:])
	add(binary.BigEndian.AppendUint32(nil, uint32(len(msg))))
	add([]byte{0, 0, 0, ipProtoICMPv6})
	add(msg)
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// Announce sends one gratuitous ARP (IPv4) or unsolicited neighbour
// advertisement (IPv6) for addr out of dev, through an AF_PACKET socket of
// the calling thread's network namespace. It looks the link up and opens
// and closes a socket for the one frame; closing an AF_PACKET socket waits
// for an RCU grace period (packet_release calls synchronize_net), several
// milliseconds. Announcer keeps both for repeated use.
func Announce(ctx context.Context, dev string, addr netip.Addr) error {
	var a Announcer
	defer a.Close()
	return a.Announce(ctx, dev, addr)
}

// Announcer sends gratuitous ARPs and unsolicited neighbour advertisements,
// keeping per device the link's index and Ethernet address and an open
// AF_PACKET socket, so that a VRRP backup becoming master sends its first
// announcement without a netlink round trip or a socket to open. A send
// that fails looks the link up again and retries once (the device may
// have been recreated with a new index); Refresh catches an address
// change. The zero value is ready to use; Close releases the sockets.
type Announcer struct {
	mu   sync.Mutex
	devs map[string]*announceDev
}

type announceDev struct {
	index int
	mac   net.HardwareAddr
	fd    int
}

// Announce sends one announcement for addr out of dev.
func (a *Announcer) Announce(ctx context.Context, dev string, addr netip.Addr) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	d, err := a.lookup(dev)
	if err != nil {
		return fmt.Errorf("announce %s: %w", addr, err)
	}
	if err := d.send(addr); err == nil {
		return nil
	}
	a.forget(dev)
	if d, err = a.lookup(dev); err != nil {
		return fmt.Errorf("announce %s: %w", addr, err)
	}
	if err := d.send(addr); err != nil {
		return fmt.Errorf("announce %s on %s: %w", addr, dev, err)
	}
	return nil
}

// Index returns dev's interface index, from the cache when it is there.
func (a *Announcer) Index(dev string) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	d, err := a.lookup(dev)
	if err != nil {
		return 0, err
	}
	return d.index, nil
}

// Refresh looks dev up again and reports whether its index or Ethernet
// address differs from what was cached (announcements sent from the cache
// carried stale ones). A device not cached is not looked up.
func (a *Announcer) Refresh(dev string) (changed bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.devs[dev]
	if old == nil {
		return false, nil
	}
	l, err := netlink.LinkByName(dev)
	if err != nil {
		a.forget(dev)
		return true, fmt.Errorf("link %s: %w", dev, err)
	}
	if l.Attrs().Index == old.index && bytes.Equal(l.Attrs().HardwareAddr, old.mac) {
		return false, nil
	}
	a.forget(dev)
	return true, nil
}

// Forget drops dev from the cache (its next use looks it up again).
func (a *Announcer) Forget(dev string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.forget(dev)
}

// Close closes the sockets and empties the cache.
func (a *Announcer) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for dev := range a.devs {
		a.forget(dev)
	}
	return nil
}

func (a *Announcer) forget(dev string) {
	if d := a.devs[dev]; d != nil {
		unix.Close(d.fd)
		delete(a.devs, dev)
	}
}

func (a *Announcer) lookup(dev string) (*announceDev, error) {
	if d := a.devs[dev]; d != nil {
		return d, nil
	}
	l, err := netlink.LinkByName(dev)
	if err != nil {
		return nil, fmt.Errorf("link %s: %w", dev, err)
	}
	mac := l.Attrs().HardwareAddr
	if len(mac) != 6 {
		return nil, fmt.Errorf("link %s: no Ethernet address", dev)
	}
	// Protocol 0: the socket sends only and never queues received frames.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("AF_PACKET socket: %w", err)
	}
	d := &announceDev{index: l.Attrs().Index, mac: slices.Clone(mac), fd: fd}
	if a.devs == nil {
		a.devs = map[string]*announceDev{}
	}
	a.devs[dev] = d
	return d, nil
}

func (d *announceDev) send(addr netip.Addr) error {
	addr = addr.Unmap()
	var frame []byte
	var proto uint16
	if addr.Is4() {
		frame, proto = GratuitousARP(d.mac, addr), etherTypeARP
	} else {
		frame, proto = UnsolicitedNA(d.mac, addr), etherTypeIPv6
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(proto), Ifindex: d.index, Halen: 6}
	copy(sa.Addr[:], frame[:6])
	return unix.Sendto(d.fd, frame, 0, sa)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
