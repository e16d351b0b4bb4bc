package check

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// ICMP is keepalived's PING_CHECK: one ICMP (or ICMPv6) echo request to the
// target, success on the matching echo reply before the deadline.
//
// It first tries an unprivileged datagram "ping" socket (SOCK_DGRAM with
// IPPROTO_ICMP or IPPROTO_ICMPV6), which the kernel allows to the groups in
// net.ipv4.ping_group_range and which receives only the replies to its own
// requests; when that is refused it falls back to a raw socket, which needs
// CAP_NET_RAW and sees every ICMP message, so replies are matched on
// identifier, sequence, source and payload. keepalived itself may widen
// ping_group_range for root; this checker changes no sysctl.
type ICMP struct {
	Conn // ConnectIP and BindTo apply; ports do not
}

var _ Checker = ICMP{}

// ICMP message types (RFC 792, RFC 4443 §4).
const (
	icmpEchoReply     = 0
	icmpEchoRequest   = 8
	icmp6EchoRequest  = 128
	icmp6EchoReply    = 129
	icmpPayloadLength = 16
)

// Check sends one echo request and waits for its reply.
func (c ICMP) Check(ctx context.Context, t Target) Result {
	start := time.Now()
	dst := c.remote(t).Addr().Unmap()
	v6 := dst.Is6()
	conn, raw, err := listenICMP(v6, c.BindTo)
	if err != nil {
		return fail(ctx, start, fmt.Errorf("ICMP socket: %w", err))
	}
	defer conn.Close()
	stop := bindConn(ctx, conn)
	defer stop()

	var rb [2 + 2 + icmpPayloadLength]byte
	_, _ = rand.Read(rb[:])
	id, seq, payload := binary.BigEndian.Uint16(rb[0:]), binary.BigEndian.Uint16(rb[2:]), rb[4:]
	req := echoRequest(v6, id, seq, payload)
	to := net.Addr(&net.UDPAddr{IP: dst.AsSlice(), Zone: dst.Zone()})
	if raw {
		to = &net.IPAddr{IP: dst.AsSlice(), Zone: dst.Zone()}
	}
	if _, err := conn.WriteTo(req, to); err != nil {
		return fail(ctx, start, fmt.Errorf("send echo request to %s: %w", dst, err))
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return fail(ctx, start, fmt.Errorf("wait for echo reply from %s: %w", dst, err))
		}
		if raw && addrOf(from) != dst.WithZone("") {
			continue
		}
		e, ok := parseEcho(v6, buf[:n])
		// The kernel rewrites the identifier of a datagram ping socket to
		// the socket's own and delivers it only the replies meant for it,
		// so only a raw socket compares the identifier.
		if !ok || !e.reply || e.seq != seq || (raw && e.id != id) || !bytes.Equal(e.payload, payload) {
			continue
		}
		lat := time.Since(start)
		return Result{OK: true, Latency: lat, Detail: "echo reply"}
	}
}

// listenICMP opens a datagram ping socket, or a raw socket when the kernel
// refuses the former (EACCES outside ping_group_range, EPROTONOSUPPORT
// without ping socket support).
func listenICMP(v6 bool, bind netip.Addr) (conn net.PacketConn, raw bool, err error) {
	family, proto, network := unix.AF_INET, unix.IPPROTO_ICMP, "ip4:icmp"
	if v6 {
		family, proto, network = unix.AF_INET6, unix.IPPROTO_ICMPV6, "ip6:ipv6-icmp"
	}
	conn, derr := listenPing(family, proto, bind)
	if derr == nil {
		return conn, false, nil
	}
	laddr := ""
	if bind.IsValid() {
		laddr = bind.String()
	}
	conn, rerr := net.ListenPacket(network, laddr)
	if rerr != nil {
		return nil, false, errors.Join(fmt.Errorf("ping socket: %w", derr), fmt.Errorf("raw socket: %w", rerr))
	}
	return conn, true, nil
}

// listenPing opens an unprivileged ICMP datagram socket and hands it to
// package net, which sees it as a UDP socket: the kernel gives it
// addresses of the inet families and fills in the identifier and checksum.
func listenPing(family, proto int, bind netip.Addr) (net.PacketConn, error) {
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if bind.IsValid() {
		var sa unix.Sockaddr
		if family == unix.AF_INET6 {
			sa = &unix.SockaddrInet6{Addr: bind.As16()}
		} else {
			sa = &unix.SockaddrInet4{Addr: bind.Unmap().As4()}
		}
		if err := unix.Bind(fd, sa); err != nil {
			unix.Close(fd)
			return nil, os.NewSyscallError("bind", err)
		}
	}
	f := os.NewFile(uintptr(fd), "ping")
	defer f.Close() // FilePacketConn dups the descriptor
	return net.FilePacketConn(f)
}

// echoRequest builds an echo request. The ICMPv4 checksum is computed here
// (RFC 792); ICMPv6's covers a pseudo-header (RFC 4443 §2.3) and the kernel
// fills it in for raw and datagram sockets alike, as it does ICMPv4's for a
// datagram socket, which ignores the value we send.
func echoRequest(v6 bool, id, seq uint16, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	b[0] = icmpEchoRequest
	if v6 {
		b[0] = icmp6EchoRequest
	}
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	b = append(b, payload...)
	if !v6 {
		binary.BigEndian.PutUint16(b[2:], inetChecksum(b))
	}
	return b
}

// echo is a decoded echo request or reply.
type echo struct {
	reply   bool
	id, seq uint16
	payload []byte
}

// parseEcho decodes an ICMP or ICMPv6 message without an IP header; ok is
// false for anything but an echo request or reply with code 0.
func parseEcho(v6 bool, b []byte) (e echo, ok bool) {
	if len(b) < 8 || b[1] != 0 {
		return echo{}, false
	}
	switch {
	case !v6 && b[0] == icmpEchoReply, v6 && b[0] == icmp6EchoReply:
		e.reply = true
	case !v6 && b[0] == icmpEchoRequest, v6 && b[0] == icmp6EchoRequest:
	default:
		return echo{}, false
	}
	e.id = binary.BigEndian.Uint16(b[4:])
	e.seq = binary.BigEndian.Uint16(b[6:])
	e.payload = b[8:]
	return e, true
}

// inetChecksum is the Internet checksum of RFC 1071.
func inetChecksum(b []byte) uint16 {
	var sum uint32
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// addrOf returns the IP address of a net.Addr from a packet socket.
func addrOf(a net.Addr) netip.Addr {
	var ip net.IP
	switch a := a.(type) {
	case *net.IPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	}
	addr, _ := netip.AddrFromSlice(ip)
	return addr.Unmap()
}
