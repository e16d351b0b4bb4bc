package ipvs

// Real-kernel tests. TestLab (host) boots the lab VM and runs the TestVM*
// tests there, each in network namespaces of its own, so every test starts
// from an empty IPVS table. What the client writes is read back with the
// client and with the real ipvsadm (-S -n, -L -n --stats --exact,
// --timeout, --daemon).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"

	"github.com/lvsctl/lvsctl/lab"
	"github.com/lvsctl/lvsctl/lvs"
)

// labModules are loaded in the VM before the tests: IPVS with every
// scheduler (the kernel would load them on demand, but a missing one
// should fail loudly here), and dummy for the sync daemon's interface.
var labModules = []string{
	"crc32c_generic", "ip_vs",
	"ip_vs_rr", "ip_vs_wrr", "ip_vs_lc", "ip_vs_wlc", "ip_vs_lblc", "ip_vs_lblcr", "ip_vs_dh",
	"ip_vs_sh", "ip_vs_sed", "ip_vs_nq", "ip_vs_fo", "ip_vs_ovf", "ip_vs_mh", "dummy",
}

var schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"}

// TestLab runs the real-kernel tests of this package in the lab VM.
func TestLab(t *testing.T) {
	lab.RunTestsWith(t, lab.TestOptions{Run: "^TestVM", Modules: labModules, CPUs: 2, Memory: 1024})
}

var nsCounter atomic.Int32

// vmNS is a fresh network namespace with a client opened in it and a
// dummy0 interface (multicast, 192.0.2.250/24, 2001:db8::250/64).
type vmNS struct {
	name string
	c    *Client
}

func newVMNS(t *testing.T) *vmNS {
	t.Helper()
	lab.RequireVM(t)
	name := fmt.Sprintf("ipvs%d", nsCounter.Add(1))
	mustRun(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "dummy0", "type", "dummy"},
		{"link", "set", "dummy0", "multicast", "on", "up"},
		{"addr", "add", "192.0.2.250/24", "dev", "dummy0"},
		{"addr", "add", "2001:db8::250/64", "dev", "dummy0", "nodad"},
	} {
		mustRun(t, "ip", append([]string{"-n", name}, args...)...)
	}
	c, err := Open(Options{NetNS: "/run/netns/" + name})
	if err != nil {
		t.Fatalf("Open in %s: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return &vmNS{name: name, c: c}
}

// ipvsadm runs the real ipvsadm in the namespace.
func (n *vmNS) ipvsadm(t *testing.T, args ...string) string {
	t.Helper()
	return mustRun(t, "ip", append([]string{"netns", "exec", n.name, "ipvsadm"}, args...)...)
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// runIn runs fn on a locked OS thread inside the named namespace.
func runIn(t *testing.T, ns string, fn func()) {
	t.Helper()
	f, err := os.Open("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		// The thread is not unlocked: it leaves the namespace changed,
		// and the runtime then discards it with the goroutine.
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			t.Errorf("setns: %v", err)
			return
		}
		fn()
	}()
	<-done
}

// addClient makes a client namespace joined to n by a veth pair
// (198.51.100.100 there, 198.51.100.1 here) routing 203.0.113.0/24 to n,
// and puts the VIP 203.0.113.1 on n's loopback, so datagrams from the
// client reach IPVS the way real traffic does, through LOCAL_IN.
func (n *vmNS) addClient(t *testing.T) string {
	t.Helper()
	cl := n.name + "c"
	mustRun(t, "ip", "netns", "add", cl)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", cl).Run() })
	for _, args := range [][]string{
		{"-n", n.name, "link", "add", "dr0", "type", "veth", "peer", "name", "cl0", "netns", cl},
		{"-n", n.name, "addr", "add", "198.51.100.1/24", "dev", "dr0"},
		{"-n", n.name, "link", "set", "dr0", "up"},
		{"-n", n.name, "addr", "add", "203.0.113.1/32", "dev", "lo"},
		{"-n", cl, "link", "set", "lo", "up"},
		{"-n", cl, "addr", "add", "198.51.100.100/24", "dev", "cl0"},
		{"-n", cl, "link", "set", "cl0", "up"},
		{"-n", cl, "route", "add", "203.0.113.0/24", "via", "198.51.100.1"},
	} {
		mustRun(t, "ip", args...)
	}
	return cl
}

// sendUDP sends count datagrams to dst from the namespace ns.
func sendUDP(t *testing.T, ns string, dst netip.AddrPort, count int) {
	t.Helper()
	runIn(t, ns, func() {
		conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
		if err != nil {
			t.Errorf("dial %s: %v", dst, err)
			return
		}
		defer conn.Close()
		for range count {
			if _, err := conn.Write([]byte("lvsctl lab datagram")); err != nil {
				t.Errorf("send to %s: %v", dst, err)
				return
			}
		}
	})
}

// savedRule is one line of ipvsadm -S -n, parsed loosely: options in any
// order, defaults for the ones left out.
type savedRule struct {
	svc  lvs.Service
	dest *lvs.Destination
}

func parseSave(t *testing.T, out string) []savedRule {
	t.Helper()
	var rules []savedRule
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		var r savedRule
		switch f[0] {
		case "-A":
		case "-a":
			r.dest = &lvs.Destination{Forward: lvs.DirectRoute}
		default:
			t.Fatalf("ipvsadm -S line %q", line)
		}
		r.svc.Netmask = 0xffffffff
		for i := 1; i < len(f); i++ {
			opt := f[i]
			val := func() string {
				i++
				if i >= len(f) {
					t.Fatalf("ipvsadm -S line %q: %s without value", line, opt)
				}
				return f[i]
			}
			num := func() uint64 {
				v, err := strconv.ParseUint(val(), 10, 32)
				if err != nil {
					t.Fatalf("ipvsadm -S line %q: %v", line, err)
				}
				return v
			}
			switch opt {
			case "-t", "-u", "--sctp-service":
				r.svc.Protocol = map[string]lvs.Protocol{"-t": lvs.TCP, "-u": lvs.UDP, "--sctp-service": lvs.SCTP}[opt]
				ap := netip.MustParseAddrPort(val())
				r.svc.Address, r.svc.Port = ap.Addr(), ap.Port()
				r.svc.Family = lvs.FamilyOf(ap.Addr())
			case "-f":
				r.svc.FWMark = uint32(num())
				if r.svc.Family == 0 {
					r.svc.Family = lvs.IPv4
				}
			case "-6":
				r.svc.Family = lvs.IPv6
			case "-s":
				r.svc.Scheduler = val()
			case "-p":
				r.svc.Flags |= lvs.FlagPersistent
				r.svc.Timeout = time.Duration(num()) * time.Second
			case "-M":
				v := val()
				if a, err := netip.ParseAddr(v); err == nil {
					b := a.As4()
					r.svc.Netmask = uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
				} else {
					n, _ := strconv.Atoi(v)
					r.svc.Netmask = uint32(n)
				}
			case "--pe":
				r.svc.PEName = val()
			case "-o":
				r.svc.Flags |= lvs.FlagOnePacket
			case "-b":
				for _, fl := range strings.Split(val(), ",") {
					switch fl {
					case "sh-fallback", "mh-fallback", "flag-1":
						r.svc.Flags |= lvs.FlagSched1
					case "sh-port", "mh-port", "flag-2":
						r.svc.Flags |= lvs.FlagSched2
					case "flag-3":
						r.svc.Flags |= lvs.FlagSched3
					default:
						t.Fatalf("ipvsadm -S line %q: flag %q", line, fl)
					}
				}
			case "-r":
				v := val()
				if ap, err := netip.ParseAddrPort(v); err == nil {
					r.dest.Address, r.dest.Port = ap.Addr(), ap.Port()
				} else {
					r.dest.Address = netip.MustParseAddr(strings.Trim(v, "[]"))
				}
				r.dest.Family = lvs.FamilyOf(r.dest.Address)
			case "-g":
				r.dest.Forward = lvs.DirectRoute
			case "-i":
				r.dest.Forward = lvs.Tunnel
			case "-m":
				r.dest.Forward = lvs.Masquerade
			case "-w":
				r.dest.Weight = int32(num())
			case "-x":
				r.dest.UpperThreshold = uint32(num())
			case "-y":
				r.dest.LowerThreshold = uint32(num())
			case "--tun-type":
				r.dest.TunnelType = map[string]lvs.TunnelType{"ipip": lvs.TunnelIPIP, "gue": lvs.TunnelGUE, "gre": lvs.TunnelGRE}[val()]
			case "--tun-port":
				r.dest.TunnelPort = uint16(num())
			case "--tun-nocsum":
			case "--tun-csum":
				r.dest.TunnelFlags |= lvs.TunnelCsum
			case "--tun-remcsum":
				r.dest.TunnelFlags |= lvs.TunnelRemCsum
			default:
				t.Fatalf("ipvsadm -S line %q: option %q", line, opt)
			}
		}
		rules = append(rules, r)
	}
	return rules
}

