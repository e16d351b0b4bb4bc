package ipvsadm

import (
	"bytes"
	"encoding/json"
	"math/bits"
	"net/netip"
	"strings"

	"github.com/lvsctl/lvsctl/lvs"
	"github.com/lvsctl/lvsctl/lvs/ipvs"
)

// This file is lvsctl's --json, which ipvsadm does not have: -L with
// --json writes one JSON document instead of ipvsadm's text. The schema is
// the exported types below; JSON.md documents it for the manual page.
//
// Rules of the schema, so that it can stay stable: field names are
// snake_case; numbers are JSON numbers (counters are unsigned 64-bit
// integers, which JavaScript reads exactly only below 2^53); addresses
// are strings in their usual text form, never resolved to names (with or
// without -n); enumerations are lower-case strings; every document is an
// object whose "version" is JSONVersion. A later version may add fields;
// it bumps JSONVersion only to remove or change one.

// JSONVersion is the version of the schema written by --json.
const JSONVersion = 1

// JSONTable is what -L --json writes: the whole table, or the one service
// -t, -u, --sctp-service or -f names. Services are in ipvsadm's order (that
// of -L, or the kernel's with --nosort), and so are destinations.
type JSONTable struct {
	Version  int           `json:"version"`
	IPVS     JSONInfo      `json:"ipvs"`
	Services []JSONService `json:"services"`
}

// JSONInfo is the kernel's IPVS (IPVS_CMD_GET_INFO).
type JSONInfo struct {
	Version       string `json:"version"`         // "1.2.1"
	ConnTableSize uint32 `json:"conn_table_size"` // connection hash table size
}

// JSONService is a virtual service. An address service has protocol,
// address and port; a firewall-mark service has fwmark instead.
type JSONService struct {
	Family   string  `json:"family"`             // "ipv4" or "ipv6"
	Protocol string  `json:"protocol,omitempty"` // "tcp", "udp" or "sctp"
	Address  string  `json:"address,omitempty"`
	Port     *uint16 `json:"port,omitempty"`
	FWMark   uint32  `json:"fwmark,omitempty"`

	Scheduler string `json:"scheduler"`
	// SchedFlags are the scheduler flags by the names -b takes:
	// "sh-fallback", "sh-port", "mh-fallback", "mh-port" or "flag-1".."flag-3".
	SchedFlags []string `json:"sched_flags"`
	// Flags are the raw IP_VS_SVC_F_* bits the kernel reports, 0x2
	// (IP_VS_SVC_F_HASHED) included.
	Flags     uint32 `json:"flags"`
	OnePacket bool   `json:"one_packet"` // IP_VS_SVC_F_ONEPACKET (-o)
	// Persistence is present for persistent services only (-p).
	Persistence *JSONPersistence `json:"persistence,omitempty"`
	PE          string           `json:"pe,omitempty"` // persistence engine, e.g. "sip"

	// The sums of the destinations' connection counts.
	ActiveConns     uint64 `json:"active_conns"`
	InactiveConns   uint64 `json:"inactive_conns"`
	PersistentConns uint64 `json:"persistent_conns"`

	Stats        JSONCounters      `json:"stats"`
	Rates        JSONCounters      `json:"rates"`
	Destinations []JSONDestination `json:"destinations"`
}

// JSONPersistence is the persistence of a service.
type JSONPersistence struct {
	Timeout uint32 `json:"timeout"` // seconds
	// Netmask is the granularity as a mask: "255.255.255.0", or for IPv6
	// "ffff:ffff:ffff:ffff::".
	Netmask string `json:"netmask"`
	// PrefixLength is the number of ones of Netmask; absent for an IPv4
	// mask whose ones are not contiguous.
	PrefixLength *int `json:"prefix_length,omitempty"`
}

// JSONDestination is a real server of a service.
type JSONDestination struct {
	Family  string `json:"family"` // may differ from the service's for tunnels
	Address string `json:"address"`
	Port    uint16 `json:"port"`
	// Forward is "masq" (-m), "route" (-g), "tunnel" (-i), "local" or
	// "bypass".
	Forward        string `json:"forward"`
	Weight         int32  `json:"weight"`
	UpperThreshold uint32 `json:"upper_threshold"` // 0: no limit
	LowerThreshold uint32 `json:"lower_threshold"`
	// Tunnel is present when Forward is "tunnel".
	Tunnel *JSONTunnel `json:"tunnel,omitempty"`

	ActiveConns     uint32       `json:"active_conns"`
	InactiveConns   uint32       `json:"inactive_conns"`
	PersistentConns uint32       `json:"persistent_conns"`
	Stats           JSONCounters `json:"stats"`
	Rates           JSONCounters `json:"rates"`
}

