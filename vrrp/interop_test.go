//go:build integration

package vrrp_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The interop tests run real speakers on the host in network namespaces:
// a bridge namespace and three hosts on it, a (192.0.2.1, 2001:db8::1), b
// (.2, ::2) and the bystander c (.3, ::3), which only listens. a and b run
// lvsctl or keepalived from the same keepalived.conf. The test watches
// VIPs through rtnetlink in a and b, and every frame c sees.

var buildOnce struct {
	sync.Once
	path string
	err  error
}

// lvsctlBinary builds cmd/lvsctl once per test binary.
func lvsctlBinary(t *testing.T) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lvsctl-interop")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "lvsctl")
		out, err := exec.Command("go", "build", "-o", buildOnce.path, "github.com/lvsctl/lvsctl/cmd/lvsctl").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

func needRoot(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("root interop test: skipped under -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

func sh(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
}

// lab is one topology.
type lab struct {
	t      *testing.T
	prefix string
	start  time.Time

	mu     sync.Mutex
	frames []frame               // seen by the bystander
	vipEv  map[string][]vipEvent // per host namespace
}

type frame struct {
	at   time.Time
	kind string // "advert", "garp", "na"
	src  netip.Addr
	prio int
	mac  string
}

type vipEvent struct {
	at  time.Time
	vip netip.Addr
	add bool
}

var labSeq int

func newLab(t *testing.T) *lab {
	needRoot(t)
	labSeq++
	l := &lab{t: t, prefix: fmt.Sprintf("vi%d%d", os.Getpid()%10000, labSeq), vipEv: map[string][]vipEvent{}, start: time.Now()}
	ns := func(n string) string { return l.prefix + n }
	t.Cleanup(func() {
		for _, n := range []string{"a", "b", "c", "br"} {
			exec.Command("ip", "netns", "del", ns(n)).Run()
		}
	})
	sh(t, "ip", "netns", "add", ns("br"))
	sh(t, "ip", "-n", ns("br"), "link", "add", "br0", "type", "bridge")
	sh(t, "ip", "-n", ns("br"), "link", "set", "br0", "up")
	for i, n := range []string{"a", "b", "c"} {
		sh(t, "ip", "netns", "add", ns(n))
		sh(t, "ip", "netns", "exec", ns(n), "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
		sh(t, "ip", "-n", ns(n), "link", "set", "lo", "up")
		sh(t, "ip", "link", "add", "eth0", "netns", ns(n), "type", "veth", "peer", "name", "v"+n, "netns", ns("br"))
		sh(t, "ip", "-n", ns("br"), "link", "set", "v"+n, "master", "br0", "up")
		sh(t, "ip", "-n", ns(n), "addr", "add", fmt.Sprintf("192.0.2.%d/24", i+1), "dev", "eth0")
		sh(t, "ip", "-n", ns(n), "addr", "add", fmt.Sprintf("2001:db8::%d/64", i+1), "dev", "eth0", "nodad")
		sh(t, "ip", "-n", ns(n), "link", "set", "eth0", "up")
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() { close(done); wg.Wait() })
	for _, n := range []string{"a", "b"} {
		l.watchVIPs(n, done)
	}
	wg.Add(1)
	go func() { defer wg.Done(); l.sniff(ns("c"), done) }()
	// Link-local addresses and bridge ports settle.
	time.Sleep(300 * time.Millisecond)
	return l
}

func (l *lab) watchVIPs(host string, done chan struct{}) {
	h, err := netns.GetFromName(l.prefix + host)
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { h.Close() })
	ch := make(chan netlink.AddrUpdate, 256)
	if err := netlink.AddrSubscribeWithOptions(ch, done, netlink.AddrSubscribeOptions{Namespace: &h}); err != nil {
		l.t.Fatal(err)
	}
	go func() {
		for u := range ch {
			a, _ := netip.AddrFromSlice(u.LinkAddress.IP)
			a = a.Unmap()
			if !isVIP(a) {
				continue
			}
			l.mu.Lock()
			l.vipEv[host] = append(l.vipEv[host], vipEvent{at: time.Now(), vip: a, add: u.NewAddr})
			l.mu.Unlock()
		}
	}()
}

func isVIP(a netip.Addr) bool {
	return a == netip.MustParseAddr("192.0.2.100") || a == netip.MustParseAddr("2001:db8::100")
}

// sniff records, from inside namespace ns, the VRRP adverts, gratuitous
// ARPs and unsolicited NAs on the link.
func (l *lab) sniff(ns string, done chan struct{}) {
	fd := func() int {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		orig, _ := netns.Get()
		defer orig.Close()
		h, err := netns.GetFromName(ns)
		if err != nil {
			l.t.Error(err)
			return -1
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			l.t.Error(err)
			return -1
		}
		defer netns.Set(orig)
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			l.t.Error(err)
			return -1
		}
		return fd
	}()
	if fd < 0 {
		return
	}
	defer unix.Close(fd)
	tv := unix.Timeval{Usec: 50000}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	// Kernel receive timestamps: the test process's goroutines may run
	// late on a loaded machine; the frames' times must not.
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	buf := make([]byte, 2048)
	oob := make([]byte, 128)
	for {
		select {
		case <-done:
			return
		default:
		}
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, 0)
		if err != nil || n < 14 {
			continue
		}
		if f, ok := parseFrame(buf[:n]); ok {
			f.at = time.Now()
			msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
			for _, m := range msgs {
				if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS && len(m.Data) >= 16 {
					f.at = time.Unix(int64(binary.NativeEndian.Uint64(m.Data)), int64(binary.NativeEndian.Uint64(m.Data[8:])))
				}
			}
			l.mu.Lock()
			l.frames = append(l.frames, f)
			l.mu.Unlock()
		}
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func parseFrame(b []byte) (frame, bool) {
	mac := fmt.Sprintf("%x", b[6:12])
	switch binary.BigEndian.Uint16(b[12:14]) {
	case 0x0806:
		if len(b) >= 42 && binary.BigEndian.Uint16(b[20:22]) == 1 && bytes.Equal(b[28:32], b[38:42]) {
			return frame{kind: "garp", src: netip.AddrFrom4([4]byte(b[28:32])), mac: mac}, true
		}
	case 0x0800:
		ihl := int(b[14]&0xf) * 4
		if len(b) >= 14+ihl+4 && b[14+9] == 112 {
			return frame{kind: "advert", src: netip.AddrFrom4([4]byte(b[26:30])), prio: int(b[14+ihl+2]), mac: mac}, true
		}
	case 0x86dd:
		if len(b) >= 54+24 && b[20] == 112 {
			return frame{kind: "advert", src: netip.AddrFrom16([16]byte(b[22:38])), prio: int(b[54+2]), mac: mac}, true
		}
		if len(b) >= 54+24 && b[20] == 58 && b[54] == 136 {
			return frame{kind: "na", src: netip.AddrFrom16([16]byte(b[54+8 : 54+24])), mac: mac}, true
		}
	}
	return frame{}, false
}

// hasVIP reports whether host holds the VIP now.
func (l *lab) hasVIP(host string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev := l.vipEv[host]
	return len(ev) > 0 && ev[len(ev)-1].add
}

// vipAddedAfter returns when host last gained the VIP after t.
func (l *lab) vipAddedAfter(host string, t time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.vipEv[host] {
		if e.add && e.at.After(t) {
			return e.at, true
		}
	}
	return time.Time{}, false
}

func (l *lab) framesSince(t time.Time, kind string, src netip.Addr) []frame {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []frame
	for _, f := range l.frames {
		if f.at.After(t) && f.kind == kind && (!src.IsValid() || f.src == src) {
			out = append(out, f)
		}
	}
	return out
}

func (l *lab) waitFor(what string, timeout time.Duration, cond func() bool) time.Time {
	l.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return time.Now()
		}
		time.Sleep(5 * time.Millisecond)
	}
	l.t.Fatalf("%s: not within %v", what, timeout)
	return time.Time{}
}

