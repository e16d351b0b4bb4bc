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

// ErrInvalid is returned, wrapped, for a request the client refuses to send
// because the kernel could not make sense of it (an address that does not
// match its family, a name longer than the kernel accepts, an unknown
// operation). Nothing is sent for such a request.
var ErrInvalid = errors.New("invalid IPVS request")

// request is one IPVS command ready to be sent: the command and its
// encoded attributes.
type request struct {
	cmd   Cmd
	attrs []byte
}

// encodeOp turns an lvs.Op into the IPVS command that performs it.
func encodeOp(op lvs.Op) (request, error) {
	ae := netlink.NewAttributeEncoder()
	var cmd Cmd
	switch op.Kind {
	case lvs.AddService, lvs.EditService:
		cmd = CmdNewService
		if op.Kind == lvs.EditService {
			cmd = CmdSetService
		}
		if err := encodeService(ae, op.Service, true); err != nil {
			return request{}, err
		}
	case lvs.DeleteService:
		cmd = CmdDelService
		if err := encodeService(ae, op.Service, false); err != nil {
			return request{}, err
		}
	case lvs.Flush:
		cmd = CmdFlush
	case lvs.AddDestination, lvs.EditDestination, lvs.DeleteDestination:
		full := true
		switch op.Kind {
		case lvs.AddDestination:
			cmd = CmdNewDest
		case lvs.EditDestination:
			cmd = CmdSetDest
		default:
			cmd, full = CmdDelDest, false
		}
		if err := encodeService(ae, op.Service, false); err != nil {
			return request{}, err
		}
		if err := encodeDest(ae, op.Destination, full); err != nil {
			return request{}, err
		}
	case lvs.Zero:
		// IPVS_CMD_ZERO without IPVS_CMD_ATTR_SERVICE zeroes every service.
		cmd = CmdZero
		if !op.AllServices {
			if err := encodeService(ae, op.Service, false); err != nil {
				return request{}, err
			}
		}
	case lvs.SetTimeouts:
		cmd = CmdSetConfig
		if err := encodeTimeouts(ae, op.Timeouts); err != nil {
			return request{}, err
		}
	case lvs.StartDaemon:
		cmd = CmdNewDaemon
		if err := encodeDaemon(ae, op.Daemon, true); err != nil {
			return request{}, err
		}
	case lvs.StopDaemon:
		cmd = CmdDelDaemon
		if err := encodeDaemon(ae, op.Daemon, false); err != nil {
			return request{}, err
		}
	default:
		return request{}, fmt.Errorf("%w: unknown operation %d", ErrInvalid, int(op.Kind))
	}
	b, err := ae.Encode()
	if err != nil {
		return request{}, fmt.Errorf("%w: %s: %v", ErrInvalid, cmd, err)
	}
	return request{cmd: cmd, attrs: b}, nil
}

// serviceFamily is the family a service key is sent with: the one given,
// else the address's, else IPv4 for a firewall-mark service (ipvsadm's
// default without -6).
func serviceFamily(family lvs.Family, fwmark uint32, addr netip.Addr) (lvs.Family, error) {
	if family == 0 {
		if fwmark != 0 || !addr.IsValid() {
			family = lvs.IPv4
		} else {
			family = lvs.FamilyOf(addr)
		}
	}
	if family != lvs.IPv4 && family != lvs.IPv6 {
		return 0, fmt.Errorf("%w: address family %d", ErrInvalid, uint16(family))
	}
	return family, nil
}

