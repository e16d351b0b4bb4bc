package check

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lvsctl/lvsctl/internal/clock"
)

func startedLoop(t *testing.T) *loop {
	t.Helper()
	l := newLoop()
	if err := l.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.close)
	return l
}

func TestLoopTimersFireInOrderNeverEarly(t *testing.T) {
	noLeaks(t)
	l := startedLoop(t)
	var mu sync.Mutex
	var got []string
	done := make(chan struct{})
	start := time.Now()
	rec := func(name string, d time.Duration) {
		l.AfterFunc(d, func() {
			if el := time.Since(start); el < d {
				t.Errorf("%s fired after %v, before its %v", name, el, d)
			}
			mu.Lock()
			got = append(got, name)
			if len(got) == 4 {
				close(done)
			}
			mu.Unlock()
		})
	}
	rec("c", 60*time.Millisecond)
	rec("a", 10*time.Millisecond)
	rec("d", 80*time.Millisecond) // past rawWaitMax: an ordinary wait
	rec("b", 30*time.Millisecond)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("timers did not fire")
	}
	if strings.Join(got, "") != "abcd" {
		t.Fatalf("fired in order %q, want abcd", got)
	}
}

func TestLoopTimerStopAndReset(t *testing.T) {
	noLeaks(t)
	l := startedLoop(t)
	var fired atomic.Int32
	tm := l.AfterFunc(20*time.Millisecond, func() { fired.Add(1) })
	if !tm.Stop() {
		t.Fatal("Stop of a pending timer reported false")
	}
	if tm.Stop() {
		t.Fatal("second Stop reported true")
	}
	time.Sleep(50 * time.Millisecond)
	if fired.Load() != 0 {
		t.Fatal("a stopped timer fired")
	}
	if tm.Reset(10 * time.Millisecond) {
		t.Fatal("Reset of a stopped timer reported it active")
	}
	if !tm.Reset(20 * time.Millisecond) {
		t.Fatal("Reset of a pending timer reported it inactive")
	}
	deadline := time.Now().Add(5 * time.Second)
	for fired.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if fired.Load() != 1 {
		t.Fatalf("reset timer fired %d times", fired.Load())
	}
	ch := l.NewTimer(5 * time.Millisecond).C()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("NewTimer's channel got nothing")
	}
}

// TestLoopWakesForEarlierWork: a loop asleep until a far timer takes a
// nearer timer, and a posted function, from another goroutine at once.
func TestLoopWakesForEarlierWork(t *testing.T) {
	noLeaks(t)
	l := startedLoop(t)
	l.AfterFunc(time.Hour, func() {})
	time.Sleep(20 * time.Millisecond) // the loop is asleep for the hour
	fired := make(chan time.Duration, 1)
	start := time.Now()
	l.AfterFunc(10*time.Millisecond, func() { fired <- time.Since(start) })
	select {
	case d := <-fired:
		if d > time.Second {
			t.Fatalf("a 10ms timer armed during a long sleep fired after %v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a timer armed during a long sleep did not fire")
	}
	posted := make(chan struct{})
	l.post(func() { close(posted) })
	select {
	case <-posted:
	case <-time.After(5 * time.Second):
		t.Fatal("a posted function did not run")
	}
}

// readyFunc is an ioHandler.
type readyFunc func(events uint32)

func (f readyFunc) ready(events uint32) { f(events) }

// TestLoopDeadlineAfterReadyIO: a loop running late handles the socket
// events that came before a deadline fell due ahead of the deadline,
// where an ordinary timer fires first.
func TestLoopDeadlineAfterReadyIO(t *testing.T) {
	noLeaks(t)
	for _, tc := range []struct {
		name     string
		deadline bool
		want     string
	}{
		{"deadline", true, "ready timer"},
		{"ordinary timer", false, "timer ready"},
	} {
		l := startedLoop(t)
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		var order []string // the loop's goroutine alone touches it
		done := make(chan struct{})
		step := func(s string) {
			order = append(order, s)
			if len(order) == 2 {
				close(done)
			}
		}
		registered := make(chan error, 1)
		l.post(func() {
			_, err := l.register(fds[0], readyFunc(func(uint32) { step("ready") }), unix.EPOLLIN)
			registered <- err
		})
		if err := <-registered; err != nil {
			t.Fatal(err)
		}
		// The loop is busy until both the answer is in and the timer
		// has fallen due.
		busy, release := make(chan struct{}), make(chan struct{})
		l.post(func() {
			close(busy)
			<-release
		})
		<-busy
		if tc.deadline {
			l.deadline(10*time.Millisecond, func() { step("timer") })
		} else {
			l.AfterFunc(10*time.Millisecond, func() { step("timer") })
		}
		if _, err := unix.Write(fds[1], []byte("HTTP/1.0 200 OK\r\n")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond)
		close(release)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: timed out", tc.name)
		}
		ran := make(chan string, 1)
		l.post(func() { ran <- strings.Join(order, " ") })
		if got := <-ran; got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
		l.close()
		unix.Close(fds[1])
	}
}

