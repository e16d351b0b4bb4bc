package lvs

import (
	"fmt"
	"net/netip"
	"time"
)

// Family is an address family as the kernel numbers it (AF_INET, AF_INET6).
type Family uint16

// Address families. The values are the kernel's AF_* numbers, which IPVS
// carries in IPVS_SVC_ATTR_AF and IPVS_DEST_ATTR_ADDR_FAMILY.
const (
	IPv4 Family = 2  // AF_INET
	IPv6 Family = 10 // AF_INET6
)

// FamilyOf returns the family of addr, treating IPv4-mapped IPv6 addresses
// as IPv6 the way the kernel would.
func FamilyOf(addr netip.Addr) Family {
	if addr.Is4() {
		return IPv4
	}
	return IPv6
}

func (f Family) String() string {
	switch f {
	case IPv4:
		return "inet"
	case IPv6:
		return "inet6"
	}
	return fmt.Sprintf("family(%d)", uint16(f))
}

// Protocol is the transport protocol of a virtual service, by its IPPROTO_*
// number. Firewall-mark services have protocol 0.
type Protocol uint16

// Protocols IPVS balances.
const (
	TCP  Protocol = 6   // IPPROTO_TCP
	UDP  Protocol = 17  // IPPROTO_UDP
	SCTP Protocol = 132 // IPPROTO_SCTP
)

func (p Protocol) String() string {
	switch p {
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	case SCTP:
		return "SCTP"
	case 0:
		return "FWM"
	}
	return fmt.Sprintf("proto(%d)", uint16(p))
}

// ServiceFlags are the IP_VS_SVC_F_* bits of a virtual service.
type ServiceFlags uint32

// Service flags, from include/uapi/linux/ip_vs.h.
const (
	FlagPersistent ServiceFlags = 0x0001 // IP_VS_SVC_F_PERSISTENT
	FlagHashed     ServiceFlags = 0x0002 // IP_VS_SVC_F_HASHED: set by the kernel, never by us
	FlagOnePacket  ServiceFlags = 0x0004 // IP_VS_SVC_F_ONEPACKET (UDP only)
	FlagSched1     ServiceFlags = 0x0008 // IP_VS_SVC_F_SCHED1
	FlagSched2     ServiceFlags = 0x0010 // IP_VS_SVC_F_SCHED2
	FlagSched3     ServiceFlags = 0x0020 // IP_VS_SVC_F_SCHED3

	// The scheduler flags are named per scheduler in the uapi header:
	// IP_VS_SVC_F_SCHED_SH_FALLBACK and _SH_PORT share bits with the mh ones.
	FlagSHFallback = FlagSched1 // IP_VS_SVC_F_SCHED_SH_FALLBACK
	FlagSHPort     = FlagSched2 // IP_VS_SVC_F_SCHED_SH_PORT
	FlagMHFallback = FlagSched1 // IP_VS_SVC_F_SCHED_MH_FALLBACK
	FlagMHPort     = FlagSched2 // IP_VS_SVC_F_SCHED_MH_PORT
)

// Stats are the 64-bit counters and rate estimates the kernel keeps for a
// service or a destination (IPVS_SVC_ATTR_STATS64, IPVS_DEST_ATTR_STATS64).
// Rates are per second; the kernel's estimator refreshes them every 2 s.
type Stats struct {
	Conns    uint64 // connections scheduled
	InPkts   uint64 // incoming packets
	OutPkts  uint64 // outgoing packets
	InBytes  uint64 // incoming bytes
	OutBytes uint64 // outgoing bytes

	CPS    uint64 // connections per second
	InPPS  uint64 // incoming packets per second
	OutPPS uint64 // outgoing packets per second
	InBPS  uint64 // incoming bytes per second
	OutBPS uint64 // outgoing bytes per second
}

