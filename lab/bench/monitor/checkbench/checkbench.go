// Package checkbench measures a health checker at work in the lab VM: a
// farm of real servers (IPv6 addresses of one network namespace answered
// by one Go HTTP server that counts the requests), the keepalived.conf
// that names them, and the CPU time and memory of the checker's whole
// process tree over a window. `make bench` (lab/bench/monitor) uses it for
// lvsctl monitor, keepalived and a bash loop in one boot;
// check/monitor's lab test uses it for lvsctl alone.
//
// Nothing here touches IPVS itself: the table is read with the real
// ipvsadm, the referee both checkers are measured against.
package checkbench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The topology: the director namespace reaches the farm namespace over
// one veth pair and routes FarmPrefix through it, so the director keeps
// one neighbour entry however many real servers there are.
const (
	DirectorNS = "bdir"
	FarmNS     = "bfarm"
	// VIP is the virtual server's address, on the director's lo.
	VIP = "2001:db8::100"
	// FarmPrefix holds the real servers: FarmPrefix + hex(i), i from 1.
	FarmPrefix = "2001:db8:2::"
)

// Setup is a dash script that builds the two namespaces and puts n real
// server addresses on the farm's lo.
func Setup(n int) string {
	return fmt.Sprintf(`set -e
ip netns add %[1]s
ip netns add %[2]s
ip link add eth0 netns %[1]s type veth peer name eth0 netns %[2]s
ip -n %[1]s link set lo up
ip -n %[2]s link set lo up
ip -n %[1]s addr add 2001:db8:1::1/64 dev eth0 nodad
ip -n %[2]s addr add 2001:db8:1::2/64 dev eth0 nodad
ip -n %[1]s link set eth0 up
ip -n %[2]s link set eth0 up
ip -n %[1]s route add %[3]s/64 via 2001:db8:1::2
ip -n %[1]s addr add %[4]s/128 dev lo
i=1
while [ $i -le %[5]d ]; do
	printf 'address add %[3]s%%x/128 dev lo\n' $i
	i=$((i + 1))
done >/tmp/farm.batch
ip -n %[2]s -batch /tmp/farm.batch
`, DirectorNS, FarmNS, FarmPrefix, VIP, n)
}

// Teardown kills what runs in the namespaces and removes them.
const Teardown = `for ns in ` + DirectorNS + ` ` + FarmNS + `; do
	for p in $(ip netns pids $ns 2>/dev/null); do kill $p; done
	ip netns del $ns 2>/dev/null
done
true
`

// RealServer is the i-th real server's address (i from 1).
func RealServer(i int) string { return fmt.Sprintf("%s%x", FarmPrefix, i) }

// Conf is a keepalived.conf with n real servers on port 80, each checked
// with HTTP_GET of / every second with a 3 s connect timeout, in one
// direct-routing virtual server on VIP port 80. Both keepalived and lvsctl
// monitor read it unchanged.
func Conf(n int) []byte { return ConfEvery(n, time.Second) }

// ConfEvery is Conf with another delay_loop (to the microsecond).
func ConfEvery(n int, delayLoop time.Duration) []byte {
	var b bytes.Buffer
	secs := strconv.FormatFloat(delayLoop.Seconds(), 'f', -1, 64)
	fmt.Fprintf(&b, "! %d real servers checked over HTTP every %s s\n", n, secs)
	fmt.Fprintf(&b, "virtual_server %s 80 {\n    delay_loop %s\n    lb_algo wlc\n    lb_kind DR\n    protocol TCP\n", VIP, secs)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "    real_server %s 80 {\n        HTTP_GET {\n            url {\n                path /\n            }\n            connect_timeout 3\n        }\n    }\n", RealServer(i))
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// BashLoop is the classic shell checker for the first n real servers,
// every second until killed: up to three tries of busybox wget
// (curl's role; curl is not in the lab image) per server, and no ipvsadm
// call while all are healthy. `timeout` bounds wget because busybox wget
// -T crashes.
func BashLoop(n int) string {
	var b strings.Builder
	b.WriteString("while :; do\n    for rs in")
	for i := 1; i <= n; i++ {
		b.WriteString(" " + RealServer(i))
	}
	b.WriteString("; do\n        for try in 1 2 3; do\n            if timeout 3 wget -q -O /dev/null \"http://[$rs]/\"; then break; fi\n        done\n    done\n    sleep 1\ndone\n")
	return b.String()
}

