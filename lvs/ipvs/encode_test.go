package ipvs

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/lvsctl/lvsctl/lvs"
)

// Fixtures shared by the encoding and decoding tests.
var (
	tcpService = lvs.Service{
		Family: lvs.IPv4, Protocol: lvs.TCP, Address: netip.MustParseAddr("192.0.2.1"), Port: 80,
		Scheduler: "rr", Netmask: 0xffffffff,
	}
	udp6Service = lvs.Service{
		Family: lvs.IPv6, Protocol: lvs.UDP, Address: netip.MustParseAddr("2001:db8::1"), Port: 5060,
		Scheduler: "sh", Flags: lvs.FlagPersistent | lvs.FlagSHFallback | lvs.FlagSHPort,
		Timeout: 300 * time.Second, Netmask: 64, PEName: "sip",
	}
	fwmService = lvs.Service{
		Family: lvs.IPv4, FWMark: 5, Scheduler: "wlc", Flags: lvs.FlagOnePacket, Netmask: 0xffffff00,
	}
)

// wantService is the identity part of tcpService as the kernel reads it.
func tcpServiceKeyAttrs(t testing.TB) []netlink.Attribute {
	return []netlink.Attribute{
		attr(svcAttrAF, ne16(unix.AF_INET)),
		attr(svcAttrProtocol, ne16(unix.IPPROTO_TCP)),
		attr(svcAttrAddr, inet("192.0.2.1")),
		attr(svcAttrPort, []byte{0x00, 0x50}),
	}
}

