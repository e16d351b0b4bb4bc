package ipvs

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/genetlink/genltest"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/lvsctl/lvsctl/lvs"
)

// kernelStats32 is an IPVS_*_ATTR_STATS nest as ip_vs_genl_fill_stats
// writes it: u32 counters and rates, u64 byte counters, each u64 preceded
// by an IPVS_STATS_ATTR_PAD when needed for alignment.
func kernelStats32(t testing.TB, typ uint16, s lvs.Stats) netlink.Attribute {
	return nest(t, typ,
		attr(statsAttrConns, ne32(uint32(s.Conns))),
		attr(statsAttrInPkts, ne32(uint32(s.InPkts))),
		attr(statsAttrOutPkts, ne32(uint32(s.OutPkts))),
		attr(statsAttrPad, nil),
		attr(statsAttrInBytes, ne64(s.InBytes)),
		attr(statsAttrOutBytes, ne64(s.OutBytes)),
		attr(statsAttrCPS, ne32(uint32(s.CPS))),
		attr(statsAttrInPPS, ne32(uint32(s.InPPS))),
		attr(statsAttrOutPPS, ne32(uint32(s.OutPPS))),
		attr(statsAttrInBPS, ne32(uint32(s.InBPS))),
		attr(statsAttrOutBPS, ne32(uint32(s.OutBPS))),
	)
}

// kernelStats64 is an IPVS_*_ATTR_STATS64 nest (ip_vs_genl_fill_stats64).
func kernelStats64(t testing.TB, typ uint16, s lvs.Stats) netlink.Attribute {
	return nest(t, typ,
		attr(statsAttrPad, nil),
		attr(statsAttrConns, ne64(s.Conns)),
		attr(statsAttrInPkts, ne64(s.InPkts)),
		attr(statsAttrOutPkts, ne64(s.OutPkts)),
		attr(statsAttrInBytes, ne64(s.InBytes)),
		attr(statsAttrOutBytes, ne64(s.OutBytes)),
		attr(statsAttrCPS, ne64(s.CPS)),
		attr(statsAttrInPPS, ne64(s.InPPS)),
		attr(statsAttrOutPPS, ne64(s.OutPPS)),
		attr(statsAttrInBPS, ne64(s.InBPS)),
		attr(statsAttrOutBPS, ne64(s.OutBPS)),
	)
}

var (
	bigStats = lvs.Stats{
		Conns: 1 << 33, InPkts: 5_000_000_000, OutPkts: 7, InBytes: 1 << 40, OutBytes: 99,
		CPS: 1, InPPS: 2, OutPPS: 3, InBPS: 4, OutBPS: 5,
	}
	// bigStats as the 32-bit nest truncates it.
	bigStats32 = lvs.Stats{
		Conns: 0, InPkts: 5_000_000_000 & 0xffffffff, OutPkts: 7, InBytes: 1 << 40, OutBytes: 99,
		CPS: 1, InPPS: 2, OutPPS: 3, InBPS: 4, OutBPS: 5,
	}
)

// Replies shaped like ip_vs_genl_fill_service, _fill_dest and _fill_daemon.
func serviceReply(t testing.TB) []byte {
	return marshalAttrs(t, nest(t, cmdAttrService,
		attr(svcAttrAF, ne16(unix.AF_INET6)),
		attr(svcAttrProtocol, ne16(unix.IPPROTO_UDP)),
		attr(svcAttrAddr, inet("2001:db8::1")),
		attr(svcAttrPort, []byte{0x13, 0xc4}),
		attr(svcAttrSchedName, cstr("sh")),
		attr(svcAttrPEName, cstr("sip")),
		attr(svcAttrFlags, append(ne32(0x0001|0x0002|0x0008|0x0010), 0xff, 0xff, 0xff, 0xff)),
		attr(svcAttrTimeout, ne32(300)),
		attr(svcAttrNetmask, ne32(64)),
		kernelStats32(t, svcAttrStats, bigStats),
		kernelStats64(t, svcAttrStats64, bigStats),
	))
}

