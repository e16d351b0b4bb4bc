package netif_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lvsctl/lvsctl/internal/netif"
	"github.com/lvsctl/lvsctl/internal/netif/netiftest"
)

var (
	vip4 = netip.MustParseAddr("192.0.2.100")
	vip5 = netip.MustParseAddr("192.0.2.101")
	vip6 = netip.MustParseAddr("2001:db8::100")
)

func newRS(t *testing.T) (*netif.RealServer, *netiftest.Links) {
	t.Helper()
	links := netiftest.New()
	return &netif.RealServer{
		Links:     links,
		Sysctls:   netif.Sysctls{Root: netiftest.SysctlTree(t, netiftest.DefaultSysctls())},
		StatePath: filepath.Join(t.TempDir(), "state.json"),
	}, links
}

func sysctls(t *testing.T, rs *netif.RealServer, names ...string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, n := range names {
		v, err := rs.Sysctls.Get(n)
		if err != nil {
			t.Fatal(err)
		}
		m[n] = v
	}
	return m
}

var watched = []string{
	"net.ipv4.conf.all.arp_ignore", "net.ipv4.conf.all.arp_announce", "net.ipv4.conf.all.rp_filter",
	"net.ipv4.conf.lo.arp_ignore", "net.ipv4.conf.lo.arp_announce",
	"net.ipv4.conf.tunl0.arp_ignore", "net.ipv4.conf.tunl0.arp_announce", "net.ipv4.conf.tunl0.rp_filter",
}

func TestUpDownDR(t *testing.T) {
	ctx := context.Background()
	rs, links := newRS(t)
	before := sysctls(t, rs, watched...)
	for range 2 { // idempotent
		if err := rs.Up(ctx, []netip.Addr{vip4, vip6}, netif.DR); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := links.Addrs("lo")
	want := []netip.Prefix{netip.MustParsePrefix("192.0.2.100/32"), netip.MustParsePrefix("2001:db8::100/128")}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("lo addresses (-want +got):\n%s", diff)
	}
	after := sysctls(t, rs, watched...)
	wantAfter := map[string]string{}
	for k, v := range before {
		wantAfter[k] = v
	}
	for k, v := range map[string]string{
		"net.ipv4.conf.all.arp_ignore": "1", "net.ipv4.conf.all.arp_announce": "2",
		"net.ipv4.conf.lo.arp_ignore": "1", "net.ipv4.conf.lo.arp_announce": "2",
	} {
		wantAfter[k] = v
	}
	if diff := cmp.Diff(wantAfter, after); diff != "" {
		t.Errorf("sysctls after up (-want +got):\n%s", diff)
	}

	st, err := rs.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.VIPs) != 2 || !st.VIPs[0].Present || !st.VIPs[1].Present || len(st.Sysctls) != 4 {
		t.Errorf("status %+v", st)
	}

	// Taking one VIP down keeps the sysctls: the other still needs them.
	if err := rs.Down(ctx, []netip.Addr{vip6}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantAfter, sysctls(t, rs, watched...)); diff != "" {
		t.Errorf("sysctls after a partial down (-want +got):\n%s", diff)
	}
	if err := rs.Down(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := links.Addrs("lo"); len(got) != 0 {
		t.Errorf("lo after down: %v", got)
	}
	if diff := cmp.Diff(before, sysctls(t, rs, watched...)); diff != "" {
		t.Errorf("sysctls after down (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(rs.StatePath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file left behind: %v", err)
	}
	// Down again: nothing to do.
	if err := rs.Down(ctx, nil); err != nil {
		t.Errorf("second down: %v", err)
	}
	if err := rs.Down(ctx, []netip.Addr{vip4}); !errors.Is(err, netif.ErrNotManaged) {
		t.Errorf("down of an unknown VIP = %v, want ErrNotManaged", err)
	}
}

func TestUpTUN(t *testing.T) {
	ctx := context.Background()
	rs, links := newRS(t)
	before := sysctls(t, rs, watched...)
	if err := rs.Up(ctx, []netip.Addr{vip4}, netif.TUN); err != nil {
		t.Fatal(err)
	}
	if got, _ := links.Addrs("tunl0"); len(got) != 1 || !links.Up("tunl0") {
		t.Errorf("tunl0: %v up=%v", got, links.Up("tunl0"))
	}
	got := sysctls(t, rs, "net.ipv4.conf.all.rp_filter", "net.ipv4.conf.tunl0.rp_filter", "net.ipv4.conf.tunl0.arp_ignore")
	want := map[string]string{"net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.tunl0.rp_filter": "0", "net.ipv4.conf.tunl0.arp_ignore": "1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// The same VIP for another mode is refused.
	if err := rs.Up(ctx, []netip.Addr{vip4}, netif.DR); err == nil {
		t.Error("Up for DR of a TUN VIP succeeded")
	}
	if err := rs.Down(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, sysctls(t, rs, watched...)); diff != "" {
		t.Errorf("sysctls after down (-want +got):\n%s", diff)
	}
}

func TestUpRecordsFirstValuesOnly(t *testing.T) {
	// A second Up for another VIP must not record our own values as the
	// ones to restore.
	ctx := context.Background()
	rs, _ := newRS(t)
	before := sysctls(t, rs, watched...)
	if err := rs.Up(ctx, []netip.Addr{vip4}, netif.DR); err != nil {
		t.Fatal(err)
	}
	if err := rs.Up(ctx, []netip.Addr{vip5}, netif.DR); err != nil {
		t.Fatal(err)
	}
	if err := rs.Down(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, sysctls(t, rs, watched...)); diff != "" {
		t.Errorf("sysctls after down (-want +got):\n%s", diff)
	}
}

func TestUpKeepsPreexistingAddress(t *testing.T) {
	ctx := context.Background()
	rs, links := newRS(t)
	p := netip.PrefixFrom(vip4, 32)
	if err := links.AddAddr("lo", p); err != nil {
		t.Fatal(err)
	}
	if err := rs.Up(ctx, []netip.Addr{vip4}, netif.DR); err != nil {
		t.Fatal(err)
	}
	if err := rs.Down(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := links.Addrs("lo"); len(got) != 1 || got[0] != p {
		t.Errorf("a VIP that was there before Up was removed: %v", got)
	}
}

func TestSettings(t *testing.T) {
	if s := netif.Settings(vip6, "lo", netif.DR); len(s) != 0 {
		t.Errorf("IPv6 needs no ARP settings, got %v", s)
	}
	if s := netif.Settings(vip4, "tunl0", netif.TUN); len(s) != 6 {
		t.Errorf("TUN settings: %v", s)
	}
}
