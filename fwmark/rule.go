package fwmark

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/lvsctl/lvsctl/lvs"
)

// Chains and the comments that mark what lvsctl owns.
const (
	// Chain holds the rules for packets arriving from the network; a rule
	// in PREROUTING jumps to it.
	Chain = "LVSCTL-FWMARK"
	// LocalChain holds the rules added with Rule.Local, for packets the
	// director itself sends; a rule in OUTPUT jumps to it.
	LocalChain = "LVSCTL-FWMARK-LOCAL"

	table         = "mangle"
	commentPrefix = "lvsctl fwmark"
	// maxMultiport is XT_MULTI_PORTS: the multiport match takes at most 15
	// ports, a range counting as two.
	maxMultiport = 15
)

// hooks are the built-in chains that jump to ours, each with its chain.
var hooks = []struct{ builtin, chain string }{
	{"PREROUTING", Chain},
	{"OUTPUT", LocalChain},
}

// ErrInvalid marks a rule that cannot be expressed (bad address, port or
// mark); nothing is sent to iptables for it.
var ErrInvalid = errors.New("invalid firewall-mark rule")

// PortRange is a destination port or an inclusive range of ports.
type PortRange struct{ First, Last uint16 }

func (p PortRange) String() string {
	if p.First == p.Last {
		return strconv.Itoa(int(p.First))
	}
	return fmt.Sprintf("%d:%d", p.First, p.Last)
}

// weight is what the range costs in a multiport match.
func (p PortRange) weight() int {
	if p.First == p.Last {
		return 1
	}
	return 2
}

// Rule marks the packets to VIP with a destination port in Ports.
type Rule struct {
	VIP   netip.Addr
	Proto lvs.Protocol // lvs.TCP, lvs.UDP or lvs.SCTP
	Ports []PortRange  // in canonical order (see ParsePorts)
	Mark  uint32       // 1..2^32-1
	// Local also marks packets sent by the director itself (the OUTPUT
	// hook), for clients on the director.
	Local bool
}

// Family is the address family of the rule's VIP.
func (r Rule) Family() lvs.Family { return lvs.FamilyOf(r.VIP) }

func (r Rule) String() string {
	return fmt.Sprintf("%s %s ports %s mark %d", protoName(r.Proto), r.VIP, FormatPorts(r.Ports), r.Mark)
}

// FormatPorts writes ports as ParsePorts reads them: "80,443,8000:8100".
func FormatPorts(ports []PortRange) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// ParsePorts reads a comma-separated list of ports and ranges
// ("80,443,8000:8100"; a range may also be written 8000-8100). The result
// is sorted with overlapping entries merged, so that the same set of ports
// always makes the same rule.
func ParsePorts(s string) ([]PortRange, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("%w: empty port list", ErrInvalid)
	}
	var ports []PortRange
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		lo, hi, isRange := strings.Cut(f, ":")
		if !isRange {
			lo, hi, isRange = strings.Cut(f, "-")
		}
		if !isRange {
			hi = lo
		}
		first, err1 := parsePort(lo)
		last, err2 := parsePort(hi)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("%w: port %q: %w", ErrInvalid, f, err)
		}
		if first > last {
			return nil, fmt.Errorf("%w: port range %q runs backwards", ErrInvalid, f)
		}
		ports = append(ports, PortRange{first, last})
	}
	return canonPorts(ports), nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, errors.New("want 1..65535")
	}
	return uint16(n), nil
}

// canonPorts sorts ports and merges overlapping ranges.
func canonPorts(ports []PortRange) []PortRange {
	ports = slices.Clone(ports)
	slices.SortFunc(ports, func(a, b PortRange) int {
		if a.First != b.First {
			return int(a.First) - int(b.First)
		}
		return int(a.Last) - int(b.Last)
	})
	out := ports[:0]
	for _, p := range ports {
		if n := len(out); n > 0 && p.First <= out[n-1].Last {
			out[n-1].Last = max(out[n-1].Last, p.Last)
			continue
		}
		out = append(out, p)
	}
	return out
}

// ParseMark reads a firewall mark in decimal or 0x-prefixed hexadecimal,
// 1..2^32-1 (0 means "no mark" to the kernel, and IPVS refuses it).
func ParseMark(s string) (uint32, error) {
	base, digits := 10, s
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		base, digits = 16, h
	}
	n, err := strconv.ParseUint(digits, base, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%w: mark %q: want 1..4294967295 (decimal or 0x hex)", ErrInvalid, s)
	}
	return uint32(n), nil
}

// ParseProto reads tcp, udp or sctp.
func ParseProto(s string) (lvs.Protocol, error) {
	switch strings.ToLower(s) {
	case "tcp":
		return lvs.TCP, nil
	case "udp":
		return lvs.UDP, nil
	case "sctp":
		return lvs.SCTP, nil
	}
	return 0, fmt.Errorf("%w: protocol %q: want tcp, udp or sctp", ErrInvalid, s)
}

func protoName(p lvs.Protocol) string {
	switch p {
	case lvs.TCP:
		return "tcp"
	case lvs.UDP:
		return "udp"
	case lvs.SCTP:
		return "sctp"
	}
	return p.String()
}