func fwmServiceReply(t testing.TB, statsType uint16) []byte {
	st := kernelStats32(t, statsType, bigStats)
	return marshalAttrs(t, nest(t, cmdAttrService,
		attr(svcAttrAF, ne16(unix.AF_INET)),
		attr(svcAttrFWMark, ne32(5)),
		attr(svcAttrSchedName, cstr("wlc")),
		attr(svcAttrFlags, append(ne32(0x0004|0x0002), 0xff, 0xff, 0xff, 0xff)),
		attr(svcAttrTimeout, ne32(0)),
		attr(svcAttrNetmask, []byte{0xff, 0xff, 0xff, 0x00}),
		st,
	))
}

func destReply(t testing.TB) []byte {
	return marshalAttrs(t, nest(t, cmdAttrDest,
		attr(destAttrAddr, inet("198.51.100.10")),
		attr(destAttrPort, []byte{0x1f, 0x90}),
		attr(destAttrFwdMethod, ne32(2)),
		attr(destAttrWeight, ne32(0x7fffffff)),
		attr(destAttrTunType, []byte{1}),
		attr(destAttrTunPort, []byte{0x17, 0xc0}),
		attr(destAttrTunFlags, ne16(1)),
		attr(destAttrUThresh, ne32(1000)),
		attr(destAttrLThresh, ne32(10)),
		attr(destAttrActiveConns, ne32(4)),
		attr(destAttrInactConns, ne32(5)),
		attr(destAttrPersistConns, ne32(6)),
		attr(destAttrAddrFamily, ne16(unix.AF_INET)),
		kernelStats32(t, destAttrStats, bigStats),
		kernelStats64(t, destAttrStats64, bigStats),
	))
}

func daemonReply(t testing.TB, state uint32, group string) []byte {
	attrs := []netlink.Attribute{
		attr(daemonAttrState, ne32(state)),
		attr(daemonAttrMcastIfn, cstr("eth0")),
		attr(daemonAttrSyncID, ne32(7)),
		attr(daemonAttrSyncMaxLen, ne16(1472)),
		attr(daemonAttrMcastPort, ne16(8848)),
		attr(daemonAttrMcastTTL, []byte{1}),
	}
	if a := netip.MustParseAddr(group); a.Is4() {
		b := a.As4()
		attrs = append(attrs, attr(daemonAttrMcastGroup, b[:]))
	} else {
		attrs = append(attrs, attr(daemonAttrMcastGroup6, inet(group)))
	}
	return marshalAttrs(t, nest(t, cmdAttrDaemon, attrs...))
}

var (
	wantUDP6Service = lvs.Service{
		Family: lvs.IPv6, Protocol: lvs.UDP, Address: netip.MustParseAddr("2001:db8::1"), Port: 5060,
		Scheduler: "sh", Flags: lvs.FlagPersistent | lvs.FlagHashed | lvs.FlagSHFallback | lvs.FlagSHPort,
		Timeout: 300 * time.Second, Netmask: 64, PEName: "sip", Stats: bigStats,
	}
	wantFWMService = lvs.Service{
		Family: lvs.IPv4, FWMark: 5, Scheduler: "wlc", Flags: lvs.FlagOnePacket | lvs.FlagHashed,
		Netmask: 0xffffff00, Stats: bigStats32,
	}
	wantDest = lvs.Destination{
		Family: lvs.IPv4, Address: netip.MustParseAddr("198.51.100.10"), Port: 8080, Forward: lvs.Tunnel,
		Weight: 0x7fffffff, UpperThreshold: 1000, LowerThreshold: 10,
		TunnelType: lvs.TunnelGUE, TunnelPort: 6080, TunnelFlags: lvs.TunnelCsum,
		ActiveConns: 4, InactiveConns: 5, PersistentConns: 6, Stats: bigStats,
	}
)

