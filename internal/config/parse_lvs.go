package config

import (
	"encoding/hex"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/lvsctl/lvsctl/lvs"
)

// opt is a setting that may be inherited: virtual server -> real server ->
// checker, "the virtual server setting is the default for real servers,
// and the real server setting is the default for checkers".
type opt[T any] struct {
	v   T
	set bool
}

func (o *opt[T]) put(v T) { o.v, o.set = v, true }

func (o opt[T]) or(parent opt[T]) opt[T] {
	if o.set {
		return o
	}
	return parent
}

func (o opt[T]) get(def T) T {
	if o.set {
		return o.v
	}
	return def
}

type timing struct {
	connectTimeout   opt[time.Duration]
	retry            opt[int]
	delayBeforeRetry opt[time.Duration]
	warmup           opt[time.Duration]
	delayLoop        opt[time.Duration]
	alpha            opt[bool]
	inhibit          opt[bool]
	virtualhost      opt[string]
	forwarding       opt[Forwarding]
}

func (t *timing) under(parent *timing) *timing {
	return &timing{
		connectTimeout:   t.connectTimeout.or(parent.connectTimeout),
		retry:            t.retry.or(parent.retry),
		delayBeforeRetry: t.delayBeforeRetry.or(parent.delayBeforeRetry),
		warmup:           t.warmup.or(parent.warmup),
		delayLoop:        t.delayLoop.or(parent.delayLoop),
		alpha:            t.alpha.or(parent.alpha),
		inhibit:          t.inhibit.or(parent.inhibit),
		virtualhost:      t.virtualhost.or(parent.virtualhost),
		forwarding:       t.forwarding.or(parent.forwarding),
	}
}

// timingDirective handles the settings shared by virtual servers, real
// servers and checkers; it reports whether c was one of them.
func (p *parser) timingDirective(c *node, t *timing) bool {
	var d time.Duration
	switch c.key() {
	case "connect_timeout":
		if p.timer(c, &d, time.Microsecond) {
			t.connectTimeout.put(d)
		}
	case "delay_before_retry":
		if p.timer(c, &d, 0) {
			t.delayBeforeRetry.put(d)
		}
	case "warmup":
		if p.timer(c, &d, 0) {
			t.warmup.put(d)
		}
	case "delay_loop":
		if p.timer(c, &d, time.Microsecond) {
			t.delayLoop.put(d)
		}
	case "retry", "nb_get_retry":
		if c.key() == "nb_get_retry" {
			p.warnf(c, "nb_get_retry is deprecated; use retry")
		}
		var v int
		if p.int(c, &v, 0, math.MaxInt32) {
			t.retry.put(v)
		}
	case "alpha":
		var b bool
		p.optBool(c, &b)
		t.alpha.put(b)
	case "inhibit_on_failure":
		var b bool
		p.optBool(c, &b)
		t.inhibit.put(b)
	case "virtualhost":
		var s string
		p.str(c, &s)
		t.virtualhost.put(s)
	case "lvs_method", "lb_kind":
		if f, ok := p.forwarding(c); ok {
			t.forwarding.put(f)
		}
	default:
		return false
	}
	return true
}

// forwarding reads "NAT|DR|TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]".
func (p *parser) forwarding(c *node) (Forwarding, bool) {
	var f Forwarding
	if !p.nargs(c, 1, -1) {
		return f, false
	}
	a := c.args()
	switch a[0] {
	case "NAT":
		f.Method = lvs.Masquerade
	case "DR":
		f.Method = lvs.DirectRoute
	case "TUN":
		f.Method = lvs.Tunnel
	default:
		p.errorf(c, "%s: %q is not one of NAT, DR, TUN", c.key(), a[0])
		return f, false
	}
	a = a[1:]
	if f.Method != lvs.Tunnel {
		if len(a) > 0 {
			p.warnf(c, "%s: extra words %q ignored", c.key(), strings.Join(a, " "))
		}
		return f, true
	}
	for i := 0; i < len(a); i++ {
		switch a[i] {
		case "type":
			if i+1 >= len(a) {
				p.errorf(c, "%s: type needs a value", c.key())
				return f, false
			}
			i++
			switch a[i] {
			case "ipip":
				f.TunnelType = lvs.TunnelIPIP
			case "gre":
				f.TunnelType = lvs.TunnelGRE
			case "gue":
				f.TunnelType = lvs.TunnelGUE
			default:
				p.errorf(c, "%s: unknown tunnel type %q", c.key(), a[i])
				return f, false
			}
		case "port":
			if i+1 >= len(a) {
				p.errorf(c, "%s: port needs a value", c.key())
				return f, false
			}
			i++
			v, ok := p.intVal(c, a[i], 1, 65535)
			if !ok {
				return f, false
			}
			f.TunnelPort = uint16(v)
		case "nocsum", "csum", "remcsum":
			f.TunnelCsum = a[i]
		default:
			p.errorf(c, "%s: unknown option %q", c.key(), a[i])
			return f, false
		}
	}
	if f.TunnelType == lvs.TunnelGUE && f.TunnelPort == 0 {
		p.errorf(c, "%s: tunnel type gue needs a port", c.key())
		return f, false
	}
	return f, true
}

