package vrrp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SocketConfig says what one raw VRRP socket is for.
type SocketConfig struct {
	// Interface is the device the socket is bound to (SO_BINDTODEVICE),
	// sends out of and joins Group on. Empty: any (unicast only).
	Interface string
	// Source is the source address of every advert, set per packet with
	// IP_PKTINFO / IPV6_PKTINFO so the socket itself stays unbound and
	// receives packets to any of the host's addresses and to Group. Its
	// family is the socket's.
	Source netip.Addr
	// Group is the multicast group to join (224.0.0.18, ff02::12 or
	// vrrp_mcast_group4/6); invalid for a unicast-only socket.
	Group netip.Addr
	// TTL is the IPv4 TTL / IPv6 hop limit of adverts; 0 means 255
	// (RFC 5798 §5.1.1.3, §5.1.2.3).
	TTL int
}

// Socket is a raw IP socket for protocol 112 (Transport). IPv4 raw
// sockets deliver the IP header, from which the TTL and destination are
// read; IPv6 ones do not, so IPV6_RECVHOPLIMIT and IPV6_RECVPKTINFO bring
// the hop limit and destination as control messages.
type Socket struct {
	f       *os.File
	rc      syscall.RawConn
	v6      bool
	ifindex int
	src     netip.Addr

	// rmu guards the receive buffers, kept between calls: parse copies
	// the message out, and a 64 KiB buffer per advert would be most of
	// the speaker's garbage.
	rmu      sync.Mutex
	buf, oob []byte
}

var _ Transport = (*Socket)(nil)

// ListenSocket opens, configures and (for multicast) joins a raw socket.
func ListenSocket(cfg SocketConfig) (*Socket, error) {
	src := cfg.Source.Unmap()
	if !src.IsValid() {
		return nil, fmt.Errorf("vrrp socket: no source address")
	}
	ttl := cfg.TTL
	if ttl == 0 {
		ttl = HopLimit
	}
	s := &Socket{v6: src.Is6(), src: src}
	if cfg.Interface != "" {
		ifi, err := net.InterfaceByName(cfg.Interface)
		if err != nil {
			return nil, fmt.Errorf("vrrp socket: interface %s: %w", cfg.Interface, err)
		}
		s.ifindex = ifi.Index
	}
	af := unix.AF_INET
	if s.v6 {
		af = unix.AF_INET6
	}
	fd, err := unix.Socket(af, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, IPProtocol)
	if err != nil {
		return nil, fmt.Errorf("vrrp socket: %w", os.NewSyscallError("socket", err))
	}
	fail := func(what string, err error) (*Socket, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("vrrp socket on %s: %s: %w", cfg.Interface, what, err)
	}
	if cfg.Interface != "" {
		if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, cfg.Interface); err != nil {
			return fail("SO_BINDTODEVICE", err)
		}
	}
	// Kernel receive times (SCM_TIMESTAMPNS): the Master_Down_Timer
	// counts from an advert's arrival, not from when the speaker got to
	// it. Without them Received.At stays zero; nothing else changes.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	group := cfg.Group.Unmap()
	if group.IsValid() && group.Is6() != s.v6 {
		return fail("group", fmt.Errorf("group %s and source %s differ in family: %w", group, src, ErrFamily))
	}
	if !s.v6 {
		opts := []struct {
			name string
			opt  int
			v    int
		}{
			{"IP_PKTINFO", unix.IP_PKTINFO, 1},
			{"IP_MULTICAST_LOOP", unix.IP_MULTICAST_LOOP, 0}, // our own adverts are not news
			{"IP_MULTICAST_TTL", unix.IP_MULTICAST_TTL, ttl},
			{"IP_TTL", unix.IP_TTL, ttl},
		}
		for _, o := range opts {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, o.opt, o.v); err != nil {
				return fail(o.name, err)
			}
		}
		if s.ifindex != 0 {
			if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(s.ifindex)}); err != nil {
				return fail("IP_MULTICAST_IF", err)
			}
		}
		if group.IsValid() {
			if s.ifindex == 0 {
				return fail("join", fmt.Errorf("joining %s needs an interface", group))
			}
			m := &unix.IPMreqn{Multiaddr: group.As4(), Ifindex: int32(s.ifindex)}
			if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, m); err != nil {
				return fail("IP_ADD_MEMBERSHIP "+group.String(), err)
			}
		}
	} else {
		opts := []struct {
			name string
			opt  int
			v    int
		}{
			{"IPV6_RECVPKTINFO", unix.IPV6_RECVPKTINFO, 1},
			{"IPV6_RECVHOPLIMIT", unix.IPV6_RECVHOPLIMIT, 1},
			{"IPV6_MULTICAST_LOOP", unix.IPV6_MULTICAST_LOOP, 0},
			{"IPV6_MULTICAST_HOPS", unix.IPV6_MULTICAST_HOPS, ttl},
			{"IPV6_UNICAST_HOPS", unix.IPV6_UNICAST_HOPS, ttl},
		}
		for _, o := range opts {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, o.opt, o.v); err != nil {
				return fail(o.name, err)
			}
		}
		if s.ifindex != 0 {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, s.ifindex); err != nil {
				return fail("IPV6_MULTICAST_IF", err)
			}
		}
		if group.IsValid() {
			if s.ifindex == 0 {
				return fail("join", fmt.Errorf("joining %s needs an interface", group))
			}
			m := &unix.IPv6Mreq{Multiaddr: group.As16(), Interface: uint32(s.ifindex)}
			if err := unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, m); err != nil {
				return fail("IPV6_JOIN_GROUP "+group.String(), err)
			}
		}
	}
	// A non-blocking descriptor makes os.File use the runtime poller, so
	// Close and read deadlines unblock a pending Receive.
	s.f = os.NewFile(uintptr(fd), "vrrp")
	rc, err := s.f.SyscallConn()
	if err != nil {
		s.f.Close()
		return nil, fmt.Errorf("vrrp socket: %w", err)
	}
	s.rc = rc
	return s, nil
}

