package monitor_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvsctl/lvsctl/check/monitor"
	"github.com/lvsctl/lvsctl/internal/config"
	"github.com/lvsctl/lvsctl/lvs/ipvs/ipvstest"
)

// loadEnv runs TestMonitorLoad; its value is the number of seconds to
// measure. The test is off by default: it is a profiling harness, run as
//
//	LVSCTL_LOAD=10 go test -run TestMonitorLoad -cpuprofile cpu.out ./check/monitor/
const loadEnv = "LVSCTL_LOAD"

// farmEnv makes TestLoadFarm serve: its value is the first port and the
// count, "10000,1000".
const farmEnv = "LVSCTL_LOAD_FARM"

// TestLoadFarm is the load test's farm when re-executed with farmEnv: an
// HTTP server answering "ok\n" on count consecutive ports of 127.0.0.1,
// in a process of its own so that its CPU time stays out of the
// measurement and the profile. It prints "ready" and serves until its
// stdin closes.
func TestLoadFarm(t *testing.T) {
	spec := os.Getenv(farmEnv)
	if spec == "" {
		t.Skip("the load test's farm; runs only under " + farmEnv)
	}
	first, count, _ := strings.Cut(spec, ",")
	p0, _ := strconv.Atoi(first)
	n, _ := strconv.Atoi(count)
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	for i := range n {
		ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", p0+i))
		if err != nil {
			t.Fatal(err)
		}
		go (&http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}).Serve(ln)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
}

// TestMonitorLoad runs the whole monitor (scheduler, HTTP_GET checkers,
// metrics, the result path, a fake kernel) over 1,000 loopback real
// servers checked every second, and reports its CPU time per check. With
// -cpuprofile it shows where that time goes.
func TestMonitorLoad(t *testing.T) {
	secs, _ := strconv.Atoi(os.Getenv(loadEnv))
	if secs <= 0 {
		t.Skip("a profiling harness; set " + loadEnv + " to the seconds to measure")
	}
	const n, port0 = 1000, 21000 // below the ephemeral ports
	farm := exec.Command(os.Args[0], "-test.run=^TestLoadFarm$")
	farm.Env = append(os.Environ(), fmt.Sprintf("%s=%d,%d", farmEnv, port0, n))
	farm.Stderr = os.Stderr
	stdin, err := farm.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := farm.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := farm.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); farm.Wait() }()
	if l, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || l != "ready\n" {
		t.Fatalf("farm: %q, %v", l, err)
	}

	var conf strings.Builder
	conf.WriteString("virtual_server 192.0.2.1 80 {\n delay_loop 1\n lb_algo wlc\n lb_kind NAT\n protocol TCP\n")
	for i := range n {
		fmt.Fprintf(&conf, " real_server 127.0.0.1 %d {\n  HTTP_GET {\n   url {\n    path /\n   }\n   connect_timeout 3\n  }\n }\n", port0+i)
	}
	conf.WriteString("}\n")
	c, _, err := config.Parse("load.conf", strings.NewReader(conf.String()), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := monitor.FromConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	k := ipvstest.New()
	var logw io.Writer = io.Discard
	if os.Getenv("LVSCTL_LOAD_LOG") != "" {
		logw = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mt := monitor.NewMetrics(k, log)
	m, err := monitor.New(cfg, monitor.Options{Kernel: k, Logger: log, Metrics: mt})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// The first round spreads over the first second; measure after it.
	time.Sleep(2 * time.Second)
	checks := func() float64 {
		mfs, err := mt.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		sum := 0.0
		for _, mf := range mfs {
			if mf.GetName() != "lvsctl_monitor_checks_total" {
				continue
			}
			for _, mm := range mf.GetMetric() {
				sum += mm.GetCounter().GetValue()
			}
		}
		return sum
	}
	failed := func() float64 {
		mfs, _ := mt.Registry().Gather()
		sum := 0.0
		for _, mf := range mfs {
			if mf.GetName() != "lvsctl_monitor_checks_total" {
				continue
			}
			for _, mm := range mf.GetMetric() {
				for _, lp := range mm.GetLabel() {
					if lp.GetName() == "result" && lp.GetValue() == "fail" {
						sum += mm.GetCounter().GetValue()
					}
				}
			}
		}
		return sum
	}
	// The counts are read outside the measured CPU time and allocations:
	// a Gather costs as much as many checks.
	var ms0, ms1 runtime.MemStats
	c0 := checks()
	runtime.ReadMemStats(&ms0)
	u0, s0 := cpuTime(t)
	wall0 := time.Now()
	time.Sleep(time.Duration(secs) * time.Second)
	wall := time.Since(wall0)
	u1, s1 := cpuTime(t)
	runtime.ReadMemStats(&ms1)
	c1, f1 := checks(), failed()
	cpu0, cpu1 := u0+s0, u1+s1
	cancel()
	m.Wait()
	done := c1 - c0
	t.Logf("%d servers for %v: %.0f checks (%.0f/s, %.0f failed before the stop), CPU %v = %.1f%% of one core, %.1f µs per check (%.1f user, %.1f system), %.0f allocations and %.0f bytes per check, %d GCs, heap %.1f MiB",
		n, wall.Round(time.Millisecond), done, done/wall.Seconds(), f1, (cpu1 - cpu0).Round(time.Millisecond),
		100*(cpu1-cpu0).Seconds()/wall.Seconds(), float64((cpu1-cpu0).Microseconds())/done,
		float64((u1-u0).Microseconds())/done, float64((s1-s0).Microseconds())/done,
		float64(ms1.Mallocs-ms0.Mallocs)/done, float64(ms1.TotalAlloc-ms0.TotalAlloc)/done, ms1.NumGC-ms0.NumGC, float64(ms1.HeapInuse)/(1<<20))
}

// cpuTime is the process's user and system CPU time.
func cpuTime(t *testing.T) (user, sys time.Duration) {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
