package ipvsadm

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/lvsctl/lvsctl/lvs"
)

// Printer writes ipvsadm's listings. Its methods take what the kernel
// returned and write exactly what ipvsadm 1.31 writes for it.
type Printer struct {
	W        io.Writer
	Resolver Resolver // used without FormatNumeric; nil resolves nothing

	// Reused from one service to the next: the text of a service and its
	// destinations, and the sorted order of its destinations.
	buf      []byte
	order    []int32
	orderTmp []int32
}

func (p *Printer) res() Resolver {
	if p.Resolver == nil {
		return numericResolver{}
	}
	return p.Resolver
}

func (p *Printer) printf(format string, a ...any) { fmt.Fprintf(p.W, format, a...) }

// Header is list_all's first line.
func (p *Printer) Header(info lvs.Info) {
	p.printf("IP Virtual Server version %s (size=%d)\n", info.VersionString(), info.ConnTableSize)
}

// Title is print_title: the column headings (none in the save format).
func (p *Printer) Title(f Format) {
	switch {
	case f&FormatStats != 0:
		p.printf("%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
	case f&FormatRate != 0:
		p.printf("%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS")
	case f&FormatThresholds != 0:
		p.printf("%-33s %-10s %-10s %-10s %-10s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn")
	case f&FormatPersistentConn != 0:
		p.printf("%-33s %-9s %-11s %-10s %-10s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "Weight", "PersistConn", "ActiveConn", "InActConn")
	case f&FormatTunInfo != 0:
		p.printf("Prot LocalAddress:Port Scheduler Flags\n" +
			"  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n")
	case f&FormatRule == 0:
		p.printf("Prot LocalAddress:Port Scheduler Flags\n" +
			"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")
	}
}

// Service is print_service_entry: the service line and its destinations,
// sorted unless FormatNoSort.
func (p *Printer) Service(ctx context.Context, s lvs.Service, dests []lvs.Destination, f Format) {
	var name string
	if s.FWMark != 0 {
		// ipvsadm prints the mark with %d.
		mark := int32(s.FWMark)
		switch {
		case f&FormatRule != 0 && s.Family == lvs.IPv6:
			name = fmt.Sprintf("-f %d -6", mark)
		case f&FormatRule != 0:
			name = fmt.Sprintf("-f %d", mark)
		case s.Family == lvs.IPv6:
			name = fmt.Sprintf("FWM  %d IPv6", mark)
		default:
			name = fmt.Sprintf("FWM  %d", mark)
		}
	} else {
		vname := p.addrPort(ctx, s.Family, s.Address, s.Port, s.Protocol, f)
		if f&FormatRule != 0 {
			opt := "--xxx-service"
			switch s.Protocol {
			case lvs.TCP:
				opt = "-t"
			case lvs.UDP:
				opt = "-u"
			case lvs.SCTP:
				opt = "--sctp-service"
			}
			name = opt + " " + vname
		} else {
			proto := "?"
			switch s.Protocol {
			case lvs.TCP, lvs.UDP, lvs.SCTP:
				proto = s.Protocol.String()
			}
			name = padRight(proto, 4) + " " + vname
			if s.Family != lvs.IPv6 {
				name = truncate(name, serviceSvcNameLimit)
			}
		}
	}

	b := p.buf[:0]
	schedFlags := s.Flags & (lvs.FlagSched1 | lvs.FlagSched2 | lvs.FlagSched3)
	timeout := uint32(s.Timeout.Seconds())
	switch {
	case f&FormatRule != 0:
		b = append(b, "-A "...)
		b = append(b, name...)
		b = append(b, " -s "...)
		b = append(b, s.Scheduler...)
		if s.Flags&lvs.FlagPersistent != 0 {
			b = append(b, " -p "...)
			b = strconv.AppendUint(b, uint64(timeout), 10)
			b = append(b, maskText(s, " -M ")...)
		}
		if s.PEName != "" {
			b = append(b, " --pe "...)
			b = append(b, s.PEName...)
		}
		if s.Flags&lvs.FlagOnePacket != 0 {
			b = append(b, " -o"...)
		}
		if schedFlags != 0 {
			b = append(b, " -b "...)
			b = append(b, schedFlagsText(s)...)
		}
	case f&FormatStats != 0:
		b = appendPadRight(b, name, 33)
		for _, v := range [...]uint64{s.Stats.Conns, s.Stats.InPkts, s.Stats.OutPkts, s.Stats.InBytes, s.Stats.OutBytes} {
			b = appendLargeNum(b, v, f)
		}
	case f&FormatRate != 0:
		b = appendPadRight(b, name, 33)
		for _, v := range [...]uint64{s.Stats.CPS, s.Stats.InPPS, s.Stats.OutPPS, s.Stats.InBPS, s.Stats.OutBPS} {
			b = appendLargeNum(b, v, f)
		}
	default:
		b = append(b, name...)
		b = append(b, ' ')
		b = append(b, s.Scheduler...)
		if schedFlags != 0 {
			b = append(b, " ("...)
			b = append(b, schedFlagsText(s)...)
			b = append(b, ')')
		}
		if s.Flags&lvs.FlagPersistent != 0 {
			b = append(b, " persistent "...)
			b = strconv.AppendUint(b, uint64(timeout), 10)
			b = append(b, maskText(s, " mask ")...)
			if s.PEName != "" {
				b = append(b, " pe "...)
				b = append(b, s.PEName...)
			}
		}
		if s.Flags&lvs.FlagOnePacket != 0 {
			b = append(b, " ops"...)
		}
	}
	b = append(b, '\n')

	// The destinations are sorted by index: lvs.Destination is large, and
	// the merge sort moves elements log2(n) times.
	order := p.order[:0]
	for i := range dests {
		order = append(order, int32(i))
	}
	if f&FormatNoSort == 0 && len(order) > 1 {
		p.orderTmp = slices.Grow(p.orderTmp[:0], len(order))[:len(order)]
		msort(order, p.orderTmp, func(i, j int32) int { return cmpDestsAt(&dests[i], &dests[j]) })
	}
	p.order = order
	for _, i := range order {
		d := &dests[i]
		af := d.Family
		if af == 0 {
			af = lvs.FamilyOf(d.Address)
		}
		if f&FormatRule != 0 {
			var scratch [addrPortBufMax + 8]byte
			_, dname := p.appendAddrPort(ctx, scratch[:0], af, d.Address, d.Port, s.Protocol, f)
			b = appendDestRule(b, name, dname, d)
			continue
		}
		b = append(b, "  -> "...)
		nameAt := len(b)
		b, _ = p.appendAddrPort(ctx, b, af, d.Address, d.Port, s.Protocol, f)
		if af != lvs.IPv6 && len(b)-nameAt > destNameLimit {
			b = b[:nameAt+destNameLimit]
		}
		b = appendPad(b, nameAt, 28)
		switch {
		case f&FormatStats != 0:
			for _, v := range [...]uint64{d.Stats.Conns, d.Stats.InPkts, d.Stats.OutPkts, d.Stats.InBytes, d.Stats.OutBytes} {
				b = appendLargeNum(b, v, f)
			}
			b = append(b, '\n')
		case f&FormatRate != 0:
			for _, v := range [...]uint64{d.Stats.CPS, d.Stats.InPPS, d.Stats.OutPPS} {
				b = append(b, ' ')
				b = appendUintRight(b, v, 8)
			}
			b = appendLargeNum(b, d.Stats.InBPS, f)
			b = appendLargeNum(b, d.Stats.OutBPS, f)
			b = append(b, '\n')
		case f&FormatThresholds != 0:
			for _, v := range [...]uint32{d.UpperThreshold, d.LowerThreshold, d.ActiveConns, d.InactiveConns} {
				b = append(b, ' ')
				b = appendIntLeft(b, int64(v), 10)
			}
			b = append(b, '\n')
		case f&FormatPersistentConn != 0:
			b = append(b, ' ')
			b = appendIntLeft(b, int64(uint32(d.Weight)), 9)
			b = append(b, ' ')
			b = appendIntLeft(b, int64(d.PersistentConns), 11)
			b = append(b, ' ')
			b = appendIntLeft(b, int64(d.ActiveConns), 10)
			b = append(b, ' ')
			b = appendIntLeft(b, int64(d.InactiveConns), 10)
			b = append(b, '\n')
		default:
			b = append(b, ' ')
			b = appendPadRight(b, fwdName(d.Forward), 7)
			if f&FormatTunInfo != 0 {
				b = append(b, ' ')
				b = appendPadRight(b, tunInfo(*d), 13)
			}
			b = append(b, ' ')
			b = appendIntLeft(b, int64(d.Weight), 6)
			b = append(b, ' ')
			b = appendIntLeft(b, int64(d.ActiveConns), 10)
			b = append(b, ' ')
			b = appendIntLeft(b, int64(d.InactiveConns), 10)
			b = append(b, '\n')
		}
	}
	p.W.Write(b)
	p.buf = b
}

// maskText is the persistence granularity, when it is not a single host.
func maskText(s lvs.Service, prefix string) string {
	switch s.Family {
	case lvs.IPv4:
		if s.Netmask != 0xffffffff {
			m := s.Netmask
			return prefix + netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}).String()
		}
	case lvs.IPv6:
		if s.Netmask != 128 {
			return prefix + strconv.Itoa(int(int32(s.Netmask)))
		}
	}
	return ""
}

