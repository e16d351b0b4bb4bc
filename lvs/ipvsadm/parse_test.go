package ipvsadm

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lvsctl/lvsctl/lvs"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/<name>.golden, or writes it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// parseCases are argument vectors (after argv[0]) whose parse is recorded
// in testdata/parse/<name>.golden. They follow ipvsadm 1.31's source;
// what the real ipvsadm does with them is checked in the lab.
var parseCases = []struct {
	name string
	args string // split on spaces; "''" is an empty argument
}{
	// Commands.
	{"add-tcp", "-A -t 192.0.2.1:80 -s rr"},
	{"add-udp-long", "--add-service --udp-service 192.0.2.1:53 --scheduler wrr"},
	{"add-sctp", "-A --sctp-service 192.0.2.1:5060 -s sh -b sh-fallback,sh-port"},
	{"add-default-sched", "-A -t 192.0.2.1:80"},
	{"add-persistent-default", "-A -t 192.0.2.1:0 -p"},
	{"add-persistent-value-next", "-A -t 192.0.2.1:80 -p 600"},
	{"add-persistent-glued", "-A -t 192.0.2.1:80 -p600"},
	{"add-persistent-eq", "-A -t 192.0.2.1:80 --persistent=600"},
	{"add-persistent-before-option", "-A -t 192.0.2.1:80 -p -s rr"},
	{"add-persistent-word", "-A -t 192.0.2.1:80 -p rr"},
	{"add-persistent-zero", "-A -t 192.0.2.1:80 -p 0"},
	{"add-persistent-max", "-A -t 192.0.2.1:80 -p 2678400"},
	{"add-persistent-too-big", "-A -t 192.0.2.1:80 -p 2678401"},
	{"add-persistent-empty-eq", "-A -t 192.0.2.1:80 --persistent="},
	{"add-netmask", "-A -t 192.0.2.1:80 -p 300 -M 255.255.255.0"},
	{"add-netmask-name", "-A -t 192.0.2.1:80 -p -M mask.example.com"},
	{"add-netmask-bad", "-A -t 192.0.2.1:80 -p -M 255.255.255.256"},
	{"add-netmask-v6", "-A -t [2001:db8::1]:80 -p -M 64"},
	{"add-netmask-v6-bad", "-A -t [2001:db8::1]:80 -p -M 129"},
	{"add-netmask-before-v6", "-A -M 255.255.0.0 -t [2001:db8::1]:80 -p"},
	{"add-pe", "-A -u 192.0.2.1:5060 -p --pe sip"},
	{"add-ops", "-A -u 192.0.2.1:53 -o"},
	{"add-ops-tcp", "-A -t 192.0.2.1:53 -o"},
	{"add-ops-fwmark", "-A -f 1 --ops"},
	{"add-zero-port", "-A -t 192.0.2.1 -s rr"},
	{"add-zero-port-fwmark", "-A -f 7 -s rr"},
	{"add-fwmark-v6", "-A -f 7 -6 -s rr"},
	{"add-v6-before-f", "-A -6 -f 7"},
	{"add-fwmark-after-v6", "-A -f 7 -6 -s rr -p"},
	{"add-fwmark-bad", "-A -f 0"},
	{"add-fwmark-neg", "-A -f -1"},
	{"add-fwmark-big", "-A -f 4294967295"},
	{"add-fwmark-too-big", "-A -f 4294967296"},
	{"add-fwmark-space", "-A -f ' 5'"},
	{"add-v6", "-A -t [2001:db8::1]:443 -s lc"},
	{"add-v6-bare", "-A -t 2001:db8::1 -p"},
	{"add-v6-no-port", "-A -t [2001:db8::1]"},
	{"add-v6-empty-port", "-A -t [2001:db8::1]:"},
	{"add-v6-unclosed", "-A -t [2001:db8::1:80"},
	{"add-bracket-v4", "-A -t [192.0.2.1]:80 -p"},
	{"add-host-name", "-A -t www.example.com:http"},
	{"add-unknown-host", "-A -t nosuch.example.com:80"},
	{"add-unknown-service", "-A -t 192.0.2.1:nosuch"},
	{"add-udp-service-name", "-A -u 192.0.2.1:domain"},
	{"add-port-too-big", "-A -t 192.0.2.1:65536"},
	{"add-digits-only", "-A -t 80"},
	{"add-empty-address", "-A -t ''"},
	{"add-inet-aton-short", "-A -t 192.1:80"},
	{"add-inet-aton-hex", "-A -t 0xc0.0.2.1:80"},
	{"add-sched-long-name", "-A -t 192.0.2.1:80 -s abcdefghijklmnopqrstuvwxyz"},
	{"add-sched-flags", "-A -t 192.0.2.1:80 -s rr -b flag-1,flag-3"},
	{"add-sched-flags-sh-wrong", "-A -t 192.0.2.1:80 -s rr -b sh-port"},
	{"add-sched-flags-mh", "-A -t 192.0.2.1:80 -s mh -b mh-fallback"},
	{"add-sched-flags-bad", "-A -t 192.0.2.1:80 -b bogus"},
	{"add-sched-flags-default-sched", "-A -t 192.0.2.1:80 -b sh-port"},
	{"add-sched-flags-empty", "-A -t 192.0.2.1:80 -b ''"},
	{"add-missing-service", "-A -s rr"},
	{"add-two-services", "-A -t 192.0.2.1:80 -u 192.0.2.1:80"},
	{"add-with-server", "-A -t 192.0.2.1:80 -r 198.51.100.1"},
	{"add-with-weight", "-A -t 192.0.2.1:80 -w 3"},
	{"add-twice-scheduler", "-A -t 192.0.2.1:80 -s rr -s wrr"},
	{"edit", "-E -t 192.0.2.1:80 -s wlc -p 100"},
	{"edit-no-sched", "-E -t 192.0.2.1:80"},
	{"delete", "-D -t 192.0.2.1:80"},
	{"delete-long", "--delete-service --fwmark-service 3"},
	{"delete-with-sched", "-D -t 192.0.2.1:80 -s rr"},
	{"clear", "-C"},
	{"clear-long", "--clear"},
	{"clear-with-service", "-C -t 192.0.2.1:80"},
	{"zero-all", "-Z"},
	{"zero-one", "-Z -t 192.0.2.1:80"},
	{"zero-numeric", "-Z -n"},
	{"addserver", "-a -t 192.0.2.1:80 -r 198.51.100.1 -g -w 2"},
	{"addserver-port-dr", "-a -t 192.0.2.1:80 -r 198.51.100.1:8080"},
	{"addserver-nat-port", "-a -t 192.0.2.1:80 -r 198.51.100.1:8080 -m"},
	{"addserver-nat-no-port", "-a -t 192.0.2.1:80 -r 198.51.100.1 -m"},
	{"addserver-tun", "-a -t 192.0.2.1:80 -r 198.51.100.1 -i"},
	{"addserver-weight-max", "-a -t 192.0.2.1:80 -r 198.51.100.1 -w 2147483647"},
	{"addserver-weight-too-big", "-a -t 192.0.2.1:80 -r 198.51.100.1 -w 2147483648"},
	{"addserver-weight-65536", "-a -t 192.0.2.1:80 -r 198.51.100.1 -w 65536"},
	{"addserver-weight-neg", "-a -t 192.0.2.1:80 -r 198.51.100.1 -w -1"},
	{"addserver-weight-word", "-a -t 192.0.2.1:80 -r 198.51.100.1 -w x"},
	{"addserver-weight-glued-eq", "-a -t 192.0.2.1:80 -r 198.51.100.1 -w=7"},
	{"addserver-thresholds", "-a -t 192.0.2.1:80 -r 198.51.100.1 -x 100 -y 50"},
	{"addserver-uthreshold-bad", "-a -t 192.0.2.1:80 -r 198.51.100.1 -x -5"},
	{"addserver-lthreshold-bad", "-a -t 192.0.2.1:80 -r 198.51.100.1 -y 2147483648"},
	{"addserver-two-methods", "-a -t 192.0.2.1:80 -r 198.51.100.1 -g -m"},
	{"addserver-no-server", "-a -t 192.0.2.1:80 -w 1"},
	{"addserver-no-service", "-a -r 198.51.100.1"},
	{"addserver-bad-server", "-a -t 192.0.2.1:80 -r bogus.invalid"},
	{"addserver-server-name", "-a -t www.example.com:http -r real1.example.com:http -m"},
	{"addserver-server-before-service", "-a -r 198.51.100.1:http -t 192.0.2.1:80 -m"},
	{"addserver-v6", "-a -t [2001:db8::1]:80 -r [2001:db8::10]:8080 -m"},
	{"addserver-mixed-family", "-a -t 192.0.2.1:80 -r [2001:db8::10]:80 -g"},
	{"addserver-mixed-family-tun", "-a -t 192.0.2.1:80 -r [2001:db8::10] -i"},
	{"addserver-fwmark", "-a -f 5 -r 198.51.100.1:8080 -g"},
	{"addserver-fwmark-v6", "-a -f 5 -6 -r [2001:db8::10] -g"},
	{"addserver-fwmark-v6-wrong", "-a -f 5 -r [2001:db8::10] -g"},
	{"addserver-gue", "-a -t 192.0.2.1:80 -r 198.51.100.1 -i --tun-type gue --tun-port 6080 --tun-csum"},
	{"addserver-gue-no-port", "-a -t 192.0.2.1:80 -r 198.51.100.1 -i --tun-type gue"},
	{"addserver-gue-two-csum", "-a -t 192.0.2.1:80 -r 198.51.100.1 -i --tun-type gue --tun-port 6080 --tun-nocsum --tun-csum"},
	{"addserver-gre", "-a -t 192.0.2.1:80 -r 198.51.100.1 -i --tun-type gre --tun-remcsum"},
	{"addserver-gre-csum", "-a -t 192.0.2.1:80 -r 198.51.100.1 -i --tun-type gre --tun-csum"},
	{"addserver-ipip-port", "-a -t 192.0.2.1:80 -r 198.51.100.1 -i --tun-port 6080"},
	{"addserver-tun-bad-type", "-a -t 192.0.2.1:80 -r 198.51.100.1 -i --tun-type vxlan"},
	{"addserver-tun-not-tunnel", "-a -t 192.0.2.1:80 -r 198.51.100.1 -g --tun-type gue"},
	{"addserver-tun-port-bad", "-a -t 192.0.2.1:80 -r 198.51.100.1 -i --tun-type gue --tun-port 0"},
	{"editserver", "-e -t 192.0.2.1:80 -r 198.51.100.1 -w 0"},
	{"delserver", "-d -t 192.0.2.1:80 -r 198.51.100.1"},
	{"delserver-port", "-d -t 192.0.2.1:80 -r 198.51.100.1:8080"},
	{"delserver-weight", "-d -t 192.0.2.1:80 -r 198.51.100.1 -w 1"},
	// Listing.
	{"list", "-L"},
	{"list-lower", "-l"},
	{"list-long", "--list"},
	{"list-bundled", "-Ln"},
	{"list-bundled-three", "-lnc"},
	{"list-numeric-first", "-n -L"},
	{"list-stats", "-L -n --stats"},
	{"list-rate-exact", "-L --rate --exact"},
	{"list-exact-short", "-L -X"},
	{"list-thresholds", "-L --thresholds"},
	{"list-persistent-conn", "-L --persistent-conn"},
	{"list-tun-info", "-L --tun-info"},
	{"list-nosort", "-L --nosort"},
	{"list-sort", "-L --sort --sort"},
	{"list-service", "-L -t 192.0.2.1:80"},
	{"list-conn", "-L -c"},
	{"list-conn-pc", "-L -c --persistent-conn"},
	{"list-conn-stats", "-L -c --stats"},
	{"list-conn-service", "-L -c -t 192.0.2.1:80"},
	{"list-timeout", "-L --timeout"},
	{"list-timeout-daemon", "-L --timeout --daemon"},
	{"list-daemon", "-L --daemon"},
	{"list-daemon-pc", "-L --daemon --persistent-conn"},
	{"list-twice-numeric", "-L -n -n"},
	{"list-scheduler", "-L -s rr"},
	{"save", "-S"},
	{"save-numeric", "-S -n"},
	{"save-service", "-S -t 192.0.2.1:80"},
	{"restore", "-R"},
	{"restore-numeric", "-R -n"},
	// Timeouts and daemons.
	{"set", "--set 900 120 300"},
	{"set-zero", "--set 0 0 0"},
	{"set-two", "--set 900 120"},
	{"set-four", "--set 900 120 300 5"},
	{"set-bad", "--set 900 x 300"},
	{"set-args-first", "1 2 3 --set"},
	{"start-master", "--start-daemon master"},
	{"start-backup-options", "--start-daemon backup --mcast-interface eth1 --syncid 7 --sync-maxlen 1400 --mcast-group 239.1.2.3 --mcast-port 8849 --mcast-ttl 2"},
	{"start-eq", "--start-daemon=master --syncid=3"},
	{"start-bad", "--start-daemon primary"},
	{"start-group-v6", "--start-daemon master --mcast-group ff02::1:2"},
	{"start-group-v6-unicast", "--start-daemon master --mcast-group 2001:db8::1"},
	{"start-group-v4-unicast", "--start-daemon master --mcast-group 192.0.2.1"},
	{"start-syncid-bad", "--start-daemon master --syncid 256"},
	{"start-port-bad", "--start-daemon master --mcast-port 0"},
	{"start-ttl-bad", "--start-daemon master --mcast-ttl 256"},
	{"start-maxlen-bad", "--start-daemon master --sync-maxlen 65508"},
	{"start-long-ifname", "--start-daemon master --mcast-interface abcdefghijklmnopqrst"},
	{"start-missing", "--start-daemon"},
	{"stop-master", "--stop-daemon master"},
	{"stop-bad", "--stop-daemon both"},
	{"stop-syncid", "--stop-daemon backup --syncid 1"},
	{"stop-mcast", "--stop-daemon backup --mcast-interface eth0"},
	// Help and version.
	{"help", "-h"},
	{"help-long", "--help"},
	{"version", "-v"},
	{"version-long", "--version"},
	{"help-after-command", "-L -h"},
	// popt behaviour and errors.
	{"no-command", "-n"},
	{"bare-word", "foo"},
	{"unknown-first", "-q"},
	{"unknown-long-first", "--bogus"},
	{"unknown-later", "-L --bogus"},
	{"unknown-bundled", "-Lq"},
	{"abbreviated-long", "--add -t 192.0.2.1:80"},
	{"abbreviated-later", "-L --num"},
	{"single-dash-long", "-L -numeric"},
	{"two-commands", "-A -D"},
	{"two-commands-bundled", "-LA"},
	{"missing-argument", "-A -t"},
	{"missing-argument-long", "-A --tcp-service"},
	{"unwanted-argument", "-L --numeric=1"},
	{"unwanted-argument-short", "-L -n=1"},
	{"glued-service", "-A -t192.0.2.1:80"},
	{"glued-service-eq", "-A -t=192.0.2.1:80"},
	{"bundled-with-value", "-At192.0.2.1:80"},
	{"value-looks-like-option", "-A -t -s"},
	{"stray-argument", "-L foo"},
	{"stray-argument-middle", "-A foo -t 192.0.2.1:80"},
	{"double-dash", "-L -- -n"},
	{"single-dash", "-L -"},
	{"option-twice", "-A -t 192.0.2.1:80 -p 10 -p 20"},
	{"list-connection-long", "--list --connection --numeric"},
}