// Farm is the real servers' HTTP server: it answers every GET with
// "ok\n" and counts the requests. Busybox httpd would fork for each
// request, and 1,000 forks a second under emulation would measure the
// farm, not the checker.
type Farm struct {
	requests atomic.Uint64

	mu sync.Mutex
	// last is when each real server address was last asked.
	last map[netip.Addr]time.Time
	// periods counts the times between two requests to one address
	// since the last control reading, in periodBucket steps; the last
	// bucket holds the longer ones.
	periods [periodBuckets]uint32
}

const (
	periodBucket  = time.Millisecond
	periodBuckets = 10000
)

// ServeHTTP answers a check.
func (f *Farm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
		f.observe(la.AddrPort().Addr(), time.Now())
	}
	io.WriteString(w, "ok\n")
}

func (f *Farm) observe(a netip.Addr, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last == nil {
		f.last = make(map[netip.Addr]time.Time)
	}
	if prev, ok := f.last[a]; ok {
		i := int(now.Sub(prev) / periodBucket)
		if i >= periodBuckets {
			i = periodBuckets - 1
		}
		f.periods[i]++
	}
	f.last[a] = now
}

// Periods summarise the times between two checks of one real server.
type Periods struct {
	N             uint64
	P50, P99, Max time.Duration
}

// takePeriods summarises the periods seen since the last call and starts
// counting anew.
func (f *Farm) takePeriods() Periods {
	f.mu.Lock()
	defer f.mu.Unlock()
	var p Periods
	for _, c := range f.periods {
		p.N += uint64(c)
	}
	var seen uint64
	for i, c := range f.periods {
		if c == 0 {
			continue
		}
		d := time.Duration(i) * periodBucket
		if seen < (p.N+1)/2 && seen+uint64(c) >= (p.N+1)/2 {
			p.P50 = d
		}
		if q := p.N - p.N/100; seen < q && seen+uint64(c) >= q {
			p.P99 = d
		}
		seen += uint64(c)
		p.Max = d
	}
	f.periods = [periodBuckets]uint32{}
	return p
}

// Requests is how many requests the farm answered so far.
func (f *Farm) Requests() uint64 { return f.requests.Load() }

// Serve answers checks on addr and, when control is set, tells the
// request count on the unix socket control (one decimal line per
// connection; see ReadRequests), until ctx ends. A unix socket lives in
// the file system, so a process in another network namespace reads it.
func (f *Farm) Serve(ctx context.Context, addr, control string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("farm: %w", err)
	}
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	if control != "" {
		os.Remove(control)
		cl, err := net.Listen("unix", control)
		if err != nil {
			srv.Close()
			return fmt.Errorf("farm: %w", err)
		}
		defer cl.Close()
		go func() {
			for {
				c, err := cl.Accept()
				if err != nil {
					errc <- err
					return
				}
				p := f.takePeriods()
				fmt.Fprintf(c, "%d %d %d %d %d\n", f.Requests(), p.N, p.P50.Milliseconds(), p.P99.Milliseconds(), p.Max.Milliseconds())
				c.Close()
			}
		}()
	}
	select {
	case <-ctx.Done():
		srv.Close()
		return nil
	case err := <-errc:
		srv.Close()
		return fmt.Errorf("farm: %w", err)
	}
}

// Count is one reading of a farm's control socket.
type Count struct {
	// Requests the farm answered since it started.
	Requests uint64
	// Period summarises the times between two requests to one real
	// server since the previous reading (to millisecond steps).
	Period Periods
}