// validate checks what iptables would refuse, before anything is sent.
func (r Rule) validate() error {
	switch {
	case !r.VIP.IsValid():
		return fmt.Errorf("%w: no VIP", ErrInvalid)
	case r.VIP.Is4In6():
		return fmt.Errorf("%w: VIP %s is IPv4-mapped; give the IPv4 address", ErrInvalid, r.VIP)
	case r.VIP.Zone() != "":
		return fmt.Errorf("%w: VIP %s has a zone", ErrInvalid, r.VIP)
	case r.Mark == 0:
		return fmt.Errorf("%w: mark 0", ErrInvalid)
	case len(r.Ports) == 0:
		return fmt.Errorf("%w: no ports", ErrInvalid)
	}
	if _, err := ParseProto(protoName(r.Proto)); err != nil {
		return err
	}
	for _, p := range r.Ports {
		if p.First == 0 || p.First > p.Last {
			return fmt.Errorf("%w: port range %s", ErrInvalid, p)
		}
	}
	return nil
}

// specs returns the iptables rule specifications of r, in the form
// `iptables -S` prints them back, so that a listing compares equal: one
// per group of at most 15 multiport entries.
func (r Rule) specs() [][]string {
	var groups [][]PortRange
	var cur []PortRange
	used := 0
	for _, p := range canonPorts(r.Ports) {
		if used+p.weight() > maxMultiport {
			groups, cur, used = append(groups, cur), nil, 0
		}
		cur = append(cur, p)
		used += p.weight()
	}
	groups = append(groups, cur)

	bits := 32
	if r.VIP.Is6() {
		bits = 128
	}
	specs := make([][]string, 0, len(groups))
	for _, g := range groups {
		specs = append(specs, []string{
			"-d", netip.PrefixFrom(r.VIP, bits).String(),
			"-p", protoName(r.Proto),
			"-m", "multiport", "--dports", FormatPorts(g),
			"-m", "comment", "--comment", fmt.Sprintf("%s %d", commentPrefix, r.Mark),
			// --set-mark N is saved as --set-xmark N/0xffffffff; writing
			// the saved form keeps the spec equal to the listing.
			"-j", "MARK", "--set-xmark", fmt.Sprintf("%#x/0xffffffff", r.Mark),
		})
	}
	return specs
}

// jumpSpec is the rule in a built-in chain that sends packets to ours.
func jumpSpec(chain string) []string {
	return []string{"-m", "comment", "--comment", commentPrefix, "-j", chain}
}

// ParseRule reads one line of `iptables -t mangle -S` for one of our
// chains ("-A LVSCTL-FWMARK -d 192.0.2.1/32 -p tcp -m multiport --dports
// 80,443 -m comment --comment "lvsctl fwmark 5" -j MARK --set-xmark
// 0x5/0xffffffff") and returns the chain and the rule. Lines it did not
// write (a rule someone added by hand) are an error.
func ParseRule(line string) (chain string, r Rule, err error) {
	toks, err := splitSaved(line)
	if err != nil {
		return "", Rule{}, err
	}
	if len(toks) < 2 || toks[0] != "-A" {
		return "", Rule{}, fmt.Errorf("not a rule: %q", line)
	}
	chain, toks = toks[1], toks[2:]
	want := []string{"-d", "", "-p", "", "-m", "multiport", "--dports", "", "-m", "comment", "--comment", "", "-j", "MARK", "--set-xmark", ""}
	if len(toks) != len(want) {
		return "", Rule{}, fmt.Errorf("not an lvsctl fwmark rule: %q", line)
	}
	for i, w := range want {
		if w != "" && toks[i] != w {
			return "", Rule{}, fmt.Errorf("not an lvsctl fwmark rule: %q", line)
		}
	}
	dst, proto, ports, comment, mark := toks[1], toks[3], toks[7], toks[11], toks[15]

	pfx, err := netip.ParsePrefix(dst)
	if err != nil || pfx.Bits() != pfx.Addr().BitLen() {
		return "", Rule{}, fmt.Errorf("rule %q: destination %q is not one address", line, dst)
	}
	r.VIP = pfx.Addr()
	if r.Proto, err = ParseProto(proto); err != nil {
		return "", Rule{}, fmt.Errorf("rule %q: %w", line, err)
	}
	if r.Ports, err = ParsePorts(ports); err != nil {
		return "", Rule{}, fmt.Errorf("rule %q: %w", line, err)
	}
	if comment != commentPrefix && !strings.HasPrefix(comment, commentPrefix+" ") {
		return "", Rule{}, fmt.Errorf("rule %q: comment %q is not lvsctl's", line, comment)
	}
	value, mask, ok := strings.Cut(mark, "/")
	if !ok || mask != "0xffffffff" {
		return "", Rule{}, fmt.Errorf("rule %q: mark %q is masked", line, mark)
	}
	if r.Mark, err = ParseMark(value); err != nil {
		return "", Rule{}, fmt.Errorf("rule %q: %w", line, err)
	}
	return chain, r, nil
}

// splitSaved splits a line of iptables-save output into words. Words with
// spaces or quotes are printed in double quotes with \" and \\ escaped
// (xtables_save_string in iptables' libxtables).
func splitSaved(line string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted && c == '\\' && i+1 < len(line):
			i++
			w.WriteByte(line[i])
		case quoted && c == '"':
			quoted = false
		case quoted:
			w.WriteByte(c)
		case c == '"':
			quoted, inWord = true, true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote in %q", line)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}
