package vrrp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// IPProtocol is VRRP's IP protocol number (RFC 5798 §5.1.1.4, §5.1.2.3).
const IPProtocol = 112

// HopLimit is the IPv4 TTL / IPv6 hop limit every advert is sent with and
// must arrive with (RFC 5798 §5.1.1.3, §5.1.2.3, §7.1).
const HopLimit = 255

// The multicast groups adverts are sent to (RFC 5798 §5.1.1.2, §5.1.2.2).
var (
	MulticastGroup4 = netip.AddrFrom4([4]byte{224, 0, 0, 18})
	MulticastGroup6 = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 0x12})
)

// Version is the VRRP protocol version in an advert's first nibble.
type Version uint8

// The supported versions.
const (
	Version2 Version = 2 // RFC 3768, IPv4 only, interval in seconds
	Version3 Version = 3 // RFC 5798, IPv4 and IPv6, interval in centiseconds
)

// AuthType is the VRRPv2 Auth Type field (RFC 2338 §5.3.6; RFC 3768 §5.3.6
// keeps the field but defines only type 0).
type AuthType uint8

// The VRRPv2 authentication types keepalived knows.
const (
	AuthNone AuthType = 0 // no authentication
	AuthPass AuthType = 1 // simple text password, 8 bytes NUL-padded (RFC 2338)
	AuthAH   AuthType = 2 // IPsec AH (RFC 2338): carried as IP protocol 51, not supported
)

// ChecksumForm says what a VRRPv3 IPv4 checksum covers. VRRPv2 always sums
// the message alone (RFC 3768 §5.3.8) and VRRPv3 over IPv6 always includes the
// RFC 8200 §8.1 pseudo-header; the forms differ only for VRRPv3 over IPv4.
//
// RFC 5798 §5.2.8 defines the checksum over the message plus "a pseudo-header
// as defined in Section 8.1 of [RFC2460]". keepalived (always, and 2.2.7
// without any option to do otherwise) reads that as the IPv4 TCP/UDP-style
// pseudo-header (source, destination, zero, protocol 112, VRRP length), sends
// it, and drops adverts that carry anything else as "Invalid VRRPv3
// checksum". RFC 9568 §5.2.8, which obsoletes RFC 5798, says the IPv4
// checksum "only includes the VRRP message", which is what newer peers send
// (later keepalived calls that v3_checksum_as_v2). Decode accepts every
// form; the zero value, what the speaker sends unless configured otherwise,
// is keepalived 2.2's.
type ChecksumForm uint8

// The checksum forms.
const (
	// ChecksumPseudoHeader: message plus the IPv4 pseudo-header with the
	// packet's real destination (RFC 5798 as keepalived reads it).
	ChecksumPseudoHeader ChecksumForm = iota
	// ChecksumMessageOnly: the VRRP message alone (RFC 9568 §5.2.8 for
	// IPv4; always for VRRPv2).
	ChecksumMessageOnly
	// ChecksumLegacyUnicast: the pseudo-header with 224.0.0.18 as the
	// destination although the advert went to a unicast peer, as keepalived
	// up to 1.3.6 computed it; keepalived 2.2 still detects and accepts it
	// (old_unicast_checksum), so Decode does too.
	ChecksumLegacyUnicast
)

func (f ChecksumForm) String() string {
	switch f {
	case ChecksumPseudoHeader:
		return "pseudo-header"
	case ChecksumMessageOnly:
		return "message-only"
	case ChecksumLegacyUnicast:
		return "legacy-unicast"
	}
	return fmt.Sprintf("form(%d)", uint8(f))
}

// Message sizes.
const (
	headerLen   = 8 // version/type, VRID, priority, count, auth/rsvd+interval, checksum
	authDataLen = 8 // VRRPv2 Authentication Data (RFC 3768 §5.3.10)
	advertType  = 1 // ADVERTISEMENT, the only type (RFC 5798 §5.2.2)
)

// PriorityOwner is the priority of the router that owns the virtual
// addresses; PriorityStop is sent by a master that stops (RFC 5798 §5.2.4).
const (
	PriorityOwner = 255
	PriorityStop  = 0
)

// Advert is one VRRP ADVERTISEMENT, the only VRRP message (RFC 3768 §5.3,
// RFC 5798 §5.2).
type Advert struct {
	Version  Version
	VRID     uint8
	Priority uint8
	// Interval is the VRRPv2 Adver Int (whole seconds, 1..255) or the
	// VRRPv3 Max Adver Int (centiseconds, 1..4095).
	Interval time.Duration
	// Addrs are the virtual addresses: IPv4 for VRRPv2, and for VRRPv3 of
	// the family of the IP packet that carries the advert.
	Addrs []netip.Addr
	// AuthType and AuthData are VRRPv2 only; AuthData is sent as is (zero
	// for AuthNone).
	AuthType AuthType
	AuthData [authDataLen]byte
	// Checksum is the field as received (Decode) or computed (Marshal).
	Checksum uint16
	// ChecksumForm is the form the received checksum matched (Decode); it
	// is ChecksumMessageOnly for VRRPv2 and ChecksumPseudoHeader for IPv6.
	ChecksumForm ChecksumForm
}

