package check

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lvsctl/lvsctl/lvs"
	"github.com/lvsctl/lvsctl/lvs/reconcile"
)

var (
	vip   = netip.MustParseAddr("192.0.2.1")
	rsA   = dest("192.0.2.11", 1)
	rsB   = dest("192.0.2.12", 2)
	rsC   = dest("192.0.2.13", 3)
	sorry = dest("198.51.100.1", 1)
)

func dest(addr string, w int32) lvs.Destination {
	return lvs.Destination{Family: lvs.IPv4, Address: netip.MustParseAddr(addr), Port: 80, Forward: lvs.DirectRoute, Weight: w}
}

func service() lvs.Service {
	return lvs.Service{Family: lvs.IPv4, Protocol: lvs.TCP, Address: vip, Port: 80, Scheduler: "wrr"}
}

// healthOf reads "UDU": one letter per real server of vs, U up, D down,
// or a digit, up with that dynamic weight.
func healthOf(vs VirtualService, s string) map[DestKey]Health {
	h := make(map[DestKey]Health)
	for i, c := range s {
		k := KeyOf(vs.RealServers[i].Destination)
		switch {
		case c == 'U':
			h[k] = Health{Up: true}
		case c >= '0' && c <= '9':
			h[k] = Health{Up: true, Weight: int32(c - '0'), WeightSet: true}
		default:
			h[k] = Health{}
		}
	}
	return h
}

// tableOf formats desired destinations as "addr:w" words.
func tableOf(s reconcile.Service) string {
	var w []string
	for _, d := range s.Destinations {
		w = append(w, fmt.Sprintf("%s:%d", d.Address, d.Weight))
	}
	return strings.Join(w, " ")
}

func eventsOf(evs []PolicyEvent) string {
	var w []string
	for _, e := range evs {
		s := e.Kind.String()
		if e.Dest.Address.IsValid() {
			s += " " + e.Dest.Address.String()
		}
		if e.Kind == QuorumUp || e.Kind == QuorumDown {
			s += fmt.Sprintf(" %d/%d", e.WeightSum, e.Threshold)
		}
		if e.Initial {
			s += " (initial)"
		}
		w = append(w, s)
	}
	return strings.Join(w, ", ")
}