// masterOverlap is the longest time both hosts held the VIP while both
// speakers were alive (a SIGKILLed speaker leaves its VIP behind, which is
// no longer a master), between from and to.
func (l *lab) masterOverlap(from, to time.Time, dead map[string][][2]time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	holds := func(host string, t time.Time) bool {
		for _, d := range dead[host] {
			if !t.Before(d[0]) && (d[1].IsZero() || t.Before(d[1])) {
				return false
			}
		}
		has := false
		for _, e := range l.vipEv[host] {
			if e.at.After(t) {
				break
			}
			has = e.add
		}
		return has
	}
	var times []time.Time
	for _, h := range []string{"a", "b"} {
		for _, e := range l.vipEv[h] {
			times = append(times, e.at)
		}
		for _, d := range dead[h] {
			times = append(times, d[0], d[1])
		}
	}
	times = append(times, from, to)
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	var longest, cur time.Duration
	for i := 0; i+1 < len(times); i++ {
		t0, t1 := times[i], times[i+1]
		if t0.Before(from) || !t1.After(t0) || t1.After(to) {
			continue
		}
		if holds("a", t0) && holds("b", t0) {
			cur += t1.Sub(t0)
			longest = max(longest, cur)
		} else {
			cur = 0
		}
	}
	return longest
}