// JSONTunnel is the encapsulation of a tunnel destination.
type JSONTunnel struct {
	Type string `json:"type"`           // "ipip", "gue" or "gre"
	Port uint16 `json:"port,omitempty"` // GUE only
	// Checksum is "nocsum", "csum" or "remcsum" (GUE and GRE only).
	Checksum string `json:"checksum,omitempty"`
}

// JSONCounters are five counters: totals in "stats", per-second rates
// (the kernel's estimates, refreshed every 2 s) in "rates".
type JSONCounters struct {
	Conns      uint64 `json:"conns"`
	InPackets  uint64 `json:"in_packets"`
	OutPackets uint64 `json:"out_packets"`
	InBytes    uint64 `json:"in_bytes"`
	OutBytes   uint64 `json:"out_bytes"`
}

// JSONConnections is what -L -c --json writes: /proc/net/ip_vs_conn, in
// the kernel's order. Persistence templates are entries too.
type JSONConnections struct {
	Version     int              `json:"version"`
	Connections []JSONConnection `json:"connections"`
}

// JSONConnection is one entry of the connection table.
type JSONConnection struct {
	// Protocol is the kernel's name in lower case: "tcp", "udp", "sctp",
	// "icmp", "icmpv6", or "ip" for the templates of firewall-mark
	// services.
	Protocol       string `json:"protocol"`
	ClientAddress  string `json:"client_address"`
	ClientPort     uint16 `json:"client_port"`
	VirtualAddress string `json:"virtual_address"`
	VirtualPort    uint16 `json:"virtual_port"`
	// FWMark is the mark of a firewall-mark template, which the kernel
	// stores in place of the virtual address (protocol "ip").
	FWMark      uint32 `json:"fwmark,omitempty"`
	RealAddress string `json:"real_address"`
	RealPort    uint16 `json:"real_port"`
	// State is the kernel's: "ESTABLISHED", "SYN_RECV", ... for TCP, "UDP",
	// "NONE" or "ASSURED" for templates.
	State   string `json:"state"`
	Expires int64  `json:"expires"` // seconds left
	// Origin is "LOCAL" or "SYNC" where the kernel says.
	Origin string `json:"origin,omitempty"`
	PEName string `json:"pe_name,omitempty"`
	PEData string `json:"pe_data,omitempty"`
}

// JSONTimeouts is what -L --timeout --json writes.
type JSONTimeouts struct {
	Version  int               `json:"version"`
	Timeouts JSONTimeoutValues `json:"timeouts"`
}

// JSONTimeoutValues are the timeouts of --set, in seconds.
type JSONTimeoutValues struct {
	TCP    int64 `json:"tcp"`
	TCPFin int64 `json:"tcp_fin"`
	UDP    int64 `json:"udp"`
}

// JSONDaemons is what -L --daemon --json writes.
type JSONDaemons struct {
	Version int          `json:"version"`
	Daemons []JSONDaemon `json:"daemons"`
}

// JSONDaemon is a running connection-synchronisation daemon.
type JSONDaemon struct {
	State     string `json:"state"` // "master" or "backup"
	Interface string `json:"interface"`
	SyncID    uint8  `json:"syncid"`
	MaxLen    uint16 `json:"max_len,omitempty"`
	Group     string `json:"group,omitempty"`
	Port      uint16 `json:"port,omitempty"`
	TTL       uint8  `json:"ttl,omitempty"`
}

// jsonOption is --json on the command line.
func (p *parser) jsonOption() error {
	if p.json {
		return fail("multiple 'json' options specified")
	}
	p.json = true
	return nil
}

// jsonCheck allows --json with -L only. It runs after ipvsadm's own checks,
// so every command line ipvsadm refuses is refused with ipvsadm's words.
func (p *parser) jsonCheck() error {
	if p.json && p.cmd != CmdList {
		return fail("Illegal 'json' option with the '%s' command", cmdNames[p.cmd])
	}
	return nil
}