// ReadRequests asks a farm's control socket for its request count and
// the check periods since the previous reading.
func ReadRequests(control string) (Count, error) {
	var n Count
	c, err := net.DialTimeout("unix", control, 5*time.Second)
	if err != nil {
		return n, fmt.Errorf("farm count: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return n, fmt.Errorf("farm count: %w", err)
	}
	f := strings.Fields(line)
	if len(f) != 5 {
		return n, fmt.Errorf("farm count: malformed line %q", line)
	}
	var v [5]uint64
	for i := range f {
		if v[i], err = strconv.ParseUint(f[i], 10, 64); err != nil {
			return n, fmt.Errorf("farm count: %w", err)
		}
	}
	ms := func(x uint64) time.Duration { return time.Duration(x) * time.Millisecond }
	n.Requests = v[0]
	n.Period = Periods{N: v[1], P50: ms(v[2]), P99: ms(v[3]), Max: ms(v[4])}
	return n, nil
}

// userHZ is the unit of the times in /proc/PID/stat (USER_HZ, 100 on
// every Linux architecture that matters here).
const userHZ = 100

// Proc is one process of a tree at one moment.
type Proc struct {
	PID, PPID int
	Comm      string
	// CPU is utime+stime of the process itself, Sys its stime.
	CPU, Sys time.Duration
	// ChildCPU is cutime+cstime: its children that were waited for;
	// ChildSys is cstime.
	ChildCPU, ChildSys time.Duration
	// RSS and HWM (peak RSS) in KiB, from /proc/PID/status.
	RSS, HWM int
}

// ErrNoProcess reports a process that is gone.
var ErrNoProcess = errors.New("no such process")

// ReadProc reads one process from /proc.
func ReadProc(pid int) (Proc, error) {
	p := Proc{PID: pid}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			return p, fmt.Errorf("process %d: %w", pid, ErrNoProcess)
		}
		return p, fmt.Errorf("process %d: %w", pid, err)
	}
	// The command name is in parentheses and may hold spaces and ')'.
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open || end+2 > len(s) {
		return p, fmt.Errorf("process %d: malformed stat %q", pid, s)
	}
	p.Comm = s[open+1 : end]
	// Fields after the name, numbered as in proc(5) from 3 (state): ppid
	// is 4, utime 14, stime 15, cutime 16, cstime 17.
	f := strings.Fields(s[end+2:])
	if len(f) < 15 {
		return p, fmt.Errorf("process %d: short stat %q", pid, s)
	}
	var v [5]int64
	for i, idx := range []int{1, 11, 12, 13, 14} {
		if v[i], err = strconv.ParseInt(f[idx], 10, 64); err != nil {
			return p, fmt.Errorf("process %d: stat field %d: %w", pid, idx+3, err)
		}
	}
	p.PPID = int(v[0])
	p.CPU = time.Duration(v[1]+v[2]) * time.Second / userHZ
	p.Sys = time.Duration(v[2]) * time.Second / userHZ
	p.ChildCPU = time.Duration(v[3]+v[4]) * time.Second / userHZ
	p.ChildSys = time.Duration(v[4]) * time.Second / userHZ
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, fmt.Errorf("process %d: %w", pid, ErrNoProcess)
	}
	for _, l := range strings.Split(string(st), "\n") {
		k, val, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(val), " kB"))
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			p.RSS = kb
		case "VmHWM":
			p.HWM = kb
		}
	}
	return p, nil
}

// Tree is a process and its live descendants, the root first.
type Tree []Proc

// ReadTree reads pid and every live process descending from it.
func ReadTree(pid int) (Tree, error) {
	root, err := ReadProc(pid)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("process tree: %w", err)
	}
	var all []Proc
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n == pid {
			continue
		}
		p, err := ReadProc(n)
		if err != nil {
			continue // gone meanwhile
		}
		all = append(all, p)
	}
	tree := Tree{root}
	in := map[int]bool{pid: true}
	for grew := true; grew; {
		grew = false
		for _, p := range all {
			if !in[p.PID] && in[p.PPID] {
				in[p.PID] = true
				tree = append(tree, p)
				grew = true
			}
		}
	}
	return tree, nil
}

