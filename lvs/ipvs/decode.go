package ipvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/lvsctl/lvsctl/lvs"
)

// errMalformed is returned, wrapped, when a kernel reply cannot be decoded.
var errMalformed = errors.New("malformed IPVS attribute")

// decodeServiceMessage decodes the attributes of one IPVS_CMD_NEW_SERVICE
// message (a GET_SERVICE reply or one part of its dump).
func decodeServiceMessage(b []byte) (lvs.Service, error) {
	return decodeNested(b, cmdAttrService, "IPVS_CMD_ATTR_SERVICE", decodeService)
}

// decodeNested decodes the one command attribute of type typ (named name
// in errors) that a reply message carries, with decode over its nested
// attributes. A reply without it is malformed.
func decodeNested[T any](b []byte, typ uint16, name string, decode func(attrReader) (T, error)) (T, error) {
	var (
		v     T
		zero  T
		found bool
	)
	r := attrReader{b: b}
	for r.next() {
		if r.typ == typ {
			found = true
			var err error
			v, err = decode(r.nested())
			r.fail(err)
		}
	}
	switch {
	case r.err != nil:
		return zero, fmt.Errorf("%s: %w", name, r.err)
	case !found:
		return zero, fmt.Errorf("%w: reply without %s", errMalformed, name)
	}
	return v, nil
}

// decodeService decodes the IPVS_SVC_ATTR_* nested in IPVS_CMD_ATTR_SERVICE.
// The address and netmask are interpreted after the loop because their
// layout depends on IPVS_SVC_ATTR_AF, wherever it appears.
func decodeService(r attrReader) (lvs.Service, error) {
	var (
		s                lvs.Service
		addr, mask       []byte
		stats, stats64   lvs.Stats
		have32, have64   bool
		haveAF, haveMask bool
	)
	for r.next() {
		switch r.typ {
		case svcAttrAF:
			s.Family, haveAF = lvs.Family(r.u16()), true
		case svcAttrProtocol:
			s.Protocol = lvs.Protocol(r.u16())
		case svcAttrAddr:
			addr = r.data
		case svcAttrPort:
			s.Port = r.be16()
		case svcAttrFWMark:
			s.FWMark = r.u32()
		case svcAttrSchedName:
			s.Scheduler = schedName(r.data)
		case svcAttrFlags:
			// struct ip_vs_flags {u32 flags; u32 mask}: the mask is
			// meaningless in a reply.
			if r.want(8) {
				s.Flags = lvs.ServiceFlags(binary.NativeEndian.Uint32(r.data))
			}
		case svcAttrTimeout:
			s.Timeout = time.Duration(r.u32()) * time.Second
		case svcAttrNetmask:
			mask, haveMask = r.data, true
		case svcAttrStats:
			stats, have32 = lvs.Stats{}, true
			r.fail(decodeStats(r.data, &stats))
		case svcAttrStats64:
			stats64, have64 = lvs.Stats{}, true
			r.fail(decodeStats(r.data, &stats64))
		case svcAttrPEName:
			s.PEName = r.str()
		}
	}
	if r.err != nil {
		return lvs.Service{}, r.err
	}
	if !haveAF {
		return lvs.Service{}, fmt.Errorf("%w: service without IPVS_SVC_ATTR_AF", errMalformed)
	}
	if s.FWMark == 0 || addr != nil {
		a, err := decodeInetAddr(s.Family, addr)
		if err != nil {
			return lvs.Service{}, fmt.Errorf("service address: %w", err)
		}
		if s.FWMark == 0 {
			s.Address = a
		}
	}
	if haveMask {
		if len(mask) != 4 {
			return lvs.Service{}, fmt.Errorf("%w: IPVS_SVC_ATTR_NETMASK of %d bytes", errMalformed, len(mask))
		}
		if s.Family == lvs.IPv6 {
			s.Netmask = binary.NativeEndian.Uint32(mask)
		} else {
			s.Netmask = binary.BigEndian.Uint32(mask)
		}
	}
	s.Stats = pickStats(stats, have32, stats64, have64)
	return s, nil
}

// decodeDestMessage decodes one IPVS_CMD_NEW_DEST message of a GET_DEST
// dump. family is the service's, which the destination has when the kernel
// predates IPVS_DEST_ATTR_ADDR_FAMILY.
func decodeDestMessage(b []byte, family lvs.Family) (lvs.Destination, error) {
	return decodeNested(b, cmdAttrDest, "IPVS_CMD_ATTR_DEST", func(r attrReader) (lvs.Destination, error) {
		return decodeDest(r, family)
	})
}