// schedFlagsText is print_sched_flags: the flag names as the scheduler
// calls them.
func schedFlagsText(s lvs.Service) string {
	var names []string
	switch s.Scheduler {
	case "sh", "mh":
		if s.Flags&lvs.FlagSHFallback != 0 {
			names = append(names, s.Scheduler+"-fallback")
		}
		if s.Flags&lvs.FlagSHPort != 0 {
			names = append(names, s.Scheduler+"-port")
		}
	default:
		for i, fl := range []lvs.ServiceFlags{lvs.FlagSched1, lvs.FlagSched2, lvs.FlagSched3} {
			if s.Flags&fl != 0 {
				names = append(names, fmt.Sprintf("flag-%d", i+1))
			}
		}
	}
	return strings.Join(names, ",")
}

// fwdName and fwdSwitch name a forwarding method in listings and in the
// save format; ipvsadm passes a NULL to printf for the others, which glibc
// prints as "(null)".
func fwdName(m lvs.ForwardMethod) string {
	switch m & 7 { // IP_VS_CONN_F_FWD_MASK
	case lvs.Masquerade:
		return "Masq"
	case lvs.LocalNode:
		return "Local"
	case lvs.Tunnel:
		return "Tunnel"
	case lvs.DirectRoute:
		return "Route"
	}
	return "(null)"
}

