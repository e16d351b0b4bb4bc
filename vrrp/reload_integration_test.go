//go:build integration

package vrrp_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReloadKeepsMaster: a lvsctl master sent SIGHUP with its file
// unchanged, then with a broken file, stays master throughout: the
// bystander sees its adverts go on and no priority 0 advert, and the VIP
// is neither removed nor added again. Then a reload that lowers its
// priority below the backup's hands mastership over (an in-place update).
func TestReloadKeepsMaster(t *testing.T) {
	l := newLab(t)
	v := variant{name: "v3-ipv4", version: 3, interval: "0.1"}
	a, b := l.node("a", "lvsctl"), l.node("b", "lvsctl")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("a log:\n%s", a.speakerLog())
			t.Logf("b log:\n%s", b.speakerLog())
		}
	})
	iv := v.advertInterval()
	b.start(v, 100, true)
	a.start(v, 101, true)
	l.waitFor("a master", v.mdi(101)+300*time.Millisecond+iv, func() bool { return l.hasVIP("a") })
	time.Sleep(3 * iv)

	hupA := func(wantLog string) {
		t.Helper()
		before := strings.Count(a.speakerLog(), wantLog)
		if err := syscall.Kill(a.cmd.Process.Pid, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		l.waitFor("a logs "+wantLog, 3*time.Second, func() bool { return strings.Count(a.speakerLog(), wantLog) > before })
	}
	t0 := time.Now()
	hupA("unchanged=[VI_1]")
	conf := filepath.Join(a.dir, "keepalived.conf")
	good, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte(strings.Replace(string(good), "virtual_router_id 51", "virtual_router_id", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	hupA("reload failed: the running configuration is kept")
	time.Sleep(10 * iv)

	if got := framesWithPrio(l.framesSince(t0, "advert", a.src(v)), 0); len(got) != 0 {
		t.Errorf("bystander saw %d priority 0 adverts from a after the reloads", len(got))
	}
	if n := len(l.framesSince(t0, "advert", a.src(v))); n < 10 {
		t.Errorf("bystander saw %d adverts from a in %v, want the steady %v rate", n, time.Since(t0), iv)
	}
	l.mu.Lock()
	for _, e := range l.vipEv["a"] {
		if e.at.After(t0) {
			t.Errorf("a's VIP changed during the reloads: %+v", e)
		}
	}
	l.mu.Unlock()
	if !l.hasVIP("a") || l.hasVIP("b") {
		t.Errorf("after the reloads: a VIP %v, b VIP %v", l.hasVIP("a"), l.hasVIP("b"))
	}
	if a.cmd == nil || a.exitCode != 0 {
		t.Fatal("a exited")
	}
	select {
	case <-a.exited:
		t.Fatalf("a exited on SIGHUP:\n%s", a.speakerLog())
	default:
	}

	// In place: priority 99 < b's 100; b preempts within its
	// Master_Down_Interval, a yields without a priority 0 advert.
	lowered := strings.Replace(string(good), "priority 101", "priority 99", 1)
	if err := os.WriteFile(conf, []byte(lowered), 0o644); err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	hupA("updated=[VI_1]")
	l.waitFor("b master", v.mdi(100)+300*time.Millisecond+iv, func() bool { return l.hasVIP("b") })
	l.waitFor("a backup", time.Second, func() bool { return !l.hasVIP("a") })
	if got := framesWithPrio(l.framesSince(t1, "advert", a.src(v)), 0); len(got) != 0 {
		t.Errorf("a sent %d priority 0 adverts on an in-place priority change", len(got))
	}
}