// TestLoopPostOrder: posted functions run in order, on one goroutine.
func TestLoopPostOrder(t *testing.T) {
	noLeaks(t)
	l := startedLoop(t)
	var got []int // the loop's goroutine alone touches it
	done := make(chan struct{})
	for i := range 100 {
		l.post(func() {
			got = append(got, i)
			if i == 99 {
				close(done)
			}
		})
	}
	<-done
	for i, v := range got {
		if v != i {
			t.Fatalf("posted functions ran in order %v", got)
		}
	}
}

func TestLoopCloseUnstartedAndTwice(t *testing.T) {
	l := newLoop()
	l.close()
	l.close()
	l2 := newLoop()
	if err := l2.start(); err != nil {
		t.Fatal(err)
	}
	l2.close()
	l2.close()
}

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(es)
}

// startJobs gives s its jobs and starts it; the function returned stops
// it.
func startJobs(t *testing.T, s *Scheduler, jobs []Job) context.CancelFunc {
	t.Helper()
	if err := s.Update(jobs); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	return cancel
}

// TestSchedulerOnLoop runs the Scheduler on the real clock, where HTTP
// and TCP checks run on its event loop: a server that answers is up, one
// that hangs times out at the deadline, a job removed with its check in
// flight is cancelled, and at the stop no socket or goroutine is left.
func TestSchedulerOnLoop(t *testing.T) {
	noLeaks(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	srv := httpServer(t, "tcp4", "127.0.0.1:0", mux, nil)
	closed := freePort(t, "tcp4", "127.0.0.1:0")
	fds := openFDs(t)

	var mu sync.Mutex
	last := map[string]Event{}
	s := NewScheduler(Options{Notify: func(es []Event) {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range es {
			last[e.ID] = e
		}
	}})
	if s.loop == nil {
		t.Fatal("a Scheduler on the real clock has no event loop")
	}
	p := Params{Interval: 50 * time.Millisecond, Timeout: 200 * time.Millisecond, Retry: 0, Warmup: 10 * time.Millisecond}
	pAlpha := p
	pAlpha.Alpha = true // start down: the first success is an event
	jobs := []Job{
		{ID: "http-up", Target: srv, Checker: HTTP{}, Params: pAlpha},
		{ID: "tcp-up", Target: srv, Checker: TCP{}, Params: pAlpha},
		{ID: "http-hang", Target: srv, Checker: HTTP{URLs: []URL{{Path: "/hang"}}}, Params: p},
		{ID: "tcp-refused", Target: closed, Checker: TCP{}, Params: p},
	}
	cancel := startJobs(t, s, jobs)
	defer cancel()
	want := map[string]bool{"http-up": true, "tcp-up": true, "http-hang": false, "tcp-refused": false}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		ok := len(last) == len(want)
		for id, up := range want {
			if e, seen := last[id]; !seen || e.Up != up {
				ok = false
			}
		}
		mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			t.Fatalf("events %+v, want up/down %v", last, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	if e := last["http-hang"]; !errors.Is(e.Result.Err, ErrTimeout) {
		t.Errorf("hanging server: %v, want ErrTimeout", e.Result.Err)
	}
	if e := last["http-up"]; e.Result.Detail != "/: 200 OK" {
		t.Errorf("detail %q", e.Result.Detail)
	}
	mu.Unlock()

	// Removing the hanging job cancels its check in flight.
	if err := s.Update(jobs[:2]); err != nil {
		t.Fatal(err)
	}
	cancel()
	s.Wait()
	// The checker's own sockets are closed by now; the test server's
	// side of the last connections closes when its goroutines notice,
	// a moment later. A leak stays.
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		n := openFDs(t)
		if n <= fds {
			break
		}
		if time.Now().After(end) {
			t.Errorf("%d descriptors open 5 s after the stop, %d before the start", n, fds)
			break
		}
	}
	for _, st := range s.Status() {
		if st.Running {
			t.Errorf("%s still running after the stop", st.ID)
		}
	}
}

// FuzzParseStatusLine: the loop's status-line reader agrees with
// net/http's on the status code and on which lines are refused.
func FuzzParseStatusLine(f *testing.F) {
	for _, s := range []string{"HTTP/1.1 200 OK", "HTTP/1.0 404", "HTTP/1.1 2x0 OK", "garbage", "HTTP/2 200", "HTTP/1.1  301 Moved", "HTTP/1.1 -20 x", "HTTP/1.1 +20 x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if strings.ContainsAny(line, "\r\n") {
			return
		}
		code, err := parseStatusLine([]byte(line))
		resp, herr := http.ReadResponse(bufio.NewReader(strings.NewReader(line+"\r\n\r\n")), nil)
		if herr == nil {
			defer resp.Body.Close()
		}
		switch {
		case err == nil && herr == nil:
			if code != resp.StatusCode {
				t.Fatalf("%q: code %d, net/http %d", line, code, resp.StatusCode)
			}
		case err != nil && herr != nil:
			if err.Error() != herr.Error() {
				t.Fatalf("%q: %v, net/http: %v", line, err, herr)
			}
		default:
			t.Fatalf("%q: err %v, net/http err %v", line, err, herr)
		}
	})
}