// node is one speaker host: its files and its running process.
type node struct {
	l        *lab
	host     string // "a" or "b"
	impl     string // "lvsctl" or "keepalived"
	dir      string
	cmd      *exec.Cmd
	addr4    netip.Addr
	addr6    netip.Addr
	exited   chan struct{}
	exitCode int
}

type variant struct {
	name     string
	version  int
	interval string // advert_int
	pass     bool
	v6       bool
	unicast  bool
}

type nodeConf struct {
	variant
	Router   string
	Priority int
	Preempt  bool
	Dir      string
	VIP      string
	Src      string
	Peer     string
}

const confTemplate = `global_defs {
    router_id {{.Router}}
    script_user root
    vrrp_garp_master_delay 1
}
vrrp_script chk_maint {
    script "{{.Dir}}/maint.sh"
    interval 1
    weight -2
}
vrrp_instance VI_1 {
    interface eth0
    state BACKUP
    virtual_router_id 51
    priority {{.Priority}}
    advert_int {{.Interval}}
    version {{.Version}}
{{- if not .Preempt}}
    nopreempt
{{- end}}
{{- if .Pass}}
    authentication {
        auth_type PASS
        auth_pass s3cr3t
    }
{{- end}}
{{- if .Peer}}
    unicast_src_ip {{.Src}}
    unicast_peer {
        {{.Peer}}
    }
{{- end}}
    virtual_ipaddress {
        {{.VIP}}
    }
    track_script {
        chk_maint
    }
    notify "{{.Dir}}/notify.sh"
    notify_master "{{.Dir}}/notify_master.sh"
    notify_stop "{{.Dir}}/notify_stop.sh"
}
`

func (v variant) Version() int     { return v.version }
func (v variant) Interval() string { return v.interval }
func (v variant) Pass() bool       { return v.pass }

func (l *lab) node(host, impl string) *node {
	i := map[string]int{"a": 1, "b": 2}[host]
	n := &node{l: l, host: host, impl: impl, dir: l.t.TempDir(),
		addr4: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}),
		addr6: netip.MustParseAddr(fmt.Sprintf("2001:db8::%d", i))}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(n.dir, name), []byte(body), 0o755); err != nil {
			l.t.Fatal(err)
		}
	}
	log := filepath.Join(n.dir, "notify.log")
	write("notify.sh", "#!/bin/sh\necho \"$(date +%s.%N) notify $*\" >> "+log+"\n")
	write("notify_master.sh", "#!/bin/sh\necho \"$(date +%s.%N) notify_master argc=$#\" >> "+log+"\n")
	write("notify_stop.sh", "#!/bin/sh\necho \"$(date +%s.%N) notify_stop argc=$#\" >> "+log+"\n")
	// The maintenance check: fails while the file exists. Run directly
	// (no shell -c), as both speakers run scripts.
	write("maint.sh", "#!/bin/sh\n[ ! -f "+filepath.Join(n.dir, "maint")+" ]\n")
	return n
}

func (n *node) other() string { return map[string]string{"a": "b", "b": "a"}[n.host] }