func TestDecide(t *testing.T) {
	rs := func(d lvs.Destination, inhibit bool) RealServer {
		return RealServer{Destination: d, InhibitOnFailure: inhibit}
	}
	plain := VirtualService{Service: service(), RealServers: []RealServer{rs(rsA, false), rs(rsB, false), rs(rsC, false)}}
	inhibit := plain
	inhibit.RealServers = []RealServer{rs(rsA, false), rs(rsB, true), rs(rsC, false)}
	withSorry := plain
	withSorry.Sorry = &SorryServer{Destination: sorry}
	sorryInhibit := plain
	sorryInhibit.Sorry = &SorryServer{Destination: sorry, Inhibit: true}
	inhibitSorry := inhibit
	inhibitSorry.Sorry = &SorryServer{Destination: sorry}
	quorum := withSorry
	quorum.Quorum, quorum.Hysteresis = 4, 1
	dup := plain
	dup.Sorry = &SorryServer{Destination: dest("192.0.2.13", 5)}

	type step struct {
		health string
		table  string
		events string
	}
	tests := []struct {
		name  string
		vs    VirtualService
		steps []step
	}{
		{"remove and add back", plain, []step{
			{"UUU", "192.0.2.11:1 192.0.2.12:2 192.0.2.13:3", ""},
			{"UDU", "192.0.2.11:1 192.0.2.13:3", "real server down 192.0.2.12"},
			{"UUU", "192.0.2.11:1 192.0.2.12:2 192.0.2.13:3", "real server up 192.0.2.12"},
			// Without a sorry server, losing quorum changes no destination.
			{"DDD", "", "real server down 192.0.2.11, real server down 192.0.2.12, real server down 192.0.2.13, quorum down 0/1"},
			{"DDU", "192.0.2.13:3", "real server up 192.0.2.13, quorum up 3/1"},
		}},
		{"inhibit_on_failure", inhibit, []step{
			{"UUU", "192.0.2.11:1 192.0.2.12:2 192.0.2.13:3", ""},
			{"DDU", "192.0.2.12:0 192.0.2.13:3", "real server down 192.0.2.11, real server down 192.0.2.12"},
		}},
		{"sorry server when all are down", withSorry, []step{
			{"UUU", "192.0.2.11:1 192.0.2.12:2 192.0.2.13:3", ""},
			{"DDU", "192.0.2.13:3", "real server down 192.0.2.11, real server down 192.0.2.12"},
			{"DDD", "198.51.100.1:1", "real server down 192.0.2.13, quorum down 0/1, sorry server in 198.51.100.1"},
			{"DUD", "192.0.2.12:2", "real server up 192.0.2.12, quorum up 2/1, sorry server out 198.51.100.1"},
		}},
		{"starting with all down", withSorry, []step{
			{"DDD", "198.51.100.1:1", "quorum down 0/1 (initial), sorry server in 198.51.100.1 (initial)"},
			{"UDD", "192.0.2.11:1", "real server up 192.0.2.11, quorum up 1/1, sorry server out 198.51.100.1"},
		}},
		{"sorry_server_inhibit", sorryInhibit, []step{
			{"UUU", "192.0.2.11:1 192.0.2.12:2 192.0.2.13:3 198.51.100.1:0", ""},
			{"DDD", "198.51.100.1:1", "real server down 192.0.2.11, real server down 192.0.2.12, real server down 192.0.2.13, quorum down 0/1, sorry server in 198.51.100.1"},
			{"UDD", "192.0.2.11:1 198.51.100.1:0", "real server up 192.0.2.11, quorum up 1/1, sorry server out 198.51.100.1"},
		}},
		{"inhibited servers stay at 0 under the sorry server", inhibitSorry, []step{
			{"DUD", "192.0.2.12:2", ""},
			{"DDD", "192.0.2.12:0 198.51.100.1:1", "real server down 192.0.2.12, quorum down 0/1, sorry server in 198.51.100.1"},
		}},
		// quorum 4, hysteresis 1, weights 1, 2, 3: lost below 3, regained
		// from 5.
		{"quorum with hysteresis", quorum, []step{
			{"UUU", "192.0.2.11:1 192.0.2.12:2 192.0.2.13:3", ""},
			{"DUU", "192.0.2.12:2 192.0.2.13:3", "real server down 192.0.2.11"},
			{"DDU", "192.0.2.13:3", "real server down 192.0.2.12"},
			// 1 < 3: quorum lost; the live real server leaves for the sorry server.
			{"UDD", "198.51.100.1:1", "real server up 192.0.2.11, real server down 192.0.2.13, quorum down 1/3, sorry server in 198.51.100.1"},
			{"UUD", "198.51.100.1:1", "real server up 192.0.2.12"},
			{"DDU", "198.51.100.1:1", "real server down 192.0.2.11, real server down 192.0.2.12, real server up 192.0.2.13"},
			{"DUU", "192.0.2.12:2 192.0.2.13:3", "real server up 192.0.2.12, quorum up 5/5, sorry server out 198.51.100.1"},
		}},
		{"starting below quorum+hysteresis", quorum, []step{
			{"DUD", "198.51.100.1:1", "quorum down 2/5 (initial), sorry server in 198.51.100.1 (initial)"},
		}},
		{"misc_dynamic weights", quorum, []step{
			{"U2U", "192.0.2.11:1 192.0.2.12:2 192.0.2.13:3", ""},
			{"D0U", "192.0.2.12:0 192.0.2.13:3", "real server down 192.0.2.11"},
			{"D01", "198.51.100.1:1", "quorum down 1/3, sorry server in 198.51.100.1"},
			{"D09", "192.0.2.12:0 192.0.2.13:9", "quorum up 9/5, sorry server out 198.51.100.1"},
		}},
		{"sorry server that is also a real server", dup, []step{
			{"UUU", "192.0.2.11:1 192.0.2.12:2 192.0.2.13:3", ""},
			{"DDD", "192.0.2.13:5", "real server down 192.0.2.11, real server down 192.0.2.12, real server down 192.0.2.13, quorum down 0/1, sorry server in 192.0.2.13"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st ServiceState
			for i, s := range tt.steps {
				d := Decide(tt.vs, healthOf(tt.vs, s.health), st)
				if diff := cmp.Diff(s.table, tableOf(d.Desired)); diff != "" {
					t.Errorf("step %d (%s) table (-want +got):\n%s", i, s.health, diff)
				}
				if diff := cmp.Diff(s.events, eventsOf(d.Events)); diff != "" {
					t.Errorf("step %d (%s) events (-want +got):\n%s", i, s.health, diff)
				}
				if d.Desired.Service != tt.vs.Service {
					t.Errorf("step %d: service %v", i, d.Desired.Service)
				}
				st = d.State
			}
		})
	}
}

func TestDecideIsPure(t *testing.T) {
	vs := VirtualService{Service: service(), RealServers: []RealServer{{Destination: rsA}}}
	prev := ServiceState{Started: true, QuorumUp: true, Alive: map[DestKey]bool{KeyOf(rsA): true}}
	h := healthOf(vs, "D")
	a, b := Decide(vs, h, prev), Decide(vs, h, prev)
	if diff := cmp.Diff(a, b, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
		t.Fatalf("two calls differ:\n%s", diff)
	}
	if !prev.Alive[KeyOf(rsA)] || !prev.QuorumUp {
		t.Fatal("Decide modified prev")
	}
	// A real server with no health at all counts as down.
	if d := Decide(vs, nil, prev); len(d.Desired.Destinations) != 0 {
		t.Fatalf("unknown health kept %v", d.Desired.Destinations)
	}
}

func TestShutdown(t *testing.T) {
	vs := VirtualService{Service: service(), RealServers: []RealServer{{Destination: rsA}, {Destination: rsB}}}
	st := Decide(vs, healthOf(vs, "UD"), ServiceState{}).State
	if evs := Shutdown(vs, st); evs != nil {
		t.Fatalf("without omega: %v", evs)
	}
	vs.Omega = true
	if got, want := eventsOf(Shutdown(vs, st)), "real server down 192.0.2.11, quorum down 0/0"; got != want {
		t.Fatalf("omega: %q, want %q", got, want)
	}
}

func TestAdopt(t *testing.T) {
	zero := dest("192.0.2.14", 0)
	vs := VirtualService{Service: service(), RealServers: []RealServer{
		{Destination: rsA}, {Destination: rsB, InhibitOnFailure: true}, {Destination: rsC}, {Destination: zero},
	}}
	if m, ok := Adopt(vs, nil); ok || m != nil {
		t.Fatalf("no service in the kernel: %v, %v; want the configuration to decide", m, ok)
	}
	kernel := &reconcile.Service{Service: service(), Destinations: []lvs.Destination{
		dest("192.0.2.11", 1), // in and weighted: up
		dest("192.0.2.12", 0), // quiesced by inhibit_on_failure: down
		// 192.0.2.13 absent: down
		dest("192.0.2.14", 0),  // configured weight 0: up
		dest("192.0.2.99", 10), // not ours: ignored
	}}
	m, ok := Adopt(vs, kernel)
	want := map[DestKey]bool{KeyOf(rsA): true, KeyOf(rsB): false, KeyOf(rsC): false, KeyOf(zero): true}
	if diff := cmp.Diff(want, m); !ok || diff != "" {
		t.Fatalf("Adopt (-want +got):\n%s", diff)
	}
}

func TestCombine(t *testing.T) {
	for _, tt := range []struct {
		jobs []Status
		want Health
	}{
		{nil, Health{}},
		{[]Status{{Up: true}}, Health{Up: true}},
		{[]Status{{Up: true}, {Up: false}}, Health{}},
		{[]Status{{Up: true}, {Up: true, Weight: 4, WeightSet: true}}, Health{Up: true, Weight: 4, WeightSet: true}},
	} {
		if got := Combine(tt.jobs); got != tt.want {
			t.Errorf("Combine(%+v) = %+v, want %+v", tt.jobs, got, tt.want)
		}
	}
}

func TestLogLine(t *testing.T) {
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.Local)
	addr := netip.MustParseAddr("192.0.2.7")
	if got, want := LogLine(at, addr, false), "2026-11-26 10:00:00,192.0.2.7 is gone."; got != want {
		t.Errorf("gone: %q, want %q", got, want)
	}
	if got, want := LogLine(at, addr, true), "2026-11-26 10:00:00,192.0.2.7 is back."; got != want {
		t.Errorf("back: %q, want %q", got, want)
	}
	if got, want := LogLine(at, netip.MustParseAddr("2001:db8::7"), true), "2026-11-26 10:00:00,2001:db8::7 is back."; got != want {
		t.Errorf("IPv6: %q, want %q", got, want)
	}
	if got := LogLineFor(at, PolicyEvent{Kind: RealServerDown, Dest: dest("192.0.2.7", 1)}); got != "2026-11-26 10:00:00,192.0.2.7 is gone." {
		t.Errorf("LogLineFor: %q", got)
	}
	if got := LogLineFor(at, PolicyEvent{Kind: QuorumDown}); got != "" {
		t.Errorf("LogLineFor(quorum) = %q", got)
	}

	// The date part is what `date '+%F %T'` prints for the same instant
	// in the local zone, a UTC instant included.
	date, err := exec.LookPath("date")
	if err != nil {
		t.Skip("no date(1)")
	}
	for _, ts := range []time.Time{at, time.Date(2026, 3, 29, 1, 30, 5, 0, time.UTC)} {
		out, err := exec.Command(date, "-d", "@"+strconv.FormatInt(ts.Unix(), 10), "+%F %T").Output()
		if err != nil {
			t.Skipf("date -d: %v", err)
		}
		want := strings.TrimSpace(string(out)) + ",192.0.2.7 is gone."
		if got := LogLine(ts, addr, false); got != want {
			t.Errorf("LogLine(%v) = %q, date says %q", ts, got, want)
		}
	}
}