var vsUnsupported = set("smtp_alert", "snmp_name", "ip_family_check", "ha_suspend_delay")

func (p *parser) virtualServer(n *node) {
	if !p.needBlock(n) {
		return
	}
	vs := &VirtualServer{File: n.file, Line: n.line, Quorum: 1}
	a := n.args()
	switch {
	case len(a) == 2 && a[0] == "fwmark":
		v, ok := p.intVal(n, a[1], 1, math.MaxUint32)
		if !ok {
			return
		}
		vs.FWMark = uint32(v)
	case len(a) == 2 && a[0] == "group":
		vs.Group = a[1]
	case len(a) == 1 || len(a) == 2:
		addr, ok := p.addrVal(n, a[0])
		if !ok {
			return
		}
		vs.Addr = addr
		vs.Family = lvs.FamilyOf(addr)
		if len(a) == 2 {
			if vs.Port, ok = p.portVal(n, a[1]); !ok {
				return
			}
		}
	default:
		p.errorf(n, "virtual_server: expected IP [PORT], fwmark N or group NAME")
		return
	}
	t := &timing{}
	p.vsT[vs] = t
	for _, c := range n.children {
		if p.timingDirective(c, t) {
			continue
		}
		switch c.key() {
		case "lvs_sched", "lb_algo":
			p.str(c, &vs.Scheduler)
		case "flag-1":
			p.schedFlag(c, vs, lvs.FlagSched1)
		case "flag-2":
			p.schedFlag(c, vs, lvs.FlagSched2)
		case "flag-3":
			p.schedFlag(c, vs, lvs.FlagSched3)
		case "sh-fallback":
			p.schedFlag(c, vs, lvs.FlagSHFallback)
		case "sh-port":
			p.schedFlag(c, vs, lvs.FlagSHPort)
		case "mh-fallback":
			p.schedFlag(c, vs, lvs.FlagMHFallback)
		case "mh-port":
			p.schedFlag(c, vs, lvs.FlagMHPort)
		case "ops":
			p.schedFlag(c, vs, lvs.FlagOnePacket)
		case "protocol":
			if p.nargs(c, 1, 1) {
				switch c.args()[0] {
				case "TCP":
					vs.Protocol = lvs.TCP
				case "UDP":
					vs.Protocol = lvs.UDP
				case "SCTP":
					vs.Protocol = lvs.SCTP
				default:
					p.errorf(c, "protocol: %q is not one of TCP, UDP, SCTP", c.args()[0])
				}
			}
		case "persistence_timeout":
			if p.nargs(c, 0, 1) {
				vs.PersistenceTimeout = 360 * time.Second // ipvsadm's default, 6 minutes
				if len(c.args()) == 1 {
					p.seconds(c, &vs.PersistenceTimeout, 1, math.MaxInt32)
				}
			}
		case "persistence_granularity":
			if p.nargs(c, 1, 1) {
				vs.PersistenceGranularity = p.granularity(c, c.args()[0])
			}
		case "persistence_engine":
			p.str(c, &vs.PersistenceEngine)
		case "ha_suspend":
			p.flag(c, &vs.HASuspend)
		case "omega":
			p.flag(c, &vs.Omega)
		case "quorum":
			p.int(c, &vs.Quorum, 1, math.MaxInt32)
		case "hysteresis":
			p.int(c, &vs.Hysteresis, 0, math.MaxInt32)
		case "quorum_up":
			vs.QuorumUp = p.script(c)
		case "quorum_down":
			vs.QuorumDown = p.script(c)
		case "ip_family":
			if p.nargs(c, 1, 1) {
				switch c.args()[0] {
				case "inet":
					vs.Family = lvs.IPv4
				case "inet6":
					vs.Family = lvs.IPv6
				default:
					p.errorf(c, "ip_family: %q is neither inet nor inet6", c.args()[0])
				}
				if vs.Addr.IsValid() && vs.Family != lvs.FamilyOf(vs.Addr) {
					p.errorf(c, "ip_family %s does not match the address %s", c.args()[0], vs.Addr)
				}
			}
		case "sorry_server":
			if p.nargs(c, 1, 2) {
				ss := &SorryServer{}
				if vs.SorryServer != nil {
					ss.Inhibit, ss.Forwarding = vs.SorryServer.Inhibit, vs.SorryServer.Forwarding
				}
				var ok bool
				if ss.Addr, ok = p.addrVal(c, c.args()[0]); ok {
					if len(c.args()) == 2 {
						ss.Port, _ = p.portVal(c, c.args()[1])
					}
					vs.SorryServer = ss
				}
			}
		case "sorry_server_inhibit":
			if p.nargs(c, 0, 1) {
				p.sorry(vs).Inhibit = true
			}
		case "sorry_server_lvs_method":
			if f, ok := p.forwarding(c); ok {
				p.sorry(vs).Forwarding = f
				p.sorryFwd[vs] = true
			}
		case "real_server":
			if rs := p.realServer(c, vs); rs != nil {
				vs.RealServers = append(vs.RealServers, rs)
			}
		default:
			p.unknown(c, "virtual_server", vsUnsupported)
		}
	}
	if vs.PersistenceTimeout > 0 {
		vs.Flags |= lvs.FlagPersistent
	}
	if vs.FWMark != 0 && vs.Protocol != 0 {
		p.warnf(n, "virtual_server fwmark %d: protocol is ignored for a firewall-mark service", vs.FWMark)
		vs.Protocol = 0
	}
	p.cfg.VirtualServers = append(p.cfg.VirtualServers, vs)
}