func (n *node) start(v variant, prio int, preempt bool) {
	t := n.l.t
	c := nodeConf{variant: v, Router: n.host, Priority: prio, Preempt: preempt, Dir: n.dir, VIP: "192.0.2.100/24"}
	if v.v6 {
		c.VIP = "2001:db8::100/64"
	}
	if v.unicast {
		c.Src = n.addr4.String()
		c.Peer = map[string]string{"a": "192.0.2.2", "b": "192.0.2.1"}[n.host]
	}
	var conf bytes.Buffer
	if err := template.Must(template.New("").Parse(confTemplate)).Execute(&conf, c); err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(n.dir, "keepalived.conf")
	if err := os.WriteFile(confPath, conf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"netns", "exec", n.l.prefix + n.host}
	if n.impl == "lvsctl" {
		args = append(args, lvsctlBinary(t), "vrrp", "run", "-f", confPath, "--socket", filepath.Join(n.dir, "vrrp.sock"))
	} else {
		args = append(args, "keepalived", "-n", "-l", "-D", "-P", "-R", "-f", confPath,
			"-p", filepath.Join(n.dir, "k.pid"), "-r", filepath.Join(n.dir, "vrrp.pid"), "-c", filepath.Join(n.dir, "chk.pid"))
	}
	logf, err := os.OpenFile(filepath.Join(n.dir, "speaker.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	n.cmd = exec.Command("ip", args...)
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	n.exited = make(chan struct{})
	cmd := n.cmd
	go func() {
		cmd.Wait()
		n.exitCode = cmd.ProcessState.ExitCode()
		close(n.exited)
	}()
	t.Cleanup(func() { n.kill() })
}

// kill is SIGKILL of the whole process group (keepalived's parent and its
// VRRP child; lvsctl).
func (n *node) kill() time.Time {
	if n.cmd == nil {
		return time.Time{}
	}
	syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
	at := time.Now()
	child := 0
	if b, err := os.ReadFile(filepath.Join(n.dir, "vrrp.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
			child = pid
		}
	}
	<-n.exited
	n.cmd = nil
	// keepalived's VRRP child is reaped by init; until then a restart
	// finds it in the pid file and refuses ("daemon is already running").
	for child != 0 && time.Since(at) < 5*time.Second {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", child)); err != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, f := range []string{"k.pid", "vrrp.pid", "chk.pid"} {
		os.Remove(filepath.Join(n.dir, f))
	}
	return at
}

// stop is SIGTERM and a wait for the exit.
func (n *node) stop() (time.Time, int) {
	at := time.Now()
	syscall.Kill(n.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(10 * time.Second):
		n.l.t.Fatalf("%s (%s) did not exit on SIGTERM", n.host, n.impl)
	}
	n.cmd = nil
	return at, n.exitCode
}

func (n *node) notifyLog() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "notify.log"))
	return string(b)
}

func (n *node) speakerLog() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "speaker.log"))
	return string(b)
}

func (n *node) src(v variant) netip.Addr {
	if !v.v6 {
		return n.addr4
	}
	h, _ := netns.GetFromName(n.l.prefix + n.host)
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		n.l.t.Fatal(err)
	}
	defer nh.Close()
	l, err := nh.LinkByName("eth0")
	if err != nil {
		n.l.t.Fatal(err)
	}
	addrs, _ := nh.AddrList(l, netlink.FAMILY_V6)
	for _, a := range addrs {
		if ip, _ := netip.AddrFromSlice(a.IP); ip.IsLinkLocalUnicast() {
			return ip
		}
	}
	n.l.t.Fatal("no link-local address")
	return netip.Addr{}
}

func (v variant) advertInterval() time.Duration {
	f, _ := strconv.ParseFloat(v.interval, 64)
	return time.Duration(f * float64(time.Second))
}

// mdi is Master_Down_Interval for priority prio (RFC 5798 §6.1; RFC 3768
// §6.1's skew in whole seconds for v2).
func (v variant) mdi(prio int) time.Duration { return 3*v.advertInterval() + v.skew(prio) }

func (v variant) skew(prio int) time.Duration {
	if v.version == 2 {
		return time.Duration(256-prio) * time.Second / 256
	}
	return time.Duration(256-prio) * v.advertInterval() / 256
}

var variants = []variant{
	{name: "v2", version: 2, interval: "1"},
	{name: "v2-pass", version: 2, interval: "1", pass: true},
	{name: "v3-ipv4", version: 3, interval: "0.1"},
	{name: "v3-ipv6", version: 3, interval: "0.1", v6: true},
	{name: "unicast", version: 3, interval: "0.1", unicast: true},
}

