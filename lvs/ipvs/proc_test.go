package ipvs

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lvsctl/lvsctl/lvs"
)

// The -update flag may also be registered by other test files of this
// package; register it only once, whoever comes first.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files in testdata")
	}
}

func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// connCmpOpts lets go-cmp compare the netip types, whose fields are
// unexported, by value.
var connCmpOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b }),
}

// kernelConnLine formats c the way ip_vs_conn_seq_show (or, with sync,
// ip_vs_conn_sync_seq_show) does, for round-trip tests.
func kernelConnLine(c lvs.Connection, sync bool) string {
	addr := func(a netip.Addr) string {
		if a.Is4() {
			b := a.As4()
			return fmt.Sprintf("%02X%02X%02X%02X", b[0], b[1], b[2], b[3])
		}
		b := a.As16()
		g := make([]string, 8)
		for i := range g {
			g[i] = fmt.Sprintf("%02x%02x", b[2*i], b[2*i+1])
		}
		return strings.Join(g, ":")
	}
	head := fmt.Sprintf("%-3s %s %04X %s %04X %s %04X %-11s",
		c.Protocol, addr(c.Client.Addr()), c.Client.Port(), addr(c.Virtual.Addr()), c.Virtual.Port(),
		addr(c.Real.Addr()), c.Real.Port(), c.State)
	secs := uint64(c.Expires / time.Second)
	if sync {
		return fmt.Sprintf("%s %-6s %7d\n", head, c.Origin, secs)
	}
	pe := ""
	if c.PEName != "" {
		pe = " " + c.PEName + " " + c.PEData
	}
	return fmt.Sprintf("%s %7d%s\n", head, secs, pe)
}