// sorry returns the sorry server a sorry_server_* option applies to;
// keepalived accepts those options before sorry_server itself.
func (p *parser) sorry(vs *VirtualServer) *SorryServer {
	if vs.SorryServer == nil {
		vs.SorryServer = &SorryServer{}
	}
	return vs.SorryServer
}

func (p *parser) schedFlag(c *node, vs *VirtualServer, f lvs.ServiceFlags) {
	if p.nargs(c, 0, 0) {
		vs.Flags |= f
	}
}

// granularity reads persistence_granularity: an IPv4 netmask
// (255.255.255.0) or a prefix length.
func (p *parser) granularity(c *node, s string) int {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 128 {
			p.errorf(c, "persistence_granularity: prefix length %d outside [1, 128]", n)
			return 0
		}
		return n
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		p.errorf(c, "persistence_granularity: invalid netmask %q", s)
		return 0
	}
	m := a.As4()
	bits := 0
	v := uint32(m[0])<<24 | uint32(m[1])<<16 | uint32(m[2])<<8 | uint32(m[3])
	for v&0x80000000 != 0 {
		bits++
		v <<= 1
	}
	if v != 0 || bits == 0 {
		p.errorf(c, "persistence_granularity: %s is not a contiguous netmask", s)
		return 0
	}
	return bits
}

var rsUnsupported = set("smtp_alert", "snmp_name", "SMTP_CHECK", "BFD_CHECK", "FILE_CHECK", "track_file")

func (p *parser) realServer(n *node, vs *VirtualServer) *RealServer {
	if !p.needBlock(n) {
		return nil
	}
	a := n.args()
	if len(a) < 1 || len(a) > 2 {
		p.errorf(n, "real_server: expected IP [PORT]")
		return nil
	}
	rs := &RealServer{File: n.file, Line: n.line, Weight: 1, Port: vs.Port}
	var ok bool
	if rs.Addr, ok = p.addrVal(n, a[0]); !ok {
		return nil
	}
	if len(a) == 2 {
		if rs.Port, ok = p.portVal(n, a[1]); !ok {
			return nil
		}
	}
	t := &timing{}
	p.rsT[rs] = t
	for _, c := range n.children {
		if p.timingDirective(c, t) {
			continue
		}
		switch c.key() {
		case "weight":
			p.int(c, &rs.Weight, 0, 65535)
		case "uthreshold":
			p.int(c, &rs.UThreshold, 0, math.MaxInt32)
		case "lthreshold":
			p.int(c, &rs.LThreshold, 0, math.MaxInt32)
		case "notify_up":
			rs.NotifyUp = p.script(c)
		case "notify_down":
			rs.NotifyDown = p.script(c)
		case string(HTTPGet), string(SSLGet), string(TCPCheck), string(MiscCheck),
			string(DNSCheck), string(UDPCheck), string(PingCheck):
			if ck := p.checker(c); ck != nil {
				rs.Checkers = append(rs.Checkers, ck)
			}
		default:
			p.unknown(c, "real_server", rsUnsupported)
		}
	}
	return rs
}

var checkerUnsupported = set("http_protocol_x", "regex", "regex_no_match", "regex_options",
	"regex_stack", "regex_min_offset", "regex_max_offset", "helo_name")