// TestTimerHeap: random pushes, removals and changes keep the heap
// ordered and every timer's index true, and timers come out by deadline.
func TestTimerHeap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Unix(1e9, 0)
	var h timerHeap
	var live []*loopTimer
	check := func() {
		t.Helper()
		for i, tm := range h {
			if tm.i != i {
				t.Fatalf("timer at %d says %d", i, tm.i)
			}
			if i > 0 && tm.when.Before(h[(i-1)/2].when) {
				t.Fatalf("timer at %d before its parent", i)
			}
		}
	}
	for range 5000 {
		switch op := rng.IntN(4); {
		case op <= 1 || len(live) == 0:
			tm := &loopTimer{when: base.Add(time.Duration(rng.IntN(1000)) * time.Millisecond), i: -1}
			h.push(tm)
			live = append(live, tm)
		case op == 2:
			k := rng.IntN(len(live))
			h.remove(live[k].i)
			if live[k].i != -1 {
				t.Fatal("a removed timer keeps an index")
			}
			live = append(live[:k], live[k+1:]...)
		default:
			tm := live[rng.IntN(len(live))]
			tm.when = base.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
			h.fix(tm.i)
		}
		check()
	}
	var last time.Time
	for len(h) > 0 {
		tm := h.remove(0)
		if tm.when.Before(last) {
			t.Fatalf("%v came out after %v", tm.when, last)
		}
		last = tm.when
	}
}

// TestLoopHTTPLeavesNoTimeWait: an HTTP_GET on the loop reads to the
// server's close and then resets the connection, so that neither the
// server nor the director keeps it in TIME_WAIT.
func TestLoopHTTPLeavesNoTimeWait(t *testing.T) {
	srv := httpServer(t, "tcp4", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }), nil)
	var mu sync.Mutex
	var results []Result
	s := NewScheduler(Options{})
	p := Params{Interval: 20 * time.Millisecond, Timeout: time.Second, Warmup: time.Millisecond}
	job := Job{ID: "web", Target: srv, Checker: HTTP{}, Params: p, Observe: func(r Result) {
		mu.Lock()
		defer mu.Unlock()
		results = append(results, r)
	}}
	if err := s.Update([]Job{job}); err != nil {
		t.Fatal(err)
	}
	// A listener may get a port that still has connections in TIME_WAIT
	// from before (another test's, say): only new ones count.
	stale := timeWaits(t, srv.Port)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(results)
		mu.Unlock()
		if n >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d results in 10 s", n)
		}
	}
	// Counted while the checks go on: stopping closes a check in flight
	// the ordinary way, which may leave a TIME_WAIT of its own.
	var tw []string
	for c := range timeWaits(t, srv.Port) {
		if !stale[c] {
			tw = append(tw, c)
		}
	}
	cancel()
	s.Wait()
	mu.Lock()
	for _, r := range results {
		if !r.OK {
			t.Errorf("check failed: %v", r.Err)
		}
	}
	mu.Unlock()
	if len(tw) > 0 {
		t.Errorf("connections of port %d in TIME_WAIT after %d checks: %q", srv.Port, len(results), tw)
	}
}

