package ipvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/mdlayher/netlink"

	"github.com/lvsctl/lvsctl/lvs"
)

// errMalformed is returned, wrapped, when a kernel reply cannot be decoded.
var errMalformed = errors.New("malformed IPVS attribute")

// decodeServiceMessage decodes the attributes of one IPVS_CMD_NEW_SERVICE
// message (a GET_SERVICE reply or one part of its dump).
func decodeServiceMessage(b []byte) (lvs.Service, error) {
	var (
		s     lvs.Service
		found bool
	)
	err := decodeTop(b, func(ad *netlink.AttributeDecoder) {
		if ad.Type() == cmdAttrService {
			found = true
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				var err error
				s, err = decodeService(nad)
				return err
			})
		}
	})
	if err == nil && !found {
		err = fmt.Errorf("%w: reply without IPVS_CMD_ATTR_SERVICE", errMalformed)
	}
	return s, err
}

// decodeService decodes the IPVS_SVC_ATTR_* nested in IPVS_CMD_ATTR_SERVICE.
// The address and netmask are interpreted after the loop because their
// layout depends on IPVS_SVC_ATTR_AF, wherever it appears.
func decodeService(ad *netlink.AttributeDecoder) (lvs.Service, error) {
	var (
		s                lvs.Service
		addr, mask       []byte
		stats, stats64   *lvs.Stats
		haveAF, haveMask bool
	)
	for ad.Next() {
		switch ad.Type() {
		case svcAttrAF:
			s.Family, haveAF = lvs.Family(ad.Uint16()), true
		case svcAttrProtocol:
			s.Protocol = lvs.Protocol(ad.Uint16())
		case svcAttrAddr:
			addr = ad.Bytes()
		case svcAttrPort:
			s.Port = decodeBE16(ad)
		case svcAttrFWMark:
			s.FWMark = ad.Uint32()
		case svcAttrSchedName:
			s.Scheduler = ad.String()
		case svcAttrFlags:
			ad.Do(func(b []byte) error {
				if len(b) != 8 {
					return fmt.Errorf("%w: IPVS_SVC_ATTR_FLAGS of %d bytes", errMalformed, len(b))
				}
				s.Flags = lvs.ServiceFlags(binary.NativeEndian.Uint32(b))
				return nil
			})
		case svcAttrTimeout:
			s.Timeout = time.Duration(ad.Uint32()) * time.Second
		case svcAttrNetmask:
			mask, haveMask = ad.Bytes(), true
		case svcAttrStats:
			stats = decodeStatsNest(ad)
		case svcAttrStats64:
			stats64 = decodeStatsNest(ad)
		case svcAttrPEName:
			s.PEName = ad.String()
		}
	}
	if err := ad.Err(); err != nil {
		return lvs.Service{}, err
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
	s.Stats = pickStats(stats, stats64)
	return s, nil
}

// decodeDestMessage decodes one IPVS_CMD_NEW_DEST message of a GET_DEST
// dump. family is the service's, which the destination has when the kernel
// predates IPVS_DEST_ATTR_ADDR_FAMILY.
func decodeDestMessage(b []byte, family lvs.Family) (lvs.Destination, error) {
	var (
		d     lvs.Destination
		found bool
	)
	err := decodeTop(b, func(ad *netlink.AttributeDecoder) {
		if ad.Type() == cmdAttrDest {
			found = true
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				var err error
				d, err = decodeDest(nad, family)
				return err
			})
		}
	})
	if err == nil && !found {
		err = fmt.Errorf("%w: reply without IPVS_CMD_ATTR_DEST", errMalformed)
	}
	return d, err
}