func fwdSwitch(m lvs.ForwardMethod) string {
	switch m & 7 {
	case lvs.Masquerade:
		return "-m"
	case lvs.Tunnel:
		return "-i"
	case lvs.LocalNode, lvs.DirectRoute:
		return "-g"
	}
	return "(null)"
}

var tunFlagNames = [...]string{"-c", "+c", "r+c"}
var tunFlagOpts = [...]string{"--tun-nocsum", "--tun-csum", "--tun-remcsum"}

func tunFlagIndex(f lvs.TunnelFlags) int {
	if int(f) < len(tunFlagNames) {
		return int(f)
	}
	return 0
}

// tunInfo is fwd_tun_info: "ipip", "gue:PORT:FLAGS" or "gre:FLAGS" for a
// tunnel destination, "n/a" otherwise.
func tunInfo(d lvs.Destination) string {
	if d.Forward&7 != lvs.Tunnel {
		return "n/a"
	}
	var s string
	switch d.TunnelType {
	case lvs.TunnelIPIP:
		s = "ipip"
	case lvs.TunnelGUE:
		s = fmt.Sprintf("gue:%d:%s", d.TunnelPort, tunFlagNames[tunFlagIndex(d.TunnelFlags)])
	case lvs.TunnelGRE:
		s = "gre:" + tunFlagNames[tunFlagIndex(d.TunnelFlags)]
	default:
		return "n/a"
	}
	return truncate(s, 15)
}

// destRule is a destination in the save format.
func destRule(svc, dname string, d lvs.Destination) string {
	return string(appendDestRule(nil, svc, []byte(dname), &d))
}

func appendDestRule(b []byte, svc string, dname []byte, d *lvs.Destination) []byte {
	b = append(b, "-a "...)
	b = append(b, svc...)
	b = append(b, " -r "...)
	b = append(b, dname...)
	b = append(b, ' ')
	b = append(b, fwdSwitch(d.Forward)...)
	b = append(b, " -w "...)
	b = strconv.AppendInt(b, int64(d.Weight), 10)
	if d.Forward&7 == lvs.Tunnel {
		switch d.TunnelType {
		case lvs.TunnelGRE:
			b = append(b, " --tun-type gre "...)
			b = append(b, tunFlagOpts[tunFlagIndex(d.TunnelFlags)]...)
		case lvs.TunnelGUE:
			b = append(b, " --tun-type gue --tun-port "...)
			b = strconv.AppendUint(b, uint64(d.TunnelPort), 10)
			b = append(b, ' ')
			b = append(b, tunFlagOpts[tunFlagIndex(d.TunnelFlags)]...)
		case lvs.TunnelIPIP:
			b = append(b, " --tun-type ipip"...)
		}
	}
	return append(b, '\n')
}