// CPU is the tree's CPU time: every live process's own, plus what the
// waited-for children of each had used. Between two readings the
// difference counts a child that came and went, and a child that was
// live at the first and reaped by the second (its time moves into its
// parent's ChildCPU).
func (t Tree) CPU() time.Duration {
	var d time.Duration
	for _, p := range t {
		d += p.CPU + p.ChildCPU
	}
	return d
}

// Sys is the part of CPU spent in the kernel.
func (t Tree) Sys() time.Duration {
	var d time.Duration
	for _, p := range t {
		d += p.Sys + p.ChildSys
	}
	return d
}

// RSS is the sum of the tree's resident set sizes in KiB.
func (t Tree) RSS() int {
	n := 0
	for _, p := range t {
		n += p.RSS
	}
	return n
}

// cpuStat returns the idle (idle and iowait) and total times of all CPUs
// from /proc/stat's first line, in USER_HZ ticks.
func cpuStat() (idle, total int64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("cpu times: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("cpu times: malformed /proc/stat line %q", line)
	}
	// user nice system idle iowait irq softirq steal ...
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("cpu times: %w", err)
		}
		total += n
		if i == 3 || i == 4 {
			idle += n
		}
	}
	return idle, total, nil
}

// RealServersInTable counts the real servers `ipvsadm -L -n` lists in
// the calling process's network namespace.
func RealServersInTable(ctx context.Context) (int, error) {
	out, err := exec.CommandContext(ctx, "ipvsadm", "-L", "-n").Output()
	if err != nil {
		return 0, fmt.Errorf("ipvsadm -L -n: %w", err)
	}
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "->" && f[1] != "RemoteAddress:Port" {
			n++
		}
	}
	return n, nil
}

// Options describe one measurement.
type Options struct {
	// Cmd is the checker, not yet started. Its process is the tree's root.
	Cmd *exec.Cmd
	// Servers is how many real servers the table must hold before the
	// window opens.
	Servers int
	// Settle is how long to wait after the table is full before the
	// window opens, so that start-up work is not measured; 0 means 5 s.
	Settle time.Duration
	// Window is the measured time; 0 means 30 s.
	Window time.Duration
	// Ready bounds the wait for a full table; 0 means 2 minutes.
	Ready time.Duration
	// FarmControl is the farm's control socket (see Farm.Serve); empty
	// means requests are not counted.
	FarmControl string
	// Table counts the real servers in the table; nil means
	// RealServersInTable. A checker whose table needs no filling (the
	// bash loop) sets Servers to 0.
	Table func(ctx context.Context) (int, error)
	// AtEnd, when set, runs at the end of the window while the checker
	// still runs (the lab test reads the monitor's status there).
	AtEnd func(ctx context.Context) error
}

// Figures are what one measurement found.
type Figures struct {
	// Ready is from the start to a full table.
	Ready time.Duration
	// Wall is the window's real length; CPU the tree's CPU time in it,
	// Sys the part of CPU spent in the kernel.
	Wall, CPU, Sys time.Duration
	// Period summarises the times between two requests to one real
	// server in the window.
	Period Periods
	// Requests the farm answered in the window.
	Requests uint64
	// TableStart and TableEnd are the real servers in the table at the
	// window's start and end.
	TableStart, TableEnd int
	// End is the process tree at the window's end (RSS, HWM per process).
	End Tree
	// Idle is the share of the machine's CPU time (all CPUs) left idle in
	// the window: near 0, the checker and the farm competed for CPUs and
	// the request rate says more about the machine than the checker.
	Idle float64
}

// CPUShare is CPU time per second of wall time.
func (f Figures) CPUShare() float64 { return f.CPU.Seconds() / f.Wall.Seconds() }

// RequestRate is requests per second of wall time.
func (f Figures) RequestRate() float64 { return float64(f.Requests) / f.Wall.Seconds() }

// CPUPerRequest is the CPU time per request the farm answered.
func (f Figures) CPUPerRequest() time.Duration {
	if f.Requests == 0 {
		return 0
	}
	return f.CPU / time.Duration(f.Requests)
}

