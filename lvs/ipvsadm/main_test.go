package ipvsadm

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lvsctl/lvsctl/lvs"
)

type step struct {
	prog  string // "" is ipvsadm
	args  string
	stdin string
}

// populated builds a table with every kind of service and destination.
var populate = []step{
	{args: "-A -t 192.0.2.1:80 -s rr"},
	{args: "-a -t 192.0.2.1:80 -r 198.51.100.2 -g -w 2"},
	{args: "-a -t 192.0.2.1:80 -r 198.51.100.1 -m -w 0"},
	{args: "-a -t 192.0.2.1:80 -r 198.51.100.3:8080 -m -x 100 -y 10"},
	{args: "-A -t 10.0.0.1:443 -s wlc -p 600 -M 255.255.255.0"},
	{args: "-a -t 10.0.0.1:443 -r 198.51.100.9 -i"},
	{args: "-a -t 10.0.0.1:443 -r 198.51.100.8 -i --tun-type gue --tun-port 6080 --tun-csum"},
	{args: "-a -t 10.0.0.1:443 -r 198.51.100.7 -i --tun-type gre --tun-csum"},
	{args: "-A -u 192.0.2.1:53 -s sh -b sh-fallback,sh-port -o"},
	{args: "-a -u 192.0.2.1:53 -r 198.51.100.1 -m"},
	{args: "-A -u 192.0.2.5:5060 -s rr -p 30 --pe sip"},
	{args: "-A --sctp-service 192.0.2.6:3868 -s mh -b mh-port"},
	{args: "-A -f 10 -s lc -p"},
	{args: "-a -f 10 -r 198.51.100.1:0 -g"},
	{args: "-A -f 11 -6 -s rr -p 60 -M 64"},
	{args: "-a -f 11 -6 -r [2001:db8::20]:0 -g"},
	{args: "-A -t [2001:db8::1]:80 -s wrr -b flag-2"},
	{args: "-a -t [2001:db8::1]:80 -r [2001:db8::11]:80 -m -w 5"},
	{args: "-a -t [2001:db8::1]:80 -r [2001:db8::10]:80 -g -w 3"},
	{args: "-A -t 192.0.2.2:8080 -s nq"},
}

