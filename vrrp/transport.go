package vrrp

import (
	"context"
	"net/netip"
	"time"
)

// The interfaces below are where the runner (lvsctl vrrp run) plugs the
// state machine into the system. They are owned here, by their user; the
// raw-socket transport, the netlink VIP handling, notify execution and the
// IPVS sync daemon switch implement them elsewhere, and tests use in-memory
// fakes.

// Received is one IP protocol 112 packet as the transport got it.
type Received struct {
	Src, Dst netip.Addr
	// HopLimit is the IPv4 TTL or IPv6 hop limit, for CheckHopLimit;
	// -1 when the socket could not tell.
	HopLimit int
	// Interface is the index of the interface it arrived on.
	Interface int
	// Msg is the IP payload: the VRRP message for Decode.
	Msg []byte
	// At is when the kernel received it (SCM_TIMESTAMPNS); zero when
	// the transport cannot tell.
	At time.Time
}

// Transport sends and receives VRRP messages on one interface: a raw IP
// socket for protocol 112 that joins 224.0.0.18 / ff02::12 (RFC 5798
// §5.1.1.2, §5.1.2.2) or talks to unicast peers, sending with TTL / hop
// limit 255.
type Transport interface {
	// Send sends msg (from Advert.Marshal, whose checksum already covers
	// the source and destination) to dst, a multicast group or a peer.
	Send(ctx context.Context, msg []byte, dst netip.Addr) error
	// Receive blocks for the next packet.
	Receive(ctx context.Context) (Received, error)
	// Close releases the socket; a blocked Receive returns.
	Close() error
}

// VIP is one virtual_ipaddress entry as the network layer needs it.
type VIP struct {
	Prefix    netip.Prefix // address and length, e.g. 192.0.2.10/24
	Dev       string       // interface; empty: the instance's
	Label     string       // IPv4 address label
	Scope     string       // "global", "link", "host"; empty: global
	Broadcast netip.Addr   // brd; invalid: none
	NoDAD     bool         // IPv6 -nodad: no duplicate address detection
}

// Network carries out the address actions: AddVIPs, RemoveVIPs and
// SendGratuitous.
type Network interface {
	AddVIPs(ctx context.Context, vips []VIP) error
	RemoveVIPs(ctx context.Context, vips []VIP) error
	// SendGratuitous sends repeat gratuitous ARPs (IPv4) or unsolicited
	// neighbour advertisements (IPv6) for each VIP.
	SendGratuitous(ctx context.Context, vips []VIP, repeat int) error
}

// Notifier runs the notify scripts for a Notify action: notify_master,
// _backup, _fault, _stop without arguments and notify with INSTANCE name
// state priority, as keepalived.
type Notifier interface {
	Notify(ctx context.Context, instance string, state State, priority uint8) error
}

// SyncDaemon switches the IPVS connection sync daemon's role for a
// SetSyncDaemon action (IPVS_CMD_NEW_DAEMON / IPVS_CMD_DEL_DAEMON).
type SyncDaemon interface {
	SetRole(ctx context.Context, master bool) error
}
