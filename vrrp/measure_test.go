//go:build integration

package vrrp_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMeasure prints the figures of issue 6's performance section for
// lvsctl next to keepalived on the same topology: the time from the
// master's last advert (as the bystander sees it) to the VIP on the backup
// and to the first gratuitous ARP the bystander sees, against
// Master_Down_Interval; the time from a priority 0 advert to the VIP on the
// backup, against Skew_Time; and the RSS of a running lvsctl speaker.
// Medians of LVSCTL_MEASURE_RUNS runs (5). It runs only with
// LVSCTL_MEASURE=1:
//
//	LVSCTL_MEASURE=1 go test -tags integration -run TestMeasure -v ./vrrp/
func TestMeasure(t *testing.T) {
	needRoot(t)
	if os.Getenv("LVSCTL_MEASURE") == "" {
		t.Skip("set LVSCTL_MEASURE=1 to measure")
	}
	runs := 5
	if n := os.Getenv("LVSCTL_MEASURE_RUNS"); n != "" {
		fmt.Sscan(n, &runs)
	}
	var report []string
	for _, v := range []variant{
		{name: "v3 0.1s", version: 3, interval: "0.1"},
		{name: "v2 1s", version: 2, interval: "1"},
	} {
		for _, impl := range []string{"lvsctl", "keepalived"} {
			t.Run(v.name+"/"+impl, func(t *testing.T) {
				report = append(report, measure(t, v, impl, runs)...)
			})
		}
	}
	t.Logf("figures (medians of %d runs):\n%s", runs, strings.Join(report, "\n"))
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func measure(t *testing.T, v variant, impl string, runs int) []string {
	l := newLab(t)
	a, b := l.node("a", impl), l.node("b", impl)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("a notify:\n%s\nlog:\n%s", a.notifyLog(), a.speakerLog())
			t.Logf("b notify:\n%s\nlog:\n%s", b.notifyLog(), b.speakerLog())
		}
	})
	const prioA, prioB = 101, 100
	iv := v.advertInterval()
	slack := time.Second + iv
	vip := netip.MustParseAddr("192.0.2.100")
	b.start(v, prioB, true)
	var toAdvert, toVIP, toGARP, stopToVIP, stopToGARP []time.Duration
	var rss int
	for i := range runs {
		a.start(v, prioA, true)
		l.waitFor(fmt.Sprintf("run %d: a master", i), v.mdi(prioA)+slack, func() bool { return l.hasVIP("a") && !l.hasVIP("b") })
		time.Sleep(2*iv + 50*time.Millisecond)
		if i == runs-1 {
			// The backup has run through every earlier round.
			rss = speakerRSS(b)
		}
		killed := a.kill()
		l.waitFor("b master", v.mdi(prioB)+slack, func() bool { return l.hasVIP("b") })
		time.Sleep(20 * time.Millisecond)
		adv := l.framesSince(killed.Add(-2*iv-time.Second), "advert", a.addr4)
		if len(adv) == 0 {
			t.Fatal("no advert from a seen")
		}
		last := adv[len(adv)-1].at
		added, _ := l.vipAddedAfter("b", killed)
		toVIP = append(toVIP, added.Sub(last))
		if b := l.framesSince(killed, "advert", b.addr4); len(b) > 0 {
			toAdvert = append(toAdvert, b[0].at.Sub(last))
		}
		if g := l.framesSince(killed, "garp", vip); len(g) > 0 {
			toGARP = append(toGARP, g[0].at.Sub(last))
		}
		// Graceful: a back as master, then SIGTERM.
		a.start(v, prioA, true)
		l.waitFor("a master again", v.mdi(prioA)+slack, func() bool { return l.hasVIP("a") && !l.hasVIP("b") })
		time.Sleep(2 * iv)
		stopped, _ := a.stop()
		l.waitFor("b master after stop", v.skew(prioB)+slack, func() bool { return l.hasVIP("b") })
		zero := framesWithPrio(l.framesSince(stopped.Add(-time.Second), "advert", a.addr4), 0)
		if len(zero) == 0 {
			t.Fatal("no priority 0 advert seen")
		}
		added, _ = l.vipAddedAfter("b", stopped)
		stopToVIP = append(stopToVIP, added.Sub(zero[0].at))
		if g := l.framesSince(zero[0].at, "garp", vip); len(g) > 0 && g[0].mac != adv[0].mac {
			stopToGARP = append(stopToGARP, g[0].at.Sub(zero[0].at))
		}
	}
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	out := []string{
		fmt.Sprintf("%-8s %-10s takeover to its first advert %v, to the VIP %v, to the first GARP %v (Master_Down_Interval %v)", v.name, impl,
			r(median(toAdvert)), r(median(toVIP)), r(median(toGARP)), v.mdi(prioB)),
		fmt.Sprintf("%-8s %-10s graceful stop to the VIP %v, to the first GARP %v (Skew_Time %v)", v.name, impl,
			r(median(stopToVIP)), r(median(stopToGARP)), v.skew(prioB)),
		fmt.Sprintf("%-8s %-10s RSS of the running backup speaker: %d kB", v.name, impl, rss),
	}
	// Lines for lab/bench/vrrp, which runs this test and parses them:
	// "bench: VARIANT IMPL METRIC MEDIAN REFERENCE SAMPLES..." in
	// nanoseconds (kB for rss).
	key := strings.ReplaceAll(v.name, " ", "_") + " " + impl
	for _, m := range []struct {
		name string
		ds   []time.Duration
		ref  time.Duration
	}{
		{"takeover_advert", toAdvert, v.mdi(prioB)},
		{"takeover_vip", toVIP, v.mdi(prioB)},
		{"takeover_garp", toGARP, v.mdi(prioB)},
		{"graceful_vip", stopToVIP, v.skew(prioB)},
		{"graceful_garp", stopToGARP, v.skew(prioB)},
	} {
		line := fmt.Sprintf("bench: %s %s %d %d", key, m.name, median(m.ds), m.ref)
		for _, d := range m.ds {
			line += fmt.Sprintf(" %d", d)
		}
		t.Log(line)
	}
	t.Logf("bench: %s rss_kb %d 30720", key, rss)
	return out
}

// speakerRSS is the resident set of a running speaker in kB: lvsctl's
// one process, or keepalived's parent and its VRRP child.
func speakerRSS(n *node) int {
	kb := vmRSS(n.cmd.Process.Pid)
	if b, err := os.ReadFile(filepath.Join(n.dir, "vrrp.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			kb += vmRSS(pid)
		}
	}
	return kb
}

func vmRSS(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(strings.TrimPrefix(line, "VmRSS:")); strings.HasPrefix(line, "VmRSS:") && len(f) > 0 {
			kb, _ := strconv.Atoi(f[0])
			return kb
		}
	}
	return 0
}
