package netif

import (
	"encoding/hex"
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGratuitousARP(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	got := hex.EncodeToString(GratuitousARP(mac, netip.MustParseAddr("192.0.2.100")))
	want := "ffffffffffff" + "020000000001" + "0806" + // Ethernet: broadcast, ours, ARP
		"0001" + "0800" + "06" + "04" + "0001" + // Ethernet/IPv4, request
		"020000000001" + "c0000264" + // sender: ours, the VIP
		"ffffffffffff" + "c0000264" // target: the VIP again (gratuitous)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("frame (-want +got):\n%s", diff)
	}
}

func TestUnsolicitedNA(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	vip := netip.MustParseAddr("2001:db8::100")
	f := UnsolicitedNA(mac, vip)
	if len(f) != 14+40+32 {
		t.Fatalf("%d bytes", len(f))
	}
	got := hex.EncodeToString(f[:14+8])
	want := "333300000001" + "020000000001" + "86dd" + "60000000" + "0020" + "3a" + "ff"
	if got != want {
		t.Errorf("headers %s, want %s", got, want)
	}
	icmp := f[54:]
	if icmp[0] != 136 || icmp[4] != 0x20 || netip.AddrFrom16([16]byte(icmp[8:24])) != vip {
		t.Errorf("NA: type %d flags %#x target %x", icmp[0], icmp[4], icmp[8:24])
	}
	if icmp[24] != 2 || icmp[25] != 1 || net.HardwareAddr(icmp[26:32]).String() != mac.String() {
		t.Errorf("target link-layer option %x", icmp[24:])
	}
	// The checksum verifies: summing with it in place gives zero.
	if c := icmpv6Checksum(vip, allNodes, icmp); c != 0 {
		t.Errorf("checksum does not verify (residue %#04x)", c)
	}
}
