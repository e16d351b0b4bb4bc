package fwmark_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/lvsctl/lvsctl/lab"
)

// End-to-end tests with real traffic in the lab VM: persistence by port
// (PPC), by client (PCC) and by firewall mark across ports (PNMPP), and
// direct-routing real servers prepared with `lvsctl realserver up`. The
// host test builds lvsctl and hands it to the guest.

const lvsctl = "/usr/local/bin/lvsctl"

func TestLab(t *testing.T) {
	lab.Require(t)
	bin := filepath.Join(t.TempDir(), "lvsctl")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-o", bin, "../cmd/lvsctl")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build lvsctl: %v\n%s", err, out)
	}
	lab.RunTestsWith(t, lab.TestOptions{Run: "^TestVM", Files: map[string]string{bin: lvsctl}, CPUs: 2})
}

// The LAN: one bridge, everyone on 192.0.2.0/24, direct routing.
const (
	vip      = "192.0.2.100"
	director = "192.0.2.1"
	rs1Addr  = "192.0.2.11"
	rs2Addr  = "192.0.2.12"
	c1Addr   = "192.0.2.51"
	c2Addr   = "192.0.2.52"
)

const topology = `set -e
ip link add lan0 type bridge
ip link set lan0 up
plug() { # plug NS ADDR
	ip netns add "$1"
	ip link add "v-$1" type veth peer name eth0 netns "$1"
	ip link set "v-$1" master lan0 up
	ip -n "$1" addr add "$2/24" dev eth0
	ip -n "$1" link set eth0 up
	ip -n "$1" link set lo up
}
plug director ` + director + `
plug rs1 ` + rs1Addr + `
plug rs2 ` + rs2Addr + `
plug c1 ` + c1Addr + `
plug c2 ` + c2Addr + `
ip -n director addr add ` + vip + `/32 dev eth0
for rs in rs1 rs2; do
	for port in 80 443 8080; do
		mkdir -p /srv/$rs-$port
		echo $rs >/srv/$rs-$port/index.html
		ip netns exec $rs httpd -p $port -h /srv/$rs-$port
	done
done
`

const teardown = `for ns in director rs1 rs2 c1 c2; do
	for pid in $(ip netns pids $ns 2>/dev/null); do kill $pid; done
	ip netns del $ns 2>/dev/null
done
ip link del lan0 2>/dev/null
true
`

// sh runs a script and fails the test when it fails.
func sh(t *testing.T, script string) string {
	t.Helper()
	out, err := exec.Command("sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%s\n%v\n%s", script, err, out)
	}
	return string(out)
}

// in runs a command in a namespace; it returns the output and the error.
func in(ns string, args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	return string(out), err
}

func mustIn(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := in(ns, args...)
	if err != nil {
		t.Fatalf("%s: %v: %v\n%s", ns, args, err, out)
	}
	return out
}

// fetch makes one HTTP request, a new connection, from a client
// namespace; it returns the real server that answered or "" for none.
func fetch(ns, port string) string {
	out, err := in(ns, "timeout", "5", "wget", "-q", "-O", "-", "http://"+vip+":"+port+"/")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// fetchN makes n requests and returns who answered each.
func fetchN(ns, port string, n int) []string {
	var got []string
	for range n {
		got = append(got, fetch(ns, port))
	}
	return got
}

// one returns the single value of xs, failing if they differ or are empty.
func one(t *testing.T, what string, xs []string) string {
	t.Helper()
	if len(xs) == 0 || xs[0] == "" || slices.ContainsFunc(xs, func(x string) bool { return x != xs[0] }) {
		t.Fatalf("%s: answered by %q, want one real server throughout", what, xs)
	}
	return xs[0]
}

func resetDirector(t *testing.T) {
	t.Helper()
	mustIn(t, "director", lvsctl, "-C")
	mustIn(t, "director", lvsctl, "fwmark", "flush")
}

// templates returns the persistence templates lvsctl -L -n -c shows for
// a client and a virtual address: entries with source port 0 (state NONE
// or, once a connection was established through them, ASSURED). The
// connection table outlives the services of earlier subtests, hence the
// virtual address: "VIP:80" (PPC), "VIP:0" (PCC), "0.0.0.5:0" (mark 5).
func templates(t *testing.T, client, virtual string) []string {
	t.Helper()
	out := mustIn(t, "director", lvsctl, "-L", "-n", "-c")
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 6 && f[3] == client+":0" && f[4] == virtual {
			lines = append(lines, strings.Join(strings.Fields(l), " "))
		}
	}
	t.Logf("lvsctl -L -n -c:\n%s", out)
	return lines
}