// splitArgs splits on spaces; single quotes group (” is an empty argument).
func splitArgs(s string) []string {
	var out []string
	var cur strings.Builder
	in, have := false, false
	for _, c := range s {
		switch {
		case c == '\'':
			in, have = !in, true
		case c == ' ' && !in:
			if have {
				out = append(out, cur.String())
			}
			cur.Reset()
			have = false
		default:
			cur.WriteRune(c)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

func describeParse(cmd Command, err error) string {
	var b strings.Builder
	if err != nil {
		var f *Failure
		if !errors.As(err, &f) {
			return "error: " + err.Error() + "\n"
		}
		fmt.Fprintf(&b, "exit: %d\ncontinue: %v\nstderr:\n%s", f.Code, f.Continue, f.Message)
		return b.String()
	}
	fmt.Fprintf(&b, "kind: %s\n", cmd.Kind)
	if cmd.Format != 0 {
		fmt.Fprintf(&b, "format: %s\n", cmd.Format)
	}
	if cmd.Connections || cmd.Timeout || cmd.DaemonInfo {
		fmt.Fprintf(&b, "show: connections=%v timeout=%v daemon=%v\n", cmd.Connections, cmd.Timeout, cmd.DaemonInfo)
	}
	s := cmd.Service
	if cmd.HasService || s.Scheduler != "" || s.Flags != 0 || s.PEName != "" {
		fmt.Fprintf(&b, "service: has=%v family=%d proto=%d addr=%s port=%d fwmark=%d sched=%q flags=%#x timeout=%v netmask=%#x pe=%q\n",
			cmd.HasService, s.Family, s.Protocol, s.Address, s.Port, s.FWMark, s.Scheduler, uint32(s.Flags), s.Timeout, s.Netmask, s.PEName)
	}
	if d := cmd.Destination; d.Address.IsValid() {
		fmt.Fprintf(&b, "destination: family=%d addr=%s port=%d fwd=%s weight=%d x=%d y=%d tun=%s tunport=%d tunflags=%d\n",
			d.Family, d.Address, d.Port, d.Forward, d.Weight, d.UpperThreshold, d.LowerThreshold, d.TunnelType, d.TunnelPort, d.TunnelFlags)
	}
	if t := cmd.Timeouts; t != (lvs.Timeouts{}) {
		fmt.Fprintf(&b, "timeouts: tcp=%v tcpfin=%v udp=%v\n", t.TCP, t.TCPFin, t.UDP)
	}
	if d := cmd.Daemon; d != (lvs.SyncDaemon{}) {
		fmt.Fprintf(&b, "daemon: state=%s ifn=%q syncid=%d maxlen=%d group=%s port=%d ttl=%d\n",
			d.State, d.Interface, d.SyncID, d.MaxLen, d.Group, d.Port, d.TTL)
	}
	if op, ok := cmd.Op(); ok {
		fmt.Fprintf(&b, "op: %s all=%v\n", op.Kind, op.AllServices)
	}
	return b.String()
}

func TestParseGolden(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range parseCases {
		if seen[tc.name] {
			t.Fatalf("duplicate case %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			argv := append([]string{"ipvsadm"}, splitArgs(tc.args)...)
			cmd, err := Parse(context.Background(), argv, ParseOptions{Resolver: testResolver})
			got := fmt.Sprintf("argv: %q\n", argv) + describeParse(cmd, err)
			golden(t, "parse/"+tc.name, got)
		})
	}
}

func TestCommandsVOptionsShape(t *testing.T) {
	for cmd, row := range commandsVOptions {
		if cmd == 0 {
			continue
		}
		if len(row) != numOpts {
			t.Errorf("%s: %d columns, want %d", Kind(cmd), len(row), numOpts)
		}
	}
}

func TestPoptScanner(t *testing.T) {
	type step struct {
		Tag int
		Arg string
		Has bool
	}
	tests := []struct {
		args      string
		want      []step
		leftovers []string
	}{
		{"-Ln", []step{{'L', "", false}, {'n', "", false}}, nil},
		{"-p -n", []step{{'p', "", false}, {'n', "", false}}, nil},
		{"-p 5 -n", []step{{'p', "5", true}, {'n', "", false}}, nil},
		{"-p5", []step{{'p', "5", true}}, nil},
		{"-p", []step{{'p', "", false}}, nil},
		{"--persistent 5", []step{{'p', "5", true}}, nil},
		{"-w==3", []step{{'w', "=3", true}}, nil},
		{"-t -n", []step{{'t', "-n", true}}, nil},
		{"a -L b -- -n", []step{{'L', "", false}}, []string{"a", "b", "-n"}},
		{"--bogus", []step{{poptBadOpt, "", false}}, nil},
		{"-L=", []step{{poptUnwantedArg, "", false}}, nil},
		{"-t", []step{{poptNoArg, "", false}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.args, func(t *testing.T) {
			s := newPoptScanner(append([]string{"ipvsadm"}, strings.Fields(tc.args)...), false, false)
			var got []step
			for {
				tag, arg := s.nextOpt()
				if tag == poptDone {
					break
				}
				st := step{Tag: tag}
				if arg != nil {
					st.Arg, st.Has = *arg, true
				}
				got = append(got, st)
				if tag < 0 {
					break
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.leftovers, s.leftovers); diff != "" {
				t.Errorf("leftovers (-want +got):\n%s", diff)
			}
		})
	}
}
