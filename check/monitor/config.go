package monitor

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/lvsctl/lvsctl/check"
	"github.com/lvsctl/lvsctl/internal/config"
	"github.com/lvsctl/lvsctl/lvs"
)

// Config is what a Monitor runs: virtual server blocks, each with its IPVS
// services and the checks of its real servers. FromConfig builds it from
// a parsed keepalived.conf; the flags mode of the CLI builds a one-block
// config.Config first and goes the same way.
type Config struct {
	Blocks []*Block
	// Timeouts is global_defs lvs_timeouts, applied once at start; zero
	// fields leave the kernel's values alone.
	Timeouts lvs.Timeouts
	// Source names where the configuration came from, for messages.
	Source string
}

// Block is one virtual_server block. A virtual_server group is one block
// with several services that share the real servers and their checks, as
// keepalived checks each real server of a group once.
type Block struct {
	// Name identifies the block across reloads: "TCP 192.0.2.10:80",
	// "fwmark 5", "group WEB". Job IDs start with it.
	Name string
	// File and Line locate the block, for messages.
	File string
	Line int
	// Services are the IPVS services of the block, each with the same
	// real servers, sorry server and quorum.
	Services []check.VirtualService
	// RealServers are the block's real servers in configuration order.
	RealServers []RealServer
	// QuorumUp and QuorumDown are commands run (without a shell) when the
	// service gains or loses quorum; nil for none.
	QuorumUp, QuorumDown []string
}

// RealServer is a real server's checks and notify commands.
type RealServer struct {
	Key check.DestKey
	// Checks are the real server's checkers; none means always up, as in
	// keepalived.
	Checks []Check
	// NotifyUp and NotifyDown are run (without a shell) when the real
	// server passes or fails its checks; nil for none.
	NotifyUp, NotifyDown []string
}

// Check is one checker of a real server.
type Check struct {
	Kind    check.Kind
	Checker check.Checker
	Params  check.Params
	Target  check.Target
}

// Warning is a part of the configuration the monitor does not act on,
// with its place.
type Warning = config.Warning

