//go:build integration

package netif_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lvsctl/lvsctl/internal/netif"
)

// inNewNetNS runs f on a thread of its own inside a new network namespace
// (named, so the test can look at it with ip -n). The thread is never
// unlocked, so the runtime ends it afterwards instead of reusing it.
func inNewNetNS(t *testing.T, f func(ns string)) {
	t.Helper()
	if testing.Short() {
		t.Skip("root test: skipped under -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	name := fmt.Sprintf("lvsctl-rs-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			t.Error(err)
			return
		}
		f(name)
	}()
	<-done
}

func ipOut(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Errorf("ip %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestIntegrationRealServer(t *testing.T) {
	inNewNetNS(t, func(ns string) {
		ctx := context.Background()
		rs := &netif.RealServer{Links: netif.System{}, StatePath: filepath.Join(t.TempDir(), "state.json")}
		before, err := rs.Sysctls.Get("net.ipv4.conf.all.arp_ignore")
		if err != nil {
			t.Error(err)
			return
		}
		vips := []netip.Addr{netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("2001:db8::100")}
		for range 2 {
			if err := rs.Up(ctx, vips, netif.DR); err != nil {
				t.Error(err)
				return
			}
		}
		addrs := ipOut(t, "-n", ns, "-o", "addr", "show", "dev", "lo")
		for _, want := range []string{"inet 192.0.2.100/32", "inet6 2001:db8::100/128"} {
			if strings.Count(addrs, want) != 1 {
				t.Errorf("lo should hold %s once:\n%s", want, addrs)
			}
		}
		if !strings.Contains(ipOut(t, "-n", ns, "link", "show", "lo"), "UP") {
			t.Error("lo is not up")
		}
		for name, want := range map[string]string{
			"net.ipv4.conf.all.arp_ignore": "1", "net.ipv4.conf.all.arp_announce": "2",
			"net.ipv4.conf.lo.arp_ignore": "1", "net.ipv4.conf.lo.arp_announce": "2",
		} {
			if v, err := rs.Sysctls.Get(name); err != nil || v != want {
				t.Errorf("%s = %q, %v; want %s", name, v, err, want)
			}
		}
		// The host's own value is untouched: sysctls are per namespace.
		if err := rs.Down(ctx, nil); err != nil {
			t.Error(err)
			return
		}
		if addrs := ipOut(t, "-n", ns, "-o", "addr", "show", "dev", "lo"); strings.Contains(addrs, "192.0.2.100") || strings.Contains(addrs, "2001:db8::100") {
			t.Errorf("VIPs left on lo:\n%s", addrs)
		}
		if v, _ := rs.Sysctls.Get("net.ipv4.conf.all.arp_ignore"); v != before {
			t.Errorf("arp_ignore after down = %s, want %s", v, before)
		}
	})
}

func TestIntegrationRealServerTUN(t *testing.T) {
	skip := ""
	defer func() {
		if skip != "" {
			t.Skip(skip) // from the test's goroutine, not the namespace's
		}
	}()
	inNewNetNS(t, func(ns string) {
		ctx := context.Background()
		rs := &netif.RealServer{Links: netif.System{}, StatePath: filepath.Join(t.TempDir(), "state.json")}
		vip := []netip.Addr{netip.MustParseAddr("192.0.2.100")}
		if err := rs.Up(ctx, vip, netif.TUN); err != nil {
			if strings.Contains(err.Error(), "not supported") {
				skip = fmt.Sprintf("no ipip module on this host: %v", err)
				return
			}
			t.Error(err)
			return
		}
		if addrs := ipOut(t, "-n", ns, "-o", "addr", "show", "dev", "tunl0"); !strings.Contains(addrs, "inet 192.0.2.100/32") {
			t.Errorf("tunl0:\n%s", addrs)
		}
		if v, _ := rs.Sysctls.Get("net.ipv4.conf.tunl0.rp_filter"); v != "0" {
			t.Errorf("tunl0 rp_filter = %s", v)
		}
		if err := rs.Down(ctx, nil); err != nil {
			t.Error(err)
		}
	})
}