// Service is an IPVS virtual service. A service is identified either by
// (Protocol, Address, Port) or, for a firewall-mark service, by (Family,
// FWMark); see Key.
type Service struct {
	// Family is IPv4 or IPv6. For address services it must agree with
	// Address; for firewall-mark services it selects the family the mark
	// applies to (ipvsadm -6 -f).
	Family   Family
	Protocol Protocol   // TCP, UDP or SCTP; 0 for a firewall-mark service
	Address  netip.Addr // the virtual IP; the zero Addr for a firewall-mark service
	Port     uint16     // 0 with persistence means "all ports" (PCC)
	FWMark   uint32     // non-zero for a firewall-mark service

	Scheduler string       // rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh
	Flags     ServiceFlags // FlagPersistent, FlagOnePacket and the scheduler flags
	// Timeout is the persistence timeout; meaningful with FlagPersistent.
	Timeout time.Duration
	// Netmask is the persistence granularity as the kernel stores it: for
	// IPv4 the mask in host byte order (0xffffffff for /32), for IPv6 the
	// prefix length (128).
	Netmask uint32
	PEName  string // persistence engine, e.g. "sip"; empty for none

	Stats Stats // read-only: filled in by listings
}

// ServiceKey identifies a virtual service the way the kernel looks it up.
type ServiceKey struct {
	Family   Family
	Protocol Protocol
	Address  netip.Addr
	Port     uint16
	FWMark   uint32
}

// Key returns the identity of s.
func (s Service) Key() ServiceKey {
	if s.FWMark != 0 {
		return ServiceKey{Family: s.Family, FWMark: s.FWMark}
	}
	return ServiceKey{Family: s.Family, Protocol: s.Protocol, Address: s.Address, Port: s.Port}
}

// String names the service as ipvsadm's save format does: "-t 192.0.2.1:80",
// "-u [2001:db8::1]:53", "-f 5".
func (k ServiceKey) String() string {
	if k.FWMark != 0 {
		return fmt.Sprintf("-f %d", k.FWMark)
	}
	opt := "-t"
	switch k.Protocol {
	case UDP:
		opt = "-u"
	case SCTP:
		opt = "--sctp-service"
	}
	return opt + " " + netip.AddrPortFrom(k.Address, k.Port).String()
}

func (s Service) String() string { return s.Key().String() }

// Service returns the Service whose Key is k, with no other field set.
func (k ServiceKey) Service() Service {
	return Service{Family: k.Family, Protocol: k.Protocol, Address: k.Address, Port: k.Port, FWMark: k.FWMark}
}

// ForwardMethod is how the director forwards packets to a destination
// (IP_VS_CONN_F_FWD_MASK bits of the connection flags).
type ForwardMethod uint32

// Forwarding methods, from include/uapi/linux/ip_vs.h.
const (
	Masquerade  ForwardMethod = 0 // IP_VS_CONN_F_MASQ: NAT, ipvsadm -m
	LocalNode   ForwardMethod = 1 // IP_VS_CONN_F_LOCALNODE
	Tunnel      ForwardMethod = 2 // IP_VS_CONN_F_TUNNEL: ipvsadm -i
	DirectRoute ForwardMethod = 3 // IP_VS_CONN_F_DROUTE: ipvsadm -g (the default)
	Bypass      ForwardMethod = 4 // IP_VS_CONN_F_BYPASS
	forwardMask ForwardMethod = 7 // IP_VS_CONN_F_FWD_MASK
)

func (m ForwardMethod) String() string {
	switch m & forwardMask {
	case Masquerade:
		return "Masq"
	case LocalNode:
		return "Local"
	case Tunnel:
		return "Tunnel"
	case DirectRoute:
		return "Route"
	case Bypass:
		return "Bypass"
	}
	return "Unknown"
}

// TunnelType is the encapsulation of a tunnel destination
// (IPVS_DEST_ATTR_TUN_TYPE).
type TunnelType uint8

// Tunnel types, from include/uapi/linux/ip_vs.h.
const (
	TunnelIPIP TunnelType = 0 // IP_VS_CONN_F_TUNNEL_TYPE_IPIP
	TunnelGUE  TunnelType = 1 // IP_VS_CONN_F_TUNNEL_TYPE_GUE
	TunnelGRE  TunnelType = 2 // IP_VS_CONN_F_TUNNEL_TYPE_GRE
)