var mainCases = []struct {
	name  string
	setup []step
	stats bool // give the services and destinations counters
	conns bool
	steps []step
}{
	{name: "empty-list", steps: []step{{args: ""}, {args: "-L"}, {args: "-L -n"}, {args: "-S"}}},
	{name: "list", setup: populate, steps: []step{{args: "-L -n"}}},
	{name: "list-names", setup: populate, steps: []step{{args: "-L"}}},
	{name: "list-nosort", setup: populate, steps: []step{{args: "-L -n --nosort"}}},
	{name: "list-stats", setup: populate, stats: true, steps: []step{{args: "-L -n --stats"}}},
	{name: "list-stats-exact", setup: populate, stats: true, steps: []step{{args: "-L -n --stats --exact"}}},
	{name: "list-rate", setup: populate, stats: true, steps: []step{{args: "-L -n --rate"}}},
	{name: "list-rate-exact", setup: populate, stats: true, steps: []step{{args: "-Ln --rate --exact"}}},
	{name: "list-thresholds", setup: populate, steps: []step{{args: "-L -n --thresholds"}}},
	{name: "list-persistent-conn", setup: populate, stats: true, steps: []step{{args: "-L -n --persistent-conn"}}},
	{name: "list-tun-info", setup: populate, steps: []step{{args: "-L -n --tun-info"}}},
	{name: "list-service", setup: populate, steps: []step{{args: "-L -n -t 10.0.0.1:443"}, {args: "-L -t 192.0.2.9:80"}, {args: "-L -n -f 11 -6"}}},
	{name: "save", setup: populate, steps: []step{{args: "-S -n"}, {args: "-S"}, {prog: "ipvsadm-save", args: "-n"}}},
	{name: "save-help", steps: []step{{prog: "ipvsadm-save", args: "-x"}}},
	{name: "save-restore-roundtrip", setup: populate, steps: []step{
		{args: "-S -n"},
		{args: "-C"},
		{args: "-R", stdin: "-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 198.51.100.2:80 -g -w 2\n"},
		{args: "-L -n"},
	}},
	{name: "timeouts", steps: []step{{args: "-L --timeout"}, {args: "--set 1000 0 60"}, {args: "-L --timeout"}, {args: "--set 1 2"}}},
	{name: "daemons", steps: []step{
		{args: "-L --daemon"},
		{args: "--start-daemon master --mcast-interface eth1 --syncid 5"},
		{args: "--start-daemon backup --mcast-group ff02::1:81 --mcast-port 9000"},
		{args: "--start-daemon master"},
		{args: "-L --daemon"},
		{args: "--stop-daemon master"},
		{args: "--stop-daemon master"},
	}},
	{name: "connections", conns: true, steps: []step{{args: "-L -n -c"}, {args: "-lnc --persistent-conn"}, {args: "-L -c"}}},
	{name: "kernel-errors", setup: populate, steps: []step{
		{args: "-A -t 192.0.2.1:80"},
		{args: "-A -t 192.0.2.9:80 -s nosuch"},
		{args: "-E -t 192.0.2.9:80"},
		{args: "-D -t 192.0.2.9:80"},
		{args: "-a -t 192.0.2.9:80 -r 198.51.100.1"},
		{args: "-a -t 192.0.2.1:80 -r 198.51.100.1 -m"},
		{args: "-e -t 192.0.2.1:80 -r 198.51.100.99"},
		{args: "-d -t 192.0.2.1:80 -r 198.51.100.99"},
		{args: "-Z -t 192.0.2.9:80"},
		{args: "-Z"},
	}},
	{name: "usage-errors", steps: []step{
		{args: "-n -L"},
		{args: "-L --bogus"},
		{args: "-A -t 192.0.2.1:80 -w 1"},
		{args: "-L -c --stats"},
	}},
	{name: "restore-errors", setup: populate, steps: []step{
		// A kernel refusal does not stop -R; the status is the last line's.
		{args: "-R", stdin: "-A -t 192.0.2.1:80\n-A -t 192.0.2.30:80 -s rr\n"},
		{args: "-R", stdin: "-A -t 192.0.2.31:80 -s rr\n-A -t 192.0.2.1:80\n"},
		// A line that does not parse ends -R at once, after the lines before it.
		{args: "-R", stdin: "-A -t 192.0.2.32:80\n-A -t 192.0.2.33:80 -s rr -w 3\n-A -t 192.0.2.34:80\n"},
		// Comments are not ipvsadm -R's business: '#' is a stray argument.
		{args: "-R", stdin: "# a comment\n-A -t 192.0.2.35:80\n"},
		{args: "-R", stdin: "-A -t 192.0.2.36:80 # trailing\n"},
		// popt errors are reported and the next line runs.
		{args: "-R", stdin: "-L --bogus\n\n   \n-A -t 192.0.2.37:80\n"},
		{args: "-R", stdin: "-R\n"},
		{args: "-R", stdin: "ipvsadm -A -t 192.0.2.38:80\n-L -n -t 192.0.2.38:80\n"},
		{args: "-S -n"},
	}},
	{name: "ipvsadm-restore", setup: populate, steps: []step{
		{prog: "ipvsadm-restore", stdin: "# saved\n-A -t 192.0.2.40:80 -s rr\n#-A -t 192.0.2.41:80\n-a -t 192.0.2.40:80 -r 198.51.100.5 -m\n"},
		{args: "-S -n"},
		{prog: "ipvsadm-restore", stdin: "# nothing\n"},
		{args: "-S -n"},
	}},
	{name: "help-version", steps: []step{{args: "-h"}, {args: "--version"}}},
}

func runSteps(t *testing.T, k *fakeKernel, steps []step) string {
	t.Helper()
	return runStepsWith(t, k, steps, testResolver)
}