func TestExecEncoding(t *testing.T) {
	tunnelDest := lvs.Destination{
		Address: netip.MustParseAddr("198.51.100.10"), Port: 80, Forward: lvs.Tunnel, Weight: 3,
		UpperThreshold: 1000, LowerThreshold: 10,
		TunnelType: lvs.TunnelGUE, TunnelPort: 6080, TunnelFlags: lvs.TunnelCsum | lvs.TunnelRemCsum,
	}
	tests := []struct {
		name  string
		op    lvs.Op
		cmd   Cmd
		attrs func(t testing.TB) []netlink.Attribute
	}{
		{
			name: "add TCP IPv4 service",
			op:   lvs.Op{Kind: lvs.AddService, Service: tcpService},
			cmd:  CmdNewService,
			attrs: func(t testing.TB) []netlink.Attribute {
				return []netlink.Attribute{nest(t, cmdAttrService, append(tcpServiceKeyAttrs(t),
					attr(svcAttrSchedName, cstr("rr")),
					attr(svcAttrFlags, append(ne32(0), 0xff, 0xff, 0xff, 0xff)),
					attr(svcAttrTimeout, ne32(0)),
					attr(svcAttrNetmask, []byte{0xff, 0xff, 0xff, 0xff}),
				)...)}
			},
		},
		{
			name: "add UDP IPv6 persistent sh service with PE",
			op:   lvs.Op{Kind: lvs.AddService, Service: udp6Service},
			cmd:  CmdNewService,
			attrs: func(t testing.TB) []netlink.Attribute {
				return []netlink.Attribute{nest(t, cmdAttrService,
					attr(svcAttrAF, ne16(unix.AF_INET6)),
					attr(svcAttrProtocol, ne16(unix.IPPROTO_UDP)),
					attr(svcAttrAddr, inet("2001:db8::1")),
					attr(svcAttrPort, []byte{0x13, 0xc4}),
					attr(svcAttrSchedName, cstr("sh")),
					attr(svcAttrPEName, cstr("sip")),
					attr(svcAttrFlags, append(ne32(0x0001|0x0008|0x0010), 0xff, 0xff, 0xff, 0xff)),
					attr(svcAttrTimeout, ne32(300)),
					attr(svcAttrNetmask, ne32(64)), // a prefix length, host order
				)}
			},
		},
		{
			name: "add SCTP service, hashed flag dropped",
			op: lvs.Op{Kind: lvs.AddService, Service: lvs.Service{
				Protocol: lvs.SCTP, Address: netip.MustParseAddr("203.0.113.7"), Port: 9,
				Scheduler: "mh", Flags: lvs.FlagHashed | lvs.FlagMHFallback | lvs.FlagMHPort,
			}},
			cmd: CmdNewService,
			attrs: func(t testing.TB) []netlink.Attribute {
				return []netlink.Attribute{nest(t, cmdAttrService,
					attr(svcAttrAF, ne16(unix.AF_INET)),
					attr(svcAttrProtocol, ne16(unix.IPPROTO_SCTP)),
					attr(svcAttrAddr, inet("203.0.113.7")),
					attr(svcAttrPort, []byte{0x00, 0x09}),
					attr(svcAttrSchedName, cstr("mh")),
					attr(svcAttrFlags, append(ne32(0x0018), 0xff, 0xff, 0xff, 0xff)),
					attr(svcAttrTimeout, ne32(0)),
					attr(svcAttrNetmask, []byte{0, 0, 0, 0}),
				)}
			},
		},
		{
			name: "edit fwmark service",
			op:   lvs.Op{Kind: lvs.EditService, Service: fwmService},
			cmd:  CmdSetService,
			attrs: func(t testing.TB) []netlink.Attribute {
				return []netlink.Attribute{nest(t, cmdAttrService,
					attr(svcAttrAF, ne16(unix.AF_INET)),
					attr(svcAttrFWMark, ne32(5)),
					attr(svcAttrSchedName, cstr("wlc")),
					attr(svcAttrFlags, append(ne32(0x0004), 0xff, 0xff, 0xff, 0xff)),
					attr(svcAttrTimeout, ne32(0)),
					attr(svcAttrNetmask, []byte{0xff, 0xff, 0xff, 0x00}),
				)}
			},
		},
		{
			name: "delete IPv6 fwmark service",
			op:   lvs.Op{Kind: lvs.DeleteService, Service: lvs.Service{Family: lvs.IPv6, FWMark: 0x10203}},
			cmd:  CmdDelService,
			attrs: func(t testing.TB) []netlink.Attribute {
				return []netlink.Attribute{nest(t, cmdAttrService,
					attr(svcAttrAF, ne16(unix.AF_INET6)),
					attr(svcAttrFWMark, ne32(0x10203)),
				)}
			},
		},
		{
			name: "delete service sends the identity only",
			op:   lvs.Op{Kind: lvs.DeleteService, Service: tcpService},
			cmd:  CmdDelService,
			attrs: func(t testing.TB) []netlink.Attribute {
				return []netlink.Attribute{nest(t, cmdAttrService, tcpServiceKeyAttrs(t)...)}
			},
		},
		{
			name: "add GUE tunnel destination",
			op:   lvs.Op{Kind: lvs.AddDestination, Service: tcpService, Destination: tunnelDest},
			cmd:  CmdNewDest,
			attrs: func(t testing.TB) []netlink.Attribute {
				return []netlink.Attribute{
					nest(t, cmdAttrService, tcpServiceKeyAttrs(t)...),
					nest(t, cmdAttrDest,
						attr(destAttrAddrFamily, ne16(unix.AF_INET)),
						attr(destAttrAddr, inet("198.51.100.10")),
						attr(destAttrPort, []byte{0x00, 0x50}),
						attr(destAttrFwdMethod, ne32(2)),
						attr(destAttrWeight, ne32(3)),
						attr(destAttrUThresh, ne32(1000)),
						attr(destAttrLThresh, ne32(10)),
						attr(destAttrTunType, []byte{1}),
						attr(destAttrTunPort, []byte{0x17, 0xc0}),
						attr(destAttrTunFlags, ne16(3)),
					),
				}
			},
		},
		{
			name: "add IPv6 tunnel destination to an IPv4 service",
			op: lvs.Op{Kind: lvs.AddDestination, Service: fwmService, Destination: lvs.Destination{
				Address: netip.MustParseAddr("2001:db8::10"), Forward: lvs.Tunnel, Weight: 1, TunnelType: lvs.TunnelGRE,
			}},
			cmd: CmdNewDest,
			attrs: func(t testing.TB) []netlink.Attribute {
				return []netlink.Attribute{
					nest(t, cmdAttrService, attr(svcAttrAF, ne16(unix.AF_INET)), attr(svcAttrFWMark, ne32(5))),
					nest(t, cmdAttrDest,
						attr(destAttrAddrFamily, ne16(unix.AF_INET6)),
						attr(destAttrAddr, inet("2001:db8::10")),
						attr(destAttrPort, []byte{0, 0}),
						attr(destAttrFwdMethod, ne32(2)),
						attr(destAttrWeight, ne32(1)),
						attr(destAttrUThresh, ne32(0)),
						attr(destAttrLThresh, ne32(0)),
						attr(destAttrTunType, []byte{2}),
						attr(destAttrTunPort, []byte{0, 0}),
						attr(destAttrTunFlags, ne16(0)),
					),
				}
			},
		},
		{
			name: "edit masquerading destination with weight 0",
			op: lvs.Op{Kind: lvs.EditDestination, Service: udp6Service, Destination: lvs.Destination{
				Address: netip.MustParseAddr("2001:db8::20"), Port: 5060, Forward: lvs.Masquerade,
			}},
			cmd: CmdSetDest,
			attrs: func(t testing.TB) []netlink.Attribute {
				return []netlink.Attribute{
					nest(t, cmdAttrService,
						attr(svcAttrAF, ne16(unix.AF_INET6)),
						attr(svcAttrProtocol, ne16(unix.IPPROTO_UDP)),
						attr(svcAttrAddr, inet("2001:db8::1")),
						attr(svcAttrPort, []byte{0x13, 0xc4}),
					),
					nest(t, cmdAttrDest,
						attr(destAttrAddrFamily, ne16(unix.AF_INET6)),
						attr(destAttrAddr, inet("2001:db8::20")),
						attr(destAttrPort, []byte{0x13, 0xc4}),
						attr(destAttrFwdMethod, ne32(0)),
						attr(destAttrWeight, ne32(0)),
						attr(destAttrUThresh, ne32(0)),
						attr(destAttrLThresh, ne32(0)),
						attr(destAttrTunType, []byte{0}),
						attr(destAttrTunPort, []byte{0, 0}),
						attr(destAttrTunFlags, ne16(0)),
					),
				}
			},
		},
		{
			name: "delete destination sends identities only",
			op:   lvs.Op{Kind: lvs.DeleteDestination, Service: tcpService, Destination: tunnelDest},
			cmd:  CmdDelDest,
			attrs: func(t testing.TB) []netlink.Attribute {
				return []netlink.Attribute{
					nest(t, cmdAttrService, tcpServiceKeyAttrs(t)...),
					nest(t, cmdAttrDest,
						attr(destAttrAddrFamily, ne16(unix.AF_INET)),
						attr(destAttrAddr, inet("198.51.100.10")),
						attr(destAttrPort, []byte{0x00, 0x50}),
					),
				}
			},
		},
		{
			name:  "flush",
			op:    lvs.Op{Kind: lvs.Flush},
			cmd:   CmdFlush,
			attrs: func(testing.TB) []netlink.Attribute { return nil },
		},
		{
			name:  "zero all",
			op:    lvs.Op{Kind: lvs.Zero, AllServices: true, Service: tcpService},
			cmd:   CmdZero,
			attrs: func(testing.TB) []netlink.Attribute { return nil },
		},
		{
			name: "zero one service",
			op:   lvs.Op{Kind: lvs.Zero, Service: tcpService},
			cmd:  CmdZero,
			attrs: func(t testing.TB) []netlink.Attribute {
				return []netlink.Attribute{nest(t, cmdAttrService, tcpServiceKeyAttrs(t)...)}
			},
		},
		{
			name: "set timeouts, zero left out",
			op:   lvs.Op{Kind: lvs.SetTimeouts, Timeouts: lvs.Timeouts{TCP: 900 * time.Second, UDP: 300 * time.Second}},
			cmd:  CmdSetConfig,
			attrs: func(testing.TB) []netlink.Attribute {
				return []netlink.Attribute{attr(cmdAttrTimeoutTCP, ne32(900)), attr(cmdAttrTimeoutUDP, ne32(300))}
			},
		},
		{
			name: "start master daemon with IPv4 group",
			op: lvs.Op{Kind: lvs.StartDaemon, Daemon: lvs.SyncDaemon{
				State: lvs.SyncMaster, Interface: "eth0", SyncID: 7, MaxLen: 1400,
				Group: netip.MustParseAddr("239.0.0.81"), Port: 8849, TTL: 2,
			}},
			cmd: CmdNewDaemon,
			attrs: func(t testing.TB) []netlink.Attribute {
				return []netlink.Attribute{nest(t, cmdAttrDaemon,
					attr(daemonAttrState, ne32(1)),
					attr(daemonAttrMcastIfn, cstr("eth0")),
					attr(daemonAttrSyncID, ne32(7)),
					attr(daemonAttrSyncMaxLen, ne16(1400)),
					attr(daemonAttrMcastGroup, []byte{239, 0, 0, 81}),
					attr(daemonAttrMcastPort, ne16(8849)), // host order, unlike service ports
					attr(daemonAttrMcastTTL, []byte{2}),
				)}
			},
		},
		{
			name: "start backup daemon with IPv6 group and defaults",
			op: lvs.Op{Kind: lvs.StartDaemon, Daemon: lvs.SyncDaemon{
				State: lvs.SyncBackup, Interface: "lo", Group: netip.MustParseAddr("ff02::81"),
			}},
			cmd: CmdNewDaemon,
			attrs: func(t testing.TB) []netlink.Attribute {
				return []netlink.Attribute{nest(t, cmdAttrDaemon,
					attr(daemonAttrState, ne32(2)),
					attr(daemonAttrMcastIfn, cstr("lo")),
					attr(daemonAttrSyncID, ne32(0)),
					attr(daemonAttrMcastGroup6, inet("ff02::81")),
				)}
			},
		},
		{
			name: "stop daemon",
			op:   lvs.Op{Kind: lvs.StopDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncBackup, Interface: "lo"}},
			cmd:  CmdDelDaemon,
			attrs: func(t testing.TB) []netlink.Attribute {
				return []netlink.Attribute{nest(t, cmdAttrDaemon, attr(daemonAttrState, ne32(2)))}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []genetlink.Message
			c, k := newFakeClient(t, func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
				got = append(got, greq)
				return nil, nil
			})
			if err := c.Exec(context.Background(), tt.op); err != nil {
				t.Fatalf("Exec: %v", err)
			}
			reqs := k.requests()
			if len(reqs) != 1 || len(got) != 1 {
				t.Fatalf("sent %d requests, want 1", len(reqs))
			}
			if want := netlink.Request | netlink.Acknowledge; reqs[0].Header.Flags != want {
				t.Errorf("flags = %v, want %v", reqs[0].Header.Flags, want)
			}
			if reqs[0].Header.Type != netlink.HeaderType(testFamily.ID) {
				t.Errorf("netlink type = %d, want the IPVS family %d", reqs[0].Header.Type, testFamily.ID)
			}
			want := genetlink.Message{
				Header: genetlink.Header{Command: uint8(tt.cmd), Version: familyVersion},
				Data:   marshalAttrs(t, tt.attrs(t)...),
			}
			if len(want.Data) == 0 {
				want.Data = nil
			}
			if len(got[0].Data) == 0 {
				got[0].Data = nil
			}
			if diff := cmp.Diff(want, got[0]); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExecRefusesInvalid(t *testing.T) {
	tests := []struct {
		name string
		op   lvs.Op
	}{
		{"unknown kind", lvs.Op{Kind: 99}},
		{"IPv4 address in an IPv6 service", lvs.Op{Kind: lvs.AddService, Service: lvs.Service{
			Family: lvs.IPv6, Protocol: lvs.TCP, Address: netip.MustParseAddr("192.0.2.1"), Scheduler: "rr"}}},
		{"service without address", lvs.Op{Kind: lvs.DeleteService, Service: lvs.Service{Protocol: lvs.TCP, Port: 80}}},
		{"unknown family", lvs.Op{Kind: lvs.DeleteService, Service: lvs.Service{Family: 7, FWMark: 1}}},
		{"scheduler name too long", lvs.Op{Kind: lvs.AddService, Service: lvs.Service{
			FWMark: 1, Scheduler: "a-very-long-scheduler"}}},
		{"PE name too long", lvs.Op{Kind: lvs.AddService, Service: lvs.Service{
			FWMark: 1, Scheduler: "rr", PEName: "0123456789abcdef"}}},
		{"negative timeout", lvs.Op{Kind: lvs.AddService, Service: lvs.Service{
			FWMark: 1, Scheduler: "rr", Timeout: -time.Second}}},
		{"destination without address", lvs.Op{Kind: lvs.AddDestination, Service: fwmService}},
		{"IPv6 destination claimed IPv4", lvs.Op{Kind: lvs.AddDestination, Service: fwmService,
			Destination: lvs.Destination{Family: lvs.IPv4, Address: netip.MustParseAddr("2001:db8::1")}}},
		{"bad forwarding method", lvs.Op{Kind: lvs.AddDestination, Service: fwmService,
			Destination: lvs.Destination{Address: netip.MustParseAddr("192.0.2.2"), Forward: 9}}},
		{"daemon without state", lvs.Op{Kind: lvs.StartDaemon, Daemon: lvs.SyncDaemon{Interface: "lo"}}},
		{"daemon without interface", lvs.Op{Kind: lvs.StartDaemon, Daemon: lvs.SyncDaemon{State: lvs.SyncMaster}}},
		{"negative timeout setting", lvs.Op{Kind: lvs.SetTimeouts, Timeouts: lvs.Timeouts{UDP: -time.Second}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, k := newFakeClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
				t.Error("request sent to the kernel")
				return nil, nil
			})
			err := c.Exec(context.Background(), tt.op)
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Exec = %v, want ErrInvalid", err)
			}
			if n := len(k.requests()); n != 0 {
				t.Errorf("%d requests sent", n)
			}
		})
	}
}
