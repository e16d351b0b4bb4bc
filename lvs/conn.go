package lvs

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Connection is one entry of the kernel's IPVS connection table, as
// /proc/net/ip_vs_conn (or /proc/net/ip_vs_conn_sync) shows it.
//
// Persistence templates are connections too: their state is one of the
// template states ("NONE", "ASSURED"), their client port is 0 unless the
// service persists per port, and for firewall-mark services the protocol is
// "IP" and the virtual address carries the mark instead of an address.
//
// Strings are kept exactly as the kernel printed them, because ipvsadm -L -c
// copies them to its output unchanged: the protocol column is the kernel's
// upper-case name ("TCP", not "tcp") and the state is whatever the protocol's
// state table says.
type Connection struct {
	// Protocol is ip_vs_proto_name(): "TCP", "UDP", "SCTP", "ICMP", "ICMPv6",
	// "IP" (IPPROTO_IP: templates of firewall-mark services) or "IP_<n>".
	Protocol string
	Client   netip.AddrPort // FromIP:FPrt
	Virtual  netip.AddrPort // ToIP:TPrt
	Real     netip.AddrPort // DestIP:DPrt; may differ in family from Client (tunnel destinations)
	// State is ip_vs_state_name(): "ESTABLISHED", "SYN_RECV", "FIN_WAIT",
	// "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "SYNACK",
	// "SYN_SENT", "NONE" for TCP; "UDP" for UDP; the SCTP names; "NONE" or
	// "ASSURED" for templates; "ERR!" or "?" for states the kernel cannot name.
	State string
	// Expires is the time left before the entry expires, in whole seconds
	// (the kernel truncates, and prints 0 for an already-due timer).
	Expires time.Duration
	// Origin is "LOCAL" or "SYNC" (the entry came from the sync daemon). Only
	// /proc/net/ip_vs_conn_sync has this column; it is empty otherwise.
	Origin string
	// PEName and PEData are the persistence engine and its data (for "sip",
	// the Call-ID), present only when the entry has persistence-engine data.
	PEName string
	PEData string
}

// ProtocolNumber maps Protocol back to its IPPROTO_* number, undoing
// ip_vs_proto_name(). ok is false for a name the kernel never prints.
func (c Connection) ProtocolNumber() (proto uint8, ok bool) {
	switch c.Protocol {
	case "IP":
		return 0, true
	case "ICMP":
		return 1, true
	case "TCP":
		return 6, true
	case "UDP":
		return 17, true
	case "ICMPv6":
		return 58, true
	case "SCTP":
		return 132, true
	}
	if n, found := strings.CutPrefix(c.Protocol, "IP_"); found {
		v, err := strconv.ParseUint(n, 10, 8)
		if err == nil {
			return uint8(v), true
		}
	}
	return 0, false
}