func TestDecodeService(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want lvs.Service
	}{
		{"IPv6 UDP with PE, 64-bit stats preferred", serviceReply(t), wantUDP6Service},
		{"IPv4 fwmark, 32-bit stats only", fwmServiceReply(t, svcAttrStats), wantFWMService},
		{"no stats", fwmServiceReply(t, 99), func() lvs.Service { s := wantFWMService; s.Stats = lvs.Stats{}; return s }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeServiceMessage(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("service (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	tests := []struct {
		name   string
		decode func([]byte) error
		b      []byte
	}{
		{"service: no nest", func(b []byte) error { _, err := decodeServiceMessage(b); return err }, nil},
		{"service: no family", func(b []byte) error { _, err := decodeServiceMessage(b); return err },
			marshalAttrs(t, nest(t, cmdAttrService, attr(svcAttrFWMark, ne32(1))))},
		{"service: short address", func(b []byte) error { _, err := decodeServiceMessage(b); return err },
			marshalAttrs(t, nest(t, cmdAttrService, attr(svcAttrAF, ne16(unix.AF_INET6)), attr(svcAttrAddr, make([]byte, 4))))},
		{"service: short port", func(b []byte) error { _, err := decodeServiceMessage(b); return err },
			marshalAttrs(t, nest(t, cmdAttrService, attr(svcAttrAF, ne16(unix.AF_INET)), attr(svcAttrAddr, inet("192.0.2.1")), attr(svcAttrPort, []byte{1})))},
		{"service: bad flags", func(b []byte) error { _, err := decodeServiceMessage(b); return err },
			marshalAttrs(t, nest(t, cmdAttrService, attr(svcAttrAF, ne16(unix.AF_INET)), attr(svcAttrFWMark, ne32(1)), attr(svcAttrFlags, ne32(1))))},
		{"service: bad stats width", func(b []byte) error { _, err := decodeServiceMessage(b); return err },
			marshalAttrs(t, nest(t, cmdAttrService, attr(svcAttrAF, ne16(unix.AF_INET)), attr(svcAttrFWMark, ne32(1)),
				nest(t, svcAttrStats64, attr(statsAttrConns, []byte{1, 2, 3}))))},
		{"dest: no address", func(b []byte) error { _, err := decodeDestMessage(b, lvs.IPv4); return err },
			marshalAttrs(t, nest(t, cmdAttrDest, attr(destAttrPort, []byte{0, 80})))},
		{"daemon: bad group", func(b []byte) error { _, err := decodeDaemonMessage(b); return err },
			marshalAttrs(t, nest(t, cmdAttrDaemon, attr(daemonAttrMcastGroup, make([]byte, 16))))},
		{"info: missing table size", func(b []byte) error { _, err := decodeInfo(b); return err },
			marshalAttrs(t, attr(infoAttrVersion, ne32(0x010201)))},
		{"truncated attribute", func(b []byte) error { _, err := decodeInfo(b); return err }, []byte{8, 0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.decode(tt.b); err == nil {
				t.Error("decoded without error")
			}
		})
	}
}

// dumpServer answers dumps of cmd with replies and checks the request.
func dumpServer(t *testing.T, cmd Cmd, check func(attrs []byte), replies ...[]byte) genltest.Func {
	return genltest.CheckRequest(testFamily.ID, uint8(cmd), netlink.Request|netlink.Dump,
		func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
			if check != nil {
				check(greq.Data)
			}
			var out []genetlink.Message
			for _, r := range replies {
				out = append(out, reply(dumpReplyCmd(cmd), r))
			}
			return out, nil
		})
}

func dumpReplyCmd(cmd Cmd) Cmd {
	switch cmd {
	case CmdGetService:
		return CmdNewService
	case CmdGetDest:
		return CmdNewDest
	case CmdGetDaemon:
		return CmdNewDaemon
	}
	return cmd
}

var cmpAddr = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func TestServices(t *testing.T) {
	ctx := context.Background()
	t.Run("two services over several datagrams", func(t *testing.T) {
		c, _ := newFakeClient(t, dumpServer(t, CmdGetService, nil, serviceReply(t), fwmServiceReply(t, svcAttrStats)))
		got, err := c.Services(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]lvs.Service{wantUDP6Service, wantFWMService}, got, cmpAddr); diff != "" {
			t.Errorf("services (-want +got):\n%s", diff)
		}
	})
	t.Run("none is an empty slice", func(t *testing.T) {
		c, _ := newFakeClient(t, dumpServer(t, CmdGetService, nil))
		got, err := c.Services(ctx)
		if err != nil || got == nil || len(got) != 0 {
			t.Errorf("Services = %#v, %v; want an empty slice", got, err)
		}
	})
	t.Run("interrupted dump is retried", func(t *testing.T) {
		c, k := newFakeClient(t, dumpServer(t, CmdGetService, nil, serviceReply(t)))
		k.intrDumps = 2
		got, err := c.Services(ctx)
		if err != nil || len(got) != 1 {
			t.Fatalf("Services = %v, %v", got, err)
		}
		if n := len(k.requests()); n != 3 {
			t.Errorf("%d dumps, want 3", n)
		}
	})
	t.Run("always interrupted dump fails", func(t *testing.T) {
		c, k := newFakeClient(t, dumpServer(t, CmdGetService, nil, serviceReply(t)))
		k.intrDumps = 100
		if _, err := c.Services(ctx); !errors.Is(err, unix.EINTR) {
			t.Errorf("Services = %v, want EINTR", err)
		}
	})
	t.Run("malformed reply", func(t *testing.T) {
		c, _ := newFakeClient(t, dumpServer(t, CmdGetService, nil, []byte{4, 0, 9, 0}))
		if _, err := c.Services(ctx); !errors.Is(err, errMalformed) {
			t.Errorf("Services = %v, want a decoding error", err)
		}
	})
}