// Measure starts opt.Cmd, waits until the table holds opt.Servers real
// servers and opt.Settle more, then measures the process tree's CPU time
// and the farm's requests over opt.Window, reads the tree's memory, and
// stops the checker. The checker exiting early is an error.
func Measure(ctx context.Context, opt Options) (Figures, error) {
	var fig Figures
	settle, window, readyBound := opt.Settle, opt.Window, opt.Ready
	if settle == 0 {
		settle = 5 * time.Second
	}
	if window == 0 {
		window = 30 * time.Second
	}
	if readyBound == 0 {
		readyBound = 2 * time.Minute
	}
	table := opt.Table
	if table == nil {
		table = RealServersInTable
	}
	requests := func() (Count, error) {
		if opt.FarmControl == "" {
			return Count{}, nil
		}
		return ReadRequests(opt.FarmControl)
	}
	start := time.Now()
	if err := opt.Cmd.Start(); err != nil {
		return fig, fmt.Errorf("measure: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- opt.Cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			opt.Cmd.Process.Kill()
			<-exited
		}
	}()
	alive := func() error {
		select {
		case err := <-exited:
			stopped = true
			return fmt.Errorf("measure: %s exited early: %v", opt.Cmd.Path, err)
		default:
			return nil
		}
	}
	for {
		n, err := table(ctx)
		if err != nil {
			return fig, fmt.Errorf("measure: %w", err)
		}
		if n >= opt.Servers {
			break
		}
		if err := alive(); err != nil {
			return fig, err
		}
		if time.Since(start) > readyBound {
			return fig, fmt.Errorf("measure: %d of %d real servers in the table after %v", n, opt.Servers, readyBound)
		}
		select {
		case <-ctx.Done():
			return fig, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	fig.Ready = time.Since(start)
	select {
	case <-ctx.Done():
		return fig, ctx.Err()
	case <-time.After(settle):
	}
	if err := alive(); err != nil {
		return fig, err
	}
	pid := opt.Cmd.Process.Pid
	t0, err := ReadTree(pid)
	if err != nil {
		return fig, fmt.Errorf("measure: %w", err)
	}
	r0, err := requests()
	if err != nil {
		return fig, fmt.Errorf("measure: %w", err)
	}
	i0, n0, err := cpuStat()
	if err != nil {
		return fig, fmt.Errorf("measure: %w", err)
	}
	w0 := time.Now()
	if fig.TableStart, err = table(ctx); err != nil {
		return fig, fmt.Errorf("measure: %w", err)
	}
	select {
	case <-ctx.Done():
		return fig, ctx.Err()
	case <-time.After(window - time.Since(w0)):
	}
	t1, err := ReadTree(pid)
	if err != nil {
		return fig, fmt.Errorf("measure: %w", err)
	}
	r1, err := requests()
	if err != nil {
		return fig, fmt.Errorf("measure: %w", err)
	}
	fig.Wall = time.Since(w0)
	i1, n1, err := cpuStat()
	if err != nil {
		return fig, fmt.Errorf("measure: %w", err)
	}
	if n1 > n0 {
		fig.Idle = float64(i1-i0) / float64(n1-n0)
	}
	fig.CPU = t1.CPU() - t0.CPU()
	fig.Sys = t1.Sys() - t0.Sys()
	fig.Requests = r1.Requests - r0.Requests
	fig.Period = r1.Period
	fig.End = t1
	if fig.TableEnd, err = table(ctx); err != nil {
		return fig, fmt.Errorf("measure: %w", err)
	}
	if opt.AtEnd != nil {
		if err := opt.AtEnd(ctx); err != nil {
			return fig, fmt.Errorf("measure: %w", err)
		}
	}
	if err := alive(); err != nil {
		return fig, err
	}
	// SIGTERM ends lvsctl monitor, keepalived (which stops its checker
	// child) and bash alike.
	stopped = true
	opt.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		opt.Cmd.Process.Kill()
		<-exited
	}
	return fig, nil
}

// ControlPath is where the bench and the test put the farm's control
// socket.
const ControlPath = "/tmp/checkbench-farm.sock"