// statLine is a line of ipvsadm -L -n --stats --exact.
type statLine struct {
	what                                      string // "TCP  192.0.2.1:80" or "-> 198.51.100.1:80"
	conns, inPkts, outPkts, inBytes, outBytes uint64
}

func parseStats(t *testing.T, out string) []statLine {
	t.Helper()
	var lines []statLine
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 7 || (f[0] != "->" && f[0] != "TCP" && f[0] != "UDP" && f[0] != "SCTP" && f[0] != "FWM") {
			continue
		}
		var n [5]uint64
		for i := range n {
			v, err := strconv.ParseUint(f[2+i], 10, 64)
			if err != nil {
				t.Fatalf("ipvsadm --stats line %q: %v", line, err)
			}
			n[i] = v
		}
		lines = append(lines, statLine{f[0] + " " + f[1], n[0], n[1], n[2], n[3], n[4]})
	}
	return lines
}

func statsOf(what string, s lvs.Stats) statLine {
	return statLine{what, s.Conns, s.InPkts, s.OutPkts, s.InBytes, s.OutBytes}
}

// ourStats renders the client's listing in ipvsadm --stats order: the
// services as the kernel lists them, each followed by its destinations.
func ourStats(t *testing.T, ctx context.Context, c *Client) []statLine {
	t.Helper()
	svcs, err := c.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var lines []statLine
	for _, s := range svcs {
		what := s.Protocol.String() + " " + netip.AddrPortFrom(s.Address, s.Port).String()
		if s.FWMark != 0 {
			what = "FWM " + strconv.Itoa(int(s.FWMark))
		}
		lines = append(lines, statsOf(what, s.Stats))
		ds, err := c.Destinations(ctx, s.Key())
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			lines = append(lines, statsOf("-> "+netip.AddrPortFrom(d.Address, d.Port).String(), d.Stats))
		}
	}
	return lines
}

var cmpLVS = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmpopts.IgnoreFields(lvs.Service{}, "Stats"),
	cmpopts.IgnoreFields(lvs.Destination{}, "Stats", "ActiveConns", "InactiveConns", "PersistentConns"),
}