// PassFromString returns keepalived's auth_pass as sent: the first 8 bytes
// of s, NUL-padded (RFC 2338 §5.3.10 for type 1).
func PassFromString(s string) [authDataLen]byte {
	var p [authDataLen]byte
	copy(p[:], s)
	return p
}

// Decode parses and verifies one VRRP message (the IP payload) that arrived
// from src to dst. It checks what needs no configuration: the message's
// length against its address count, version 2 or 3, type ADVERTISEMENT, the
// address family (VRRPv2 is IPv4 only), a non-zero interval and the
// checksum (RFC 5798 §7.1, RFC 3768 §7.1). The hop limit is the transport's
// to check (CheckHopLimit), the VRID, authentication and address list the
// instance's (Expect.Check). Errors are *PacketError.
func Decode(msg []byte, src, dst netip.Addr) (Advert, error) {
	var a Advert
	if len(msg) < headerLen {
		return a, packetErr(KindLength, "%d bytes, shorter than the %d-byte header", len(msg), headerLen)
	}
	a.Version = Version(msg[0] >> 4)
	if a.Version != Version2 && a.Version != Version3 {
		return a, packetErr(KindVersion, "version %d", a.Version)
	}
	if typ := msg[0] & 0x0f; typ != advertType {
		return a, packetErr(KindType, "type %d", typ)
	}
	if !src.IsValid() || (a.Version == Version3 && !dst.IsValid()) {
		return a, packetErr(KindFamily, "no source or destination address")
	}
	src, dst = src.Unmap(), dst.Unmap()
	v6 := src.Is6()
	if dst.IsValid() && dst.Is6() != v6 {
		return a, packetErr(KindFamily, "source %s and destination %s differ in family", src, dst)
	}
	if a.Version == Version2 && v6 {
		return a, packetErr(KindFamily, "VRRPv2 over IPv6")
	}
	a.VRID, a.Priority = msg[1], msg[2]
	count := int(msg[3])
	addrLen := 4
	if v6 {
		addrLen = 16
	}
	// RFC 5798 §7.1: "MUST verify that the received packet contains the
	// complete VRRP packet (including fixed fields, and IPvX address(es))".
	// keepalived wants the exact length; so do we.
	want := headerLen + count*addrLen
	if a.Version == Version2 {
		want += authDataLen
	}
	if len(msg) != want {
		return a, packetErr(KindLength, "%d bytes for %d addresses, want %d", len(msg), count, want)
	}
	if a.Version == Version2 {
		a.AuthType = AuthType(msg[4])
		if msg[5] == 0 {
			// No configuration can match it (RFC 3768 §7.1 wants the
			// local interval, at least 1 s); refuse it as for VRRPv3.
			return a, packetErr(KindInterval, "zero Adver Int")
		}
		a.Interval = time.Duration(msg[5]) * time.Second
		copy(a.AuthData[:], msg[headerLen+count*addrLen:])
	} else {
		// RFC 5798 §5.2.7: the 4 reserved bits are ignored on receipt.
		cs := binary.BigEndian.Uint16(msg[4:6]) & 0x0fff
		if cs == 0 {
			// RFC 9568 erratum 8301: a zero Max Advertise Interval is
			// discarded (it would make Master_Down_Interval a skew).
			return a, packetErr(KindInterval, "zero Max Advertise Interval")
		}
		a.Interval = time.Duration(cs) * 10 * time.Millisecond
	}
	a.Checksum = binary.BigEndian.Uint16(msg[6:8])
	form, ok := verifyChecksum(msg, a.Version, src, dst)
	if !ok {
		return a, packetErr(KindChecksum, "checksum %#04x does not verify", a.Checksum)
	}
	a.ChecksumForm = form
	if count > 0 {
		a.Addrs = make([]netip.Addr, count)
	}
	for i := range count {
		b := msg[headerLen+i*addrLen : headerLen+(i+1)*addrLen]
		if v6 {
			a.Addrs[i] = netip.AddrFrom16([16]byte(b))
		} else {
			a.Addrs[i] = netip.AddrFrom4([4]byte(b))
		}
	}
	return a, nil
}

// verifyChecksum reports the first form under which msg's checksum verifies.
func verifyChecksum(msg []byte, v Version, src, dst netip.Addr) (ChecksumForm, bool) {
	if v == Version2 {
		return ChecksumMessageOnly, onesSum(0, msg) == 0xffff
	}
	if src.Is6() {
		return ChecksumPseudoHeader, onesSum(pseudoSum(src, dst, len(msg)), msg) == 0xffff
	}
	if onesSum(pseudoSum(src, dst, len(msg)), msg) == 0xffff {
		return ChecksumPseudoHeader, true
	}
	if onesSum(0, msg) == 0xffff {
		return ChecksumMessageOnly, true
	}
	if dst != MulticastGroup4 && onesSum(pseudoSum(src, MulticastGroup4, len(msg)), msg) == 0xffff {
		return ChecksumLegacyUnicast, true
	}
	return 0, false
}