// Source is the socket's advert source address.
func (s *Socket) Source() netip.Addr { return s.src }

// Send implements Transport.
func (s *Socket) Send(ctx context.Context, msg []byte, dst netip.Addr) error {
	dst = dst.Unmap()
	var sa unix.Sockaddr
	var oob []byte
	if s.v6 {
		sa = &unix.SockaddrInet6{Addr: dst.As16()}
		// struct in6_pktinfo: the source and the outgoing interface.
		info := make([]byte, 20)
		a := s.src.As16()
		copy(info, a[:])
		binary.NativeEndian.PutUint32(info[16:], uint32(s.ifindex))
		oob = cmsg(unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, info)
	} else {
		sa = &unix.SockaddrInet4{Addr: dst.As4()}
		// struct in_pktinfo: ipi_ifindex, ipi_spec_dst (the source
		// raw_sendmsg uses), ipi_addr.
		info := make([]byte, 12)
		binary.NativeEndian.PutUint32(info, uint32(s.ifindex))
		a := s.src.As4()
		copy(info[4:], a[:])
		oob = cmsg(unix.IPPROTO_IP, unix.IP_PKTINFO, info)
	}
	var serr error
	err := s.rc.Write(func(fd uintptr) bool {
		_, serr = unix.SendmsgN(int(fd), msg, oob, sa, 0)
		return serr != unix.EAGAIN
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("send advert to %s: %w", dst, err)
	}
	return nil
}

// Receive implements Transport. Packets too short for an IPv4 header or
// not of protocol 112 are skipped.
func (s *Socket) Receive(ctx context.Context) (Received, error) {
	stop := context.AfterFunc(ctx, func() { s.f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if s.buf == nil {
		s.buf, s.oob = make([]byte, 65536), make([]byte, 256)
	}
	buf, oob := s.buf, s.oob
	for {
		var n, oobn int
		var from unix.Sockaddr
		var rerr error
		err := s.rc.Read(func(fd uintptr) bool {
			n, oobn, _, from, rerr = unix.Recvmsg(int(fd), buf, oob, 0)
			return rerr != unix.EAGAIN
		})
		if err == nil {
			err = rerr
		}
		if err != nil {
			if ctx.Err() != nil {
				return Received{}, ctx.Err()
			}
			if errors.Is(err, os.ErrClosed) {
				return Received{}, net.ErrClosed
			}
			return Received{}, fmt.Errorf("receive advert: %w", err)
		}
		r, ok := s.parse(buf[:n], oob[:oobn], from)
		if ok {
			return r, nil
		}
	}
}

func (s *Socket) parse(pkt, oob []byte, from unix.Sockaddr) (Received, bool) {
	r := Received{HopLimit: -1, Interface: s.ifindex}
	msgs, _ := unix.ParseSocketControlMessage(oob)
	for _, m := range msgs {
		switch {
		case m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_PKTINFO && len(m.Data) >= 12:
			r.Interface = int(int32(binary.NativeEndian.Uint32(m.Data)))
		case m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_PKTINFO && len(m.Data) >= 20:
			r.Dst = netip.AddrFrom16([16]byte(m.Data[:16]))
			r.Interface = int(binary.NativeEndian.Uint32(m.Data[16:]))
		case m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16:
			r.At = time.Unix(int64(binary.NativeEndian.Uint64(m.Data)), int64(binary.NativeEndian.Uint64(m.Data[8:])))
		case m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_HOPLIMIT && len(m.Data) >= 4:
			r.HopLimit = int(int32(binary.NativeEndian.Uint32(m.Data)))
		}
	}
	if s.v6 {
		sa, ok := from.(*unix.SockaddrInet6)
		if !ok {
			return r, false
		}
		r.Src = netip.AddrFrom16(sa.Addr)
		r.Msg = append([]byte(nil), pkt...)
		return r, true
	}
	// IPv4: the header comes with the payload (raw(7)).
	if len(pkt) < 20 || pkt[0]>>4 != 4 {
		return r, false
	}
	ihl := int(pkt[0]&0x0f) * 4
	if ihl < 20 || len(pkt) < ihl || pkt[9] != IPProtocol {
		return r, false
	}
	r.HopLimit = int(pkt[8])
	r.Src = netip.AddrFrom4([4]byte(pkt[12:16]))
	r.Dst = netip.AddrFrom4([4]byte(pkt[16:20]))
	// Total length bounds the payload (the kernel has trimmed padding,
	// but be safe).
	if tot := int(binary.BigEndian.Uint16(pkt[2:4])); tot >= ihl && tot < len(pkt) {
		pkt = pkt[:tot]
	}
	r.Msg = append([]byte(nil), pkt[ihl:]...)
	return r, true
}

// Close implements Transport.
func (s *Socket) Close() error { return s.f.Close() }

// cmsg builds one control message.
func cmsg(level, typ int, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level = int32(level)
	h.Type = int32(typ)
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[unix.CmsgLen(0):], data)
	return b
}