// decodeDest decodes the IPVS_DEST_ATTR_* nested in IPVS_CMD_ATTR_DEST.
func decodeDest(ad *netlink.AttributeDecoder, family lvs.Family) (lvs.Destination, error) {
	var (
		d              lvs.Destination
		addr           []byte
		stats, stats64 *lvs.Stats
	)
	d.Family = family
	for ad.Next() {
		switch ad.Type() {
		case destAttrAddr:
			addr = ad.Bytes()
		case destAttrPort:
			d.Port = decodeBE16(ad)
		case destAttrFwdMethod:
			d.Forward = lvs.ForwardMethod(ad.Uint32() & 7) // IP_VS_CONN_F_FWD_MASK
		case destAttrWeight:
			d.Weight = int32(ad.Uint32())
		case destAttrUThresh:
			d.UpperThreshold = ad.Uint32()
		case destAttrLThresh:
			d.LowerThreshold = ad.Uint32()
		case destAttrActiveConns:
			d.ActiveConns = ad.Uint32()
		case destAttrInactConns:
			d.InactiveConns = ad.Uint32()
		case destAttrPersistConns:
			d.PersistentConns = ad.Uint32()
		case destAttrStats:
			stats = decodeStatsNest(ad)
		case destAttrStats64:
			stats64 = decodeStatsNest(ad)
		case destAttrAddrFamily:
			d.Family = lvs.Family(ad.Uint16())
		case destAttrTunType:
			d.TunnelType = lvs.TunnelType(ad.Uint8())
		case destAttrTunPort:
			d.TunnelPort = decodeBE16(ad)
		case destAttrTunFlags:
			d.TunnelFlags = lvs.TunnelFlags(ad.Uint16())
		}
	}
	if err := ad.Err(); err != nil {
		return lvs.Destination{}, err
	}
	a, err := decodeInetAddr(d.Family, addr)
	if err != nil {
		return lvs.Destination{}, fmt.Errorf("destination address: %w", err)
	}
	d.Address = a
	d.Stats = pickStats(stats, stats64)
	return d, nil
}

// decodeDaemonMessage decodes one IPVS_CMD_NEW_DAEMON message of a
// GET_DAEMON dump: the kernel sends one per running daemon, each with its
// attributes nested in IPVS_CMD_ATTR_DAEMON.
func decodeDaemonMessage(b []byte) (lvs.SyncDaemon, error) {
	var (
		d     lvs.SyncDaemon
		found bool
	)
	err := decodeTop(b, func(ad *netlink.AttributeDecoder) {
		if ad.Type() == cmdAttrDaemon {
			found = true
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				var err error
				d, err = decodeDaemon(nad)
				return err
			})
		}
	})
	if err == nil && !found {
		err = fmt.Errorf("%w: reply without IPVS_CMD_ATTR_DAEMON", errMalformed)
	}
	return d, err
}

// decodeDaemon decodes the IPVS_DAEMON_ATTR_* nested in IPVS_CMD_ATTR_DAEMON.
func decodeDaemon(ad *netlink.AttributeDecoder) (lvs.SyncDaemon, error) {
	var d lvs.SyncDaemon
	for ad.Next() {
		switch ad.Type() {
		case daemonAttrState:
			d.State = lvs.SyncState(ad.Uint32())
		case daemonAttrMcastIfn:
			d.Interface = ad.String()
		case daemonAttrSyncID:
			// The kernel keeps the sync ID in a u8 (struct
			// ipvs_sync_daemon_cfg) but carries it in a u32.
			d.SyncID = uint8(ad.Uint32())
		case daemonAttrSyncMaxLen:
			d.MaxLen = ad.Uint16()
		case daemonAttrMcastGroup:
			ad.Do(func(b []byte) error {
				if len(b) != 4 {
					return fmt.Errorf("%w: IPVS_DAEMON_ATTR_MCAST_GROUP of %d bytes", errMalformed, len(b))
				}
				d.Group = netip.AddrFrom4([4]byte(b))
				return nil
			})
		case daemonAttrMcastGroup6:
			ad.Do(func(b []byte) error {
				if len(b) != 16 {
					return fmt.Errorf("%w: IPVS_DAEMON_ATTR_MCAST_GROUP6 of %d bytes", errMalformed, len(b))
				}
				d.Group = netip.AddrFrom16([16]byte(b))
				return nil
			})
		case daemonAttrMcastPort:
			d.Port = ad.Uint16() // host order, see daemonAttrMcastPort
		case daemonAttrMcastTTL:
			d.TTL = ad.Uint8()
		}
	}
	return d, ad.Err()
}