// largeNum is appendLargeNum's text.
func largeNum(i uint64, f Format) string { return string(appendLargeNum(nil, i, f)) }

// appendLargeNum is print_largenum: counters in a 9-column field, scaled
// to K, M, G or T when large unless --exact.
func appendLargeNum(b []byte, i uint64, f Format) []byte {
	if f&FormatExact != 0 {
		// "%*d" with a width of one more than the digits, at least 9.
		b = append(b, ' ')
		return appendUintRight(b, i, 8)
	}
	var unit byte
	switch {
	case i < 100000000:
		return appendUintRight(b, i, 9)
	case i < 1000000000:
		i, unit = i/1000, 'K'
	case i < 100000000000:
		i, unit = i/1000000, 'M'
	case i < 100000000000000:
		i, unit = i/1000000000, 'G'
	default:
		i, unit = i/1000000000000, 'T'
	}
	return append(appendUintRight(b, i, 8), unit)
}

// appendUintRight is printf's %Nu.
func appendUintRight(b []byte, v uint64, n int) []byte {
	start := len(b)
	b = strconv.AppendUint(b, v, 10)
	return padLeftFrom(b, start, n)
}

// appendIntLeft is printf's %-Nd.
func appendIntLeft(b []byte, v int64, n int) []byte {
	start := len(b)
	b = strconv.AppendInt(b, v, 10)
	return appendPad(b, start, n)
}

// appendPadRight is printf's %-Ns: padding counted in bytes, as C counts.
func appendPadRight(b []byte, s string, n int) []byte {
	start := len(b)
	return appendPad(append(b, s...), start, n)
}

// appendPad pads with spaces what was appended to b since start to n bytes.
func appendPad(b []byte, start, n int) []byte {
	for len(b)-start < n {
		b = append(b, ' ')
	}
	return b
}

// padLeftFrom right-aligns what was appended to b since start in n bytes.
func padLeftFrom(b []byte, start, n int) []byte {
	w := len(b) - start
	if w >= n {
		return b
	}
	b = append(b, spaces[:n-w]...)
	copy(b[start+n-w:], b[start:start+w])
	copy(b[start:start+n-w], spaces)
	return b
}

const spaces = "                                "

// addrPort is addrport_to_anyname: "addr:port", IPv6 in brackets, names
// instead of numbers without FormatNumeric; at most 59 bytes.
func (p *Printer) addrPort(ctx context.Context, af lvs.Family, addr netip.Addr, port uint16, proto lvs.Protocol, f Format) string {
	_, name := p.appendAddrPort(ctx, nil, af, addr, port, proto, f)
	return string(name)
}

// appendAddrPort appends addrPort's text to b and returns b and the text
// within it.
func (p *Printer) appendAddrPort(ctx context.Context, b []byte, af lvs.Family, addr netip.Addr, port uint16, proto lvs.Protocol, f Format) ([]byte, []byte) {
	start := len(b)
	if af != lvs.IPv4 {
		b = append(b, '[')
	}
	if f&FormatNumeric != 0 {
		b = appendNtop(b, af, addr)
		if af != lvs.IPv4 {
			b = append(b, ']')
		}
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(port), 10)
	} else {
		host, ok := "", false
		if addr.IsValid() {
			host, ok = p.res().LookupAddr(ctx, addr)
		}
		if ok {
			b = append(b, host...)
		} else {
			b = appendNtop(b, af, addr)
		}
		if af != lvs.IPv4 {
			b = append(b, ']')
		}
		b = append(b, ':')
		pname := ""
		if n := protoName(proto); n != "" {
			pname, _ = p.res().LookupPort(port, n)
		}
		if pname == "" {
			b = strconv.AppendUint(b, uint64(port), 10)
		} else {
			b = append(b, pname...)
		}
	}
	if len(b)-start > addrPortBufMax {
		b = b[:start+addrPortBufMax]
	}
	return b, b[start:]
}

// appendNtop appends ntop's text.
func appendNtop(b []byte, af lvs.Family, addr netip.Addr) []byte {
	if af == lvs.IPv4 {
		a := addrBytes(addr)
		return netip.AddrFrom4([4]byte(a[:4])).AppendTo(b)
	}
	return append(b, ntop(af, addr)...)
}