// labServices covers every protocol, both families, fwmark services, every
// scheduler and the service options.
func labServices() []lvs.Service {
	v4 := netip.MustParseAddr("192.0.2.1")
	v6 := netip.MustParseAddr("2001:db8::1")
	var svcs []lvs.Service
	for i, sched := range schedulers {
		port := uint16(1000 + i)
		s := lvs.Service{Family: lvs.IPv4, Protocol: lvs.TCP, Address: v4, Port: port, Scheduler: sched, Netmask: 0xffffffff}
		switch sched {
		case "sh":
			s.Flags = lvs.FlagSHFallback | lvs.FlagSHPort
		case "mh":
			s.Flags = lvs.FlagMHFallback | lvs.FlagMHPort
		}
		s6 := s
		s6.Family, s6.Address, s6.Protocol, s6.Netmask = lvs.IPv6, v6, lvs.UDP, 128
		svcs = append(svcs, s, s6)
	}
	return append(svcs,
		lvs.Service{Family: lvs.IPv4, Protocol: lvs.SCTP, Address: v4, Port: 2905, Scheduler: "rr", Netmask: 0xffffffff},
		lvs.Service{Family: lvs.IPv6, Protocol: lvs.SCTP, Address: v6, Port: 2905, Scheduler: "wlc", Netmask: 128},
		lvs.Service{Family: lvs.IPv4, Protocol: lvs.UDP, Address: v4, Port: 53, Scheduler: "rr", Flags: lvs.FlagOnePacket, Netmask: 0xffffffff},
		lvs.Service{Family: lvs.IPv4, Protocol: lvs.TCP, Address: v4, Port: 443, Scheduler: "wlc",
			Flags: lvs.FlagPersistent, Timeout: 600 * time.Second, Netmask: 0xffffff00},
		lvs.Service{Family: lvs.IPv4, Protocol: lvs.TCP, Address: v4, Port: 0, Scheduler: "lc",
			Flags: lvs.FlagPersistent, Timeout: 360 * time.Second, Netmask: 0xffffffff},
		lvs.Service{Family: lvs.IPv6, Protocol: lvs.TCP, Address: v6, Port: 443, Scheduler: "rr",
			Flags: lvs.FlagPersistent, Timeout: 60 * time.Second, Netmask: 64},
		lvs.Service{Family: lvs.IPv4, FWMark: 1, Scheduler: "wrr", Netmask: 0xffffffff},
		lvs.Service{Family: lvs.IPv4, FWMark: 2, Scheduler: "sh", Flags: lvs.FlagPersistent | lvs.FlagSHPort,
			Timeout: 300 * time.Second, Netmask: 0xffff0000},
		lvs.Service{Family: lvs.IPv6, FWMark: 1, Scheduler: "rr", Netmask: 128},
		lvs.Service{Family: lvs.IPv6, FWMark: 3, Scheduler: "mh", Flags: lvs.FlagPersistent | lvs.FlagMHFallback,
			Timeout: 30 * time.Second, Netmask: 96},
	)
}

func withHashed(svcs []lvs.Service) []lvs.Service {
	out := slices.Clone(svcs)
	for i := range out {
		out[i].Flags |= lvs.FlagHashed
	}
	return out
}

func sortServices(svcs []lvs.Service) {
	slices.SortFunc(svcs, func(a, b lvs.Service) int { return strings.Compare(svcKey(a), svcKey(b)) })
}

func svcKey(s lvs.Service) string {
	return fmt.Sprintf("%d/%d/%d/%s/%05d", s.FWMark, s.Family, s.Protocol, s.Address, s.Port)
}

func TestVMServices(t *testing.T) {
	n := newVMNS(t)
	ctx := context.Background()
	want := labServices()
	for _, s := range want {
		if err := n.c.AddService(ctx, s); err != nil {
			t.Fatalf("AddService %s: %v", s, err)
		}
	}
	got, err := n.c.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantH := withHashed(want)
	sortServices(got)
	sortServices(wantH)
	if diff := cmp.Diff(wantH, got, cmpLVS); diff != "" {
		t.Errorf("Services (-want +got):\n%s", diff)
	}
	for _, s := range want {
		one, err := n.c.Service(ctx, s.Key())
		if err != nil {
			t.Errorf("Service %s: %v", s, err)
			continue
		}
		s.Flags |= lvs.FlagHashed
		if diff := cmp.Diff(s, one, cmpLVS); diff != "" {
			t.Errorf("Service %s (-want +got):\n%s", s, diff)
		}
	}

	// ipvsadm reads the same table. It prints the netmask and timeout
	// only for persistent services.
	save := n.ipvsadm(t, "-S", "-n")
	t.Logf("ipvsadm -S -n:\n%s", save)
	var saved []lvs.Service
	for _, r := range parseSave(t, save) {
		saved = append(saved, r.svc)
	}
	wantSaved := slices.Clone(want)
	for i := range wantSaved {
		if wantSaved[i].Flags&lvs.FlagPersistent == 0 {
			wantSaved[i].Netmask = 0xffffffff
		}
		if wantSaved[i].Family == lvs.IPv6 && wantSaved[i].Netmask == 128 {
			wantSaved[i].Netmask = 0xffffffff // left out by ipvsadm, so our parser's default
		}
	}
	sortServices(saved)
	sortServices(wantSaved)
	if diff := cmp.Diff(wantSaved, saved, cmpLVS); diff != "" {
		t.Errorf("ipvsadm -S -n (-want +got):\n%s", diff)
	}

	// Editing replaces scheduler, flags, timeout and netmask.
	edit := want[0]
	edit.Scheduler, edit.Flags, edit.Timeout, edit.Netmask = "sh", lvs.FlagPersistent|lvs.FlagSHPort, 120*time.Second, 0xfffffff0
	if err := n.c.UpdateService(ctx, edit); err != nil {
		t.Fatal(err)
	}
	one, err := n.c.Service(ctx, edit.Key())
	if err != nil {
		t.Fatal(err)
	}
	edit.Flags |= lvs.FlagHashed
	if diff := cmp.Diff(edit, one, cmpLVS); diff != "" {
		t.Errorf("edited service (-want +got):\n%s", diff)
	}
	if save := n.ipvsadm(t, "-S", "-n"); !strings.Contains(save, "-A -t 192.0.2.1:1000 -s sh -b sh-port -p 120 -M 255.255.255.240") &&
		!strings.Contains(save, "-A -t 192.0.2.1:1000 -s sh -p 120 -M 255.255.255.240 -b sh-port") {
		t.Errorf("edited service not in ipvsadm -S -n:\n%s", save)
	}

	// Delete one, then flush the rest.
	if err := n.c.DeleteService(ctx, want[1].Key()); err != nil {
		t.Fatal(err)
	}
	if _, err := n.c.Service(ctx, want[1].Key()); !errors.Is(err, lvs.ErrNoSuchService) {
		t.Errorf("Service after delete = %v", err)
	}
	if err := n.c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := n.c.Services(ctx); err != nil || got == nil || len(got) != 0 {
		t.Errorf("Services after flush = %v, %v", got, err)
	}
	if save := n.ipvsadm(t, "-S", "-n"); strings.TrimSpace(save) != "" {
		t.Errorf("ipvsadm -S -n after flush:\n%s", save)
	}
}

