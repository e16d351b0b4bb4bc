package ipvsadm

import (
	"math"
	"net/netip"
	"strings"
)

// The C library conversions ipvsadm's parsing rests on, reproduced so that
// what ipvsadm accepts (" 5", "+5", "0x7f.1") lvsctl accepts too.

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// strtol is strtol(3) for base 10 on an LP64 system: it returns the value,
// the unparsed rest, and false when no digits were found or the value
// overflowed (ERANGE).
func strtol(s string, base int) (int64, string, bool) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	var v uint64
	overflow := false
	for i < len(s) && isDigit(s[i]) {
		d := uint64(s[i] - '0')
		if v > (math.MaxUint64-d)/uint64(base) {
			overflow = true
		} else {
			v = v*uint64(base) + d
		}
		i++
	}
	if i == start {
		return 0, s, false
	}
	if overflow || (!neg && v > math.MaxInt64) || (neg && v > 1<<63) {
		if neg {
			return math.MinInt64, s[i:], false
		}
		return math.MaxInt64, s[i:], false
	}
	if neg {
		return -int64(v), s[i:], true
	}
	return int64(v), s[i:], true
}

// stringToNumber is ipvsadm's string_to_number: the whole string must be
// a base-10 number within [lo, hi].
func stringToNumber(s string, lo, hi int64) (int, bool) {
	v, rest, ok := strtol(s, 10)
	if !ok || rest != "" || v < lo || v > hi {
		return -1, false
	}
	return int(v), true
}

// atoi is atoi(3): strtol without error checks, truncated to an int.
func atoi(s string) int32 {
	v, _, _ := strtol(s, 10)
	return int32(v)
}

// strIsDigit is ipvsadm's str_is_digit: true for an all-digit (or empty)
// string.
func strIsDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// inetAton is glibc's inet_aton: one to four parts, each decimal, octal
// (leading 0) or hexadecimal (leading 0x); the last part fills the
// remaining bytes; trailing white space and anything after it is ignored.
func inetAton(s string) (netip.Addr, bool) {
	var parts [4]uint32
	n := 0
	var val uint64
	for {
		if s == "" || !isDigit(s[0]) {
			return netip.Addr{}, false
		}
		var ok bool
		val, s, ok = strtoul0(s)
		if !ok || val > math.MaxUint32 {
			return netip.Addr{}, false
		}
		if s != "" && s[0] == '.' {
			if n > 2 || val > 0xff {
				return netip.Addr{}, false
			}
			parts[n] = uint32(val)
			n++
			s = s[1:]
			continue
		}
		break
	}
	if s != "" && !isSpace(s[0]) {
		return netip.Addr{}, false
	}
	limits := [...]uint64{0xffffffff, 0xffffff, 0xffff, 0xff}
	if val > limits[n] {
		return netip.Addr{}, false
	}
	word := uint32(val)
	for i := 0; i < n; i++ {
		word |= parts[i] << (24 - 8*i)
	}
	return netip.AddrFrom4([4]byte{byte(word >> 24), byte(word >> 16), byte(word >> 8), byte(word)}), true
}

// strtoul0 is strtoul(s, &end, 0) for a string starting with a digit.
func strtoul0(s string) (uint64, string, bool) {
	base := uint64(10)
	i := 0
	if s[0] == '0' {
		base = 8
		if len(s) > 2 && (s[1] == 'x' || s[1] == 'X') && hexVal(s[2]) >= 0 {
			base = 16
			i = 2
		}
	}
	var v uint64
	start := i
	for i < len(s) {
		d := hexVal(s[i])
		if d < 0 || uint64(d) >= base {
			break
		}
		if v > (math.MaxUint64-uint64(d))/base {
			return 0, s[i:], false
		}
		v = v*base + uint64(d)
		i++
	}
	if i == start && base != 8 {
		return 0, s, false
	}
	return v, s[i:], true
}

func hexVal(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// inetPton6 is inet_pton(AF_INET6, ...): an IPv6 address, no zone, no
// IPv4 address.
func inetPton6(s string) (netip.Addr, bool) {
	if !strings.Contains(s, ":") || strings.Contains(s, "%") {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || !ip.Is6() {
		return netip.Addr{}, false
	}
	return ip, true
}