// decodeDest decodes the IPVS_DEST_ATTR_* nested in IPVS_CMD_ATTR_DEST.
func decodeDest(r attrReader, family lvs.Family) (lvs.Destination, error) {
	var (
		d              lvs.Destination
		addr           []byte
		stats, stats64 lvs.Stats
		have32, have64 bool
	)
	d.Family = family
	for r.next() {
		switch r.typ {
		case destAttrAddr:
			addr = r.data
		case destAttrPort:
			d.Port = r.be16()
		case destAttrFwdMethod:
			d.Forward = lvs.ForwardMethod(r.u32() & 7) // IP_VS_CONN_F_FWD_MASK
		case destAttrWeight:
			d.Weight = int32(r.u32())
		case destAttrUThresh:
			d.UpperThreshold = r.u32()
		case destAttrLThresh:
			d.LowerThreshold = r.u32()
		case destAttrActiveConns:
			d.ActiveConns = r.u32()
		case destAttrInactConns:
			d.InactiveConns = r.u32()
		case destAttrPersistConns:
			d.PersistentConns = r.u32()
		case destAttrStats:
			stats, have32 = lvs.Stats{}, true
			r.fail(decodeStats(r.data, &stats))
		case destAttrStats64:
			stats64, have64 = lvs.Stats{}, true
			r.fail(decodeStats(r.data, &stats64))
		case destAttrAddrFamily:
			d.Family = lvs.Family(r.u16())
		case destAttrTunType:
			d.TunnelType = lvs.TunnelType(r.u8())
		case destAttrTunPort:
			d.TunnelPort = r.be16()
		case destAttrTunFlags:
			d.TunnelFlags = lvs.TunnelFlags(r.u16())
		}
	}
	if r.err != nil {
		return lvs.Destination{}, r.err
	}
	a, err := decodeInetAddr(d.Family, addr)
	if err != nil {
		return lvs.Destination{}, fmt.Errorf("destination address: %w", err)
	}
	d.Address = a
	d.Stats = pickStats(stats, have32, stats64, have64)
	return d, nil
}

// decodeDaemonMessage decodes one IPVS_CMD_NEW_DAEMON message of a
// GET_DAEMON dump: the kernel sends one per running daemon, each with its
// attributes nested in IPVS_CMD_ATTR_DAEMON.
func decodeDaemonMessage(b []byte) (lvs.SyncDaemon, error) {
	return decodeNested(b, cmdAttrDaemon, "IPVS_CMD_ATTR_DAEMON", decodeDaemon)
}

// decodeDaemon decodes the IPVS_DAEMON_ATTR_* nested in IPVS_CMD_ATTR_DAEMON.
func decodeDaemon(r attrReader) (lvs.SyncDaemon, error) {
	var d lvs.SyncDaemon
	for r.next() {
		switch r.typ {
		case daemonAttrState:
			d.State = lvs.SyncState(r.u32())
		case daemonAttrMcastIfn:
			d.Interface = r.str()
		case daemonAttrSyncID:
			// The kernel keeps the sync ID in a u8 (struct
			// ipvs_sync_daemon_cfg) but carries it in a u32.
			d.SyncID = uint8(r.u32())
		case daemonAttrSyncMaxLen:
			d.MaxLen = r.u16()
		case daemonAttrMcastGroup:
			if r.want(4) {
				d.Group = netip.AddrFrom4([4]byte(r.data))
			}
		case daemonAttrMcastGroup6:
			if r.want(16) {
				d.Group = netip.AddrFrom16([16]byte(r.data))
			}
		case daemonAttrMcastPort:
			d.Port = r.u16() // host order, see daemonAttrMcastPort
		case daemonAttrMcastTTL:
			d.TTL = r.u8()
		}
	}
	return d, r.err
}

// decodeInfo decodes the IPVS_CMD_SET_INFO reply to IPVS_CMD_GET_INFO.
func decodeInfo(b []byte) (lvs.Info, error) {
	var (
		info               lvs.Info
		haveVer, haveTable bool
	)
	r := attrReader{b: b}
	for r.next() {
		switch r.typ {
		case infoAttrVersion:
			info.Version, haveVer = r.u32(), true
		case infoAttrConnTabSize:
			info.ConnTableSize, haveTable = r.u32(), true
		}
	}
	switch {
	case r.err != nil:
		return lvs.Info{}, r.err
	case !(haveVer && haveTable):
		return lvs.Info{}, fmt.Errorf("%w: GET_INFO reply without version or table size", errMalformed)
	}
	return info, nil
}