func TestVMPersistenceEngine(t *testing.T) {
	n := newVMNS(t)
	ctx := context.Background()
	s := lvs.Service{Family: lvs.IPv4, Protocol: lvs.UDP, Address: netip.MustParseAddr("192.0.2.1"), Port: 5060,
		Scheduler: "rr", Flags: lvs.FlagPersistent, Timeout: 360 * time.Second, Netmask: 0xffffffff, PEName: "sip"}
	if err := n.c.AddService(ctx, s); errors.Is(err, lvs.ErrNoSuchScheduler) {
		t.Skip("kernel has no ip_vs_pe_sip")
	} else if err != nil {
		t.Fatal(err)
	}
	got, err := n.c.Service(ctx, s.Key())
	if err != nil {
		t.Fatal(err)
	}
	if got.PEName != "sip" {
		t.Errorf("PE name %q, want sip", got.PEName)
	}
	if save := n.ipvsadm(t, "-S", "-n"); !strings.Contains(save, "--pe sip") {
		t.Errorf("ipvsadm -S -n without --pe sip:\n%s", save)
	}
}

func TestVMDestinations(t *testing.T) {
	n := newVMNS(t)
	ctx := context.Background()
	svc4 := lvs.Service{Family: lvs.IPv4, Protocol: lvs.TCP, Address: netip.MustParseAddr("192.0.2.1"), Port: 80, Scheduler: "wlc", Netmask: 0xffffffff}
	svc6 := lvs.Service{Family: lvs.IPv6, Protocol: lvs.TCP, Address: netip.MustParseAddr("2001:db8::1"), Port: 80, Scheduler: "wrr", Netmask: 128}
	fwm := lvs.Service{Family: lvs.IPv4, FWMark: 7, Scheduler: "rr", Netmask: 0xffffffff}
	a4 := func(last byte) netip.Addr { return netip.AddrFrom4([4]byte{198, 51, 100, last}) }
	a6 := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	dests := map[lvs.ServiceKey][]lvs.Destination{
		svc4.Key(): {
			{Family: lvs.IPv4, Address: a4(1), Port: 8080, Forward: lvs.Masquerade, Weight: 1},
			{Family: lvs.IPv4, Address: a4(2), Port: 80, Forward: lvs.DirectRoute, Weight: 0},
			{Family: lvs.IPv4, Address: a4(3), Port: 80, Forward: lvs.Tunnel, Weight: 2147483647, UpperThreshold: 1000, LowerThreshold: 100},
			{Family: lvs.IPv4, Address: a4(4), Port: 80, Forward: lvs.Tunnel, Weight: 5, TunnelType: lvs.TunnelGUE, TunnelPort: 6080, TunnelFlags: lvs.TunnelCsum},
			{Family: lvs.IPv4, Address: a4(5), Port: 80, Forward: lvs.Tunnel, Weight: 5, TunnelType: lvs.TunnelGUE, TunnelPort: 6081, TunnelFlags: lvs.TunnelRemCsum},
			{Family: lvs.IPv4, Address: a4(6), Port: 80, Forward: lvs.Tunnel, Weight: 5, TunnelType: lvs.TunnelGRE, TunnelFlags: lvs.TunnelCsum},
			{Family: lvs.IPv4, Address: a4(7), Port: 80, Forward: lvs.Tunnel, Weight: 5, TunnelType: lvs.TunnelGRE},
			{Family: lvs.IPv4, Address: netip.MustParseAddr("192.0.2.250"), Port: 80, Forward: lvs.LocalNode, Weight: 1},
		},
		svc6.Key(): {
			{Family: lvs.IPv6, Address: a6("2001:db8:1::1"), Port: 8080, Forward: lvs.Masquerade, Weight: 3, UpperThreshold: 10},
			{Family: lvs.IPv6, Address: a6("2001:db8:1::2"), Port: 80, Forward: lvs.DirectRoute, Weight: 1, UpperThreshold: 5, LowerThreshold: 1},
			{Family: lvs.IPv6, Address: a6("2001:db8:1::3"), Port: 80, Forward: lvs.Tunnel, Weight: 1, TunnelType: lvs.TunnelGUE, TunnelPort: 5555},
			// A mixed-family destination: only tunnels may differ.
			{Family: lvs.IPv4, Address: a4(9), Port: 80, Forward: lvs.Tunnel, Weight: 1},
		},
		fwm.Key(): {
			{Family: lvs.IPv4, Address: a4(10), Forward: lvs.DirectRoute, Weight: 1},
			{Family: lvs.IPv6, Address: a6("2001:db8:1::10"), Forward: lvs.Tunnel, Weight: 1, TunnelType: lvs.TunnelIPIP},
		},
	}
	for _, s := range []lvs.Service{svc4, svc6, fwm} {
		if err := n.c.AddService(ctx, s); err != nil {
			t.Fatal(err)
		}
		for _, d := range dests[s.Key()] {
			if err := n.c.AddDestination(ctx, s.Key(), d); err != nil {
				t.Errorf("AddDestination %s %s: %v", s, d, err)
			}
		}
	}
	sortDests := func(ds []lvs.Destination) {
		slices.SortFunc(ds, func(a, b lvs.Destination) int { return a.Address.Compare(b.Address) })
	}
	check := func(label string) {
		t.Helper()
		for k, want := range dests {
			got, err := n.c.Destinations(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			want = slices.Clone(want)
			sortDests(want)
			sortDests(got)
			if diff := cmp.Diff(want, got, cmpLVS); diff != "" {
				t.Errorf("%s: Destinations %s (-want +got):\n%s", label, k, diff)
			}
		}
		save := n.ipvsadm(t, "-S", "-n")
		got := map[string][]lvs.Destination{}
		for _, r := range parseSave(t, save) {
			if r.dest != nil {
				got[r.svc.Key().String()] = append(got[r.svc.Key().String()], *r.dest)
			}
		}
		for k, want := range dests {
			want = slices.Clone(want)
			for i := range want {
				// The save format has no family for a fwmark service
				// destination's port-less address; ipvsadm prints the
				// local node as a route.
				if want[i].Forward == lvs.LocalNode {
					want[i].Forward = lvs.DirectRoute
				}
			}
			g := got[k.String()]
			sortDests(want)
			sortDests(g)
			// The save format has no thresholds; --thresholds shows them.
			noThresh := cmpopts.IgnoreFields(lvs.Destination{}, "UpperThreshold", "LowerThreshold")
			if diff := cmp.Diff(want, g, cmpLVS, noThresh, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%s: ipvsadm -S -n destinations of %s (-want +got):\n%s\n%s", label, k, diff, save)
			}
		}
		thresh := map[string][2]uint32{}
		out := n.ipvsadm(t, "-L", "-n", "--thresholds")
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) >= 4 && f[0] == "->" {
				u, _ := strconv.ParseUint(f[2], 10, 32)
				l, _ := strconv.ParseUint(f[3], 10, 32)
				thresh[f[1]] = [2]uint32{uint32(u), uint32(l)}
			}
		}
		wantThresh := map[string][2]uint32{}
		for _, ds := range dests {
			for _, d := range ds {
				wantThresh[netip.AddrPortFrom(d.Address, d.Port).String()] = [2]uint32{d.UpperThreshold, d.LowerThreshold}
			}
		}
		if diff := cmp.Diff(wantThresh, thresh); diff != "" {
			t.Errorf("%s: ipvsadm -L -n --thresholds (-want +got):\n%s\n%s", label, diff, out)
		}
	}
	check("added")

	// Edit every destination of the IPv4 service: new weights, thresholds
	// and forwarding.
	for i, d := range dests[svc4.Key()] {
		if d.Forward == lvs.LocalNode {
			continue
		}
		d.Weight, d.UpperThreshold, d.LowerThreshold = int32(i+10), uint32(i*100), uint32(i)
		if d.Forward == lvs.Masquerade {
			d.Forward, d.Port = lvs.DirectRoute, 8080
		}
		if err := n.c.UpdateDestination(ctx, svc4.Key(), d); err != nil {
			t.Fatalf("UpdateDestination %s: %v", d, err)
		}
		dests[svc4.Key()][i] = d
	}
	check("edited")

	for _, d := range dests[fwm.Key()] {
		if err := n.c.DeleteDestination(ctx, fwm.Key(), d); err != nil {
			t.Fatal(err)
		}
	}
	dests[fwm.Key()] = []lvs.Destination{}
	check("deleted")
}

