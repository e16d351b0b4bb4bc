package check

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// okDigest is the MD5 of the load test's HTTP body, "ok\n".
var okDigest = func() string { s := md5.Sum([]byte("ok\n")); return hex.EncodeToString(s[:]) }()

// instantChecker passes at once and counts its calls.
type instantChecker struct{ n atomic.Int64 }

func (c *instantChecker) Check(context.Context, Target) Result {
	c.n.Add(1)
	return Result{OK: true}
}

func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestSchedulerLoad runs 1,000 targets every second on the real clock for
// a few seconds, first with a checker that does nothing (the scheduler's
// own cost), then with real TCP checks of a loopback listener (whose
// accepts run in this process too), and reports CPU time per second of
// wall time. It is skipped under -short.
func TestSchedulerLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for seconds on the real clock")
	}
	noLeaks(t)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := targetOf(t, l.Addr().String()).Port
	web := httpServer(t, "tcp4", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	}), nil)

	const n, run = 1000, 3 * time.Second
	inst := &instantChecker{}
	for _, tc := range []struct {
		name    string
		checker Checker
	}{
		{"no-op checker", inst},
		{"TCP to loopback", TCP{}},
		// The server's CPU time counts too: this is an upper bound.
		{"HTTP to loopback", HTTP{Conn: Conn{ConnectPort: web.Port}, URLs: []URL{{Path: "/", Digest: okDigest}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var events atomic.Int64
			s := NewScheduler(Options{Notify: func(b []Event) { events.Add(int64(len(b))) }})
			p := Params{Interval: time.Second, Timeout: time.Second, Retry: 1, DelayBeforeRetry: time.Second, Warmup: time.Second}
			jobs := make([]Job, n)
			for i := range jobs {
				// Distinct loopback targets for the no-op checker; the
				// TCP checks all go to the one listener on 127.0.0.1.
				addr := netip.AddrFrom4([4]byte{127, 0, byte(1 + i/250), byte(1 + i%250)})
				if _, ok := tc.checker.(*instantChecker); !ok {
					addr = lo4
				}
				jobs[i] = Job{ID: fmt.Sprintf("rs%04d", i), Target: Target{Addr: addr, Port: port}, Checker: tc.checker, Params: p}
			}
			if err := s.Update(jobs); err != nil {
				t.Fatal(err)
			}
			runtime.GC()
			var ms0 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			ctx, cancel := context.WithTimeout(context.Background(), run)
			defer cancel()
			cpu0, wall0 := cpuTime(t), time.Now()
			if err := s.Run(ctx); err != nil {
				t.Fatal(err)
			}
			cpu, wall := cpuTime(t)-cpu0, time.Since(wall0)
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			checks := 0
			down := 0
			for _, st := range s.Status() {
				if st.Checked {
					checks++
				}
				if !st.Up {
					down++
				}
			}
			if checks != n || down != 0 || events.Load() != 0 {
				t.Fatalf("%d of %d targets checked, %d down, %d events", checks, n, down, events.Load())
			}
			perSec := float64(cpu) / wall.Seconds() / float64(time.Millisecond)
			t.Logf("%d targets every 1s for %v: CPU %v (%.1f ms per second of wall time, %.1f%% of one core), heap %.1f MiB",
				n, wall.Round(time.Millisecond), cpu.Round(time.Millisecond), perSec, perSec/10, float64(ms.HeapInuse)/(1<<20))
		})
	}
	if got := inst.n.Load(); got < int64(n)*int64(run/time.Second-1) {
		t.Errorf("no-op checker called %d times in %v, want about %d", got, run, int64(n)*int64(run/time.Second))
	}
}