// decodeTimeouts decodes the IPVS_CMD_SET_CONFIG reply to
// IPVS_CMD_GET_CONFIG. A kernel built without TCP or UDP support leaves the
// matching attributes out; those timeouts read as zero.
func decodeTimeouts(b []byte) (lvs.Timeouts, error) {
	var t lvs.Timeouts
	r := attrReader{b: b}
	for r.next() {
		switch r.typ {
		case cmdAttrTimeoutTCP:
			t.TCP = time.Duration(r.u32()) * time.Second
		case cmdAttrTimeoutTCPFin:
			t.TCPFin = time.Duration(r.u32()) * time.Second
		case cmdAttrTimeoutUDP:
			t.UDP = time.Duration(r.u32()) * time.Second
		}
	}
	if r.err != nil {
		return lvs.Timeouts{}, r.err
	}
	return t, nil
}

// decodeStats decodes the payload of an IPVS_*_ATTR_STATS or _STATS64
// nest into st. Each counter is read by its length, so the same code reads
// the 32-bit nest (u32 counters, u64 bytes) and the 64-bit one;
// IPVS_STATS_ATTR_PAD and unknown attributes are skipped.
func decodeStats(b []byte, st *lvs.Stats) error {
	r := attrReader{b: b}
	for r.next() {
		var dst *uint64
		switch r.typ {
		case statsAttrConns:
			dst = &st.Conns
		case statsAttrInPkts:
			dst = &st.InPkts
		case statsAttrOutPkts:
			dst = &st.OutPkts
		case statsAttrInBytes:
			dst = &st.InBytes
		case statsAttrOutBytes:
			dst = &st.OutBytes
		case statsAttrCPS:
			dst = &st.CPS
		case statsAttrInPPS:
			dst = &st.InPPS
		case statsAttrOutPPS:
			dst = &st.OutPPS
		case statsAttrInBPS:
			dst = &st.InBPS
		case statsAttrOutBPS:
			dst = &st.OutBPS
		default:
			continue
		}
		switch len(r.data) {
		case 4:
			*dst = uint64(binary.NativeEndian.Uint32(r.data))
		case 8:
			*dst = binary.NativeEndian.Uint64(r.data)
		default:
			return fmt.Errorf("%w: statistics attribute %d of %d bytes", errMalformed, r.typ, len(r.data))
		}
	}
	if r.err != nil {
		return fmt.Errorf("statistics: %w", r.err)
	}
	return nil
}

// pickStats prefers the 64-bit counters (kernels since 4.1) and falls back
// to the 32-bit ones.
func pickStats(stats lvs.Stats, have32 bool, stats64 lvs.Stats, have64 bool) lvs.Stats {
	switch {
	case have64:
		return stats64
	case have32:
		return stats
	}
	return lvs.Stats{}
}

// schedName reads IPVS_SVC_ATTR_SCHED_NAME. The names of the schedulers
// Linux ships come from constants, so a listing does not allocate one
// string per service for them.
func schedName(b []byte) string {
	b = trimNUL(b)
	switch string(b) { // no allocation: the compiler compares in place
	case "rr":
		return "rr"
	case "wrr":
		return "wrr"
	case "lc":
		return "lc"
	case "wlc":
		return "wlc"
	case "lblc":
		return "lblc"
	case "lblcr":
		return "lblcr"
	case "dh":
		return "dh"
	case "sh":
		return "sh"
	case "sed":
		return "sed"
	case "nq":
		return "nq"
	case "fo":
		return "fo"
	case "ovf":
		return "ovf"
	case "mh":
		return "mh"
	case "twos":
		return "twos"
	case "none":
		return "none"
	}
	return string(b)
}

// decodeInetAddr reads a union nf_inet_addr for family.
func decodeInetAddr(family lvs.Family, b []byte) (netip.Addr, error) {
	switch {
	case b == nil:
		return netip.Addr{}, fmt.Errorf("%w: missing address", errMalformed)
	case family == lvs.IPv4 && len(b) >= 4:
		return netip.AddrFrom4([4]byte(b[:4])), nil
	case family == lvs.IPv6 && len(b) >= 16:
		return netip.AddrFrom16([16]byte(b[:16])), nil
	}
	return netip.Addr{}, fmt.Errorf("%w: %d-byte address for family %d", errMalformed, len(b), uint16(family))
}