func TestVMStatsAndZero(t *testing.T) {
	n := newVMNS(t)
	ctx := context.Background()
	client := n.addClient(t)
	vips := []netip.AddrPort{netip.MustParseAddrPort("203.0.113.1:53"), netip.MustParseAddrPort("203.0.113.1:54")}
	for i, vip := range vips {
		s := lvs.Service{Family: lvs.IPv4, Protocol: lvs.UDP, Address: vip.Addr(), Port: vip.Port(), Scheduler: "rr", Netmask: 0xffffffff}
		if err := n.c.AddService(ctx, s); err != nil {
			t.Fatal(err)
		}
		d := lvs.Destination{Address: netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}), Port: 53, Forward: lvs.DirectRoute, Weight: 1}
		if err := n.c.AddDestination(ctx, s.Key(), d); err != nil {
			t.Fatal(err)
		}
		sendUDP(t, client, vip, 3+i)
	}
	// The kernel folds its per-CPU counters into what it reports every
	// 2 s (the rate estimator's timer), so wait for the traffic to show.
	for deadline := time.Now().Add(8 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		svcs, err := n.c.Services(ctx)
		if err != nil {
			t.Fatal(err)
		}
		counted := 0
		for _, s := range svcs {
			if s.Stats.Conns != 0 && s.Stats.InPkts != 0 && s.Stats.InBytes != 0 {
				counted++
			}
		}
		if counted == len(vips) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("traffic not counted: %+v", svcs)
		}
	}
	time.Sleep(2500 * time.Millisecond) // one more estimator run: every packet counted
	compare := func(label string) []statLine {
		t.Helper()
		ours := ourStats(t, ctx, n.c)
		out := n.ipvsadm(t, "-L", "-n", "--stats", "--exact")
		theirs := parseStats(t, out)
		if diff := cmp.Diff(theirs, ours, cmp.AllowUnexported(statLine{})); diff != "" {
			t.Errorf("%s: client vs ipvsadm --stats --exact (-ipvsadm +client):\n%s\n%s", label, diff, out)
		}
		return ours
	}
	compare("after traffic")

	// Rates come from the kernel's 2-second estimator; just make sure they
	// decode (ipvsadm --rate shows the same fields).
	if _, err := n.c.Services(ctx); err != nil {
		t.Fatal(err)
	}

	key0 := lvs.ServiceKey{Family: lvs.IPv4, Protocol: lvs.UDP, Address: vips[0].Addr(), Port: vips[0].Port()}
	if err := n.c.ZeroService(ctx, key0); err != nil {
		t.Fatal(err)
	}
	for _, l := range compare("after zeroing one service") {
		zeroed := l.conns+l.inPkts+l.outPkts+l.inBytes+l.outBytes == 0
		switch l.what {
		case "UDP 203.0.113.1:53", "-> 192.0.2.10:53":
			if !zeroed {
				t.Errorf("after ZeroService: %+v not zero", l)
			}
		default:
			if zeroed {
				t.Errorf("after ZeroService: %+v of the other service zeroed too", l)
			}
		}
	}
	if err := n.c.Zero(ctx); err != nil {
		t.Fatal(err)
	}
	for _, l := range compare("after zeroing all") {
		if l.conns+l.inPkts+l.outPkts+l.inBytes+l.outBytes != 0 {
			t.Errorf("after Zero: %+v not zero", l)
		}
	}
}

