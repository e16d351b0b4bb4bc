package check

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// skipUnlessPing skips when neither a ping socket nor a raw socket can be
// opened for the family.
func skipUnlessPing(t *testing.T, v6 bool) {
	t.Helper()
	c, raw, err := listenICMP(v6, netip.Addr{})
	if err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPROTONOSUPPORT) || errors.Is(err, syscall.EAFNOSUPPORT) {
			t.Skipf("ICMP not permitted here: %v", err)
		}
		t.Fatal(err)
	}
	t.Logf("ICMP socket for v6=%v: raw=%v", v6, raw)
	c.Close()
}

func TestICMP(t *testing.T) {
	noLeaks(t)
	t.Run("127.0.0.1", func(t *testing.T) {
		skipUnlessPing(t, false)
		r, took := checkWithin(t, ICMP{}, Target{Addr: lo4}, time.Second)
		if !r.OK {
			t.Fatalf("ping 127.0.0.1: %v", r.Err)
		}
		t.Logf("ping 127.0.0.1: %v (check %v)", r.Latency, took)
	})
	t.Run("bindto", func(t *testing.T) {
		skipUnlessPing(t, false)
		r, _ := checkWithin(t, ICMP{Conn: Conn{BindTo: lo4}}, Target{Addr: netip.MustParseAddr("127.0.0.5")}, time.Second)
		if !r.OK {
			t.Fatalf("ping 127.0.0.5 from 127.0.0.1: %v", r.Err)
		}
	})
	t.Run("::1", func(t *testing.T) {
		haveIPv6(t)
		skipUnlessPing(t, true)
		r, _ := checkWithin(t, ICMP{}, Target{Addr: lo6}, time.Second)
		if !r.OK {
			t.Fatalf("ping ::1: %v", r.Err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		skipUnlessPing(t, false)
		// An already expired context: the check must give up at once.
		r, took := checkWithin(t, ICMP{}, Target{Addr: lo4}, 0)
		if r.OK || took > time.Second {
			t.Fatalf("expired context: OK %v after %v", r.OK, took)
		}
	})
}

func TestEchoCodec(t *testing.T) {
	req := echoRequest(false, 0x1234, 7, []byte("payload!"))
	if inetChecksum(req) != 0 {
		t.Fatalf("checksum of %x does not verify", req)
	}
	e, ok := parseEcho(false, req)
	if !ok || e.reply || e.id != 0x1234 || e.seq != 7 || string(e.payload) != "payload!" {
		t.Fatalf("parseEcho(request) = %+v, %v", e, ok)
	}
	reply := append([]byte(nil), req...)
	reply[0] = icmpEchoReply
	if e, ok := parseEcho(false, reply); !ok || !e.reply {
		t.Fatalf("parseEcho(reply) = %+v, %v", e, ok)
	}
	if _, ok := parseEcho(true, reply); ok {
		t.Fatal("ICMPv4 echo reply read as ICMPv6")
	}
	unreach := []byte{3, 3, 0, 0, 0, 0, 0, 0}
	if _, ok := parseEcho(false, unreach); ok {
		t.Fatal("destination unreachable read as echo")
	}
	v6 := echoRequest(true, 1, 2, nil)
	if v6[0] != icmp6EchoRequest || v6[2] != 0 || v6[3] != 0 {
		t.Fatalf("ICMPv6 request %x: type 128 and a zero checksum for the kernel to fill", v6)
	}
}

// TestICMPPingSocket exercises the unprivileged datagram ping socket,
// which this host's ping_group_range may forbid: in a network namespace of
// its own (one locked OS thread, which is dropped afterwards) with lo up
// and ping_group_range opened to every group. Root only.
func TestICMPPingSocket(t *testing.T) {
	if testing.Short() {
		t.Skip("needs root and a network namespace")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	type outcome struct {
		raw4, raw6 bool
		r4, r6     Result
		err        error
	}
	done := make(chan outcome)
	go func() {
		// No UnlockOSThread: the thread ends with the goroutine, and with
		// it the namespace.
		runtime.LockOSThread()
		var o outcome
		defer func() { done <- o }()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			o.err = fmt.Errorf("unshare: %w", err)
			return
		}
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err != nil {
			o.err = fmt.Errorf("lo up: %w", err)
			return
		}
		if err := os.WriteFile("/proc/sys/net/ipv4/ping_group_range", []byte("0 2147483647"), 0o644); err != nil {
			o.err = fmt.Errorf("ping_group_range: %w", err)
			return
		}
		for _, v6 := range []bool{false, true} {
			c, raw, err := listenICMP(v6, netip.Addr{})
			if err != nil {
				o.err = err
				return
			}
			c.Close()
			if v6 {
				o.raw6 = raw
			} else {
				o.raw4 = raw
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		o.r4 = ICMP{}.Check(ctx, Target{Addr: lo4})
		o.r6 = ICMP{}.Check(ctx, Target{Addr: lo6})
	}()
	o := <-done
	if o.err != nil {
		t.Skipf("no private network namespace: %v", o.err)
	}
	if o.raw4 || o.raw6 {
		t.Fatalf("fell back to raw sockets (v4 %v, v6 %v) although ping_group_range allows ping sockets", o.raw4, o.raw6)
	}
	if !o.r4.OK {
		t.Errorf("ping 127.0.0.1 over a ping socket: %v", o.r4.Err)
	}
	if !o.r6.OK {
		t.Errorf("ping ::1 over a ping socket: %v", o.r6.Err)
	}
}