// CheckHopLimit verifies the IPv4 TTL or IPv6 hop limit of a received advert:
// RFC 5798 §7.1 "MUST verify that the IPv4 TTL or the IPv6 Hop Limit is
// 255", which proves the sender is on the link. keepalived skips the check
// for unicast peers (their adverts may be routed); the transport decides.
func CheckHopLimit(hl int) error {
	if hl != HopLimit {
		return packetErr(KindTTL, "hop limit %d, want %d", hl, HopLimit)
	}
	return nil
}

// Marshal encodes a as sent from src to dst, computing the checksum in the
// given form (ignored but for VRRPv3 over IPv4; see ChecksumForm). The
// family of src selects IPv4 or IPv6; every address must be of that family.
func (a *Advert) Marshal(src, dst netip.Addr, form ChecksumForm) ([]byte, error) {
	return a.AppendMarshal(nil, src, dst, form)
}

// AppendMarshal is Marshal appending to b.
func (a *Advert) AppendMarshal(b []byte, src, dst netip.Addr, form ChecksumForm) ([]byte, error) {
	src, dst = src.Unmap(), dst.Unmap()
	if !src.IsValid() || !dst.IsValid() || src.Is6() != dst.Is6() {
		return b, fmt.Errorf("marshal advert: source %s and destination %s: %w", src, dst, ErrFamily)
	}
	v6 := src.Is6()
	if len(a.Addrs) > 255 {
		return b, fmt.Errorf("marshal advert: %d addresses, at most 255: %w", len(a.Addrs), ErrLength)
	}
	for _, ad := range a.Addrs {
		if ad.Unmap().Is6() != v6 {
			return b, fmt.Errorf("marshal advert: address %s in a %s advert: %w", ad, familyName(v6), ErrFamily)
		}
	}
	start := len(b)
	var intervalField uint16
	switch a.Version {
	case Version2:
		if v6 {
			return b, fmt.Errorf("marshal advert: VRRPv2 over IPv6: %w", ErrFamily)
		}
		if a.Interval%time.Second != 0 || a.Interval < time.Second || a.Interval > 255*time.Second {
			return b, fmt.Errorf("marshal advert: VRRPv2 interval %v is not 1..255 whole seconds: %w", a.Interval, ErrInterval)
		}
		intervalField = uint16(a.AuthType)<<8 | uint16(a.Interval/time.Second)
	case Version3:
		cs := a.Interval / (10 * time.Millisecond)
		if a.Interval%(10*time.Millisecond) != 0 || cs < 1 || cs > 0x0fff {
			return b, fmt.Errorf("marshal advert: VRRPv3 interval %v is not 1..4095 centiseconds: %w", a.Interval, ErrInterval)
		}
		intervalField = uint16(cs)
	default:
		return b, fmt.Errorf("marshal advert: version %d: %w", a.Version, ErrVersion)
	}
	b = append(b, byte(a.Version)<<4|advertType, a.VRID, a.Priority, byte(len(a.Addrs)))
	b = binary.BigEndian.AppendUint16(b, intervalField)
	b = append(b, 0, 0) // checksum, zero while summing (RFC 5798 §5.2.8)
	for _, ad := range a.Addrs {
		b = append(b, ad.Unmap().AsSlice()...)
	}
	if a.Version == Version2 {
		b = append(b, a.AuthData[:]...)
	}
	msg := b[start:]
	var initial uint32
	if a.Version == Version3 {
		switch {
		case v6:
			initial = pseudoSum(src, dst, len(msg))
		case form == ChecksumPseudoHeader:
			initial = pseudoSum(src, dst, len(msg))
		case form == ChecksumLegacyUnicast:
			initial = pseudoSum(src, MulticastGroup4, len(msg))
		case form == ChecksumMessageOnly:
		default:
			return b[:start], fmt.Errorf("marshal advert: checksum form %v: %w", form, ErrChecksum)
		}
	}
	a.Checksum = ^uint16(onesSum(initial, msg))
	binary.BigEndian.PutUint16(msg[6:8], a.Checksum)
	return b, nil
}

func familyName(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}

// onesSum adds b as big-endian 16-bit words to the one's complement sum
// initial (RFC 1071) and returns the folded 16-bit sum.
func onesSum(initial uint32, b []byte) uint32 {
	sum := initial
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return sum
}

// pseudoSum is the one's complement sum of the pseudo-header: for IPv4 the
// 12-byte TCP/UDP form (source, destination, zero, protocol, 16-bit length),
// as keepalived builds it for VRRPv3; for IPv6 the 40-byte RFC 8200 §8.1
// form (source, destination, 32-bit length, 3 zero bytes, next header).
func pseudoSum(src, dst netip.Addr, length int) uint32 {
	var ph bytes.Buffer
	ph.Write(src.AsSlice())
	ph.Write(dst.AsSlice())
	if src.Is6() {
		ph.Write(binary.BigEndian.AppendUint32(nil, uint32(length)))
		ph.Write([]byte{0, 0, 0, IPProtocol})
	} else {
		ph.Write([]byte{0, IPProtocol})
		ph.Write(binary.BigEndian.AppendUint16(nil, uint16(length)))
	}
	return onesSum(0, ph.Bytes())
}