func (p *parser) checker(n *node) *Checker {
	if !p.needBlock(n) {
		return nil
	}
	if len(n.args()) > 0 {
		p.warnf(n, "%s: extra words %q ignored", n.key(), strings.Join(n.args(), " "))
	}
	ck := &Checker{Type: CheckerType(n.key()), File: n.file, Line: n.line}
	t := &timing{}
	p.ckT[ck] = t
	switch ck.Type {
	case HTTPGet, SSLGet:
		ck.HTTP = &HTTPCheck{}
	case MiscCheck:
		ck.Misc = &MiscCheckConfig{}
	case DNSCheck:
		ck.DNS = &DNSCheckConfig{Type: "SOA", Name: "."}
	case UDPCheck:
		ck.UDP = &UDPCheckConfig{MaxReplyLength: 255}
	}
	miscPath := false
	before := len(p.lx.errs)
	for _, c := range n.children {
		if c.key() != "lvs_method" && c.key() != "lb_kind" && c.key() != "inhibit_on_failure" && p.timingDirective(c, t) {
			continue
		}
		if ck.Type != MiscCheck && p.connDirective(c, ck) {
			continue
		}
		if c.key() == "log_all_failures" {
			p.optBool(c, &ck.LogAllFailures)
			continue
		}
		switch {
		case ck.HTTP != nil && p.httpDirective(c, ck.HTTP):
		case ck.Misc != nil && p.miscDirective(c, ck.Misc, &miscPath):
		case ck.DNS != nil && p.dnsDirective(c, ck.DNS):
		case ck.UDP != nil && p.udpDirective(c, ck.UDP):
		default:
			p.unknown(c, string(ck.Type), checkerUnsupported)
		}
	}
	if len(p.lx.errs) > before {
		return nil // the cause is reported; "has no url" would only echo it
	}
	if ck.Misc != nil && !miscPath {
		p.errorf(n, "MISC_CHECK has no misc_path")
		return nil
	}
	if ck.HTTP != nil && len(ck.HTTP.URLs) == 0 {
		p.errorf(n, "%s has no url { }", ck.Type)
		return nil
	}
	return ck
}

func (p *parser) connDirective(c *node, ck *Checker) bool {
	switch c.key() {
	case "connect_ip":
		p.addr(c, &ck.ConnectIP)
	case "connect_port":
		p.port(c, &ck.ConnectPort)
	case "bindto":
		p.addr(c, &ck.BindTo)
	case "bind_if":
		p.str(c, &ck.BindIf)
	case "bind_port":
		p.port(c, &ck.BindPort)
	case "fwmark":
		var v int
		if p.int(c, &v, 0, math.MaxUint32) {
			ck.FWMark = uint32(v)
		}
	default:
		return false
	}
	return true
}

func (p *parser) httpDirective(c *node, h *HTTPCheck) bool {
	switch c.key() {
	case "url":
		if u, ok := p.url(c); ok {
			h.URLs = append(h.URLs, u)
		}
	case "http_protocol":
		if p.nargs(c, 1, 1) {
			switch v := c.args()[0]; v {
			case "1.0", "1.0C", "1.1":
				h.Protocol = v
			default:
				p.errorf(c, "http_protocol: %q is not one of 1.0, 1.0C, 1.1", v)
			}
		}
	case "fast_recovery":
		p.optBool(c, &h.FastRecovery)
	case "enable_sni":
		p.flag(c, &h.EnableSNI)
	default:
		return false
	}
	return true
}

func (p *parser) url(n *node) (URL, bool) {
	var u URL
	if !p.needBlock(n) {
		return u, false
	}
	for _, c := range n.children {
		switch c.key() {
		case "path":
			p.str(c, &u.Path)
		case "digest":
			if p.nargs(c, 1, 1) {
				d := strings.ToLower(c.args()[0])
				if b, err := hex.DecodeString(d); err != nil || len(b) != 16 {
					p.errorf(c, "digest: %q is not an MD5 in hex", c.args()[0])
				}
				u.Digest = d
			}
		case "status_code":
			if p.nargs(c, 1, -1) {
				for _, s := range c.args() {
					if r, ok := p.statusRange(c, s); ok {
						u.StatusCodes = append(u.StatusCodes, r)
					}
				}
			}
		case "virtualhost":
			p.str(c, &u.Virtualhost)
		default:
			p.unknown(c, "url", checkerUnsupported)
		}
	}
	if u.Path == "" {
		p.errorf(n, "url has no path")
		return u, false
	}
	if len(u.StatusCodes) == 0 {
		u.StatusCodes = []StatusRange{{200, 299}}
	}
	return u, true
}

func (p *parser) statusRange(c *node, s string) (StatusRange, bool) {
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || a < 100 || b > 599 || a > b {
		p.errorf(c, "status_code: invalid code or range %q (100-599)", s)
		return StatusRange{}, false
	}
	return StatusRange{a, b}, true
}

