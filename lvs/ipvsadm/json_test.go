package ipvsadm

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lvsctl/lvsctl/lvs"
)

// jsonCases are lvsctl's --json listings; their goldens are lvsctl's own
// (ipvsadm has no --json) and live in testdata/json.
var jsonCases = []struct {
	name  string
	setup []step
	stats bool
	conns bool
	steps []step
}{
	{name: "empty", steps: []step{{args: "-L -n --json"}, {args: "-L --json"}}},
	{name: "list", setup: populate, steps: []step{{args: "-L -n --json"}}},
	{name: "list-stats", setup: populate, stats: true, steps: []step{{args: "-Ln --json"}, {args: "-L -n --stats --rate --json"}}},
	{name: "list-nosort", setup: populate, steps: []step{{args: "-L -n --nosort --json"}}},
	{name: "list-service", setup: populate, steps: []step{
		{args: "-L -n -t 10.0.0.1:443 --json"},
		{args: "-L --json -n -f 11 -6"},
		{args: "-L -n -t 192.0.2.9:80 --json"},
	}},
	{name: "connections", conns: true, steps: []step{{args: "-L -n -c --json"}, {args: "-lnc --persistent-conn --json"}}},
	{name: "timeouts", steps: []step{{args: "-L --timeout --json"}}},
	{name: "daemons", setup: []step{
		{args: "--start-daemon master --mcast-interface eth1 --syncid 5"},
		{args: "--start-daemon backup --mcast-group ff02::1:81 --mcast-port 9000"},
	}, steps: []step{{args: "-L --daemon --json"}}},
	{name: "errors", steps: []step{
		// lvsctl's own refusals, in ipvsadm's words and statuses.
		{args: "-L --json --json"},
		{args: "-S --json"},
		{args: "-A -t 192.0.2.1:80 --json"},
		{args: "-Z --json"},
		// ipvsadm's own checks come first.
		{args: "-L -c --stats --json"},
		{args: "-L --json=yes"},
		{args: "--json -L"},
		{args: "--json"},
	}},
}

func TestJSONGolden(t *testing.T) {
	for _, tc := range jsonCases {
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
			golden(t, "json/"+tc.name, runSteps(t, k, tc.steps))
		})
	}
}

// listJSON runs args against k and returns stdout, failing on any error.
func listJSON(t *testing.T, k *fakeKernel, args string) []byte {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), "lvsctl", splitArgs(args), Env{Stdout: &out, Stderr: &errb, Kernel: k})
	if code != 0 || errb.Len() != 0 {
		t.Fatalf("%s: exit %d, stderr %q", args, code, errb.String())
	}
	return out.Bytes()
}

// decodeStrict decodes data into v, refusing fields the documented types
// do not have and anything after the document.
func decodeStrict(t *testing.T, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode: %v\n%s", err, data)
	}
	if dec.More() {
		t.Fatalf("more than one JSON value:\n%s", data)
	}
}

func ptr[T any](v T) *T { return &v }