func runStepsWith(t *testing.T, k *fakeKernel, steps []step, res Resolver) string {
	t.Helper()
	var b strings.Builder
	for _, s := range steps {
		prog := s.prog
		if prog == "" {
			prog = "ipvsadm"
		}
		var stdout, stderr bytes.Buffer
		env := Env{
			Stdin:    strings.NewReader(s.stdin),
			Stdout:   &stdout,
			Stderr:   &stderr,
			Kernel:   k,
			Resolver: res,
			Version:  "test",
		}
		code := Main(context.Background(), prog, splitArgs(s.args), env)
		fmt.Fprintf(&b, "$ %s %s\n", prog, s.args)
		if s.stdin != "" {
			fmt.Fprintf(&b, "stdin:\n%s", s.stdin)
		}
		fmt.Fprintf(&b, "stdout:\n%sstderr:\n%sexit: %d\n\n", stdout.String(), stderr.String(), code)
	}
	return b.String()
}

func TestMainGolden(t *testing.T) {
	for _, tc := range mainCases {
		t.Run(tc.name, func(t *testing.T) {
			k := newFakeKernel()
			if out := runSteps(t, k, tc.setup); strings.Contains(out, "exit: 2") || strings.Contains(out, "exit: 255") {
				t.Fatalf("setup failed:\n%s", out)
			}
			if tc.stats {
				giveStats(k)
			}
			if tc.conns {
				k.conns = testConns
			}
			golden(t, "main/"+tc.name, runSteps(t, k, tc.steps))
		})
	}
}

// giveStats fills in counters of every size print_largenum scales.
func giveStats(k *fakeKernel) {
	sizes := []uint64{0, 7, 99999999, 100000000, 999999999, 1000000000, 99999999999, 100000000000, 99999999999999, 100000000000000, 123456789012345678}
	n := 0
	next := func() uint64 { n++; return sizes[n%len(sizes)] }
	fill := func(s *lvs.Stats) {
		*s = lvs.Stats{Conns: next(), InPkts: next(), OutPkts: next(), InBytes: next(), OutBytes: next(),
			CPS: next(), InPPS: next(), OutPPS: next(), InBPS: next(), OutBPS: next()}
	}
	for _, s := range k.svcs {
		fill(&s.s.Stats)
		for i := range s.dests {
			fill(&s.dests[i].Stats)
			s.dests[i].ActiveConns = uint32(i * 3)
			s.dests[i].InactiveConns = uint32(i * 5)
			s.dests[i].PersistentConns = uint32(i * 7)
		}
	}
}

var testConns = []lvs.Connection{
	{Protocol: "TCP", Client: netip.MustParseAddrPort("203.0.113.5:40000"), Virtual: netip.MustParseAddrPort("192.0.2.1:80"),
		Real: netip.MustParseAddrPort("198.51.100.1:80"), State: "ESTABLISHED", Expires: 899 * time.Second},
	{Protocol: "UDP", Client: netip.MustParseAddrPort("203.0.113.5:5353"), Virtual: netip.MustParseAddrPort("192.0.2.1:53"),
		Real: netip.MustParseAddrPort("198.51.100.1:53"), State: "UDP", Expires: 5 * time.Second},
	{Protocol: "IP", Client: netip.MustParseAddrPort("203.0.113.5:0"), Virtual: netip.MustParseAddrPort("0.0.0.10:0"),
		Real: netip.MustParseAddrPort("198.51.100.1:0"), State: "NONE", Expires: 6000 * time.Second},
	{Protocol: "UDP", Client: netip.MustParseAddrPort("203.0.113.6:5060"), Virtual: netip.MustParseAddrPort("192.0.2.5:5060"),
		Real: netip.MustParseAddrPort("198.51.100.4:5060"), State: "NONE", Expires: 30 * time.Second, PEName: "sip", PEData: "call-1@example.com"},
	{Protocol: "TCP", Client: netip.MustParseAddrPort("[2001:db8::99]:41000"), Virtual: netip.MustParseAddrPort("[2001:db8::1]:80"),
		Real: netip.MustParseAddrPort("[2001:db8::10]:80"), State: "SYN_RECV", Expires: 59 * time.Second},
}