func TestService(t *testing.T) {
	key := udp6Service.Key()
	c, _ := newFakeClient(t, genltest.CheckRequest(testFamily.ID, uint8(CmdGetService), netlink.Request,
		func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
			want := marshalAttrs(t, nest(t, cmdAttrService,
				attr(svcAttrAF, ne16(unix.AF_INET6)), attr(svcAttrProtocol, ne16(unix.IPPROTO_UDP)),
				attr(svcAttrAddr, inet("2001:db8::1")), attr(svcAttrPort, []byte{0x13, 0xc4})))
			if diff := cmp.Diff(want, greq.Data); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
			return []genetlink.Message{reply(CmdNewService, serviceReply(t))}, nil
		}))
	got, err := c.Service(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantUDP6Service, got, cmpAddr); diff != "" {
		t.Errorf("service (-want +got):\n%s", diff)
	}
}

func TestDestinations(t *testing.T) {
	ctx := context.Background()
	key := tcpService.Key()
	checkKey := func(attrs []byte) {
		if diff := cmp.Diff(marshalAttrs(t, nest(t, cmdAttrService, tcpServiceKeyAttrs(t)...)), attrs); diff != "" {
			t.Errorf("request (-want +got):\n%s", diff)
		}
	}
	t.Run("listing", func(t *testing.T) {
		c, _ := newFakeClient(t, dumpServer(t, CmdGetDest, checkKey, destReply(t)))
		got, err := c.Destinations(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]lvs.Destination{wantDest}, got, cmpAddr); diff != "" {
			t.Errorf("destinations (-want +got):\n%s", diff)
		}
	})
	t.Run("family from the service on old kernels", func(t *testing.T) {
		old := marshalAttrs(t, nest(t, cmdAttrDest,
			attr(destAttrAddr, inet("2001:db8::5")), attr(destAttrPort, []byte{0, 80}),
			attr(destAttrFwdMethod, ne32(3)), attr(destAttrWeight, ne32(1))))
		c, _ := newFakeClient(t, dumpServer(t, CmdGetDest, nil, old))
		got, err := c.Destinations(ctx, udp6Service.Key())
		if err != nil {
			t.Fatal(err)
		}
		want := []lvs.Destination{{Family: lvs.IPv6, Address: netip.MustParseAddr("2001:db8::5"), Port: 80, Forward: lvs.DirectRoute, Weight: 1}}
		if diff := cmp.Diff(want, got, cmpAddr); diff != "" {
			t.Errorf("destinations (-want +got):\n%s", diff)
		}
	})
	t.Run("none is an empty slice", func(t *testing.T) {
		c, _ := newFakeClient(t, func(greq genetlink.Message, nreq netlink.Message) ([]genetlink.Message, error) {
			if Cmd(greq.Header.Command) == CmdGetService {
				return []genetlink.Message{reply(CmdNewService, fwmServiceReply(t, svcAttrStats))}, nil
			}
			return nil, nil
		})
		got, err := c.Destinations(ctx, key)
		if err != nil || got == nil || len(got) != 0 {
			t.Errorf("Destinations = %#v, %v; want an empty slice", got, err)
		}
	})
	t.Run("missing service", func(t *testing.T) {
		c, _ := newFakeClient(t, func(greq genetlink.Message, nreq netlink.Message) ([]genetlink.Message, error) {
			if Cmd(greq.Header.Command) == CmdGetService {
				return nil, genltest.Error(int(unix.ESRCH))
			}
			return nil, nil // the kernel dumps nothing for a missing service
		})
		_, err := c.Destinations(ctx, key)
		if !errors.Is(err, lvs.ErrNoSuchService) {
			t.Errorf("Destinations = %v, want ErrNoSuchService", err)
		}
	})
}