// ntop is inet_ntop for the family ipvsadm believes the address has.
func ntop(af lvs.Family, addr netip.Addr) string {
	b := addrBytes(addr)
	if af == lvs.IPv4 {
		return netip.AddrFrom4([4]byte(b[:4])).String()
	}
	return ntop6(b)
}

// addrBytes is the address as union nf_inet_addr holds it: an IPv4
// address in the first four bytes.
func addrBytes(addr netip.Addr) [16]byte {
	var b [16]byte
	switch {
	case addr.Is4():
		a := addr.As4()
		copy(b[:], a[:])
	case addr.Is6():
		b = addr.As16()
	}
	return b
}

// ntop6 is glibc's inet_ntop for AF_INET6: the longest run of two or more
// zero words becomes "::", and an address with six zero words (or five and
// ffff) ends in dotted IPv4.
func ntop6(b [16]byte) string {
	var w [8]int
	for i := range w {
		w[i] = int(b[2*i])<<8 | int(b[2*i+1])
	}
	bestBase, bestLen, curBase, curLen := -1, 0, -1, 0
	for i := 0; i < 8; i++ {
		if w[i] == 0 {
			if curBase == -1 {
				curBase, curLen = i, 1
			} else {
				curLen++
			}
			continue
		}
		if curBase != -1 {
			if bestBase == -1 || curLen > bestLen {
				bestBase, bestLen = curBase, curLen
			}
			curBase = -1
		}
	}
	if curBase != -1 && (bestBase == -1 || curLen > bestLen) {
		bestBase, bestLen = curBase, curLen
	}
	if bestBase != -1 && bestLen < 2 {
		bestBase = -1
	}
	var s strings.Builder
	for i := 0; i < 8; i++ {
		if bestBase != -1 && i >= bestBase && i < bestBase+bestLen {
			if i == bestBase {
				s.WriteByte(':')
			}
			continue
		}
		if i != 0 {
			s.WriteByte(':')
		}
		if i == 6 && bestBase == 0 && (bestLen == 6 || (bestLen == 5 && w[5] == 0xffff)) {
			fmt.Fprintf(&s, "%d.%d.%d.%d", b[12], b[13], b[14], b[15])
			break
		}
		fmt.Fprintf(&s, "%x", w[i])
	}
	if bestBase != -1 && bestBase+bestLen == 8 {
		s.WriteByte(':')
	}
	return s.String()
}

// padRight is printf's %-Ns: padding counted in bytes, as C counts.
func padRight(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return s + strings.Repeat(" ", n-len(s))
}

// cmpServices is libipvs's ipvs_cmp_services, differences of unsigned
// values included: they wrap into a C int, so 192.0.2.1 sorts before
// 10.0.0.1, as in ipvsadm.
func cmpServices(a, b lvs.Service) int {
	if r := int32(a.FWMark - b.FWMark); r != 0 {
		return int(r)
	}
	if r := int(a.Family) - int(b.Family); r != 0 {
		return r
	}
	pa, pb := a.Protocol, b.Protocol
	if a.FWMark != 0 {
		pa = 0
	}
	if b.FWMark != 0 {
		pb = 0
	}
	if r := int(pa) - int(pb); r != 0 {
		return r
	}
	if r := cmpAddr(a.Family, addrBytes(a.Address), addrBytes(b.Address)); r != 0 {
		return r
	}
	return int(a.Port) - int(b.Port)
}

// cmpDests is libipvs's ipvs_cmp_dests; the first destination's family
// decides how much of the addresses is compared.
func cmpDests(a, b lvs.Destination) int { return cmpDestsAt(&a, &b) }

func cmpDestsAt(a, b *lvs.Destination) int {
	af := a.Family
	if af == 0 {
		af = lvs.FamilyOf(a.Address)
	}
	if r := cmpAddr(af, addrBytes(a.Address), addrBytes(b.Address)); r != 0 {
		return r
	}
	return int(a.Port) - int(b.Port)
}

func cmpAddr(af lvs.Family, a, b [16]byte) int {
	words := 1
	if af == lvs.IPv6 {
		words = 4
	}
	for i := 0; i < words; i++ {
		x := binary.BigEndian.Uint32(a[4*i:])
		y := binary.BigEndian.Uint32(b[4*i:])
		if r := int32(x - y); r != 0 {
			return int(r)
		}
	}
	return 0
}