// TestLoopHTTPReusesSockets: checks one after the other, to IPv4 and
// IPv6 servers, use one socket of each family, each check a connection of
// its own from a port of its own.
func TestLoopHTTPReusesSockets(t *testing.T) {
	noLeaks(t)
	var mu sync.Mutex
	ports := map[string]int{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ports[r.RemoteAddr]++
		mu.Unlock()
		io.WriteString(w, "ok\n")
	})
	servers := []Target{httpServer(t, "tcp4", "127.0.0.1:0", h, nil)}
	if ln, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		ln.Close()
		servers = append(servers, httpServer(t, "tcp6", "[::1]:0", h, nil))
	}
	results := 0
	s := NewScheduler(Options{})
	var jobs []Job
	for i, srv := range servers {
		// Half an interval apart: one check in flight at a time.
		p := Params{Interval: 40 * time.Millisecond, Timeout: time.Second, Warmup: time.Millisecond + time.Duration(i)*20*time.Millisecond}
		jobs = append(jobs, Job{ID: srv.String(), Target: srv, Checker: HTTP{}, Params: p, Observe: func(r Result) {
			mu.Lock()
			defer mu.Unlock()
			results++
			if !r.OK {
				t.Errorf("check failed: %v", r.Err)
			}
		}})
	}
	cancel := startJobs(t, s, jobs)
	defer cancel()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := results
		mu.Unlock()
		if n >= 10*len(servers) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d results in 10 s", n)
		}
	}
	cancel()
	s.Wait()
	mu.Lock()
	defer mu.Unlock()
	if got := s.loop.opened; got != len(servers) {
		t.Errorf("%d sockets opened for %d checks to %d servers, want %d", got, results, len(servers), len(servers))
	}
	for a, n := range ports {
		if n > 1 {
			t.Errorf("%d requests from %s, want one a connection", n, a)
		}
	}
	if len(ports) < results {
		t.Errorf("%d connections for %d checks", len(ports), results)
	}
}

// timeWaits returns the IPv4 TCP connections of this network namespace
// in TIME_WAIT with port at either end, as "local remote" addresses.
func timeWaits(t *testing.T, port uint16) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp: %v", err)
	}
	hex := fmt.Sprintf(":%04X", port)
	tw := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(l)
		// sl local_address rem_address st ...; st 06 is TIME_WAIT.
		if len(f) > 3 && f[3] == "06" && (strings.HasSuffix(f[1], hex) || strings.HasSuffix(f[2], hex)) {
			tw[f[1]+" "+f[2]] = true
		}
	}
	return tw
}

// TestOnLoopOnly: a Scheduler on the real clock whose jobs are all
// HTTP_GET and TCP_CHECK runs them all on its loop; one SSL_GET or UDP
// check, or a fake clock, and it does not.
func TestOnLoopOnly(t *testing.T) {
	web := Target{Addr: netip.MustParseAddr("192.0.2.7"), Port: 80}
	p := Params{Interval: time.Second, Timeout: time.Second}
	plain := []Job{
		{ID: "http", Target: web, Checker: HTTP{}, Params: p},
		{ID: "tcp", Target: web, Checker: TCP{}, Params: p},
	}
	for _, tc := range []struct {
		name string
		jobs []Job
		want bool
	}{
		{"none", nil, true},
		{"http and tcp", plain, true},
		{"and https", append(slices.Clone(plain), Job{ID: "https", Target: web, Checker: HTTP{TLS: &TLS{}}, Params: p}), false},
		{"and udp", append(slices.Clone(plain), Job{ID: "udp", Target: web, Checker: UDP{}, Params: p}), false},
		{"http with a digest", []Job{{ID: "d", Target: web, Checker: HTTP{URLs: []URL{{Path: "/", Digest: "9a0364b9e99bb480dd25e1f0284c8555"}}}, Params: p}}, false},
	} {
		s := NewScheduler(Options{})
		if err := s.Update(tc.jobs); err != nil {
			t.Fatal(err)
		}
		if got := s.OnLoopOnly(); got != tc.want {
			t.Errorf("%s: OnLoopOnly %v, want %v", tc.name, got, tc.want)
		}
	}
	s := NewScheduler(Options{Clock: clock.NewFake(time.Unix(0, 0))})
	if err := s.Update(plain); err != nil {
		t.Fatal(err)
	}
	if s.OnLoopOnly() {
		t.Error("OnLoopOnly on a fake clock")
	}
}
