package monitor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lvsctl/lvsctl/check/monitor"
	"github.com/lvsctl/lvsctl/lab"
	"github.com/lvsctl/lvsctl/lab/bench/monitor/checkbench"
)

// End-to-end tests in the lab VM: `lvsctl monitor -f keepalived.conf` on a
// real IPVS kernel, with busybox httpd real servers in network
// namespaces. The host test builds lvsctl and hands it to the guest.

const labLvsctl = "/usr/local/bin/lvsctl"

func TestLab(t *testing.T) {
	lab.Require(t)
	bin := filepath.Join(t.TempDir(), "lvsctl")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-o", bin, "../../cmd/lvsctl")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build lvsctl: %v\n%s", err, out)
	}
	env := map[string]string{}
	if v := os.Getenv("LVSCTL_MEASURE"); v != "" {
		env["LVSCTL_MEASURE"] = v
	}
	lab.RunTestsWith(t, lab.TestOptions{Run: "^TestVM", Files: map[string]string{bin: labLvsctl}, Env: env, CPUs: 2, Memory: 1024})
}

const labTopology = `set -e
ip link add mon0 type bridge
ip link set mon0 up
plug() { # plug NS ADDR
	ip netns add "$1"
	ip link add "v-$1" type veth peer name eth0 netns "$1"
	ip link set "v-$1" master mon0 up
	ip -n "$1" addr add "$2/24" dev eth0
	ip -n "$1" link set eth0 up
	ip -n "$1" link set lo up
}
plug director 192.0.2.1
plug rs1 192.0.2.11
plug rs2 192.0.2.12
plug sorry 192.0.2.19
ip -n director addr add 192.0.2.100/32 dev eth0
for ns in rs1 rs2 sorry; do
	mkdir -p /srv/$ns
	echo $ns >/srv/$ns/index.html
done
`

const labTeardown = `for ns in director rs1 rs2 sorry; do
	for pid in $(ip netns pids $ns 2>/dev/null); do kill $pid; done
	ip netns del $ns 2>/dev/null
done
ip link del mon0 2>/dev/null
true
`

const labConf = `! lvsctl monitor lab test
virtual_server 192.0.2.100 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    sorry_server 192.0.2.19 80
    real_server 192.0.2.11 80 {
        weight 1
        HTTP_GET {
            url {
                path /
            }
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
    real_server 192.0.2.12 80 {
        weight 2
        HTTP_GET {
            url {
                path /
            }
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
`

// The bound the issue sets: delay_loop × (retry + 1) + connect_timeout + 1 s.
const leaveBound = 1*time.Second*(1+1) + time.Second + time.Second

func sh(t *testing.T, script string) string {
	t.Helper()
	out, err := exec.Command("sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%s\n%v\n%s", script, err, out)
	}
	return string(out)
}

// httpd is a busybox httpd in the foreground in a namespace.
type httpd struct {
	t   *testing.T
	ns  string
	cmd *exec.Cmd
}

func (h *httpd) start() {
	h.t.Helper()
	h.cmd = exec.Command("ip", "netns", "exec", h.ns, "httpd", "-f", "-p", "80", "-h", "/srv/"+h.ns)
	if err := h.cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	// Wait until it listens.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if out, _ := exec.Command("ip", "netns", "exec", h.ns, "ss", "-Htln", "sport = :80").Output(); len(bytes.TrimSpace(out)) > 0 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("httpd in %s does not listen", h.ns)
		}
	}
}

func (h *httpd) stop() {
	if h.cmd != nil && h.cmd.Process != nil {
		h.cmd.Process.Kill()
		h.cmd.Wait()
		h.cmd = nil
	}
}

// lockedBuffer collects a process's stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// daemon is a running `lvsctl monitor`.
type daemon struct {
	t      *testing.T
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan error
}

func startMonitor(t *testing.T, args ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	d.cmd = exec.Command("ip", append([]string{"netns", "exec", "director", labLvsctl, "monitor"}, args...)...)
	d.cmd.Stderr = d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() { d.stop() })
	return d
}

func (d *daemon) signal(t *testing.T, s syscall.Signal) {
	t.Helper()
	if err := d.cmd.Process.Signal(s); err != nil {
		t.Fatalf("%v; monitor log:\n%s", err, d.stderr.String())
	}
}

func (d *daemon) stop() {
	if d.cmd.ProcessState != nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
}

// ops are the kernel operations the daemon logged ("op=... rule=...").
var opLine = regexp.MustCompile(`msg=ipvs op=(\S+) rule="([^"]*)"`)

func (d *daemon) ops() []string {
	var out []string
	for _, m := range opLine.FindAllStringSubmatch(d.stderr.String(), -1) {
		out = append(out, m[1]+" "+m[2])
	}
	return out
}