func TestReadConnections(t *testing.T) {
	const hdr = connHeader + "\n"
	const shdr = connSyncHeader + "\n"
	tests := []struct {
		name string
		in   string
		want []lvs.Connection
	}{
		{name: "header only", in: hdr, want: []lvs.Connection{}},
		{name: "header without newline", in: connHeader, want: []lvs.Connection{}},
		{
			name: "established tcp",
			in:   hdr + "TCP C0000201 D431 C6336401 0050 CB007107 0050 ESTABLISHED     899\n",
			want: []lvs.Connection{{Protocol: "TCP", Client: ap("192.0.2.1:54321"), Virtual: ap("198.51.100.1:80"),
				Real: ap("203.0.113.7:80"), State: "ESTABLISHED", Expires: 899 * time.Second}},
		},
		{
			name: "lower-case hex and tabs are accepted",
			in:   hdr + "TCP\tc0000201 d431 c6336401 0050\tcb007107 0050 SYN_RECV 59",
			want: []lvs.Connection{{Protocol: "TCP", Client: ap("192.0.2.1:54321"), Virtual: ap("198.51.100.1:80"),
				Real: ap("203.0.113.7:80"), State: "SYN_RECV", Expires: 59 * time.Second}},
		},
		{
			name: "persistence template of a fwmark service",
			in:   hdr + "IP  C0000207 0000 00000001 0000 CB007107 0000 NONE            119\n",
			want: []lvs.Connection{{Protocol: "IP", Client: ap("192.0.2.7:0"), Virtual: ap("0.0.0.1:0"),
				Real: ap("203.0.113.7:0"), State: "NONE", Expires: 119 * time.Second}},
		},
		{
			name: "state wider than its column",
			in:   hdr + "SCTP C0000206 0B59 C6336403 0B59 CB00710A 0B59 SHUTDOWN_ACK_SENT       3\n",
			want: []lvs.Connection{{Protocol: "SCTP", Client: ap("192.0.2.6:2905"), Virtual: ap("198.51.100.3:2905"),
				Real: ap("203.0.113.10:2905"), State: "SHUTDOWN_ACK_SENT", Expires: 3 * time.Second}},
		},
		{
			name: "ipv6 full form",
			in: hdr + "TCP 2001:0db8:0000:0000:0000:0000:0000:0001 D431 2001:0db8:0000:0000:0000:0000:0000:0080 0050 " +
				"2001:0db8:0000:0000:0000:0000:0001:0001 0050 ESTABLISHED     900\n",
			want: []lvs.Connection{{Protocol: "TCP", Client: ap("[2001:db8::1]:54321"), Virtual: ap("[2001:db8::80]:80"),
				Real: ap("[2001:db8::1:1]:80"), State: "ESTABLISHED", Expires: 900 * time.Second}},
		},
		{
			name: "ipv4 service with an ipv6 tunnel destination",
			in:   hdr + "TCP C0000201 D431 C6336401 0050 2001:0db8:0000:0000:0000:0000:0001:0003 0050 ESTABLISHED      12\n",
			want: []lvs.Connection{{Protocol: "TCP", Client: ap("192.0.2.1:54321"), Virtual: ap("198.51.100.1:80"),
				Real: ap("[2001:db8::1:3]:80"), State: "ESTABLISHED", Expires: 12 * time.Second}},
		},
		{
			name: "ipv4-mapped ipv6 stays ipv6",
			in: hdr + "TCP 0000:0000:0000:0000:0000:ffff:c000:0201 03E8 2001:0db8:0000:0000:0000:0000:0000:0080 0050 " +
				"2001:0db8:0000:0000:0000:0000:0001:0001 0050 LAST_ACK          5\n",
			want: []lvs.Connection{{Protocol: "TCP", Client: ap("[::ffff:192.0.2.1]:1000"), Virtual: ap("[2001:db8::80]:80"),
				Real: ap("[2001:db8::1:1]:80"), State: "LAST_ACK", Expires: 5 * time.Second}},
		},
		{
			name: "persistence engine",
			in:   hdr + "UDP C0000201 0000 C6336401 13C4 CB007107 13C4 NONE            899 sip a84b4c76e66710@pc33.example.test\n",
			want: []lvs.Connection{{Protocol: "UDP", Client: ap("192.0.2.1:0"), Virtual: ap("198.51.100.1:5060"),
				Real: ap("203.0.113.7:5060"), State: "NONE", Expires: 899 * time.Second,
				PEName: "sip", PEData: "a84b4c76e66710@pc33.example.test"}},
		},
		{
			name: "persistence engine data kept verbatim",
			in:   hdr + "UDP C0000201 0000 C6336401 13C4 CB007107 13C4 NONE            899 sip a b  c\n",
			want: []lvs.Connection{{Protocol: "UDP", Client: ap("192.0.2.1:0"), Virtual: ap("198.51.100.1:5060"),
				Real: ap("203.0.113.7:5060"), State: "NONE", Expires: 899 * time.Second, PEName: "sip", PEData: "a b  c"}},
		},
		{
			name: "trailing spaces without persistence engine",
			in:   hdr + "UDP C0000205 14E9 C6336402 0035 CB007107 0035 UDP             299   \n",
			want: []lvs.Connection{{Protocol: "UDP", Client: ap("192.0.2.5:5353"), Virtual: ap("198.51.100.2:53"),
				Real: ap("203.0.113.7:53"), State: "UDP", Expires: 299 * time.Second}},
		},
		{
			name: "blank lines and CRLF are tolerated",
			in:   hdr + "\n" + "TCP C0000201 D431 C6336401 0050 CB007107 0050 CLOSE       4294967295\r\n\n",
			want: []lvs.Connection{{Protocol: "TCP", Client: ap("192.0.2.1:54321"), Virtual: ap("198.51.100.1:80"),
				Real: ap("203.0.113.7:80"), State: "CLOSE", Expires: 4294967295 * time.Second}},
		},
		{
			name: "sync variant",
			in: shdr + "TCP C0000201 D431 C6336401 0050 CB007107 0050 ESTABLISHED LOCAL      899\n" +
				"TCP C0000202 D432 C6336401 0050 CB007108 0050 ESTABLISHED SYNC       180\n",
			want: []lvs.Connection{
				{Protocol: "TCP", Client: ap("192.0.2.1:54321"), Virtual: ap("198.51.100.1:80"),
					Real: ap("203.0.113.7:80"), State: "ESTABLISHED", Origin: "LOCAL", Expires: 899 * time.Second},
				{Protocol: "TCP", Client: ap("192.0.2.2:54322"), Virtual: ap("198.51.100.1:80"),
					Real: ap("203.0.113.8:80"), State: "ESTABLISHED", Origin: "SYNC", Expires: 180 * time.Second},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadConnections(strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("ReadConnections: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, connCmpOpts); diff != "" {
				t.Errorf("ReadConnections mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadConnectionsErrors(t *testing.T) {
	const hdr = connHeader + "\n"
	const good = "TCP C0000201 D431 C6336401 0050 CB007107 0050 ESTABLISHED     899\n"
	tests := []struct {
		name     string
		in       string
		wantLine int
		wantText string // substring of the error message
	}{
		{name: "empty input", in: "", wantLine: 1, wantText: "no header"},
		{name: "wrong header", in: "IP Virtual Server version 1.2.1 (size=4096)\n", wantLine: 1, wantText: "not an ip_vs_conn header"},
		{name: "data without header", in: good, wantLine: 1, wantText: "header"},
		{name: "short line", in: hdr + good + "TCP C0000201 D431\n", wantLine: 3, wantText: "missing virtual address"},
		{name: "missing expires", in: hdr + "TCP C0000201 D431 C6336401 0050 CB007107 0050 ESTABLISHED\n", wantLine: 2, wantText: "missing expires"},
		{name: "bad client address", in: hdr + "TCP C00002 D431 C6336401 0050 CB007107 0050 NONE 1\n", wantLine: 2, wantText: `client address "C00002"`},
		{name: "dotted address", in: hdr + "TCP 192.0.2.1 D431 C6336401 0050 CB007107 0050 NONE 1\n", wantLine: 2, wantText: "client address"},
		{name: "bad ipv6", in: hdr + "TCP 2001:db8:::1 D431 C6336401 0050 CB007107 0050 NONE 1\n", wantLine: 2, wantText: "not an IPv6 address"},
		{name: "zone", in: hdr + "TCP fe80::1%eth0 D431 C6336401 0050 CB007107 0050 NONE 1\n", wantLine: 2, wantText: "zone"},
		{name: "bad port", in: hdr + "TCP C0000201 D43G C6336401 0050 CB007107 0050 NONE 1\n", wantLine: 2, wantText: `client port "D43G"`},
		{name: "long port", in: hdr + "TCP C0000201 D4310 C6336401 0050 CB007107 0050 NONE 1\n", wantLine: 2, wantText: "4 hex digits"},
		{name: "bad destination port", in: hdr + "TCP C0000201 D431 C6336401 0050 CB007107 -1 NONE 1\n", wantLine: 2, wantText: "destination port"},
		{name: "negative expires", in: hdr + "TCP C0000201 D431 C6336401 0050 CB007107 0050 NONE -1\n", wantLine: 2, wantText: "expires"},
		{name: "expires overflows u32", in: hdr + "TCP C0000201 D431 C6336401 0050 CB007107 0050 NONE 4294967296\n", wantLine: 2, wantText: "expires"},
		{name: "pe name without data", in: hdr + "UDP C0000201 0000 C6336401 13C4 CB007107 13C4 NONE 899 sip\n", wantLine: 2, wantText: "persistence-engine"},
		{name: "pe after tab", in: hdr + "UDP C0000201 0000 C6336401 13C4 CB007107 13C4 NONE 899\tsip x\n", wantLine: 2, wantText: "persistence-engine"},
		{name: "sync bad origin", in: connSyncHeader + "\nTCP C0000201 D431 C6336401 0050 CB007107 0050 ESTABLISHED REMOTE 1\n", wantLine: 2, wantText: "origin"},
		{name: "sync missing origin", in: connSyncHeader + "\nTCP C0000201 D431 C6336401 0050 CB007107 0050 ESTABLISHED\n", wantLine: 2, wantText: "missing origin"},
		{name: "sync extra column", in: connSyncHeader + "\nTCP C0000201 D431 C6336401 0050 CB007107 0050 ESTABLISHED SYNC 1 sip x\n", wantLine: 2, wantText: "after expires"},
		{name: "line too long", in: hdr + good + strings.Repeat("x", maxConnLine+1) + "\n", wantLine: 3, wantText: "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadConnections(strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("ReadConnections = %v, want an error", got)
			}
			if got != nil {
				t.Errorf("ReadConnections returned %d connections with its error, want none", len(got))
			}
			if !errors.Is(err, ErrConnFormat) {
				t.Errorf("error %v does not wrap ErrConnFormat", err)
			}
			var le *ConnLineError
			if !errors.As(err, &le) {
				t.Fatalf("error %v is not a *ConnLineError", err)
			}
			if le.Line != tt.wantLine {
				t.Errorf("error names line %d, want %d (%v)", le.Line, tt.wantLine, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not mention %q", err, tt.wantText)
			}
		})
	}
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

func TestReadConnectionsReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := ReadConnections(failingReader{boom})
	if !errors.Is(err, boom) {
		t.Fatalf("ReadConnections error = %v, want it to wrap %v", err, boom)
	}
	if errors.Is(err, ErrConnFormat) {
		t.Errorf("an I/O error must not look like a format error: %v", err)
	}
}

// dumpConnections renders parsed connections one per line for golden files.
func dumpConnections(conns []lvs.Connection) string {
	var b strings.Builder
	for _, c := range conns {
		fmt.Fprintf(&b, "proto=%s client=%s virtual=%s real=%s state=%s expires=%d", c.Protocol, c.Client,
			c.Virtual, c.Real, c.State, c.Expires/time.Second)
		if c.Origin != "" {
			fmt.Fprintf(&b, " origin=%s", c.Origin)
		}
		if c.PEName != "" {
			fmt.Fprintf(&b, " pe=%s pedata=%q", c.PEName, c.PEData)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// TestReadConnectionsGolden parses testdata/conn_*.txt, compares with the
// matching .golden file, and checks that formatting the result the kernel's
// way gives back the input byte for byte.
func TestReadConnectionsGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "conn_*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no testdata/conn_*.txt inputs")
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".txt")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			conns, err := ReadConnections(strings.NewReader(string(raw)))
			if err != nil {
				t.Fatalf("ReadConnections(%s): %v", in, err)
			}
			got := dumpConnections(conns)
			golden := strings.TrimSuffix(in, ".txt") + ".golden"
			if updateGolden() {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", golden, diff)
			}

			lines := strings.SplitAfter(string(raw), "\n")
			header := lines[0]
			sync := strings.Contains(header, "Origin")
			var back strings.Builder
			back.WriteString(header)
			for _, c := range conns {
				back.WriteString(kernelConnLine(c, sync))
			}
			if diff := cmp.Diff(string(raw), back.String()); diff != "" {
				t.Errorf("re-formatting %s does not give the input back (-input +formatted):\n%s", in, diff)
			}
		})
	}
}

func FuzzReadConnections(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "conn_*.txt"))
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err == nil {
			f.Add(string(b))
		}
	}
	f.Add(connHeader + "\n")
	f.Add(connHeader + "\nTCP C0000201 D431 C6336401 0050 CB007107 0050 ESTABLISHED     899 sip x\n")
	f.Add(connSyncHeader + "\nUDP C0000201 0035 C6336401 0035 CB007107 0035 UDP         SYNC       299\n")
	f.Fuzz(func(t *testing.T, in string) {
		conns, err := ReadConnections(strings.NewReader(in))
		if err != nil {
			if conns != nil {
				t.Fatalf("connections returned with error %v", err)
			}
			return
		}
		// Whatever parsed must survive a trip through the kernel's format.
		sync := sameFields(strings.SplitN(in, "\n", 2)[0], connSyncHeader)
		var b strings.Builder
		if sync {
			b.WriteString(connSyncHeader + "\n")
		} else {
			b.WriteString(connHeader + "\n")
		}
		for _, c := range conns {
			b.WriteString(kernelConnLine(c, sync))
		}
		again, err := ReadConnections(strings.NewReader(b.String()))
		if err != nil {
			t.Fatalf("re-parsing formatted output: %v\n%s", err, b.String())
		}
		if diff := cmp.Diff(conns, again, connCmpOpts); diff != "" {
			t.Fatalf("round trip mismatch (-first +second):\n%s", diff)
		}
	})
}

func TestConnectionProtocolNumber(t *testing.T) {
	tests := []struct {
		name   string
		want   uint8
		wantOK bool
	}{
		{"TCP", 6, true}, {"UDP", 17, true}, {"SCTP", 132, true}, {"IP", 0, true},
		{"ICMP", 1, true}, {"ICMPv6", 58, true}, {"IP_47", 47, true},
		{"tcp", 0, false}, {"IP_300", 0, false}, {"IP_", 0, false}, {"", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := lvs.Connection{Protocol: tt.name}.ProtocolNumber()
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ProtocolNumber(%q) = %d, %v; want %d, %v", tt.name, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