func (p *parser) miscDirective(c *node, m *MiscCheckConfig, have *bool) bool {
	switch c.key() {
	case "misc_path":
		if s := p.script(c); s != nil {
			m.Path.Command, m.Path.Args = s.Command, s.Args
			*have = true
		}
	case "misc_timeout":
		p.seconds(c, &m.Timeout, 1, math.MaxInt32)
	case "misc_dynamic":
		p.flag(c, &m.Dynamic)
	case "user":
		if p.nargs(c, 1, 2) {
			m.Path.User = c.args()[0]
			if len(c.args()) > 1 {
				m.Path.Group = c.args()[1]
			}
		}
	default:
		return false
	}
	return true
}

var dnsTypes = set("A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA")

func (p *parser) dnsDirective(c *node, d *DNSCheckConfig) bool {
	switch c.key() {
	case "type":
		if p.nargs(c, 1, 1) {
			t := strings.ToUpper(c.args()[0])
			if !dnsTypes[t] {
				p.errorf(c, "type: %q is not one of A, NS, CNAME, SOA, MX, TXT, AAAA", c.args()[0])
			}
			d.Type = t
		}
	case "name":
		p.str(c, &d.Name)
	default:
		return false
	}
	return true
}

func (p *parser) udpDirective(c *node, u *UDPCheckConfig) bool {
	switch c.key() {
	case "payload":
		if p.nargs(c, 1, -1) {
			u.Payload = p.hexPayload(c, strings.Join(c.args(), " "))
		}
	case "require_reply":
		if p.nargs(c, 0, -1) {
			u.RequireReply = true
			u.ReplyPattern = strings.Join(c.args(), "")
			for _, r := range u.ReplyPattern {
				if !strings.ContainsRune("0123456789abcdefABCDEFxX", r) {
					p.errorf(c, "require_reply: %q is not hex (x for any nibble)", string(r))
					break
				}
			}
		}
	case "min_reply_length":
		p.int(c, &u.MinReplyLength, 0, 65535)
	case "max_reply_length":
		p.int(c, &u.MaxReplyLength, 0, 65535)
	default:
		return false
	}
	return true
}

// hexPayload reads keepalived's free-form hex: blank-separated groups,
// each an even run of digits read as bytes, an odd one with its last digit
// as a byte of its own ("Ab12f 3" -> AB 12 0F 03).
func (p *parser) hexPayload(c *node, s string) []byte {
	var out []byte
	for _, g := range strings.Fields(s) {
		for len(g) > 0 {
			n := 2
			if len(g) == 1 {
				n = 1
			}
			v, err := strconv.ParseUint(g[:n], 16, 8)
			if err != nil {
				p.errorf(c, "payload: %q is not hex", g)
				return nil
			}
			out = append(out, byte(v))
			g = g[n:]
		}
	}
	return out
}

func (p *parser) vsGroup(n *node) {
	name, ok := p.name(n)
	if !ok {
		return
	}
	g := &VirtualServerGroup{Name: name, File: n.file, Line: n.line}
	for _, c := range n.children {
		if c.block {
			p.errorf(c, "unexpected block in virtual_server_group")
			continue
		}
		if c.key() == "fwmark" {
			e := VirtualServerGroupEntry{}
			if !p.nargs(c, 1, 2) {
				continue
			}
			v, ok := p.intVal(c, c.args()[0], 1, math.MaxUint32)
			if !ok {
				continue
			}
			e.FWMark = uint32(v)
			if len(c.args()) == 2 {
				switch c.args()[1] {
				case "inet":
					e.Family = lvs.IPv4
				case "inet6":
					e.Family = lvs.IPv6
				default:
					p.errorf(c, "fwmark: %q is neither inet nor inet6", c.args()[1])
				}
			}
			g.Entries = append(g.Entries, e)
			continue
		}
		if len(c.args()) > 1 {
			p.warnf(c, "extra words %q ignored", strings.Join(c.args()[1:], " "))
		}
		e, ok := p.addrRange(c, c.key())
		if !ok {
			continue
		}
		if len(c.args()) > 0 {
			if e.Port, ok = p.portVal(c, c.args()[0]); !ok {
				continue
			}
		}
		g.Entries = append(g.Entries, e)
	}
	p.cfg.VirtualServerGroups = append(p.cfg.VirtualServerGroups, g)
}