func (t TunnelType) String() string {
	switch t {
	case TunnelIPIP:
		return "ipip"
	case TunnelGUE:
		return "gue"
	case TunnelGRE:
		return "gre"
	}
	return fmt.Sprintf("tuntype(%d)", uint8(t))
}

// TunnelFlags are the IP_VS_TUNNEL_ENCAP_FLAG_* bits (IPVS_DEST_ATTR_TUN_FLAGS).
type TunnelFlags uint16

// Tunnel encapsulation flags. No bit set means "nocsum".
const (
	TunnelNoCsum  TunnelFlags = 0      // IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM
	TunnelCsum    TunnelFlags = 1 << 0 // IP_VS_TUNNEL_ENCAP_FLAG_CSUM
	TunnelRemCsum TunnelFlags = 1 << 1 // IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM
)

// Destination is a real server of a virtual service.
type Destination struct {
	// Family is the destination's address family (IPVS_DEST_ATTR_ADDR_FAMILY);
	// it may differ from the service's for tunnel destinations.
	Family  Family
	Address netip.Addr
	Port    uint16

	Forward ForwardMethod
	// Weight is the scheduling weight; 0 quiesces the server. ipvsadm accepts
	// 0..2147483647.
	Weight         int32
	UpperThreshold uint32 // 0 means no limit
	LowerThreshold uint32

	TunnelType  TunnelType  // for Forward == Tunnel
	TunnelPort  uint16      // for GUE
	TunnelFlags TunnelFlags // for GUE and GRE

	// Read-only: filled in by listings.
	ActiveConns     uint32
	InactiveConns   uint32
	PersistentConns uint32
	Stats           Stats
}

func (d Destination) String() string {
	return netip.AddrPortFrom(d.Address, d.Port).String()
}

// Timeouts are the connection timeouts of ipvsadm --set. A zero field
// leaves that timeout unchanged when setting.
type Timeouts struct {
	TCP    time.Duration // established TCP sessions
	TCPFin time.Duration // TCP sessions after a FIN
	UDP    time.Duration // UDP "connections"
}

// SyncState is the role of a connection-synchronisation daemon
// (IP_VS_STATE_MASTER, IP_VS_STATE_BACKUP).
type SyncState uint32

// Sync daemon roles.
const (
	SyncMaster SyncState = 1 // IP_VS_STATE_MASTER
	SyncBackup SyncState = 2 // IP_VS_STATE_BACKUP
)

func (s SyncState) String() string {
	switch s {
	case SyncMaster:
		return "master"
	case SyncBackup:
		return "backup"
	}
	return fmt.Sprintf("state(%d)", uint32(s))
}

// SyncDaemon is a connection-synchronisation daemon (IPVS_CMD_NEW_DAEMON and
// IPVS_DAEMON_ATTR_*). Zero optional fields take the kernel's defaults.
type SyncDaemon struct {
	State     SyncState
	Interface string // multicast interface
	SyncID    uint8
	MaxLen    uint16     // IPVS_DAEMON_ATTR_SYNC_MAXLEN; 0: kernel default
	Group     netip.Addr // IPVS_DAEMON_ATTR_MCAST_GROUP or _GROUP6; zero: 224.0.0.81
	Port      uint16     // IPVS_DAEMON_ATTR_MCAST_PORT; 0: 8848
	TTL       uint8      // IPVS_DAEMON_ATTR_MCAST_TTL; 0: 1
}

// Info is what IPVS_CMD_GET_INFO reports.
type Info struct {
	// Version is the IPVS version as the kernel encodes it:
	// major<<16 | minor<<8 | patch.
	Version       uint32
	ConnTableSize uint32
}

// VersionString formats Version as "1.2.1".
func (i Info) VersionString() string {
	return fmt.Sprintf("%d.%d.%d", i.Version>>16&0xff, i.Version>>8&0xff, i.Version&0xff)
}
