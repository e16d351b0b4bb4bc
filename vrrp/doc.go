// Package vrrp is lvsctl's VRRP speaker: the VRRPv2 (RFC 3768) and VRRPv3
// (RFC 5798, with RFC 9568's clarifications) packet codec, a pure state
// machine per virtual router instance (events in, actions out, time from an
// injected clock), keepalived's track-script fall/rise logic, and the small
// interfaces through which a runner connects the machine to the network.
//
// Where the RFCs leave room or keepalived departs from them, this package
// follows keepalived 2.2 so that it can replace one keepalived node of a
// pair; each such place says so in a comment.
//
// Nothing in this package touches the kernel: the raw IP protocol 112
// socket, VIPs and gratuitous ARP / unsolicited NA sit behind Transport and
// Network (transport.go) and are implemented elsewhere.
package vrrp