// addrRange reads ADDR, ADDR-LASTOCTET (IPv4: last byte; IPv6: last
// 16-bit group, in hex), ADDR-ADDR or ADDR/LEN.
func (p *parser) addrRange(c *node, s string) (VirtualServerGroupEntry, bool) {
	var e VirtualServerGroupEntry
	bad := func() (VirtualServerGroupEntry, bool) {
		p.errorf(c, "invalid address or range %q", s)
		return e, false
	}
	if strings.Contains(s, "/") {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return bad()
		}
		pfx = pfx.Masked()
		e.First, e.Last = pfx.Addr(), broadcast(pfx, true)
		return e, true
	}
	first, last, isRange := strings.Cut(s, "-")
	a, err := netip.ParseAddr(first)
	if err != nil || a.Zone() != "" {
		return bad()
	}
	e.First, e.Last = a, a
	if !isRange {
		return e, true
	}
	if b, err := netip.ParseAddr(last); err == nil {
		e.Last = b
	} else if a.Is4() {
		v, err := strconv.ParseUint(last, 10, 8)
		if err != nil {
			return bad()
		}
		b4 := a.As4()
		b4[3] = byte(v)
		e.Last = netip.AddrFrom4(b4)
	} else {
		v, err := strconv.ParseUint(last, 16, 16)
		if err != nil {
			return bad()
		}
		b16 := a.As16()
		b16[14], b16[15] = byte(v>>8), byte(v)
		e.Last = netip.AddrFrom16(b16)
	}
	if e.Last.Is4() != e.First.Is4() || e.Last.Less(e.First) {
		return bad()
	}
	return e, true
}

// resolve applies inheritance and keepalived's defaults once every block
// is read (global settings may come after the instances using them).
func (p *parser) resolve() {
	g := &p.cfg.Global
	if g.VRRPGARPLowerPrioDelay < 0 {
		g.VRRPGARPLowerPrioDelay = g.VRRPGARPMasterDelay
	}
	if g.VRRPGARPLowerPrioRepeat < 0 {
		g.VRRPGARPLowerPrioRepeat = g.VRRPGARPMasterRepeat
	}
	for _, in := range p.cfg.Instances {
		st := p.instSet[in]
		if !st.version {
			in.Version = g.VRRPVersion
		}
		if len(in.VIPs) > 0 && in.VIPs[0].Prefix.Addr().Is6() && in.Version == 2 {
			// VRRPv2 is IPv4 only (RFC 3768); keepalived switches.
			if st.version {
				p.lx.warnf(in.File, in.Line, "vrrp_instance %s: IPv6 addresses need VRRP version 3; using 3, as keepalived does", in.Name)
			}
			in.Version = 3
		}
		if len(in.VIPs) == 0 && len(in.ExcludedVIPs) == 0 {
			p.lx.warnf(in.File, in.Line, "vrrp_instance %s: no virtual_ipaddress", in.Name)
		}
		if !st.strict {
			in.Strict = g.VRRPStrict
		}
		if !st.accept && in.Strict {
			in.Accept = in.Priority == 255
		}
		if !st.garpDelay {
			in.GARPMasterDelay = g.VRRPGARPMasterDelay
		}
		if !st.garpRepeat {
			in.GARPMasterRepeat = g.VRRPGARPMasterRepeat
		}
		if !st.lowerDelay {
			in.GARPLowerPrioDelay = g.VRRPGARPLowerPrioDelay
		}
		if !st.lowerRepeat {
			in.GARPLowerPrioRepeat = g.VRRPGARPLowerPrioRepeat
		}
		if !st.refresh {
			in.GARPMasterRefresh = g.VRRPGARPMasterRefresh
		}
		if !st.refreshRepeat {
			in.GARPMasterRefreshRepeat = g.VRRPGARPMasterRefreshRepeat
		}
		if g.VRRPCheckUnicastSrc {
			in.CheckUnicastSrc = true
		}
		if in.State == StateMaster && in.PreemptDelay > 0 {
			p.lx.warnf(in.File, in.Line, "vrrp_instance %s: preempt_delay does not work with state MASTER; cleared, as keepalived does", in.Name)
			in.PreemptDelay = 0
		}
		kept := in.TrackInterfaces[:0]
		for _, ti := range in.TrackInterfaces {
			if ti.Name == in.Interface {
				p.lx.warnf(in.File, in.Line, "vrrp_instance %s: track_interface %s is the instance's own interface, which is always tracked; ignored", in.Name, ti.Name)
				continue
			}
			kept = append(kept, ti)
		}
		in.TrackInterfaces = kept
		for i, ts := range in.TrackScripts {
			if ts.WeightSet {
				continue
			}
			for _, s := range p.cfg.Scripts {
				if s.Name == ts.Name {
					in.TrackScripts[i].Weight = s.Weight
					in.TrackScripts[i].Reverse = in.TrackScripts[i].Reverse || s.Reverse
				}
			}
		}
	}
	p.syncGroupWeights()
	for _, s := range p.cfg.Scripts {
		if s.Timeout == 0 {
			s.Timeout = s.Interval
		}
	}
	for _, vs := range p.cfg.VirtualServers {
		vt := p.vsT[vs]
		p.lvsDefaults(vs, vt)
		if vs.Family == 0 {
			vs.Family = p.familyFromServers(vs)
		}
		vs.DelayLoop = vt.delayLoop.get(60 * time.Second)
		vs.ConnectTimeout = vt.connectTimeout.get(5 * time.Second)
		vs.Warmup = vt.warmup.get(vs.DelayLoop)
		vs.InhibitOnFailure = vt.inhibit.get(false)
		vs.Alpha = vt.alpha.get(false)
		vs.Virtualhost = vt.virtualhost.get("")
		vs.Forwarding = vt.forwarding.get(Forwarding{Method: lvs.Masquerade})
		if vs.SorryServer != nil && !vs.SorryServer.Addr.IsValid() {
			// sorry_server_inhibit or _lvs_method without sorry_server
			vs.SorryServer = nil
		}
		p.quorumDefaults(vs)
		for _, rs := range vs.RealServers {
			rt := p.rsT[rs].under(vt)
			rs.InhibitOnFailure = rt.inhibit.get(false)
			rs.Alpha = rt.alpha.get(false)
			rs.Virtualhost = rt.virtualhost.get("")
			rs.Forwarding = rt.forwarding.get(vs.Forwarding)
			p.fixPort(vs, rs.Forwarding, &rs.Port, rs.File, rs.Line, "real_server "+rs.Addr.String())
			if vs.FWMark != 0 && rs.Port != 0 && rs.Forwarding.Method != lvs.Masquerade {
				// The mark, not a port, selects the service; IPVS keeps
				// the packet's destination port.
				p.lx.warnf(rs.File, rs.Line, "real_server %s: a port on a fwmark service is ignored, as keepalived does", rs.Addr)
				rs.Port = 0
			}
			for _, ck := range rs.Checkers {
				p.resolveChecker(ck, p.ckT[ck].under(rt), rs)
			}
		}
	}
	for _, vs := range p.cfg.VirtualServers {
		if ss := vs.SorryServer; ss != nil {
			if !p.sorryFwd[vs] {
				ss.Forwarding = vs.Forwarding
			}
			if ss.Port == 0 {
				ss.Port = vs.Port
			}
			p.fixPort(vs, ss.Forwarding, &ss.Port, vs.File, vs.Line, "sorry_server "+ss.Addr.String())
		}
	}
}