// encodeService writes IPVS_CMD_ATTR_SERVICE. The identity (family and
// either fwmark or protocol, address and port) is always written; full
// adds what IPVS_CMD_NEW_SERVICE and IPVS_CMD_SET_SERVICE require.
func encodeService(ae *netlink.AttributeEncoder, s lvs.Service, full bool) error {
	family, err := serviceFamily(s.Family, s.FWMark, s.Address)
	if err != nil {
		return err
	}
	var addr [16]byte
	if s.FWMark == 0 {
		if addr, err = inetAddr(family, s.Address); err != nil {
			return fmt.Errorf("service %s: %w", s.Key(), err)
		}
	}
	if full {
		if len(s.Scheduler) >= schedNameMaxLen {
			return fmt.Errorf("%w: scheduler name %q longer than %d bytes", ErrInvalid, s.Scheduler, schedNameMaxLen-1)
		}
		if len(s.PEName) >= peNameMaxLen {
			return fmt.Errorf("%w: persistence engine name %q longer than %d bytes", ErrInvalid, s.PEName, peNameMaxLen-1)
		}
		if s.Timeout < 0 || s.Timeout/time.Second > 1<<32-1 {
			return fmt.Errorf("%w: persistence timeout %v", ErrInvalid, s.Timeout)
		}
	}
	ae.Nested(cmdAttrService, func(nae *netlink.AttributeEncoder) error {
		nae.Uint16(svcAttrAF, uint16(family))
		if s.FWMark != 0 {
			nae.Uint32(svcAttrFWMark, s.FWMark)
		} else {
			nae.Uint16(svcAttrProtocol, uint16(s.Protocol))
			nae.Bytes(svcAttrAddr, addr[:])
			nae.Bytes(svcAttrPort, be16(s.Port))
		}
		if !full {
			return nil
		}
		nae.String(svcAttrSchedName, s.Scheduler)
		if s.PEName != "" {
			nae.String(svcAttrPEName, s.PEName)
		}
		// struct ip_vs_flags: the kernel sets svc->flags to
		// (old & ~mask) | (flags & mask), then forces IP_VS_SVC_F_HASHED
		// itself; an all-ones mask makes the request the whole truth.
		flags := make([]byte, 8)
		binary.NativeEndian.PutUint32(flags[0:], uint32(s.Flags&^lvs.FlagHashed))
		binary.NativeEndian.PutUint32(flags[4:], ^uint32(0))
		nae.Bytes(svcAttrFlags, flags)
		nae.Uint32(svcAttrTimeout, uint32(s.Timeout/time.Second))
		nae.Bytes(svcAttrNetmask, netmaskBytes(family, s.Netmask))
		return nil
	})
	return nil
}

// netmaskBytes encodes IPVS_SVC_ATTR_NETMASK. The kernel copies the four
// bytes into a __be32: for IPv4 they are the mask in network order, for
// IPv6 the kernel reads the same field as a plain integer prefix length
// (ip_vs_add_service checks 1..128), so it goes in host order.
func netmaskBytes(family lvs.Family, mask uint32) []byte {
	b := make([]byte, 4)
	if family == lvs.IPv6 {
		binary.NativeEndian.PutUint32(b, mask)
	} else {
		binary.BigEndian.PutUint32(b, mask)
	}
	return b
}

// encodeDest writes IPVS_CMD_ATTR_DEST: the identity (family, address,
// port) and, when full, what IPVS_CMD_NEW_DEST and IPVS_CMD_SET_DEST
// require. The tunnel attributes always go with a full destination so a
// listing reads back what was written.
func encodeDest(ae *netlink.AttributeEncoder, d lvs.Destination, full bool) error {
	family := d.Family
	if family == 0 {
		if !d.Address.IsValid() {
			return fmt.Errorf("%w: destination without an address", ErrInvalid)
		}
		family = lvs.FamilyOf(d.Address)
	}
	addr, err := inetAddr(family, d.Address)
	if err != nil {
		return fmt.Errorf("destination %s: %w", d, err)
	}
	if full && d.Forward&^lvs.ForwardMethod(7) != 0 {
		return fmt.Errorf("%w: forwarding method %d", ErrInvalid, uint32(d.Forward))
	}
	ae.Nested(cmdAttrDest, func(nae *netlink.AttributeEncoder) error {
		nae.Uint16(destAttrAddrFamily, uint16(family))
		nae.Bytes(destAttrAddr, addr[:])
		nae.Bytes(destAttrPort, be16(d.Port))
		if !full {
			return nil
		}
		nae.Uint32(destAttrFwdMethod, uint32(d.Forward))
		nae.Uint32(destAttrWeight, uint32(d.Weight))
		nae.Uint32(destAttrUThresh, d.UpperThreshold)
		nae.Uint32(destAttrLThresh, d.LowerThreshold)
		nae.Uint8(destAttrTunType, uint8(d.TunnelType))
		nae.Bytes(destAttrTunPort, be16(d.TunnelPort))
		nae.Uint16(destAttrTunFlags, uint16(d.TunnelFlags))
		return nil
	})
	return nil
}