func TestLargeNum(t *testing.T) {
	tests := []struct {
		in    uint64
		exact bool
		want  string
	}{
		{0, false, "        0"},
		{99999999, false, " 99999999"},
		{100000000, false, "  100000K"},
		{1000000000, false, "    1000M"},
		{100000000000, false, "     100G"},
		{100000000000000, false, "     100T"},
		{123456789, true, " 123456789"},
		{12345678, true, " 12345678"},
	}
	for _, tc := range tests {
		f := Format(0)
		if tc.exact {
			f = FormatExact
		}
		if got := largeNum(tc.in, f); got != tc.want {
			t.Errorf("largeNum(%d, exact=%v) = %q, want %q", tc.in, tc.exact, got, tc.want)
		}
	}
}

func TestInetAton(t *testing.T) {
	tests := map[string]string{
		"192.0.2.1": "192.0.2.1", "192.1": "192.0.0.1", "3221225985": "192.0.2.1", "0xc0.0.2.1": "192.0.2.1",
		"0300.0.2.1": "192.0.2.1", "1.2.3.4 junk": "1.2.3.4", "1.2.3.256": "", "1.2.3.4.5": "", "08.1.1.1": "",
		"": "", "a.b.c.d": "", "1..2": "", "1.2.3.": "", "0x": "",
	}
	for in, want := range tests {
		got := ""
		if a, ok := inetAton(in); ok {
			got = a.String()
		}
		if got != want {
			t.Errorf("inetAton(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNtop6(t *testing.T) {
	for in, want := range map[string]string{
		"2001:db8::1": "2001:db8::1", "::": "::", "::1": "::1", "::ffff:192.0.2.1": "::ffff:192.0.2.1",
		"::192.0.2.1": "::192.0.2.1", "2001:db8:0:1:1:1:1:1": "2001:db8:0:1:1:1:1:1", "2001:0:0:1::1": "2001:0:0:1::1",
		"fe80::": "fe80::",
	} {
		if got := ntop6(netip.MustParseAddr(in).As16()); got != want {
			t.Errorf("ntop6(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestServiceSortWraps(t *testing.T) {
	// libipvs subtracts addresses as unsigned and reads the result as an
	// int: 192.0.2.1 - 10.0.0.1 is negative.
	svcs := []lvs.Service{
		{Family: lvs.IPv4, Protocol: lvs.TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80},
		{Family: lvs.IPv4, Protocol: lvs.TCP, Address: netip.MustParseAddr("192.0.2.1"), Port: 80},
	}
	mergeSort(svcs, cmpServices)
	got := []string{svcs[0].Address.String(), svcs[1].Address.String()}
	if diff := cmp.Diff([]string{"192.0.2.1", "10.0.0.1"}, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestConfigStream(t *testing.T) {
	tests := []struct {
		in   string
		want [][]string
	}{
		{"-A -t x\n\n-C\n", [][]string{{"-A", "-t", "x"}, {}, {"-C"}}},
		{"  -C  \t\r\n", [][]string{{"-C"}}},
		{"ipvsadm -C ipvsadm\n", [][]string{{"-C"}}},
		{"-C", [][]string{{"-C"}}},
		{"-C ", [][]string{{"-C"}}},
		{"-C  ", nil}, // two blanks before the end: config_stream_read loses the line
		{"# x\n", [][]string{{"#", "x"}}},
	}
	for _, tc := range tests {
		s := newConfigStream(strings.NewReader(tc.in))
		var got [][]string
		for {
			toks, ok := s.next()
			if !ok {
				break
			}
			if toks == nil {
				toks = []string{}
			}
			got = append(got, toks)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestRestoreBatches(t *testing.T) {
	k := newFakeKernel()
	var in strings.Builder
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&in, "-A -t 192.0.2.%d:80 -s rr\n-a -t 192.0.2.%d:80 -r 198.51.100.1 -m\n", i, i)
	}
	var out, errb bytes.Buffer
	code := Main(context.Background(), "ipvsadm", []string{"-R"}, Env{Stdin: strings.NewReader(in.String()), Stdout: &out, Stderr: &errb, Kernel: k})
	if code != 0 || errb.Len() != 0 {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	if k.batches != 1 || len(k.svcs) != 100 {
		t.Errorf("batches = %d, services = %d; want 1 batch, 100 services", k.batches, len(k.svcs))
	}
}