// syncGroupWeights zeroes the tracking weights of sync group members:
// "when instances are grouped, any track scripts/files configured against
// member VRRP instances will have their tracking weights automatically set
// to zero" (keepalived.conf(5)), so that the members' priorities agree.
func (p *parser) syncGroupWeights() {
	for _, g := range p.cfg.SyncGroups {
		for _, name := range g.Instances {
			for _, in := range p.cfg.Instances {
				if in.Name != name {
					continue
				}
				for i := range in.TrackScripts {
					if ts := &in.TrackScripts[i]; ts.Weight != 0 {
						p.lx.warnf(in.File, in.Line, "vrrp_instance %s: weight of track_script %s ignored in sync group %s, as keepalived does", in.Name, ts.Name, g.Name)
						ts.Weight = 0
					}
				}
				for i := range in.TrackInterfaces {
					if ti := &in.TrackInterfaces[i]; ti.Weight != 0 {
						p.lx.warnf(in.File, in.Line, "vrrp_instance %s: weight of track_interface %s ignored in sync group %s, as keepalived does", in.Name, ti.Name, g.Name)
						ti.Weight = 0
					}
				}
			}
		}
	}
}

// lvsDefaults applies keepalived's fix-ups of a virtual server
// (check_data.c validate_check_config), each with the warning keepalived
// gives, so that lvsctl programs IPVS as keepalived would.
func (p *parser) lvsDefaults(vs *VirtualServer, vt *timing) {
	warn := func(format string, args ...any) {
		p.lx.warnf(vs.File, vs.Line, "virtual_server %s: "+format, append([]any{vs.name()}, args...)...)
	}
	if vs.Scheduler == "" {
		warn("no lb_algo/lvs_sched; using wlc, as keepalived does")
		vs.Scheduler = "wlc" // keepalived's IPVS_DEF_SCHED
	}
	if !vt.forwarding.set {
		warn("no lb_kind/lvs_method; using NAT, as keepalived does")
	}
	hasAddrs := vs.FWMark == 0
	if vs.Group != "" {
		hasAddrs = false
		for _, g := range p.cfg.VirtualServerGroups {
			for _, e := range g.Entries {
				if g.Name == vs.Group && e.First.IsValid() {
					hasAddrs = true
				}
			}
		}
	}
	if hasAddrs && vs.Protocol == 0 {
		// A protocol of 0 makes the kernel use UDP; keepalived says so.
		warn("no protocol; using UDP, as keepalived does")
		vs.Protocol = lvs.UDP
	}
	if hasAddrs && vs.Flags&lvs.FlagOnePacket != 0 && vs.Protocol != lvs.UDP {
		warn("ops (one-packet scheduling) needs UDP; cleared")
		vs.Flags &^= lvs.FlagOnePacket
	}
	if vs.Addr.IsValid() && vs.Port == 0 && vs.PersistenceTimeout == 0 {
		warn("port 0 is only valid for a persistent service; made persistent (360s), as keepalived does")
		vs.PersistenceTimeout = 360 * time.Second
		vs.Flags |= lvs.FlagPersistent
	}
	if len(vs.RealServers) == 0 {
		warn("no real_server; keepalived ignores such a virtual server")
	}
}

