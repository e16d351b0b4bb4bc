package vrrp_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	labvm "github.com/lvsctl/lvsctl/lab"
)

// End-to-end in the lab VM: two directors running `lvsctl vrrp run` and
// the same IPVS direct-routing service, two busybox httpd real servers and
// a client sending requests through the VIP without pause, all in network
// namespaces on one bridge. The master host dies (its speaker SIGKILLed,
// its link down); the backup takes the VIP, and the client's traffic goes
// on through it to the same real server, because the IPVS sync daemon
// (lvs_sync_daemon_interface) copied the persistence template to the
// backup. The host test builds lvsctl and hands it to the guest.

const vmLvsctl = "/usr/local/bin/lvsctl"

func TestLab(t *testing.T) {
	labvm.Require(t)
	bin := filepath.Join(t.TempDir(), "lvsctl")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-o", bin, "../cmd/lvsctl")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build lvsctl: %v\n%s", err, out)
	}
	labvm.RunTestsWith(t, labvm.TestOptions{Run: "^TestVM", Files: map[string]string{bin: vmLvsctl}, CPUs: 2, Memory: 1024})
}

const (
	vmVIP    = "192.0.2.100"
	vmClient = "192.0.2.50"
)

// vmTopology builds the LAN: bridge vr0; directors vr-d1 (.1) and vr-d2
// (.2), real servers vr-rs1 (.11) and vr-rs2 (.12) with the VIP on lo
// (lvsctl realserver up) and httpd answering with their name, client
// vr-c (.50). Each director has the same persistent service, its real
// servers added in the opposite order: round robin alone would send the
// client's first connection on each to a different real server, so only a
// synchronised persistence template keeps the client where it was.
const vmTopology = `set -e
ip link add vr0 type bridge
ip link set vr0 up
plug() { # plug NS ADDR
	ip netns add "$1"
	ip link add "v-$1" type veth peer name eth0 netns "$1"
	ip link set "v-$1" master vr0 up
	ip -n "$1" addr add "$2/24" dev eth0
	ip -n "$1" link set eth0 up
	ip -n "$1" link set lo up
}
plug vr-d1 192.0.2.1
plug vr-d2 192.0.2.2
plug vr-rs1 192.0.2.11
plug vr-rs2 192.0.2.12
plug vr-c 192.0.2.50
ip -n vr-c addr add 192.0.2.51/24 dev eth0
for rs in rs1 rs2; do
	mkdir -p /srv/vr-$rs
	echo $rs >/srv/vr-$rs/index.html
	ip netns exec vr-$rs lvsctl realserver up --vip 192.0.2.100 --state /tmp/vr-$rs.json >/dev/null
	ip netns exec vr-$rs httpd -p 80 -h /srv/vr-$rs
done
for d in d1:11:12 d2:12:11; do
	ns=vr-${d%%:*}; first=${d#*:}; first=${first%:*}; second=${d##*:}
	ip netns exec $ns lvsctl -A -t 192.0.2.100:80 -s rr -p 300
	ip netns exec $ns lvsctl -a -t 192.0.2.100:80 -r 192.0.2.$first:80 -g
	ip netns exec $ns lvsctl -a -t 192.0.2.100:80 -r 192.0.2.$second:80 -g
done
`

const vmTeardown = `for ns in vr-d1 vr-d2 vr-rs1 vr-rs2 vr-c; do
	for pid in $(ip netns pids $ns 2>/dev/null); do kill -9 $pid; done
	ip netns del $ns 2>/dev/null
done
ip link del vr0 2>/dev/null
true
`

// vmConf is the keepalived.conf of director NAME: VRRPv3 at 0.1 s, the
// VIP, and the IPVS sync daemon on eth0 (syncid 51, the VRID).
const vmConf = `global_defs {
    router_id %s
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority %d
    advert_int 0.1
    version 3
    lvs_sync_daemon_interface eth0
    virtual_ipaddress {
        192.0.2.100/32 dev eth0
    }
}
`

func vmSh(t *testing.T, script string) string {
	t.Helper()
	out, err := exec.Command("sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%s\n%v\n%s", script, err, out)
	}
	return string(out)
}

