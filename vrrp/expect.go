package vrrp

import (
	"crypto/subtle"
	"net/netip"
	"time"
)

// Expect is what an instance accepts from the wire, the configuration-
// dependent half of RFC 5798 §7.1 and RFC 3768 §7.1 (Decode does the rest).
type Expect struct {
	Version Version
	VRID    uint8
	// AuthType and AuthPass (VRRPv2 only): keepalived drops an advert whose
	// auth type differs from its own, and with PASS one whose password
	// differs (RFC 2338 §7.1).
	AuthType AuthType
	AuthPass [authDataLen]byte
	// Interval is this instance's advert interval. RFC 3768 §7.1: a VRRPv2
	// router "MUST verify that the Adver Interval in the packet is the same
	// as the locally configured for this virtual router"; VRRPv3 backups
	// learn the master's instead (RFC 5798 §6.4.2), so it is not checked.
	Interval time.Duration
	// Addrs, when not nil, are the virtual addresses the advert must list
	// (in any order). RFC 5798 §7.1 says MAY; keepalived drops on mismatch
	// unless skip_check_adv_addr, and so does Check.
	Addrs []netip.Addr
}

// Check verifies a decoded advert against e, in the order of RFC 5798 §7.1:
// version, VRID, authentication (v2), interval (v2), addresses. Errors are
// *PacketError.
func (e *Expect) Check(a *Advert) error {
	if a.Version != e.Version {
		return packetErr(KindVersion, "version %d, configured %d", a.Version, e.Version)
	}
	if a.VRID != e.VRID {
		return packetErr(KindVRID, "VRID %d, configured %d", a.VRID, e.VRID)
	}
	if a.Version == Version2 {
		if a.AuthType != AuthNone && a.AuthType != AuthPass {
			return packetErr(KindAuthType, "auth type %d", a.AuthType)
		}
		if a.AuthType != e.AuthType {
			return packetErr(KindAuthType, "auth type %d, configured %d", a.AuthType, e.AuthType)
		}
		// Constant time, as keepalived compares the password.
		if a.AuthType == AuthPass && subtle.ConstantTimeCompare(a.AuthData[:], e.AuthPass[:]) != 1 {
			return packetErr(KindAuth, "password mismatch")
		}
		if a.Interval != e.Interval {
			return packetErr(KindInterval, "interval %v, configured %v", a.Interval, e.Interval)
		}
	}
	if e.Addrs != nil {
		if len(a.Addrs) != len(e.Addrs) {
			return packetErr(KindAddrList, "%d addresses, configured %d", len(a.Addrs), len(e.Addrs))
		}
		for _, want := range e.Addrs {
			found := false
			for _, got := range a.Addrs {
				if got == want.Unmap() {
					found = true
					break
				}
			}
			if !found {
				return packetErr(KindAddrList, "%s missing", want)
			}
		}
	}
	return nil
}
