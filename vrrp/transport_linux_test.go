package vrrp

import (
	"encoding/hex"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// ipv4Advert is a keepalived 2.2.7 VRRPv2 advert with its IP header (TTL
// 255, 192.0.2.1 -> 224.0.0.18), as an IPv4 raw socket delivers it.
const ipv4Advert = "45c00028000000000170" + "0000" + "c0000201" + "e0000012" +
	"210a6402000124ee" + "c000020a" + "c000020b" + "0000000000000000"

func TestSocketParseIPv4(t *testing.T) {
	pkt, _ := hex.DecodeString(ipv4Advert)
	pkt[8] = 254 // a TTL the receiver must see and refuse
	s := &Socket{ifindex: 7}
	r, ok := s.parse(pkt, nil, &unix.SockaddrInet4{})
	if !ok {
		t.Fatal("not parsed")
	}
	if r.HopLimit != 254 || r.Src != netip.MustParseAddr("192.0.2.1") || r.Dst != MulticastGroup4 || r.Interface != 7 || len(r.Msg) != 20 {
		t.Errorf("parsed %+v", r)
	}
	if _, ok := s.parse(pkt[:12], nil, &unix.SockaddrInet4{}); ok {
		t.Error("a truncated header parsed")
	}
}

func FuzzSocketParse(f *testing.F) {
	pkt, _ := hex.DecodeString(ipv4Advert)
	f.Add(pkt, false)
	f.Add(pkt[20:], true)
	f.Add([]byte{0x4f}, false)
	f.Fuzz(func(t *testing.T, pkt []byte, v6 bool) {
		s := &Socket{v6: v6}
		var from unix.Sockaddr = &unix.SockaddrInet4{}
		if v6 {
			from = &unix.SockaddrInet6{}
		}
		r, ok := s.parse(pkt, nil, from)
		if ok && len(r.Msg) > len(pkt) {
			t.Fatalf("message longer than the packet")
		}
		if ok {
			// Whatever came in, decoding must not panic.
			Decode(r.Msg, r.Src, r.Dst)
		}
	})
}