func TestVMTimeoutsAndInfo(t *testing.T) {
	n := newVMNS(t)
	ctx := context.Background()
	info, err := n.c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	head := strings.SplitN(n.ipvsadm(t, "-L", "-n"), "\n", 2)[0]
	if want := fmt.Sprintf("IP Virtual Server version %s (size=%d)", info.VersionString(), info.ConnTableSize); head != want {
		t.Errorf("ipvsadm says %q, client %q", head, want)
	}
	if info.Version != 0x010201 || info.ConnTableSize == 0 {
		t.Errorf("Info = %+v", info)
	}

	set := lvs.Timeouts{TCP: 1000 * time.Second, TCPFin: 100 * time.Second, UDP: 200 * time.Second}
	if err := n.c.SetTimeouts(ctx, set); err != nil {
		t.Fatal(err)
	}
	if got, err := n.c.Timeouts(ctx); err != nil || got != set {
		t.Errorf("Timeouts = %+v, %v; want %+v", got, err, set)
	}
	if err := n.c.SetTimeouts(ctx, lvs.Timeouts{UDP: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	set.UDP = 30 * time.Second
	if got, err := n.c.Timeouts(ctx); err != nil || got != set {
		t.Errorf("Timeouts after a partial set = %+v, %v; want %+v", got, err, set)
	}
	out := n.ipvsadm(t, "-L", "--timeout")
	if want := "Timeout (tcp tcpfin udp): 1000 100 30"; strings.TrimSpace(out) != want {
		t.Errorf("ipvsadm -L --timeout = %q, want %q", out, want)
	}
}

func TestVMSyncDaemons(t *testing.T) {
	n := newVMNS(t)
	ctx := context.Background()
	if got, err := n.c.SyncDaemons(ctx); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("SyncDaemons before start = %#v, %v", got, err)
	}
	master := lvs.SyncDaemon{State: lvs.SyncMaster, Interface: "dummy0", SyncID: 7, MaxLen: 1400,
		Group: netip.MustParseAddr("239.1.2.3"), Port: 8850, TTL: 3}
	backup := lvs.SyncDaemon{State: lvs.SyncBackup, Interface: "dummy0", SyncID: 9,
		Group: netip.MustParseAddr("ff02::8848")}
	if err := n.c.StartSyncDaemon(ctx, master); err != nil {
		t.Fatalf("start master: %v", err)
	}
	if err := n.c.StartSyncDaemon(ctx, backup); err != nil {
		t.Fatalf("start backup: %v", err)
	}
	if err := n.c.StartSyncDaemon(ctx, master); !errors.Is(err, lvs.ErrDaemonRunning) {
		t.Errorf("second master start = %v, want ErrDaemonRunning", err)
	}
	got, err := n.c.SyncDaemons(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("daemons: %+v", got)
	if len(got) != 2 {
		t.Fatalf("%d daemons listed, want 2", len(got))
	}
	// The kernel fills in what was left to it: the backup's port, TTL and
	// maximum length.
	if diff := cmp.Diff(master, got[0], cmpLVS); diff != "" {
		t.Errorf("master (-want +got):\n%s", diff)
	}
	b := got[1]
	if b.State != lvs.SyncBackup || b.Interface != "dummy0" || b.SyncID != 9 || b.Group != backup.Group || b.Port != 8848 || b.TTL == 0 || b.MaxLen == 0 {
		t.Errorf("backup = %+v", b)
	}
	out := n.ipvsadm(t, "-L", "--daemon")
	t.Logf("ipvsadm -L --daemon:\n%s", out)
	for _, want := range []string{
		"master sync daemon (mcast=dummy0, syncid=7, maxlen=1400, group=239.1.2.3, port=8850, ttl=3)",
		fmt.Sprintf("backup sync daemon (mcast=dummy0, syncid=9, maxlen=%d, group=ff02::8848, port=8848, ttl=%d)", b.MaxLen, b.TTL),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ipvsadm -L --daemon lacks %q", want)
		}
	}
	for _, st := range []lvs.SyncState{lvs.SyncMaster, lvs.SyncBackup} {
		if err := n.c.StopSyncDaemon(ctx, st); err != nil {
			t.Errorf("stop %s: %v", st, err)
		}
	}
	if err := n.c.StopSyncDaemon(ctx, lvs.SyncMaster); !errors.Is(err, lvs.ErrNoDaemon) {
		t.Errorf("stop again = %v, want ErrNoDaemon", err)
	}
	if got, err := n.c.SyncDaemons(ctx); err != nil || len(got) != 0 {
		t.Errorf("SyncDaemons after stop = %v, %v", got, err)
	}
}

func TestVMErrors(t *testing.T) {
	n := newVMNS(t)
	ctx := context.Background()
	svc := lvs.Service{Family: lvs.IPv4, Protocol: lvs.TCP, Address: netip.MustParseAddr("192.0.2.1"), Port: 80, Scheduler: "rr", Netmask: 0xffffffff}
	missing := lvs.ServiceKey{Family: lvs.IPv4, Protocol: lvs.TCP, Address: netip.MustParseAddr("192.0.2.99"), Port: 80}
	d := lvs.Destination{Address: netip.MustParseAddr("198.51.100.1"), Port: 80, Forward: lvs.DirectRoute, Weight: 1}
	other := lvs.Destination{Address: netip.MustParseAddr("198.51.100.2"), Port: 80, Forward: lvs.DirectRoute, Weight: 1}
	if err := n.c.AddService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	if err := n.c.AddDestination(ctx, svc.Key(), d); err != nil {
		t.Fatal(err)
	}
	bad := svc
	bad.Port, bad.Scheduler = 81, "nosuch"
	gue := d
	gue.Address, gue.Forward, gue.TunnelType = netip.MustParseAddr("198.51.100.3"), lvs.Tunnel, lvs.TunnelGUE
	ipv6 := lvs.Service{Family: lvs.IPv6, Protocol: lvs.TCP, Address: netip.MustParseAddr("2001:db8::1"), Port: 80, Scheduler: "rr"}
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"service exists", n.c.AddService(ctx, svc), lvs.ErrServiceExists},
		{"unknown scheduler", n.c.AddService(ctx, bad), lvs.ErrNoSuchScheduler},
		{"get missing service", func() error { _, err := n.c.Service(ctx, missing); return err }(), lvs.ErrNoSuchService},
		{"list destinations of missing service", func() error { _, err := n.c.Destinations(ctx, missing); return err }(), lvs.ErrNoSuchService},
		{"edit missing service", n.c.UpdateService(ctx, lvs.Service{Family: lvs.IPv4, Protocol: lvs.TCP, Address: missing.Address, Port: 80, Scheduler: "rr"}), lvs.ErrNoSuchService},
		{"delete missing service", n.c.DeleteService(ctx, missing), lvs.ErrNoSuchService},
		{"zero missing service", n.c.ZeroService(ctx, missing), lvs.ErrNoSuchService},
		{"destination to missing service", n.c.AddDestination(ctx, missing, d), lvs.ErrNoSuchService},
		{"destination exists", n.c.AddDestination(ctx, svc.Key(), d), lvs.ErrDestinationExists},
		{"edit missing destination", n.c.UpdateDestination(ctx, svc.Key(), other), lvs.ErrNoSuchDestination},
		{"delete missing destination", n.c.DeleteDestination(ctx, svc.Key(), other), lvs.ErrNoSuchDestination},
		{"GUE without port", n.c.AddDestination(ctx, svc.Key(), gue), unix.EINVAL},
		{"lower threshold above upper", n.c.AddDestination(ctx, svc.Key(), lvs.Destination{
			Address: netip.MustParseAddr("198.51.100.4"), Port: 80, Weight: 1, UpperThreshold: 1, LowerThreshold: 2}), unix.ERANGE},
		{"IPv6 service without prefix length", n.c.AddService(ctx, ipv6), unix.EINVAL},
		{"no daemon", n.c.StopSyncDaemon(ctx, lvs.SyncBackup), lvs.ErrNoDaemon},
		{"daemon on missing interface", n.c.StartSyncDaemon(ctx, lvs.SyncDaemon{State: lvs.SyncMaster, Interface: "nosuch0"}), unix.ENODEV},
	}
	for _, tt := range tests {
		var kerr *Error
		if !errors.Is(tt.err, tt.want) || !errors.As(tt.err, &kerr) {
			t.Errorf("%s: %v (%T), want %v as an *Error", tt.name, tt.err, tt.err, tt.want)
		}
	}
}