func TestSyncDaemons(t *testing.T) {
	c, _ := newFakeClient(t, dumpServer(t, CmdGetDaemon, nil,
		daemonReply(t, 1, "224.0.0.81"), daemonReply(t, 2, "ff02::8848")))
	got, err := c.SyncDaemons(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []lvs.SyncDaemon{
		{State: lvs.SyncMaster, Interface: "eth0", SyncID: 7, MaxLen: 1472, Group: netip.MustParseAddr("224.0.0.81"), Port: 8848, TTL: 1},
		{State: lvs.SyncBackup, Interface: "eth0", SyncID: 7, MaxLen: 1472, Group: netip.MustParseAddr("ff02::8848"), Port: 8848, TTL: 1},
	}
	if diff := cmp.Diff(want, got, cmpAddr); diff != "" {
		t.Errorf("daemons (-want +got):\n%s", diff)
	}

	c, _ = newFakeClient(t, dumpServer(t, CmdGetDaemon, nil))
	if got, err := c.SyncDaemons(context.Background()); err != nil || got == nil || len(got) != 0 {
		t.Errorf("SyncDaemons = %#v, %v; want an empty slice", got, err)
	}
}

func TestInfoAndTimeouts(t *testing.T) {
	c, _ := newFakeClient(t, func(greq genetlink.Message, nreq netlink.Message) ([]genetlink.Message, error) {
		if nreq.Header.Flags != netlink.Request || len(greq.Data) != 0 {
			t.Errorf("request flags %v, %d attribute bytes", nreq.Header.Flags, len(greq.Data))
		}
		switch Cmd(greq.Header.Command) {
		case CmdGetInfo:
			return []genetlink.Message{reply(CmdSetInfo, marshalAttrs(t,
				attr(infoAttrVersion, ne32(0x010201)), attr(infoAttrConnTabSize, ne32(4096))))}, nil
		case CmdGetConfig:
			return []genetlink.Message{reply(CmdSetConfig, marshalAttrs(t,
				attr(cmdAttrTimeoutTCP, ne32(900)), attr(cmdAttrTimeoutTCPFin, ne32(120)), attr(cmdAttrTimeoutUDP, ne32(300))))}, nil
		}
		return nil, unix.EINVAL
	})
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := (lvs.Info{Version: 0x010201, ConnTableSize: 4096}); info != want || info.VersionString() != "1.2.1" {
		t.Errorf("Info = %+v, want %+v", info, want)
	}
	to, err := c.Timeouts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := (lvs.Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}); to != want {
		t.Errorf("Timeouts = %+v, want %+v", to, want)
	}
}