// listJSON is list for --json: the same kernel calls and failures as the
// text listing, one JSON document on success.
func (r *runner) listJSON(cmd Command) *Failure {
	var doc any
	switch {
	case cmd.Connections:
		cl, ok := r.env.Kernel.(ConnectionLister)
		if !ok {
			return &Failure{Message: "cannot open file /proc/net/ip_vs_conn\n", Code: 1}
		}
		conns, err := cl.Connections(r.ctx)
		if err != nil {
			return &Failure{Message: "cannot open file /proc/net/ip_vs_conn\n", Code: 1}
		}
		doc = JSONConnections{Version: JSONVersion, Connections: jsonConnections(conns)}
	case cmd.Timeout:
		t, err := r.env.Kernel.Timeouts(r.ctx)
		if err != nil {
			return &Failure{Code: 1}
		}
		doc = JSONTimeouts{Version: JSONVersion, Timeouts: JSONTimeoutValues{
			TCP: int64(t.TCP.Seconds()), TCPFin: int64(t.TCPFin.Seconds()), UDP: int64(t.UDP.Seconds())}}
	case cmd.DaemonInfo:
		ds, err := r.env.Kernel.SyncDaemons(r.ctx)
		if err != nil {
			return &Failure{Code: 1}
		}
		doc = JSONDaemons{Version: JSONVersion, Daemons: jsonDaemons(ds)}
	default:
		t := JSONTable{Version: JSONVersion, Services: []JSONService{},
			IPVS: JSONInfo{Version: r.info.VersionString(), ConnTableSize: r.info.ConnTableSize}}
		var svcs []lvs.Service
		if cmd.HasService {
			s, err := r.env.Kernel.Service(r.ctx, cmd.Service.Key())
			if err != nil {
				return &Failure{Message: errorText(ipvs.CmdGetService, err) + "\n", Code: 1}
			}
			svcs = []lvs.Service{s}
		} else {
			var err error
			svcs, err = r.env.Kernel.Services(r.ctx)
			if err != nil {
				return &Failure{Message: errorText(ipvs.CmdGetService, err) + "\n", Code: 1}
			}
			if cmd.Format&FormatNoSort == 0 {
				svcs = append([]lvs.Service(nil), svcs...)
				mergeSort(svcs, cmpServices)
			}
		}
		for _, s := range svcs {
			dests, err := r.env.Kernel.Destinations(r.ctx, s.Key())
			if err != nil {
				return &Failure{Message: errorText(ipvs.CmdGetDest, err) + "\n", Code: 1}
			}
			if cmd.Format&FormatNoSort == 0 {
				dests = append([]lvs.Destination(nil), dests...)
				mergeSort(dests, cmpDests)
			}
			t.Services = append(t.Services, jsonService(s, dests))
		}
		doc = t
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // pe_data and names verbatim
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return &Failure{Message: err.Error() + "\n", Code: 1}
	}
	r.out.Write(b.Bytes())
	return nil
}

func jsonFamily(f lvs.Family) string {
	switch f {
	case lvs.IPv4:
		return "ipv4"
	case lvs.IPv6:
		return "ipv6"
	}
	return strings.ToLower(f.String())
}

func jsonService(s lvs.Service, dests []lvs.Destination) JSONService {
	j := JSONService{
		Family:       jsonFamily(s.Family),
		Scheduler:    s.Scheduler,
		SchedFlags:   []string{},
		Flags:        uint32(s.Flags),
		OnePacket:    s.Flags&lvs.FlagOnePacket != 0,
		PE:           s.PEName,
		Stats:        jsonCounters(s.Stats),
		Rates:        jsonRates(s.Stats),
		Destinations: []JSONDestination{},
	}
	if s.FWMark != 0 {
		j.FWMark = s.FWMark
	} else {
		j.Protocol = strings.ToLower(protoName(s.Protocol))
		if j.Protocol == "" {
			j.Protocol = strings.ToLower(s.Protocol.String())
		}
		j.Address = ntop(s.Family, s.Address)
		port := s.Port
		j.Port = &port
	}
	if f := schedFlagsText(s); f != "" {
		j.SchedFlags = strings.Split(f, ",")
	}
	if s.Flags&lvs.FlagPersistent != 0 {
		j.Persistence = jsonPersistence(s)
	}
	for _, d := range dests {
		jd := jsonDestination(d)
		j.ActiveConns += uint64(d.ActiveConns)
		j.InactiveConns += uint64(d.InactiveConns)
		j.PersistentConns += uint64(d.PersistentConns)
		j.Destinations = append(j.Destinations, jd)
	}
	return j
}

func jsonPersistence(s lvs.Service) *JSONPersistence {
	p := &JSONPersistence{Timeout: uint32(s.Timeout.Seconds())}
	if s.Family == lvs.IPv6 {
		n := int(s.Netmask)
		if n >= 0 && n <= 128 {
			p.Netmask = ipv6Mask(n).String()
			p.PrefixLength = &n
		}
		return p
	}
	m := s.Netmask
	p.Netmask = netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}).String()
	if ones := bits.LeadingZeros32(^m); m<<ones == 0 {
		p.PrefixLength = &ones
	}
	return p
}