var pairings = [][2]string{
	{"lvsctl", "keepalived"},
	{"keepalived", "lvsctl"},
	{"lvsctl", "lvsctl"},
}

// TestInterop runs the failover scenarios of issue 6 for every variant and
// pairing: a is the higher priority node (101), b the lower (100).
func TestInterop(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("keepalived"); err != nil {
		t.Skip("keepalived not installed")
	}
	for _, v := range variants {
		for _, p := range pairings {
			t.Run(v.name+"/"+p[0]+"-"+p[1], func(t *testing.T) {
				runScenarios(t, v, p[0], p[1])
			})
		}
	}
}

func runScenarios(t *testing.T, v variant, implA, implB string) {
	l := newLab(t)
	a, b := l.node("a", implA), l.node("b", implB)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("a (%s) notify:\n%s\nlog:\n%s", implA, a.notifyLog(), a.speakerLog())
			t.Logf("b (%s) notify:\n%s\nlog:\n%s", implB, b.notifyLog(), b.speakerLog())
		}
	})
	const prioA, prioB = 101, 100
	iv := v.advertInterval()
	slack := 300*time.Millisecond + iv // process start-up and scheduling
	dead := map[string][][2]time.Time{}
	full := v.version == 3 // v2 at 1 s: election, kill and stop only

	// Election: both start as BACKUP; a's Master_Down_Interval runs out
	// first and it stays master.
	t0 := time.Now()
	b.start(v, prioB, true)
	a.start(v, prioA, true)
	l.waitFor("a master", v.mdi(prioA)+slack, func() bool { return l.hasVIP("a") })
	time.Sleep(3 * iv)
	if l.hasVIP("b") {
		t.Fatalf("b holds the VIP as well\na: %s\nb: %s", a.speakerLog(), b.speakerLog())
	}
	// The bystander saw a's announcements.
	kind := "garp"
	if v.v6 {
		kind = "na"
	}
	vip := netip.MustParseAddr("192.0.2.100")
	if v.v6 {
		vip = netip.MustParseAddr("2001:db8::100")
	}
	if got := l.framesSince(t0, kind, vip); len(got) < 5 {
		t.Errorf("bystander saw %d %s frames for %s, want at least 5", len(got), kind, vip)
	}
	if !v.unicast {
		if got := l.framesSince(t0, "advert", a.src(v)); len(got) == 0 {
			t.Errorf("bystander saw no adverts from a")
		}
	}
	// lvsctl vrrp status reads the running speaker.
	for _, n := range []*node{a, b} {
		if n.impl != "lvsctl" {
			continue
		}
		out, err := exec.Command(lvsctlBinary(t), "vrrp", "status", "--json", "--socket", filepath.Join(n.dir, "vrrp.sock")).CombinedOutput()
		if err != nil {
			t.Fatalf("vrrp status: %v\n%s", err, out)
		}
		want := map[string]string{"a": `"state": "MASTER"`, "b": `"state": "BACKUP"`}[n.host]
		if !strings.Contains(string(out), want) || !strings.Contains(string(out), `"adverts_sent"`) {
			t.Errorf("%s: vrrp status lacks %s:\n%s", n.host, want, out)
		}
	}
	// Notify scripts got keepalived's arguments.
	waitNotify(t, l, a, fmt.Sprintf("notify INSTANCE VI_1 MASTER %d", prioA))
	waitNotify(t, l, a, "notify_master argc=0")
	waitNotify(t, l, b, fmt.Sprintf("notify INSTANCE VI_1 BACKUP %d", prioB))

	// SIGKILL of the master: b takes over after its Master_Down_Interval.
	var lastAdvert time.Time
	if !v.unicast {
		adv := l.framesSince(t0, "advert", a.src(v))
		_ = adv
	}
	killedAt := a.kill()
	dead["a"] = append(dead["a"], [2]time.Time{killedAt, {}})
	got := l.waitFor("b master after a is killed", v.mdi(prioB)+slack, func() bool { return l.hasVIP("b") })
	if !v.unicast {
		if adv := l.framesSince(t0, "advert", a.src(v)); len(adv) > 0 {
			lastAdvert = adv[len(adv)-1].at
		}
		added, _ := l.vipAddedAfter("b", killedAt)
		takeover := added.Sub(lastAdvert)
		t.Logf("takeover: %v from a's last advert to the VIP on b (Master_Down_Interval %v)", takeover.Round(10*time.Microsecond), v.mdi(prioB))
		if takeover < v.mdi(prioB)-5*time.Millisecond {
			t.Errorf("b took over %v after a's last advert, before Master_Down_Interval %v", takeover, v.mdi(prioB))
		}
	}
	_ = got

	if full {
		// A restarted higher priority node preempts ...
		restart := time.Now()
		a.start(v, prioA, true)
		dead["a"][len(dead["a"])-1][1] = restart
		l.waitFor("a preempts on restart", v.mdi(prioA)+slack, func() bool { return l.hasVIP("a") && !l.hasVIP("b") })
		time.Sleep(3 * iv)
		// ... and the maintenance file (weight -2: 101 -> 99) hands
		// mastership to b; removing it hands it back.
		os.WriteFile(filepath.Join(a.dir, "maint"), nil, 0o644)
		l.waitFor("b master while a is in maintenance", 2*time.Second+v.mdi(prioB)+slack, func() bool { return l.hasVIP("b") && !l.hasVIP("a") })
		os.Remove(filepath.Join(a.dir, "maint"))
		l.waitFor("a master after maintenance", 2*time.Second+v.mdi(prioA)+slack, func() bool { return l.hasVIP("a") && !l.hasVIP("b") })
		time.Sleep(3 * iv)
	} else {
		// Hand back for the graceful stop below: restart a; b (lower)
		// gives way as a preempts.
		restart := time.Now()
		a.start(v, prioA, true)
		dead["a"][len(dead["a"])-1][1] = restart
		l.waitFor("a preempts on restart", v.mdi(prioA)+slack, func() bool { return l.hasVIP("a") && !l.hasVIP("b") })
		time.Sleep(iv)
	}

	// Graceful stop: priority 0, b takes over after its skew time, a
	// exits 0 and has removed the VIP.
	stopAt, code := a.stop()
	if code != 0 {
		t.Errorf("%s exited %d on SIGTERM", implA, code)
	}
	if l.hasVIP("a") {
		t.Errorf("a kept the VIP after SIGTERM")
	}
	l.waitFor("b master after a stops", v.skew(prioB)+slack, func() bool { return l.hasVIP("b") })
	if !v.unicast {
		if zero := framesWithPrio(l.framesSince(stopAt.Add(-time.Second), "advert", a.src(v)), 0); len(zero) > 0 {
			added, _ := l.vipAddedAfter("b", stopAt)
			t.Logf("graceful stop: %v from a's priority 0 advert to the VIP on b (skew %v)", added.Sub(zero[0].at).Round(10*time.Microsecond), v.skew(prioB))
		} else {
			t.Errorf("bystander saw no priority 0 advert from a")
		}
	}
	waitNotify(t, l, a, "notify_stop argc=0")
	dead["a"] = append(dead["a"], [2]time.Time{stopAt, {}})

	if full {
		// nopreempt: a restarted without preemption stays backup.
		restart := time.Now()
		a.start(v, prioA, false)
		dead["a"][len(dead["a"])-1][1] = restart
		time.Sleep(2*v.mdi(prioA) + slack)
		if l.hasVIP("a") || !l.hasVIP("b") {
			t.Errorf("nopreempt: a took over from b (a %v, b %v)", l.hasVIP("a"), l.hasVIP("b"))
		}
	}
	// Never two masters for longer than one advert interval once
	// converged.
	if ov := l.masterOverlap(t0, time.Now(), dead); ov > iv {
		t.Errorf("two masters for %v, longer than one advert interval %v", ov, iv)
	}
}

func framesWithPrio(fs []frame, prio int) []frame {
	var out []frame
	for _, f := range fs {
		if f.prio == prio {
			out = append(out, f)
		}
	}
	return out
}

func waitNotify(t *testing.T, l *lab, n *node, want string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(n.notifyLog(), want) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%s (%s): notify log lacks %q:\n%s", n.host, n.impl, want, n.notifyLog())
}