// vmDirector is one `lvsctl vrrp run` in its namespace.
type vmDirector struct {
	ns   string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

func vmStartDirector(t *testing.T, name string, prio int) *vmDirector {
	t.Helper()
	d := &vmDirector{ns: "vr-" + name, dir: t.TempDir(), done: make(chan struct{})}
	conf := filepath.Join(d.dir, "keepalived.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, vmConf, name, prio), 0o644); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(d.dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command("ip", "netns", "exec", d.ns, vmLvsctl, "vrrp", "run", "-f", conf, "--socket", filepath.Join(d.dir, "sock"))
	d.cmd.Stdout, d.cmd.Stderr = log, log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	log.Close()
	go func() { d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.done
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(d.dir, "log"))
			t.Logf("%s speaker log:\n%s", d.ns, b)
		}
	})
	return d
}

func (d *vmDirector) hasVIP() bool {
	out, _ := exec.Command("ip", "-n", d.ns, "-4", "-o", "addr", "show", "dev", "eth0").Output()
	return strings.Contains(string(out), " "+vmVIP+"/32 ")
}

func (d *vmDirector) ipvs(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", d.ns, vmLvsctl}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: lvsctl %v: %v\n%s", d.ns, args, err, out)
	}
	return string(out)
}

func vmWait(t *testing.T, what string, timeout time.Duration, cond func() bool) time.Time {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(5 * time.Millisecond) {
		if cond() {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
	}
}

// vmRequest is one HTTP request of the client.
type vmRequest struct {
	start, end time.Time
	server     string // the body: rs1 or rs2; "" on failure
	err        error
}

// vmClientLoop sends HTTP/1.0 requests to the VIP from namespace vr-c one
// after the other, each with its own connection and timeout, until ctx
// ends.
type vmClientLoop struct {
	mu   sync.Mutex
	reqs []vmRequest
}

func (c *vmClientLoop) run(ctx context.Context, ns netns.NsHandle, timeout time.Duration) {
	for ctx.Err() == nil {
		r := vmRequest{start: time.Now()}
		r.server, r.err = vmGet(ns, netip.Addr{}, timeout)
		r.end = time.Now()
		c.mu.Lock()
		c.reqs = append(c.reqs, r)
		c.mu.Unlock()
		if r.err == nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func (c *vmClientLoop) since(t time.Time) []vmRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []vmRequest
	for _, r := range c.reqs {
		if !r.start.Before(t) {
			out = append(out, r)
		}
	}
	return out
}

// vmGet fetches / from the VIP over a socket made in namespace ns (a
// socket stays in the namespace it was created in; the thread is switched
// only for the dial), from src when it is valid.
func vmGet(ns netns.NsHandle, src netip.Addr, timeout time.Duration) (string, error) {
	conn, err := func() (net.Conn, error) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		orig, err := netns.Get()
		if err != nil {
			return nil, err
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			return nil, err
		}
		defer netns.Set(orig)
		d := net.Dialer{Timeout: timeout}
		if src.IsValid() {
			d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
		}
		return d.Dial("tcp4", vmVIP+":80")
	}()
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(conn, "GET / HTTP/1.0\r\n\r\n"); err != nil {
		return "", err
	}
	br := bufio.NewReader(conn)
	status, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.Contains(status, " 200 ") {
		return "", fmt.Errorf("status %q", strings.TrimSpace(status))
	}
	body, err := io.ReadAll(br)
	if err != nil {
		return "", err
	}
	_, b, _ := strings.Cut(string(body), "\r\n\r\n")
	return strings.TrimSpace(b), nil
}

// vmTemplate finds the client's persistence template in `lvsctl -L -n -c`
// (source CLIENT:0; state NONE, or ASSURED once a connection used it) and
// returns its real server address.
func vmTemplate(conns string) string {
	for _, line := range strings.Split(conns, "\n") {
		f := strings.Fields(line)
		if len(f) == 6 && f[0] == "TCP" && f[3] == vmClient+":0" {
			host, _, _ := strings.Cut(f[5], ":")
			return host
		}
	}
	return ""
}

func TestVMFailover(t *testing.T) {
	labvm.RequireVM(t)
	vmSh(t, vmTeardown)
	t.Cleanup(func() { exec.Command("sh", "-c", vmTeardown).Run() })
	vmSh(t, vmTopology)

	// d1 (priority 150) becomes master alone; d2 (100) then joins as
	// backup and stays there.
	d1 := vmStartDirector(t, "d1", 150)
	vmWait(t, "d1 master", 10*time.Second, d1.hasVIP)
	d2 := vmStartDirector(t, "d2", 100)
	vmWait(t, "d2's backup sync daemon", 10*time.Second, func() bool {
		out, _ := exec.Command("ip", "netns", "exec", d2.ns, vmLvsctl, "-L", "--daemon").Output()
		return strings.Contains(string(out), "backup sync daemon (mcast=eth0, syncid=51")
	})
	if got := d1.ipvs(t, "-L", "--daemon"); !strings.Contains(got, "master sync daemon (mcast=eth0, syncid=51") {
		t.Fatalf("d1's sync daemon:\n%s", got)
	}
	time.Sleep(time.Second)
	if d2.hasVIP() {
		t.Fatal("d2 holds the VIP while d1 is master")
	}

	ns, err := netns.GetFromName("vr-c")
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	ctx, cancel := context.WithCancel(t.Context())
	var client vmClientLoop
	var wg sync.WaitGroup
	wg.Add(1)
	const reqTimeout = 300 * time.Millisecond
	go func() { defer wg.Done(); client.run(ctx, ns, reqTimeout) }()
	defer func() { cancel(); wg.Wait() }()

	// The client settles on one real server; the sync daemon copies its
	// persistence template to the backup (the master sends its buffer at
	// least every 2 s).
	start := time.Now()
	vmWait(t, "10 answers through d1", 20*time.Second, func() bool {
		n := 0
		for _, r := range client.since(start) {
			if r.err == nil {
				n++
			}
		}
		return n >= 10
	})
	var server string
	for _, r := range client.since(start) {
		if r.err != nil {
			t.Fatalf("request through d1 failed: %v", r.err)
		}
		if server == "" {
			server = r.server
		}
		if r.server != server {
			t.Fatalf("persistence: answers from %s and %s", server, r.server)
		}
	}
	rsAddr := map[string]string{"rs1": "192.0.2.11", "rs2": "192.0.2.12"}[server]
	if conns := d1.ipvs(t, "-L", "-n", "-c"); vmTemplate(conns) != rsAddr {
		t.Fatalf("d1 has no template for the client to %s (%s):\n%s", rsAddr, server, conns)
	}
	vmWait(t, "the template on d2", 10*time.Second, func() bool {
		out, _ := exec.Command("ip", "netns", "exec", d2.ns, vmLvsctl, "-L", "-n", "-c").Output()
		return vmTemplate(string(out)) == rsAddr
	})
	t.Logf("client on %s; d2 has its persistence template:\n%s", server, d2.ipvs(t, "-L", "-n", "-c"))

	// The master host dies.
	killed := time.Now()
	d1.cmd.Process.Signal(syscall.SIGKILL)
	vmSh(t, "ip -n vr-d1 link set eth0 down")
	took := vmWait(t, "d2 takes the VIP", 5*time.Second, d2.hasVIP).Sub(killed)
	vmWait(t, "20 answers after the failover", 20*time.Second, func() bool {
		n := 0
		for _, r := range client.since(killed) {
			if r.err == nil {
				n++
			}
		}
		return n >= 20
	})
	cancel()
	wg.Wait()

	var failed int
	var lastFail, firstOK time.Time
	for _, r := range client.since(killed.Add(-reqTimeout)) {
		switch {
		case r.err != nil:
			failed++
			lastFail = r.end
		case r.server != server:
			t.Errorf("after the failover a request went to %s, not %s", r.server, server)
		}
	}
	for _, r := range client.since(killed) {
		if r.err == nil && r.start.After(lastFail) {
			firstOK = r.end
			break
		}
	}
	outage := firstOK.Sub(killed)
	t.Logf("VIP on d2 %v after the kill (Master_Down_Interval 360.9 ms); traffic back after %v; %d requests failed (%v timeout each)",
		took.Round(time.Millisecond), outage.Round(time.Millisecond), failed, reqTimeout)
	// The outage is Master_Down_Interval, the gratuitous ARPs and one
	// request timeout, with room for the emulated CPU.
	if outage > 2*time.Second {
		t.Errorf("traffic stopped for %v after the master died", outage)
	}
	if failed > 8 {
		t.Errorf("%d requests failed during the failover", failed)
	}
	if got := d2.ipvs(t, "-L", "--daemon"); !strings.Contains(got, "master sync daemon (mcast=eth0, syncid=51") {
		t.Errorf("d2's sync daemon after the failover:\n%s", got)
	}
	// The control: a client d2 has no template for goes to the other
	// real server, so without the synchronised template the first
	// client would have moved too.
	other, err := vmGet(ns, netip.MustParseAddr("192.0.2.51"), 2*time.Second)
	if err != nil {
		t.Fatalf("new client through d2: %v", err)
	}
	if other == server {
		t.Errorf("a new client through d2 also went to %s: the check of the template proves nothing", server)
	}
}