// TestJSONDecodes parses the output back into the documented types.
func TestJSONDecodes(t *testing.T) {
	k := newFakeKernel()
	runSteps(t, k, populate)
	giveStats(k)
	k.conns = testConns

	var table JSONTable
	decodeStrict(t, listJSON(t, k, "-L -n --json"), &table)
	if table.Version != JSONVersion || table.IPVS.Version != "1.2.1" || table.IPVS.ConnTableSize != 4096 {
		t.Errorf("header: %+v %+v", table.Version, table.IPVS)
	}
	if got, want := len(table.Services), len(k.svcs); got != want {
		t.Fatalf("%d services, want %d", got, want)
	}
	byName := map[string]JSONService{}
	for _, s := range table.Services {
		name := s.Protocol + " " + s.Address
		if s.FWMark != 0 {
			name = "fwmark " + s.Family
		}
		byName[name] = s
	}
	persist := byName["tcp 10.0.0.1"]
	if diff := cmp.Diff(&JSONPersistence{Timeout: 600, Netmask: "255.255.255.0", PrefixLength: ptr(24)}, persist.Persistence); diff != "" {
		t.Errorf("persistence (-want +got):\n%s", diff)
	}
	var tunnels []JSONTunnel
	for _, d := range persist.Destinations {
		if d.Tunnel != nil {
			tunnels = append(tunnels, *d.Tunnel)
		}
	}
	wantTunnels := []JSONTunnel{{Type: "gre", Checksum: "csum"}, {Type: "gue", Port: 6080, Checksum: "csum"}, {Type: "ipip"}}
	if diff := cmp.Diff(wantTunnels, tunnels); diff != "" {
		t.Errorf("tunnels (-want +got):\n%s", diff)
	}
	if s := byName["udp 192.0.2.1"]; !s.OnePacket || !cmp.Equal(s.SchedFlags, []string{"sh-fallback", "sh-port"}) || s.Persistence != nil {
		t.Errorf("udp 192.0.2.1: %+v", s)
	}
	if s := byName["fwmark ipv6"]; s.Persistence == nil || s.Persistence.Netmask != "ffff:ffff:ffff:ffff::" || *s.Persistence.PrefixLength != 64 || s.Port != nil {
		t.Errorf("fwmark ipv6: %+v", s)
	}
	if s := byName["tcp 192.0.2.1"]; s.Port == nil || *s.Port != 80 || len(s.Destinations) != 3 ||
		s.Destinations[0].Forward != "masq" || s.Destinations[0].Address != "198.51.100.1" ||
		s.Destinations[2].UpperThreshold != 100 || s.Destinations[2].LowerThreshold != 10 {
		t.Errorf("tcp 192.0.2.1: %+v", s)
	}
	// The counters are the kernel's, exactly.
	first := k.svcs[0]
	s := byName["tcp 192.0.2.1"]
	if s.Stats.Conns != first.s.Stats.Conns || s.Rates.OutBytes != first.s.Stats.OutBPS {
		t.Errorf("stats %+v rates %+v, kernel %+v", s.Stats, s.Rates, first.s.Stats)
	}
	var sum uint64
	for _, d := range first.dests {
		sum += uint64(d.ActiveConns)
	}
	if s.ActiveConns != sum {
		t.Errorf("active_conns %d, want the sum %d", s.ActiveConns, sum)
	}

	var conns JSONConnections
	decodeStrict(t, listJSON(t, k, "-L -n -c --json"), &conns)
	if len(conns.Connections) != len(testConns) {
		t.Fatalf("%d connections, want %d", len(conns.Connections), len(testConns))
	}
	want := JSONConnection{Protocol: "ip", ClientAddress: "203.0.113.5", VirtualAddress: "0.0.0.10", FWMark: 10,
		RealAddress: "198.51.100.1", State: "NONE", Expires: 6000}
	if diff := cmp.Diff(want, conns.Connections[2]); diff != "" {
		t.Errorf("template (-want +got):\n%s", diff)
	}
	if c := conns.Connections[3]; c.PEName != "sip" || c.PEData != "call-1@example.com" {
		t.Errorf("sip entry: %+v", c)
	}

	var to JSONTimeouts
	decodeStrict(t, listJSON(t, k, "-L --timeout --json"), &to)
	if diff := cmp.Diff(JSONTimeouts{Version: 1, Timeouts: JSONTimeoutValues{TCP: 900, TCPFin: 120, UDP: 300}}, to); diff != "" {
		t.Errorf("timeouts (-want +got):\n%s", diff)
	}
	var ds JSONDaemons
	decodeStrict(t, listJSON(t, k, "-L --daemon --json"), &ds)
	if ds.Version != 1 || ds.Daemons == nil || len(ds.Daemons) != 0 {
		t.Errorf("daemons: %+v", ds)
	}
}

// TestJSONNamesNothing: --json never resolves, with or without -n.
func TestJSONNamesNothing(t *testing.T) {
	k := newFakeKernel()
	runSteps(t, k, populate)
	var out, errb bytes.Buffer
	env := Env{Stdout: &out, Stderr: &errb, Kernel: k, Resolver: testResolver}
	if code := Main(context.Background(), "ipvsadm", []string{"-L", "--json"}, env); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !bytes.Equal(out.Bytes(), listJSON(t, k, "-L -n --json")) {
		t.Errorf("-L --json differs from -L -n --json:\n%s", out.String())
	}
}

func TestIPv4PrefixLength(t *testing.T) {
	for mask, want := range map[uint32]*int{0xffffffff: ptr(32), 0xffffff00: ptr(24), 0: ptr(0), 0xff00ff00: nil, 0x80000000: ptr(1)} {
		p := jsonPersistence(lvs.Service{Family: lvs.IPv4, Flags: lvs.FlagPersistent, Netmask: mask})
		if !cmp.Equal(p.PrefixLength, want) {
			t.Errorf("mask %#x: prefix length %v, want %v", mask, p.PrefixLength, want)
		}
	}
}