// FromConfig maps a parsed keepalived.conf onto the monitor's Config. VRRP
// blocks are left to `lvsctl vrrp run`. Options keepalived knows but the
// monitor does not apply are returned as warnings with file:line; an error
// names a virtual server that cannot be run.
func FromConfig(c *config.Config) (*Config, []Warning, error) {
	out := &Config{}
	if len(c.Files) > 0 {
		out.Source = c.Files[0]
	}
	var warns []Warning
	warn := func(file string, line int, format string, args ...any) {
		warns = append(warns, Warning{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	t := c.Global.LVSTimeouts
	out.Timeouts = lvs.Timeouts{TCP: t.TCP, TCPFin: t.TCPFin, UDP: t.UDP}
	if c.Global.LVSFlush {
		warn(out.Source, 0, "global_defs lvs_flush: the monitor never flushes the IPVS table; it adopts what is there")
	}
	groups := make(map[string]*config.VirtualServerGroup, len(c.VirtualServerGroups))
	for _, g := range c.VirtualServerGroups {
		groups[g.Name] = g
	}
	for _, vs := range c.VirtualServers {
		b, err := block(vs, groups, warn)
		if err != nil {
			return nil, warns, err
		}
		out.Blocks = append(out.Blocks, b)
	}
	seen := make(map[lvs.ServiceKey]string)
	for _, b := range out.Blocks {
		for _, s := range b.Services {
			if other, dup := seen[s.Key()]; dup {
				return nil, warns, &config.Error{File: b.File, Line: b.Line,
					Msg: fmt.Sprintf("virtual_server %s: service %s is also in %s", b.Name, s.Key(), other)}
			}
			seen[s.Key()] = b.Name
		}
	}
	return out, warns, nil
}

type warnFunc func(file string, line int, format string, args ...any)

func block(vs *config.VirtualServer, groups map[string]*config.VirtualServerGroup, warn warnFunc) (*Block, error) {
	b := &Block{File: vs.File, Line: vs.Line, QuorumUp: argv(vs.QuorumUp), QuorumDown: argv(vs.QuorumDown)}
	bad := func(format string, args ...any) error {
		return &config.Error{File: vs.File, Line: vs.Line, Msg: fmt.Sprintf(format, args...)}
	}
	if vs.HASuspend {
		warn(vs.File, vs.Line, "ha_suspend: not supported by the monitor (the service stays in while the VIP is absent)")
	}

	base := lvs.Service{
		Family: vs.Family, Protocol: vs.Protocol, Scheduler: vs.Scheduler, Flags: vs.Flags,
		PEName: vs.PersistenceEngine,
	}
	if vs.PersistenceTimeout > 0 {
		base.Flags |= lvs.FlagPersistent
		base.Timeout = vs.PersistenceTimeout
	}
	var keys []lvs.Service
	switch {
	case vs.Group != "":
		b.Name = "group " + vs.Group
		g := groups[vs.Group]
		if g == nil {
			return nil, bad("virtual_server group %s: no virtual_server_group of that name", vs.Group)
		}
		for _, e := range g.Entries {
			if e.FWMark != 0 {
				s := base
				s.Protocol, s.FWMark = 0, e.FWMark
				if e.Family != 0 {
					s.Family = e.Family
				}
				keys = append(keys, s)
				continue
			}
			n := 0
			for a := e.First; a.IsValid() && a.Compare(e.Last) <= 0; a = a.Next() {
				if n++; n > 65536 {
					return nil, bad("virtual_server_group %s: range %s-%s is larger than 65536 addresses", g.Name, e.First, e.Last)
				}
				s := base
				s.Family, s.Address, s.Port = lvs.FamilyOf(a), a, e.Port
				keys = append(keys, s)
			}
		}
	case vs.FWMark != 0:
		b.Name = fmt.Sprintf("fwmark %d", vs.FWMark)
		s := base
		s.Protocol, s.FWMark = 0, vs.FWMark
		keys = append(keys, s)
	default:
		s := base
		s.Address, s.Port = vs.Addr, vs.Port
		b.Name = s.Key().Protocol.String() + " " + netip.AddrPortFrom(vs.Addr, vs.Port).String()
		keys = append(keys, s)
	}

	var rss []check.RealServer
	for _, rs := range vs.RealServers {
		d := destination(rs.Addr, rs.Port, rs.Forwarding)
		d.Weight = int32(rs.Weight)
		d.UpperThreshold, d.LowerThreshold = uint32(max(rs.UThreshold, 0)), uint32(max(rs.LThreshold, 0))
		rss = append(rss, check.RealServer{Destination: d, InhibitOnFailure: rs.InhibitOnFailure})
		r := RealServer{Key: check.KeyOf(d), NotifyUp: argv(rs.NotifyUp), NotifyDown: argv(rs.NotifyDown)}
		for _, c := range rs.Checkers {
			ck, err := checkOf(c, rs, warn)
			if err != nil {
				return nil, err
			}
			r.Checks = append(r.Checks, ck)
		}
		b.RealServers = append(b.RealServers, r)
	}
	var sorry *check.SorryServer
	if ss := vs.SorryServer; ss != nil {
		d := destination(ss.Addr, ss.Port, ss.Forwarding)
		d.Weight = 1 // keepalived's weight for a sorry server
		sorry = &check.SorryServer{Destination: d, Inhibit: ss.Inhibit}
	}
	for _, s := range keys {
		s.Netmask = netmask(s, vs.PersistenceGranularity)
		b.Services = append(b.Services, check.VirtualService{
			Service: s, RealServers: rss, Sorry: sorry,
			Quorum: int64(vs.Quorum), Hysteresis: int64(vs.Hysteresis), Omega: vs.Omega,
		})
	}
	return b, nil
}

// netmask is the persistence granularity as the kernel stores it: an IPv4
// mask in host byte order, an IPv6 prefix length; /32 and /128 by default,
// as ipvsadm sends them.
func netmask(s lvs.Service, prefix int) uint32 {
	if s.Family == lvs.IPv6 {
		if prefix == 0 || prefix > 128 {
			return 128
		}
		return uint32(prefix)
	}
	if prefix == 0 || prefix > 32 {
		return 0xffffffff
	}
	return ^uint32(0) << (32 - prefix)
}

func destination(addr netip.Addr, port uint16, f config.Forwarding) lvs.Destination {
	d := lvs.Destination{Family: lvs.FamilyOf(addr), Address: addr, Port: port, Forward: f.Method}
	if f.Method == lvs.Tunnel {
		d.TunnelType, d.TunnelPort = f.TunnelType, f.TunnelPort
		switch f.TunnelCsum {
		case "csum":
			d.TunnelFlags = lvs.TunnelCsum
		case "remcsum":
			d.TunnelFlags = lvs.TunnelRemCsum
		}
	}
	return d
}

func argv(s *config.Script) []string {
	if s == nil || len(s.Args) == 0 {
		return nil
	}
	return s.Args
}

// checkOf maps one checker block onto a checker of package check with
// its timing.
func checkOf(c *config.Checker, rs *config.RealServer, warn warnFunc) (Check, error) {
	p := check.Params{
		Interval: c.DelayLoop, Timeout: c.ConnectTimeout, Retry: c.Retry,
		DelayBeforeRetry: c.DelayBeforeRetry, Warmup: c.Warmup, Alpha: c.Alpha,
	}
	conn := check.Conn{ConnectIP: c.ConnectIP, ConnectPort: c.ConnectPort, BindTo: c.BindTo, BindPort: c.BindPort}
	if conn.ConnectIP == rs.Addr {
		conn.ConnectIP = netip.Addr{}
	}
	if conn.ConnectPort == rs.Port {
		conn.ConnectPort = 0
	}
	if c.BindIf != "" {
		warn(c.File, c.Line, "%s bind_if %s: not supported by the monitor (use bindto)", c.Type, c.BindIf)
	}
	if c.FWMark != 0 {
		warn(c.File, c.Line, "%s fwmark %d: not supported by the monitor (checks are sent unmarked)", c.Type, c.FWMark)
	}
	out := Check{Params: p, Target: check.Target{Addr: rs.Addr, Port: rs.Port}}
	switch c.Type {
	case config.HTTPGet, config.SSLGet:
		h := check.HTTP{Conn: conn}
		if hc := c.HTTP; hc != nil {
			h.VirtualHost = hc.Virtualhost
			if hc.Protocol != "" && hc.Protocol != "1.0" {
				warn(c.File, c.Line, "%s http_protocol %s: the monitor always sends HTTP/1.0", c.Type, hc.Protocol)
			}
			if hc.FastRecovery {
				warn(c.File, c.Line, "%s fast_recovery: not supported by the monitor", c.Type)
			}
			for _, u := range hc.URLs {
				cu := check.URL{Path: u.Path, Digest: u.Digest, VirtualHost: u.Virtualhost}
				for _, r := range u.StatusCodes {
					cu.Status = append(cu.Status, check.StatusRange{Lo: r.Min, Hi: r.Max})
				}
				h.URLs = append(h.URLs, cu)
			}
		}
		out.Kind, out.Checker = check.KindHTTP, h
		if c.Type == config.SSLGet {
			sni := c.HTTP != nil && c.HTTP.EnableSNI
			out.Kind, out.Checker = check.KindHTTPS, check.NewHTTPS(h, sni)
		}
	case config.TCPCheck:
		out.Kind, out.Checker = check.KindTCP, check.TCP{Conn: conn}
	case config.PingCheck:
		out.Kind, out.Checker = check.KindICMP, check.ICMP{Conn: conn}
	case config.DNSCheck:
		d := check.DNS{Conn: conn}
		if c.DNS != nil {
			d.Name = c.DNS.Name
			if c.DNS.Type != "" {
				t, ok := check.DNSType(c.DNS.Type)
				if !ok {
					return Check{}, &config.Error{File: c.File, Line: c.Line, Msg: fmt.Sprintf("DNS_CHECK type %s: not a query type the checker knows", c.DNS.Type)}
				}
				d.Type = t
			}
		}
		out.Kind, out.Checker = check.KindDNS, d
	case config.UDPCheck:
		u := check.UDP{Conn: conn}
		if uc := c.UDP; uc != nil {
			u.Payload, u.RequireReply = uc.Payload, uc.RequireReply
			u.MinReplyLen, u.MaxReplyLen = uc.MinReplyLength, uc.MaxReplyLength
			if uc.ReplyPattern != "" {
				data, mask, err := check.ParseHex(uc.ReplyPattern)
				if err != nil {
					return Check{}, &config.Error{File: c.File, Line: c.Line, Msg: fmt.Sprintf("UDP_CHECK require_reply: %v", err)}
				}
				u.Reply, u.ReplyMask = data, mask
			}
		}
		out.Kind, out.Checker = check.KindUDP, u
	case config.MiscCheck:
		s := check.Script{}
		if m := c.Misc; m != nil {
			s.Argv, s.Dynamic = m.Path.Args, m.Dynamic
			if m.Timeout > 0 {
				out.Params.Timeout = m.Timeout
			}
			if m.Path.User != "" {
				warn(c.File, c.Line, "MISC_CHECK user %s: not supported by the monitor (the script runs as the monitor's user)", m.Path.User)
			}
		}
		if len(s.Argv) == 0 {
			return Check{}, &config.Error{File: c.File, Line: c.Line, Msg: "MISC_CHECK without misc_path"}
		}
		out.Kind, out.Checker = check.KindScript, s
	default:
		return Check{}, &config.Error{File: c.File, Line: c.Line, Msg: fmt.Sprintf("checker %s is not supported", c.Type)}
	}
	if out.Params.Timeout <= 0 || out.Params.Interval <= 0 {
		return Check{}, &config.Error{File: c.File, Line: c.Line, Msg: fmt.Sprintf("%s: delay_loop and connect_timeout must be positive", c.Type)}
	}
	return out, nil
}

// jobID names a check across reloads: the block, the real server, the
// checker's position and kind. A job whose ID is kept keeps its state.
func jobID(b *Block, rs RealServer, i int, c Check) string {
	var sb strings.Builder
	sb.WriteString(b.Name)
	sb.WriteByte('/')
	sb.WriteString(rs.Key.String())
	fmt.Fprintf(&sb, "/%d/%s", i, c.Kind)
	return sb.String()
}

// interval is the shortest delay_loop of a block's checks, for the retry
// of failed kernel operations.
func (c *Config) shortestInterval() time.Duration {
	d := time.Duration(0)
	for _, b := range c.Blocks {
		for _, rs := range b.RealServers {
			for _, ck := range rs.Checks {
				if d == 0 || ck.Params.Interval < d {
					d = ck.Params.Interval
				}
			}
		}
	}
	if d == 0 {
		d = 5 * time.Second
	}
	return d
}