func TestVMNetNSIsolation(t *testing.T) {
	a, b := newVMNS(t), newVMNS(t)
	ctx := context.Background()
	s := lvs.Service{Family: lvs.IPv4, Protocol: lvs.TCP, Address: netip.MustParseAddr("192.0.2.1"), Port: 80, Scheduler: "rr", Netmask: 0xffffffff}
	if err := a.c.AddService(ctx, s); err != nil {
		t.Fatal(err)
	}
	if got, err := b.c.Services(ctx); err != nil || len(got) != 0 {
		t.Errorf("other namespace sees %v, %v", got, err)
	}
	root, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if got, err := root.Services(ctx); err != nil || len(got) != 0 {
		t.Errorf("root namespace sees %v, %v", got, err)
	}
	if save := mustRun(t, "ipvsadm", "-S", "-n"); strings.TrimSpace(save) != "" {
		t.Errorf("ipvsadm in the root namespace sees:\n%s", save)
	}
	if save := a.ipvsadm(t, "-S", "-n"); !strings.Contains(save, "-A -t 192.0.2.1:80 -s rr") {
		t.Errorf("ipvsadm in the namespace does not see the service:\n%s", save)
	}
	if _, err := Open(Options{NetNS: "/run/netns/does-not-exist"}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open in a missing namespace = %v", err)
	}
}