// ipv6Mask is the mask of a prefix length, as an address.
func ipv6Mask(n int) netip.Addr {
	var b [16]byte
	for i := 0; i < n; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom16(b)
}

func jsonDestination(d lvs.Destination) JSONDestination {
	af := d.Family
	if af == 0 {
		af = lvs.FamilyOf(d.Address)
	}
	j := JSONDestination{
		Family:          jsonFamily(af),
		Address:         ntop(af, d.Address),
		Port:            d.Port,
		Forward:         jsonForward(d.Forward),
		Weight:          d.Weight,
		UpperThreshold:  d.UpperThreshold,
		LowerThreshold:  d.LowerThreshold,
		ActiveConns:     d.ActiveConns,
		InactiveConns:   d.InactiveConns,
		PersistentConns: d.PersistentConns,
		Stats:           jsonCounters(d.Stats),
		Rates:           jsonRates(d.Stats),
	}
	if d.Forward&7 == lvs.Tunnel {
		j.Tunnel = &JSONTunnel{Type: d.TunnelType.String()}
		switch d.TunnelType {
		case lvs.TunnelGUE:
			j.Tunnel.Port = d.TunnelPort
			j.Tunnel.Checksum = jsonChecksum(d.TunnelFlags)
		case lvs.TunnelGRE:
			j.Tunnel.Checksum = jsonChecksum(d.TunnelFlags)
		}
	}
	return j
}

func jsonForward(m lvs.ForwardMethod) string {
	switch m & 7 { // IP_VS_CONN_F_FWD_MASK
	case lvs.Masquerade:
		return "masq"
	case lvs.LocalNode:
		return "local"
	case lvs.Tunnel:
		return "tunnel"
	case lvs.DirectRoute:
		return "route"
	case lvs.Bypass:
		return "bypass"
	}
	return "unknown"
}

// jsonChecksum names the IP_VS_TUNNEL_ENCAP_FLAG_* bits as the --tun-*
// options do.
func jsonChecksum(f lvs.TunnelFlags) string {
	switch {
	case f&lvs.TunnelRemCsum != 0:
		return "remcsum"
	case f&lvs.TunnelCsum != 0:
		return "csum"
	}
	return "nocsum"
}

func jsonCounters(s lvs.Stats) JSONCounters {
	return JSONCounters{Conns: s.Conns, InPackets: s.InPkts, OutPackets: s.OutPkts, InBytes: s.InBytes, OutBytes: s.OutBytes}
}

func jsonRates(s lvs.Stats) JSONCounters {
	return JSONCounters{Conns: s.CPS, InPackets: s.InPPS, OutPackets: s.OutPPS, InBytes: s.InBPS, OutBytes: s.OutBPS}
}

func jsonConnections(conns []lvs.Connection) []JSONConnection {
	out := make([]JSONConnection, 0, len(conns))
	for _, c := range conns {
		j := JSONConnection{
			Protocol:       strings.ToLower(c.Protocol),
			ClientAddress:  c.Client.Addr().String(),
			ClientPort:     c.Client.Port(),
			VirtualAddress: c.Virtual.Addr().String(),
			VirtualPort:    c.Virtual.Port(),
			RealAddress:    c.Real.Addr().String(),
			RealPort:       c.Real.Port(),
			State:          c.State,
			Expires:        int64(c.Expires.Seconds()),
			Origin:         c.Origin,
			PEName:         c.PEName,
			PEData:         c.PEData,
		}
		if c.Protocol == "IP" && c.Virtual.Addr().IsValid() {
			// ip_vs_sched_persist keys a mark's templates by the mark in
			// the first 32 bits of the virtual address.
			b := addrBytes(c.Virtual.Addr())
			j.FWMark = uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		}
		out = append(out, j)
	}
	return out
}

func jsonDaemons(ds []lvs.SyncDaemon) []JSONDaemon {
	out := []JSONDaemon{}
	for _, d := range ds {
		j := JSONDaemon{State: d.State.String(), Interface: d.Interface, SyncID: d.SyncID,
			MaxLen: d.MaxLen, Port: d.Port, TTL: d.TTL}
		if d.Group.IsValid() {
			j.Group = d.Group.String()
		}
		out = append(out, j)
	}
	return out
}