// mergeSort is glibc's qsort as Debian 12 has it (msort.c): a stable
// top-down merge sort. Since libipvs's comparisons are not transitive, only
// the same algorithm gives the same order.
func mergeSort[T any](s []T, cmp func(a, b T) int) {
	if len(s) <= 1 {
		return
	}
	tmp := make([]T, len(s))
	msort(s, tmp, cmp)
}

func msort[T any](b, tmp []T, cmp func(a, b T) int) {
	n := len(b)
	if n <= 1 {
		return
	}
	n1 := n / 2
	b1, b2 := b[:n1], b[n1:]
	msort(b1, tmp, cmp)
	msort(b2, tmp, cmp)
	i, j, k := 0, 0, 0
	for i < len(b1) && j < len(b2) {
		if cmp(b1[i], b2[j]) <= 0 {
			tmp[k] = b1[i]
			i++
		} else {
			tmp[k] = b2[j]
			j++
		}
		k++
	}
	// What is left of b2 is already in place.
	k += copy(tmp[k:], b1[i:])
	copy(b, tmp[:k])
}

// Timeouts is list_timeout.
func (p *Printer) Timeouts(t lvs.Timeouts) {
	p.printf("Timeout (tcp tcpfin udp): %d %d %d\n", int(t.TCP.Seconds()), int(t.TCPFin.Seconds()), int(t.UDP.Seconds()))
}

// Daemons is list_daemon: at most the first two daemons, master or backup.
func (p *Printer) Daemons(ds []lvs.SyncDaemon) {
	for i, d := range ds {
		if i == 2 {
			break
		}
		var kind string
		switch {
		case d.State&lvs.SyncMaster != 0:
			kind = "master"
		case d.State&lvs.SyncBackup != 0:
			kind = "backup"
		default:
			continue
		}
		p.printf("%s sync daemon (mcast=%s, syncid=%d", kind, d.Interface, d.SyncID)
		if d.MaxLen != 0 {
			p.printf(", maxlen=%d", d.MaxLen)
		}
		if d.Group.IsValid() {
			if d.Group.Is4() {
				p.printf(", group=%s", d.Group)
			} else {
				p.printf(", group=%s", ntop6(d.Group.As16()))
			}
		}
		if d.Port != 0 {
			p.printf(", port=%d", d.Port)
		}
		if d.TTL != 0 {
			p.printf(", ttl=%d", d.TTL)
		}
		p.printf(")\n")
	}
}

// Connections is list_conn after the file was opened: the heading and one
// line per entry of /proc/net/ip_vs_conn.
func (p *Printer) Connections(ctx context.Context, conns []lvs.Connection, f Format) {
	p.printf("IPVS connection entries\n")
	if f&FormatPersistentConn != 0 {
		p.printf("pro expire %-11s %-18s %-18s %-18s %-16s %s\n", "state", "source", "virtual", "destination", "pe name", "pe_data")
	} else {
		p.printf("pro expire %-11s %-18s %-18s %s\n", "state", "source", "virtual", "destination")
	}
	for _, c := range conns {
		var proto lvs.Protocol
		switch c.Protocol {
		case "TCP":
			proto = lvs.TCP
		case "UDP":
			proto = lvs.UDP
		case "SCTP":
			proto = lvs.SCTP
		}
		cname := p.addrPort(ctx, lvs.FamilyOf(c.Client.Addr()), c.Client.Addr(), c.Client.Port(), proto, f)
		vname := p.addrPort(ctx, lvs.FamilyOf(c.Client.Addr()), c.Virtual.Addr(), c.Virtual.Port(), proto, f)
		dname := p.addrPort(ctx, lvs.FamilyOf(c.Real.Addr()), c.Real.Addr(), c.Real.Port(), proto, f)
		secs := int64(c.Expires.Seconds())
		expire := fmt.Sprintf("%02d:%02d", secs/60, secs%60)
		if f&FormatPersistentConn != 0 && c.PEName != "" && c.PEData != "" {
			p.printf("%s %s %s %s %s %s %s %s\n", padRight(c.Protocol, 3), padRight(expire, 6), padRight(c.State, 11),
				padRight(cname, 18), padRight(vname, 18), padRight(dname, 16), padRight(c.PEName, 18), c.PEData)
		} else {
			p.printf("%s %s %s %s %s %s\n", padRight(c.Protocol, 3), padRight(expire, 6), padRight(c.State, 11),
				padRight(cname, 18), padRight(vname, 18), dname)
		}
	}
}