// table returns the director's real servers of 192.0.2.100:80 with their
// weights, from lvsctl -S -n.
func table(t *testing.T) map[string]string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", "director", labLvsctl, "-S", "-n").CombinedOutput()
	if err != nil {
		t.Fatalf("lvsctl -S -n: %v\n%s", err, out)
	}
	got := map[string]string{}
	re := regexp.MustCompile(`^-a -t 192\.0\.2\.100:80 -r (\S+) \S+ -w (\d+)`)
	for _, l := range strings.Split(string(out), "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			got[m[1]] = m[2]
		}
	}
	return got
}

func tableString(m map[string]string) string {
	var parts []string
	for _, k := range []string{"192.0.2.11:80", "192.0.2.12:80", "192.0.2.19:80"} {
		if w, ok := m[k]; ok {
			parts = append(parts, k+"/"+w)
		}
	}
	return strings.Join(parts, " ")
}

// waitTable polls the table until it reads want and returns how long
// that took.
func waitTable(t *testing.T, d *daemon, want string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := tableString(table(t))
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("table %q, want %q after %v\nmonitor log:\n%s", got, want, limit, d.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestVMMonitor(t *testing.T) {
	lab.RequireVM(t)
	sh(t, labTeardown)
	sh(t, labTopology)
	t.Cleanup(func() { exec.Command("sh", "-c", labTeardown).Run() })
	sh(t, "ip netns exec director "+labLvsctl+" -C")
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	logPath := filepath.Join(dir, "monitor.log")
	sock := filepath.Join(dir, "monitor.sock")
	if err := os.WriteFile(conf, []byte(labConf), 0o644); err != nil {
		t.Fatal(err)
	}
	rs1, rs2, sorry := &httpd{t: t, ns: "rs1"}, &httpd{t: t, ns: "rs2"}, &httpd{t: t, ns: "sorry"}
	for _, h := range []*httpd{rs1, rs2, sorry} {
		h.start()
		defer h.stop()
	}
	top := t // daemons started in subtests outlive them
	args := []string{"-f", conf, "--log", logPath, "--socket", sock, "--metrics-addr", "127.0.0.1:9101"}
	d := startMonitor(t, args...)

	// A fresh table: the service is created and both real servers go in.
	waitTable(t, d, "192.0.2.11:80/1 192.0.2.12:80/2", 5*time.Second)

	t.Run("a stopped server leaves within the bound", func(t *testing.T) {
		rs1.stop()
		took := waitTable(t, d, "192.0.2.12:80/2", 2*leaveBound)
		t.Logf("192.0.2.11 left the table %v after its httpd stopped (bound %v)", took.Round(time.Millisecond), leaveBound)
		if took > leaveBound {
			t.Errorf("took %v, more than delay_loop × (retry + 1) + connect_timeout + 1 s = %v", took, leaveBound)
		}
		if l := readFile(t, logPath); !regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,192\.0\.2\.11 is gone\.$`).MatchString(l) {
			t.Errorf("log:\n%s", l)
		}
	})

	t.Run("a started server comes back with its weight", func(t *testing.T) {
		rs1.start()
		took := waitTable(t, d, "192.0.2.11:80/1 192.0.2.12:80/2", 3*time.Second)
		t.Logf("192.0.2.11 came back %v after its httpd started", took.Round(time.Millisecond))
		if l := readFile(t, logPath); !strings.Contains(l, ",192.0.2.11 is back.") {
			t.Errorf("log:\n%s", l)
		}
	})

	t.Run("all down puts the sorry server in", func(t *testing.T) {
		rs1.stop()
		rs2.stop()
		waitTable(t, d, "192.0.2.19:80/1", 2*leaveBound)
		rs1.start()
		rs2.start()
		waitTable(t, d, "192.0.2.11:80/1 192.0.2.12:80/2", 3*time.Second)
	})

	t.Run("status and metrics", func(t *testing.T) {
		out, err := exec.Command("ip", "netns", "exec", "director", labLvsctl, "monitor", "status", "--socket", sock).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "TCP 192.0.2.100:80") || !strings.Contains(string(out), "HTTP_GET") {
			t.Errorf("monitor status: %v\n%s", err, out)
		}
		t.Logf("lvsctl monitor status:\n%s", out)
		js, err := exec.Command("ip", "netns", "exec", "director", labLvsctl, "monitor", "status", "--json", "--socket", sock).Output()
		var st monitor.Status
		if err != nil || json.Unmarshal(js, &st) != nil || len(st.Services) != 1 || len(st.Services[0].RealServers) != 2 {
			t.Errorf("monitor status --json: %v\n%s", err, js)
		}
		m, err := exec.Command("ip", "netns", "exec", "director", "timeout", "5", "wget", "-q", "-O", "-", "http://127.0.0.1:9101/metrics").Output()
		if err != nil {
			t.Fatalf("metrics: %v", err)
		}
		for _, want := range []string{
			`lvsctl_monitor_checks_total{check="HTTP_GET",real_server="192.0.2.11:80",result="ok",virtual_server="TCP 192.0.2.100:80"}`,
			`lvsctl_ipvs_backend_weight{local_address="192.0.2.100",local_mark="",local_port="80",proto="TCP",remote_address="192.0.2.12",remote_port="80"} 2`,
			`lvsctl_monitor_state_changes_total{event="sorry_in",service="TCP 192.0.2.100:80"} 1`,
			`lvsctl_ipvs_service_connections_total{`,
		} {
			if !strings.Contains(string(m), want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})

	t.Run("a restart changes nothing", func(t *testing.T) {
		before := table(t)
		d.stop()
		if after := table(t); tableString(after) != tableString(before) {
			t.Fatalf("SIGTERM changed the table: %v -> %v", before, after)
		}
		d2 := startMonitor(top, args...)
		d = d2
		time.Sleep(4 * time.Second) // four rounds of checks
		if after := table(t); tableString(after) != tableString(before) {
			t.Errorf("the restarted monitor changed the table: %v -> %v", before, after)
		}
		if ops := d2.ops(); len(ops) != 0 {
			t.Errorf("the restarted monitor sent %q", ops)
		}
		if !strings.Contains(d2.stderr.String(), "monitor starting") {
			t.Errorf("monitor log:\n%s", d2.stderr.String())
		}
	})

	t.Run("SIGHUP with a changed weight edits it and removes nothing", func(t *testing.T) {
		changed := strings.Replace(labConf, "weight 2", "weight 5", 1)
		if err := os.WriteFile(conf, []byte(changed), 0o644); err != nil {
			t.Fatal(err)
		}
		n := len(d.ops())
		d.signal(t, syscall.SIGHUP)
		waitTable(t, d, "192.0.2.11:80/1 192.0.2.12:80/5", 3*time.Second)
		time.Sleep(2 * time.Second)
		ops := d.ops()[n:]
		if len(ops) != 1 || !strings.HasPrefix(ops[0], "edit-destination -e -t 192.0.2.100:80 -r 192.0.2.12:80 -m -w 5") {
			t.Errorf("reload ops %q, want the one weight edit", ops)
		}
		// A broken file is reported; the running configuration stays.
		if err := os.WriteFile(conf, []byte("virtual_server 192.0.2.100 80 {\n    weight lots\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		d.signal(t, syscall.SIGHUP)
		time.Sleep(2 * time.Second)
		if !strings.Contains(d.stderr.String(), "reload failed") {
			t.Errorf("no reload failure in the log:\n%s", d.stderr.String())
		}
		if got := tableString(table(t)); got != "192.0.2.11:80/1 192.0.2.12:80/5" {
			t.Errorf("table %q after a broken reload", got)
		}
	})

	t.Run("SIGUSR1 reopens the log", func(t *testing.T) {
		if err := os.Rename(logPath, logPath+".1"); err != nil {
			t.Fatal(err)
		}
		d.signal(t, syscall.SIGUSR1)
		time.Sleep(500 * time.Millisecond)
		rs2.stop()
		waitTable(t, d, "192.0.2.11:80/1", 2*leaveBound)
		if l := readFile(t, logPath); !strings.Contains(l, ",192.0.2.12 is gone.") {
			t.Errorf("new log: %q", l)
		}
		rs2.start()
		waitTable(t, d, "192.0.2.11:80/1 192.0.2.12:80/5", 3*time.Second)
	})

	t.Run("--cleanup removes what this run added", func(t *testing.T) {
		d.stop()
		sh(t, "ip netns exec director "+labLvsctl+" -C")
		if err := os.WriteFile(conf, []byte(labConf), 0o644); err != nil {
			t.Fatal(err)
		}
		d = startMonitor(top, append(args, "--cleanup")...)
		waitTable(t, d, "192.0.2.11:80/1 192.0.2.12:80/2", 5*time.Second)
		d.stop()
		if out := sh(t, "ip netns exec director "+labLvsctl+" -S -n"); strings.TrimSpace(out) != "" {
			t.Errorf("after --cleanup the table holds:\n%s", out)
		}
	})
	t.Logf("monitor log:\n%s", d.stderr.String())
}

// The monitor's figure at 1,000 real servers, measured as `make bench`
// measures it (lab/bench/monitor, which also runs keepalived next to it):
// CPU time and RSS of lvsctl monitor checking 1,000 real servers every
// second over HTTP, and of the classic bash loop checking 20. The real
// servers are 1,000 IPv6 addresses of one namespace answered by one Go
// HTTP server (this test binary, see TestVMFarmServer); the director
// routes their prefix through that namespace. Runs with LVSCTL_MEASURE=1.
func TestVMMonitorBench(t *testing.T) {
	lab.RequireVM(t)
	if os.Getenv("LVSCTL_MEASURE") == "" {
		t.Skip("set LVSCTL_MEASURE=1 to measure")
	}
	const n = 1000
	const window = 30 * time.Second
	sh(t, checkbench.Teardown)
	sh(t, checkbench.Setup(n))
	t.Cleanup(func() { exec.Command("sh", "-c", checkbench.Teardown).Run() })
	// busybox httpd forks for each request, and 1,000 forks a second
	// under TCG would measure the farm, not the monitor.
	farm := exec.Command("ip", "netns", "exec", checkbench.FarmNS, os.Args[0], "-test.run=^TestVMFarmServer$")
	farm.Env = append(os.Environ(), "LVSCTL_FARM=[::]:80")
	if err := farm.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { farm.Process.Kill(); farm.Wait() }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := checkbench.ReadRequests(checkbench.ControlPath); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the farm does not answer on its control socket")
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(path, checkbench.Conf(n), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	// ip netns exec execs the program: its PID is lvsctl's. The
	// measurement (ipvsadm) runs in this namespace, so enter the
	// director's for the table count.
	cmd := exec.Command("ip", "netns", "exec", checkbench.DirectorNS, labLvsctl, "monitor", "-f", path, "--socket", sock)
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	inDirector := func(ctx context.Context) (int, error) {
		out, err := exec.CommandContext(ctx, "ip", "netns", "exec", checkbench.DirectorNS, "ipvsadm", "-L", "-n").Output()
		if err != nil {
			return 0, err
		}
		return strings.Count(string(out), "\n  -> [2001:db8:2::"), nil
	}
	status := func(ctx context.Context) error {
		st, err := monitor.ReadStatus(ctx, sock)
		if err != nil {
			return fmt.Errorf("status: %w", err)
		}
		up, checked := 0, 0
		for _, rs := range st.Services[0].RealServers {
			if rs.State == "up" && rs.InTable {
				up++
			}
			if rs.Checks[0].Checked && rs.Checks[0].OK {
				checked++
			}
		}
		t.Logf("BENCH %d real servers up and in the table, %d with a passing last check", up, checked)
		if up != n || checked != n {
			return fmt.Errorf("%d of %d real servers up, %d checked", up, n, checked)
		}
		return nil
	}
	fig, err := checkbench.Measure(t.Context(), checkbench.Options{
		Cmd: cmd, Servers: n, Window: window, FarmControl: checkbench.ControlPath,
		Table: inDirector, AtEnd: status,
	})
	if err != nil {
		t.Fatalf("%v\nmonitor log:\n%s", err, stderr.String())
	}
	root := fig.End[0]
	t.Logf("BENCH lvsctl monitor: %d real servers over HTTP every 1 s: CPU %.3f s per s of wall time over %v, %.0f requests/s at the farm, %v CPU per check; RSS %d KiB, peak %d KiB",
		n, fig.CPUShare(), fig.Wall.Round(time.Millisecond), fig.RequestRate(), fig.CPUPerRequest(), root.RSS, root.HWM)

	// The bash loop, 20 servers, the same period: curl's role played by
	// busybox wget, ipvsadm not called while all are healthy.
	loop := exec.Command("ip", "netns", "exec", checkbench.DirectorNS, "bash", "-c", checkbench.BashLoop(20))
	fig, err = checkbench.Measure(t.Context(), checkbench.Options{
		Cmd: loop, Settle: 2 * time.Second, Window: window, FarmControl: checkbench.ControlPath,
		Table: func(context.Context) (int, error) { return 0, nil },
	})
	if err != nil {
		t.Fatalf("bash loop: %v", err)
	}
	t.Logf("BENCH bash loop: 20 real servers every 1 s: CPU %.3f s per s of wall time over %v, %.1f requests/s, %v CPU per check",
		fig.CPUShare(), fig.Wall.Round(time.Millisecond), fig.RequestRate(), fig.CPUPerRequest())
}

// TestVMFarmServer is the real servers of TestVMMonitorBench: an HTTP
// server on LVSCTL_FARM that counts requests on checkbench.ControlPath,
// until killed.
func TestVMFarmServer(t *testing.T) {
	addr := os.Getenv("LVSCTL_FARM")
	if addr == "" {
		t.Skip("the bench's HTTP farm; runs only when TestVMMonitorBench starts it")
	}
	var f checkbench.Farm
	if err := f.Serve(t.Context(), addr, checkbench.ControlPath); err != nil {
		t.Fatal(err)
	}
}