func TestVMBatch(t *testing.T) {
	n := newVMNS(t)
	ctx := context.Background()
	const nsvc, ndest = 5000, 9 // 50,000 operations
	var ops []lvs.Op
	for i := range nsvc {
		s := lvs.Service{Family: lvs.IPv4, Protocol: lvs.TCP, Address: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}),
			Port: 80, Scheduler: "wlc", Netmask: 0xffffffff}
		ops = append(ops, lvs.Op{Kind: lvs.AddService, Service: s})
		for j := range ndest {
			ops = append(ops, lvs.Op{Kind: lvs.AddDestination, Service: s, Destination: lvs.Destination{
				Address: netip.AddrFrom4([4]byte{10, 2, byte(j), byte(i % 250)}), Port: uint16(8000 + i/250), Forward: lvs.Masquerade, Weight: 1,
			}})
		}
	}
	start := time.Now()
	errs, err := n.c.ExecBatch(ctx, ops)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if e != nil {
			t.Fatalf("op %d (%s): %v", i, ops[i].Kind, e)
		}
	}
	t.Logf("ExecBatch: %d operations in %v (%.0f ops/s)", len(ops), took.Round(time.Millisecond), float64(len(ops))/took.Seconds())

	svcs, err := n.c.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) != nsvc {
		t.Errorf("%d services, want %d", len(svcs), nsvc)
	}
	out := n.ipvsadm(t, "-S", "-n")
	if lines := strings.Count(out, "\n"); lines != len(ops) {
		t.Errorf("ipvsadm -S -n has %d lines, want %d", lines, len(ops))
	}

	// A batch where every op fails: each failure costs an NLMSG_ERROR in
	// the receive buffer, which the packing must not overflow (ENOBUFS).
	errs, err = n.c.ExecBatch(ctx, ops[:10000])
	if err != nil {
		t.Fatalf("all-failing batch: %v", err)
	}
	for i, e := range errs {
		if !errors.Is(e, os.ErrExist) {
			t.Fatalf("all-failing batch, op %d: %v, want EEXIST", i, e)
		}
	}

	// Mixed failures are reported op by op, the last op's included.
	s0 := ops[0].Service
	fresh := lvs.Service{Family: lvs.IPv4, Protocol: lvs.UDP, Address: netip.MustParseAddr("192.0.2.7"), Port: 53, Scheduler: "rr", Netmask: 0xffffffff}
	mixed := []lvs.Op{
		ops[0],                                 // exists
		{Kind: lvs.AddService, Service: fresh}, // ok
		ops[1],                                 // destination exists
		{Kind: lvs.DeleteDestination, Service: s0, Destination: ops[1].Destination},                    // ok
		{Kind: lvs.DeleteDestination, Service: s0, Destination: ops[1].Destination},                    // gone
		{Kind: lvs.AddService, Service: lvs.Service{Family: lvs.IPv4, FWMark: 9, Scheduler: "nosuch"}}, // no scheduler
		{Kind: lvs.Zero, AllServices: true},                                                            // ok
		{Kind: lvs.DeleteService, Service: fresh},                                                      // ok
		{Kind: lvs.DeleteService, Service: fresh},                                                      // gone
	}
	want := []error{lvs.ErrServiceExists, nil, lvs.ErrDestinationExists, nil, lvs.ErrNoSuchDestination, lvs.ErrNoSuchScheduler, nil, nil, lvs.ErrNoSuchService}
	errs, err = n.c.ExecBatch(ctx, mixed)
	if err != nil {
		t.Fatal(err)
	}
	for i := range mixed {
		if (want[i] == nil) != (errs[i] == nil) || (want[i] != nil && !errors.Is(errs[i], want[i])) {
			t.Errorf("mixed op %d (%s): %v, want %v", i, mixed[i].Kind, errs[i], want[i])
		}
	}
	// The socket stays in step after a batch that ended in an error.
	if _, err := n.c.Info(ctx); err != nil {
		t.Errorf("Info after batch: %v", err)
	}
}

// TestVMConcurrent hammers one client from several goroutines against the
// real kernel.
func TestVMConcurrent(t *testing.T) {
	n := newVMNS(t)
	ctx := context.Background()
	errc := make(chan error, 100)
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 40 {
				s := lvs.Service{Family: lvs.IPv4, FWMark: uint32(g*1000 + i + 1), Scheduler: "rr", Netmask: 0xffffffff}
				if err := n.c.AddService(ctx, s); err != nil {
					errc <- err
					return
				}
				if _, err := n.c.Services(ctx); err != nil {
					errc <- err
					return
				}
				if _, err := n.c.Destinations(ctx, s.Key()); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if got, err := n.c.Services(ctx); err != nil || len(got) != 160 {
		t.Errorf("Services = %d, %v; want 160", len(got), err)
	}
}
