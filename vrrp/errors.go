package vrrp

import (
	"errors"
	"fmt"
)

// Kind classifies why a received packet was dropped, so that the speaker can
// count drops by kind (lvsctl vrrp status) as keepalived's statistics do.
type Kind uint8

// The drop kinds. Their String form is the counter name.
const (
	KindTTL      Kind = iota + 1 // IPv4 TTL / IPv6 hop limit not 255 (RFC 5798 §7.1)
	KindLength                   // message shorter or longer than its address count says
	KindVersion                  // version not 2 or 3, or not the configured one
	KindType                     // type not 1 (ADVERTISEMENT)
	KindFamily                   // VRRPv2 over IPv6, or addresses of no usable family
	KindChecksum                 // checksum matches none of the accepted forms
	KindVRID                     // VRID not this instance's
	KindAuthType                 // VRRPv2 auth type unknown or not the configured one
	KindAuth                     // VRRPv2 simple password mismatch
	KindInterval                 // advert interval invalid (v3 zero) or, for v2, not ours
	KindAddrList                 // virtual addresses differ from the configured ones
)

var kindNames = [...]string{
	KindTTL:      "ttl",
	KindLength:   "length",
	KindVersion:  "version",
	KindType:     "type",
	KindFamily:   "family",
	KindChecksum: "checksum",
	KindVRID:     "vrid",
	KindAuthType: "auth-type",
	KindAuth:     "auth",
	KindInterval: "interval",
	KindAddrList: "addr-list",
}

// String returns the counter name of k ("ttl", "checksum", ...).
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// PacketError says why a packet was refused. errors.Is matches it against
// the sentinel of its kind (ErrChecksum and so on).
type PacketError struct {
	Kind   Kind
	Detail string
}

func (e *PacketError) Error() string {
	if e.Detail == "" {
		return "vrrp: bad " + e.Kind.String()
	}
	return "vrrp: bad " + e.Kind.String() + ": " + e.Detail
}

// Is reports whether target is the sentinel of e's kind.
func (e *PacketError) Is(target error) bool {
	t, ok := target.(*PacketError)
	return ok && t.Detail == "" && t.Kind == e.Kind
}

// Sentinels, one per Kind, for errors.Is.
var (
	ErrTTL      = &PacketError{Kind: KindTTL}
	ErrLength   = &PacketError{Kind: KindLength}
	ErrVersion  = &PacketError{Kind: KindVersion}
	ErrType     = &PacketError{Kind: KindType}
	ErrFamily   = &PacketError{Kind: KindFamily}
	ErrChecksum = &PacketError{Kind: KindChecksum}
	ErrVRID     = &PacketError{Kind: KindVRID}
	ErrAuthType = &PacketError{Kind: KindAuthType}
	ErrAuth     = &PacketError{Kind: KindAuth}
	ErrInterval = &PacketError{Kind: KindInterval}
	ErrAddrList = &PacketError{Kind: KindAddrList}
)

// KindOf returns the drop kind of err, or 0 if err is not a *PacketError.
func KindOf(err error) Kind {
	var pe *PacketError
	if errors.As(err, &pe) {
		return pe.Kind
	}
	return 0
}

func packetErr(k Kind, format string, args ...any) error {
	return &PacketError{Kind: k, Detail: fmt.Sprintf(format, args...)}
}

// ErrReconfigure is Instance.Reconfigure refusing a change it cannot make
// in place (the instance's identity or tracking): the instance has to be
// stopped and started again.
var ErrReconfigure = errors.New("change needs a restart of the instance")

// ErrStopped is a request to a speaker whose loop has ended.
var ErrStopped = errors.New("vrrp speaker stopped")