func TestVMTraffic(t *testing.T) {
	lab.RequireVM(t)
	sh(t, teardown)
	sh(t, topology)
	t.Cleanup(func() { exec.Command("sh", "-c", teardown).Run() })
	mustIn(t, "director", "sysctl", "-qw", "net.ipv4.ip_forward=1")
	directorMAC := strings.TrimSpace(mustIn(t, "director", "cat", "/sys/class/net/eth0/address"))

	t.Run("ARP goes wrong without the helper", func(t *testing.T) {
		for _, rs := range []string{"rs1", "rs2"} {
			mustIn(t, rs, "ip", "addr", "add", vip+"/32", "dev", "lo")
		}
		macs := arpReplies(t, "c1")
		for _, rs := range []string{"rs1", "rs2"} {
			mustIn(t, rs, "ip", "addr", "del", vip+"/32", "dev", "lo")
		}
		if len(macs) < 2 || !slices.Contains(macs, directorMAC) {
			t.Fatalf("ARP replies for the VIP came from %q; want the director (%s) and real servers", macs, directorMAC)
		}
		t.Logf("without the helper, %d hosts answer ARP for %s: %q", len(macs), vip, macs)
	})

	t.Run("realserver up makes DR work", func(t *testing.T) {
		for _, rs := range []string{"rs1", "rs2"} {
			for range 2 { // idempotent
				mustIn(t, rs, lvsctl, "realserver", "up", "--vip", vip)
			}
			status := mustIn(t, rs, lvsctl, "realserver", "status")
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(vip) + `\s+lo\s+dr\s+yes`).MatchString(status) {
				t.Errorf("%s status:\n%s", rs, status)
			}
			if v := strings.TrimSpace(mustIn(t, rs, "sysctl", "-n", "net.ipv4.conf.all.arp_ignore")); v != "1" {
				t.Errorf("%s arp_ignore = %s", rs, v)
			}
		}
		if macs := arpReplies(t, "c1"); len(macs) != 1 || macs[0] != directorMAC {
			t.Fatalf("ARP replies for the VIP came from %q; want the director's %s only", macs, directorMAC)
		}
		resetDirector(t)
		mustIn(t, "director", lvsctl, "-A", "-t", vip+":80", "-s", "rr")
		mustIn(t, "director", lvsctl, "-a", "-t", vip+":80", "-r", rs1Addr, "-g")
		mustIn(t, "director", lvsctl, "-a", "-t", vip+":80", "-r", rs2Addr, "-g")
		got := fetchN("c1", "80", 6)
		slices.Sort(got)
		if want := []string{"rs1", "rs1", "rs1", "rs2", "rs2", "rs2"}; !slices.Equal(got, want) {
			t.Errorf("round robin over DR answered %q, want %q", got, want)
		}
		resetDirector(t)
	})

	t.Run("PPC", func(t *testing.T) {
		resetDirector(t)
		mustIn(t, "director", lvsctl, "-A", "-t", vip+":80", "-s", "rr", "-p", "60")
		mustIn(t, "director", lvsctl, "-a", "-t", vip+":80", "-r", rs1Addr, "-g")
		mustIn(t, "director", lvsctl, "-a", "-t", vip+":80", "-r", rs2Addr, "-g")
		s1 := one(t, "c1 on port 80", fetchN("c1", "80", 5))
		s2 := one(t, "c2 on port 80", fetchN("c2", "80", 5))
		if s1 == s2 {
			t.Errorf("both clients on %s; round robin should place the second template elsewhere", s1)
		}
		if tpl := templates(t, c1Addr, vip+":80"); len(tpl) != 1 {
			t.Errorf("templates of c1: %q; want one for %s:80", tpl, vip)
		}
		resetDirector(t)
	})

	t.Run("PCC", func(t *testing.T) {
		resetDirector(t)
		mustIn(t, "director", lvsctl, "-A", "-t", vip+":0", "-s", "rr", "-p", "60")
		mustIn(t, "director", lvsctl, "-a", "-t", vip+":0", "-r", rs1Addr, "-g")
		mustIn(t, "director", lvsctl, "-a", "-t", vip+":0", "-r", rs2Addr, "-g")
		var c1 []string
		for _, port := range []string{"80", "443", "8080", "80", "443"} {
			c1 = append(c1, fetch("c1", port))
		}
		s1 := one(t, "c1 on ports 80, 443 and 8080", c1)
		s2 := one(t, "c2 on ports 80 and 443", []string{fetch("c2", "443"), fetch("c2", "80")})
		if s1 == s2 {
			t.Errorf("both clients on %s", s1)
		}
		if tpl := templates(t, c1Addr, vip+":0"); len(tpl) != 1 {
			t.Errorf("templates of c1: %q; want one for %s:0", tpl, vip)
		}
		resetDirector(t)
	})

	t.Run("PNMPP with fwmark service", func(t *testing.T) {
		resetDirector(t)
		args := []string{lvsctl, "fwmark", "service", "--vip", vip, "--ports", "80,443", "--mark", "5",
			"-s", "rr", "-p", "60", "-r", rs1Addr, "-r", rs2Addr, "-g"}
		mustIn(t, "director", args...)
		mustIn(t, "director", args...) // idempotent
		save := mustIn(t, "director", "iptables-save", "-t", "mangle")
		wantRule := `-A LVSCTL-FWMARK -d 192.0.2.100/32 -p tcp -m multiport --dports 80,443 -m comment --comment "lvsctl fwmark 5" -j MARK --set-xmark 0x5/0xffffffff`
		if strings.Count(save, wantRule) != 1 {
			t.Errorf("iptables-save lacks the rule once:\n%s", save)
		}
		if ipvs := mustIn(t, "director", lvsctl, "-S", "-n"); strings.Count(ipvs, "-a -f 5 ") != 2 {
			t.Errorf("IPVS table:\n%s", ipvs)
		}

		var c1 []string
		for _, port := range []string{"80", "443", "80", "443", "443", "80"} {
			c1 = append(c1, fetch("c1", port))
		}
		s1 := one(t, "c1 on ports 80 and 443", c1)
		s2 := one(t, "c2 on ports 443 and 80", []string{fetch("c2", "443"), fetch("c2", "80"), fetch("c2", "443")})
		if s1 == s2 {
			t.Errorf("both clients on %s; the second template should go elsewhere", s1)
		}
		// Port 8080 is outside the mark: the director keeps it (nothing
		// listens there), no real server answers, IPVS sees nothing.
		before := strings.Count(mustIn(t, "director", lvsctl, "-L", "-n", "-c"), vip+":8080")
		if got := fetch("c1", "8080"); got != "" {
			t.Errorf("port 8080 was balanced to %s", got)
		}
		if after := strings.Count(mustIn(t, "director", lvsctl, "-L", "-n", "-c"), vip+":8080"); after != before {
			t.Errorf("IPVS took %d connections to port 8080", after-before)
		}
		if tpl := templates(t, c1Addr, "0.0.0.5:0"); len(tpl) != 1 || !strings.HasPrefix(tpl[0], "IP ") {
			t.Errorf("templates of c1: %q; want one for mark 5", tpl)
		}
		list := mustIn(t, "director", lvsctl, "fwmark", "list")
		if !regexp.MustCompile(`(?m)^5\s+192\.0\.2\.100\s+tcp\s+80,443\s+no$`).MatchString(list) {
			t.Errorf("fwmark list:\n%s", list)
		}

		mustIn(t, "director", append(args[:9:9], "--delete")...)
		if save := mustIn(t, "director", "iptables-save", "-t", "mangle"); strings.Contains(save, "LVSCTL") {
			t.Errorf("rules left after --delete:\n%s", save)
		}
		if ipvs := mustIn(t, "director", lvsctl, "-S", "-n"); ipvs != "" {
			t.Errorf("IPVS left after --delete:\n%s", ipvs)
		}
		if out, err := in("director", append(args[:9:9], "--delete")...); err == nil {
			t.Errorf("a second --delete succeeded:\n%s", out)
		}
	})

	t.Run("fwmark service rolls back on a real failure", func(t *testing.T) {
		resetDirector(t)
		out, err := in("director", lvsctl, "fwmark", "service", "--vip", vip, "--ports", "80,443", "--mark", "5",
			"-s", "nosuchsched", "-r", rs1Addr)
		if err == nil || !strings.Contains(out, "nosuchsched") {
			t.Fatalf("unknown scheduler: err %v, output:\n%s", err, out)
		}
		t.Logf("lvsctl said: %s", out)
		if save := mustIn(t, "director", "iptables-save", "-t", "mangle"); strings.Contains(save, "LVSCTL") {
			t.Errorf("rules left after the rollback:\n%s", save)
		}
		if ipvs := mustIn(t, "director", lvsctl, "-S", "-n"); ipvs != "" {
			t.Errorf("IPVS left after the rollback:\n%s", ipvs)
		}
		// A real server the kernel refuses part-way (an IPv6 address for
		// direct routing to an IPv4 service) rolls back the service too.
		out, err = in("director", lvsctl, "fwmark", "service", "--vip", vip, "--ports", "80", "--mark", "6",
			"-s", "rr", "-r", rs1Addr, "-r", "2001:db8::12")
		if err == nil {
			t.Fatalf("a mixed-family DR real server was accepted:\n%s", out)
		}
		t.Logf("lvsctl said: %s", out)
		if save := mustIn(t, "director", "iptables-save", "-t", "mangle"); strings.Contains(save, "LVSCTL") {
			t.Errorf("rules left after the rollback:\n%s", save)
		}
		if ipvs := mustIn(t, "director", lvsctl, "-S", "-n"); ipvs != "" {
			t.Errorf("IPVS left after the rollback:\n%s", ipvs)
		}
	})

	t.Run("realserver down restores", func(t *testing.T) {
		for _, rs := range []string{"rs1", "rs2"} {
			mustIn(t, rs, lvsctl, "realserver", "down")
			if addrs := mustIn(t, rs, "ip", "-o", "addr", "show", "dev", "lo"); strings.Contains(addrs, vip) {
				t.Errorf("%s keeps the VIP:\n%s", rs, addrs)
			}
			for _, s := range []string{"all.arp_ignore", "all.arp_announce", "lo.arp_ignore", "lo.arp_announce"} {
				if v := strings.TrimSpace(mustIn(t, rs, "sysctl", "-n", "net.ipv4.conf."+s)); v != "0" {
					t.Errorf("%s %s = %s after down, want 0", rs, s, v)
				}
			}
		}
	})

	t.Run("realserver up --mode tun makes IP-in-IP work", func(t *testing.T) {
		// Strict reverse-path filtering, as many distributions set it: a
		// decapsulated request arrives on tunl0 from a client routed via
		// eth0, which strict filtering drops unless up relaxes it.
		before := map[string]string{}
		for _, rs := range []string{"rs1", "rs2"} {
			mustIn(t, rs, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1")
			before[rs] = "1"
		}
		for _, rs := range []string{"rs1", "rs2"} {
			for range 2 { // idempotent
				mustIn(t, rs, lvsctl, "realserver", "up", "--vip", vip, "--mode", "tun")
			}
			if addrs := mustIn(t, rs, "ip", "-o", "addr", "show", "dev", "tunl0"); !strings.Contains(addrs, vip+"/32") {
				t.Errorf("%s: VIP not on tunl0:\n%s", rs, addrs)
			}
			for _, s := range []string{"all.rp_filter", "tunl0.rp_filter"} {
				if v := strings.TrimSpace(mustIn(t, rs, "sysctl", "-n", "net.ipv4.conf."+s)); v != "0" {
					t.Errorf("%s %s = %s, want 0", rs, s, v)
				}
			}
		}
		if macs := arpReplies(t, "c1"); len(macs) != 1 || macs[0] != directorMAC {
			t.Fatalf("ARP replies for the VIP came from %q; want the director's %s only", macs, directorMAC)
		}
		resetDirector(t)
		mustIn(t, "director", lvsctl, "-A", "-t", vip+":80", "-s", "rr")
		mustIn(t, "director", lvsctl, "-a", "-t", vip+":80", "-r", rs1Addr, "-i")
		mustIn(t, "director", lvsctl, "-a", "-t", vip+":80", "-r", rs2Addr, "-i")
		got := fetchN("c1", "80", 6)
		slices.Sort(got)
		if want := []string{"rs1", "rs1", "rs1", "rs2", "rs2", "rs2"}; !slices.Equal(got, want) {
			t.Errorf("round robin over IP-in-IP answered %q, want %q", got, want)
		}
		resetDirector(t)
		for _, rs := range []string{"rs1", "rs2"} {
			mustIn(t, rs, lvsctl, "realserver", "down")
			if addrs := mustIn(t, rs, "ip", "-o", "addr", "show", "dev", "tunl0"); strings.Contains(addrs, vip) {
				t.Errorf("%s keeps the VIP on tunl0:\n%s", rs, addrs)
			}
			if v := strings.TrimSpace(mustIn(t, rs, "sysctl", "-n", "net.ipv4.conf.all.rp_filter")); v != before[rs] {
				t.Errorf("%s all.rp_filter = %s after down, want %s as before up", rs, v, before[rs])
			}
		}
	})
}

// arpReplies asks for the VIP's MAC address from a client and returns the
// distinct MAC addresses that answered.
func arpReplies(t *testing.T, client string) []string {
	t.Helper()
	out, _ := in(client, "arping", "-c", "3", "-w", "3", "-I", "eth0", vip)
	re := regexp.MustCompile(`\[([0-9a-fA-F:]{17})\]`)
	var macs []string
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		mac := strings.ToLower(m[1])
		if !slices.Contains(macs, mac) {
			macs = append(macs, mac)
		}
	}
	if len(macs) == 0 {
		t.Logf("arping output:\n%s", out)
	}
	return macs
}