// quorumDefaults lowers a quorum the real servers' weights can never
// reach, then keeps hysteresis below the quorum, as keepalived does.
func (p *parser) quorumDefaults(vs *VirtualServer) {
	total := 0
	for _, rs := range vs.RealServers {
		total += rs.Weight
	}
	if len(vs.RealServers) > 0 && vs.Quorum > total {
		p.lx.warnf(vs.File, vs.Line, "virtual_server %s: quorum %d exceeds the real servers' total weight %d; set to %d, as keepalived does", vs.name(), vs.Quorum, total, total)
		vs.Quorum = total
	}
	if vs.Quorum > 0 && vs.Hysteresis >= vs.Quorum {
		p.lx.warnf(vs.File, vs.Line, "virtual_server %s: hysteresis %d >= quorum %d; set to %d, as keepalived does", vs.name(), vs.Hysteresis, vs.Quorum, vs.Quorum-1)
		vs.Hysteresis = vs.Quorum - 1
	}
}

// fixPort applies keepalived's rule that a direct-routed or tunnelled
// server listens on the virtual port: the packet is not rewritten.
func (p *parser) fixPort(vs *VirtualServer, f Forwarding, port *uint16, file string, line int, what string) {
	if vs.Addr.IsValid() && vs.Port != 0 && f.Method != lvs.Masquerade && *port != vs.Port {
		p.lx.warnf(file, line, "%s port %d differs from virtual_server port %d, which %s forwarding keeps; set to %d, as keepalived does",
			what, *port, vs.Port, f.Method, vs.Port)
		*port = vs.Port
	}
}

// familyFromServers gives a fwmark or group service the family of its
// servers (keepalived: of the real servers, else inet).
func (p *parser) familyFromServers(vs *VirtualServer) lvs.Family {
	if vs.Group != "" {
		for _, g := range p.cfg.VirtualServerGroups {
			if g.Name != vs.Group {
				continue
			}
			for _, e := range g.Entries {
				if e.First.IsValid() {
					return lvs.FamilyOf(e.First)
				}
				if e.Family != 0 {
					return e.Family
				}
			}
		}
	}
	for _, rs := range vs.RealServers {
		return lvs.FamilyOf(rs.Addr)
	}
	return lvs.IPv4
}

func (p *parser) resolveChecker(ck *Checker, t *timing, rs *RealServer) {
	ck.DelayLoop = t.delayLoop.get(60 * time.Second)
	ck.ConnectTimeout = t.connectTimeout.get(5 * time.Second)
	ck.Warmup = t.warmup.get(ck.DelayLoop)
	ck.Alpha = t.alpha.get(false)
	// keepalived.conf(5) 2.2: retry defaults to 1, to 3 for DNS_CHECK and
	// to 0 for MISC_CHECK; delay_before_retry to 3 s for HTTP_GET and
	// SSL_GET, to delay_loop for DNS_CHECK and to 1 s otherwise.
	retry, dbr := 1, time.Second
	switch ck.Type {
	case DNSCheck:
		retry, dbr = 3, ck.DelayLoop
	case MiscCheck:
		retry = 0
	case HTTPGet, SSLGet:
		dbr = 3 * time.Second
	}
	ck.Retry = t.retry.get(retry)
	ck.DelayBeforeRetry = t.delayBeforeRetry.get(dbr)
	if !ck.ConnectIP.IsValid() {
		ck.ConnectIP = rs.Addr
	}
	if ck.ConnectPort == 0 {
		ck.ConnectPort = rs.Port
	}
	if ck.HTTP != nil {
		ck.HTTP.Virtualhost = t.virtualhost.get("")
	}
	if ck.Misc != nil && ck.Misc.Timeout == 0 {
		ck.Misc.Timeout = ck.DelayLoop
	}
}