// decodeInfo decodes the IPVS_CMD_SET_INFO reply to IPVS_CMD_GET_INFO.
func decodeInfo(b []byte) (lvs.Info, error) {
	var (
		info               lvs.Info
		haveVer, haveTable bool
	)
	err := decodeTop(b, func(ad *netlink.AttributeDecoder) {
		switch ad.Type() {
		case infoAttrVersion:
			info.Version, haveVer = ad.Uint32(), true
		case infoAttrConnTabSize:
			info.ConnTableSize, haveTable = ad.Uint32(), true
		}
	})
	if err == nil && !(haveVer && haveTable) {
		err = fmt.Errorf("%w: GET_INFO reply without version or table size", errMalformed)
	}
	return info, err
}

// decodeTimeouts decodes the IPVS_CMD_SET_CONFIG reply to
// IPVS_CMD_GET_CONFIG. A kernel built without TCP or UDP support leaves the
// matching attributes out; those timeouts read as zero.
func decodeTimeouts(b []byte) (lvs.Timeouts, error) {
	var t lvs.Timeouts
	err := decodeTop(b, func(ad *netlink.AttributeDecoder) {
		switch ad.Type() {
		case cmdAttrTimeoutTCP:
			t.TCP = time.Duration(ad.Uint32()) * time.Second
		case cmdAttrTimeoutTCPFin:
			t.TCPFin = time.Duration(ad.Uint32()) * time.Second
		case cmdAttrTimeoutUDP:
			t.UDP = time.Duration(ad.Uint32()) * time.Second
		}
	})
	return t, err
}

// decodeStatsNest decodes an IPVS_*_ATTR_STATS or _STATS64 nest. Each
// counter is read by its length, so the same code reads the 32-bit nest
// (u32 counters, u64 bytes) and the 64-bit one; IPVS_STATS_ATTR_PAD and
// unknown attributes are skipped.
func decodeStatsNest(ad *netlink.AttributeDecoder) *lvs.Stats {
	st := new(lvs.Stats)
	ad.Nested(func(nad *netlink.AttributeDecoder) error {
		for nad.Next() {
			var dst *uint64
			switch nad.Type() {
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
			nad.Do(func(b []byte) error {
				switch len(b) {
				case 4:
					*dst = uint64(binary.NativeEndian.Uint32(b))
				case 8:
					*dst = binary.NativeEndian.Uint64(b)
				default:
					return fmt.Errorf("%w: statistics attribute %d of %d bytes", errMalformed, nad.Type(), len(b))
				}
				return nil
			})
		}
		return nil
	})
	return st
}

// pickStats prefers the 64-bit counters (kernels since 4.1) and falls back
// to the 32-bit ones.
func pickStats(stats, stats64 *lvs.Stats) lvs.Stats {
	switch {
	case stats64 != nil:
		return *stats64
	case stats != nil:
		return *stats
	}
	return lvs.Stats{}
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

// decodeBE16 reads a __be16 attribute (ports).
func decodeBE16(ad *netlink.AttributeDecoder) uint16 {
	var v uint16
	ad.Do(func(b []byte) error {
		if len(b) != 2 {
			return fmt.Errorf("%w: __be16 attribute %d of %d bytes", errMalformed, ad.Type(), len(b))
		}
		v = binary.BigEndian.Uint16(b)
		return nil
	})
	return v
}

// decodeTop runs fn over the first-level attributes of a reply and returns
// the decoder's first error.
func decodeTop(b []byte, fn func(ad *netlink.AttributeDecoder)) error {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return fmt.Errorf("%w: %v", errMalformed, err)
	}
	for ad.Next() {
		fn(ad)
	}
	if err := ad.Err(); err != nil {
		return fmt.Errorf("%w: %v", errMalformed, err)
	}
	return nil
}