// encodeDaemon writes IPVS_CMD_ATTR_DAEMON. Starting needs the state,
// interface and sync ID; the optional attributes go only when set so the
// kernel applies its defaults (port 8848, group 224.0.0.81, TTL 1, maximum
// length from the interface MTU). Stopping needs only the state.
func encodeDaemon(ae *netlink.AttributeEncoder, d lvs.SyncDaemon, start bool) error {
	if d.State != lvs.SyncMaster && d.State != lvs.SyncBackup {
		return fmt.Errorf("%w: sync daemon state %d", ErrInvalid, uint32(d.State))
	}
	if start {
		if d.Interface == "" || len(d.Interface) >= ifNameMaxLen {
			return fmt.Errorf("%w: sync daemon interface %q", ErrInvalid, d.Interface)
		}
		if d.Group.IsValid() && !d.Group.Is4() && !d.Group.Is6() {
			return fmt.Errorf("%w: multicast group %s", ErrInvalid, d.Group)
		}
	}
	ae.Nested(cmdAttrDaemon, func(nae *netlink.AttributeEncoder) error {
		nae.Uint32(daemonAttrState, uint32(d.State))
		if !start {
			return nil
		}
		nae.String(daemonAttrMcastIfn, d.Interface)
		nae.Uint32(daemonAttrSyncID, uint32(d.SyncID))
		if d.MaxLen != 0 {
			nae.Uint16(daemonAttrSyncMaxLen, d.MaxLen)
		}
		if d.Group.IsValid() {
			if g := d.Group.Unmap(); g.Is4() {
				b := g.As4()
				nae.Bytes(daemonAttrMcastGroup, b[:])
			} else {
				b := g.As16()
				nae.Bytes(daemonAttrMcastGroup6, b[:])
			}
		}
		if d.Port != 0 {
			nae.Uint16(daemonAttrMcastPort, d.Port)
		}
		if d.TTL != 0 {
			nae.Uint8(daemonAttrMcastTTL, d.TTL)
		}
		return nil
	})
	return nil
}

// encodeTimeouts writes the IPVS_CMD_SET_CONFIG attributes. Zero fields
// are left out, which the kernel takes as "unchanged".
func encodeTimeouts(ae *netlink.AttributeEncoder, t lvs.Timeouts) error {
	for _, x := range []struct {
		typ uint16
		d   time.Duration
	}{
		{cmdAttrTimeoutTCP, t.TCP},
		{cmdAttrTimeoutTCPFin, t.TCPFin},
		{cmdAttrTimeoutUDP, t.UDP},
	} {
		if x.d < 0 || x.d/time.Second > 1<<31-1 {
			return fmt.Errorf("%w: timeout %v", ErrInvalid, x.d)
		}
		if s := x.d / time.Second; s != 0 {
			ae.Uint32(x.typ, uint32(s))
		}
	}
	return nil
}

// inetAddr lays addr out as a union nf_inet_addr: IPv4 in the first four
// bytes, the rest zero.
func inetAddr(family lvs.Family, addr netip.Addr) ([16]byte, error) {
	var b [16]byte
	switch {
	case !addr.IsValid():
		return b, fmt.Errorf("%w: missing address", ErrInvalid)
	case family == lvs.IPv4 && addr.Unmap().Is4():
		a := addr.Unmap().As4()
		copy(b[:], a[:])
	case family == lvs.IPv6 && addr.Is6():
		b = addr.As16()
	default:
		return b, fmt.Errorf("%w: address %s is not %s", ErrInvalid, addr, family)
	}
	return b, nil
}

func be16(v uint16) []byte {
	return binary.BigEndian.AppendUint16(nil, v)
}
