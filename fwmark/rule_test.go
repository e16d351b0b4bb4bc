package fwmark

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lvsctl/lvsctl/lvs"
)

func TestParsePorts(t *testing.T) {
	tests := []struct {
		in   string
		want string // FormatPorts of the result; "" for an error
	}{
		{"80", "80"},
		{"443,80", "80,443"},
		{"80,443,8000:8100", "80,443,8000:8100"},
		{"8000-8100,80", "80,8000:8100"},
		{"80,80", "80"},
		{"8000:8100,8050:8200,8300", "8000:8200,8300"},
		{"90:100,95", "90:100"},
		{" 80 , 443 ", "80,443"},
		{"65535", "65535"},
		{"", ""},
		{"0", ""},
		{"65536", ""},
		{"100:90", ""},
		{"http", ""},
		{"80,", ""},
		{"-80", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePorts(tt.in)
			if tt.want == "" {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("ParsePorts(%q) = %v, %v; want ErrInvalid", tt.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := FormatPorts(got); s != tt.want {
				t.Errorf("ParsePorts(%q) = %s, want %s", tt.in, s, tt.want)
			}
		})
	}
}

func TestParseMark(t *testing.T) {
	tests := []struct {
		in   string
		want uint32
		ok   bool
	}{
		{"5", 5, true},
		{"0x10", 16, true},
		{"0XfF", 255, true},
		{"4294967295", 1<<32 - 1, true},
		{"0xffffffff", 1<<32 - 1, true},
		{"0", 0, false},
		{"0x0", 0, false},
		{"4294967296", 0, false},
		{"-1", 0, false},
		{"five", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMark(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("ParseMark(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func mustPorts(t testing.TB, s string) []PortRange {
	t.Helper()
	p, err := ParsePorts(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSpecs(t *testing.T) {
	tests := []struct {
		name string
		rule Rule
		want []string // one iptables -S line per spec, in chain LVSCTL-FWMARK
	}{
		{
			name: "IPv4 two ports",
			rule: Rule{VIP: netip.MustParseAddr("192.0.2.1"), Proto: lvs.TCP, Ports: mustPorts(t, "80,443"), Mark: 5},
			want: []string{`-A LVSCTL-FWMARK -d 192.0.2.1/32 -p tcp -m multiport --dports 80,443 -m comment --comment "lvsctl fwmark 5" -j MARK --set-xmark 0x5/0xffffffff`},
		},
		{
			name: "IPv6 udp range, hex mark",
			rule: Rule{VIP: netip.MustParseAddr("2001:db8::1"), Proto: lvs.UDP, Ports: mustPorts(t, "5060:5070"), Mark: 0xabc},
			want: []string{`-A LVSCTL-FWMARK -d 2001:db8::1/128 -p udp -m multiport --dports 5060:5070 -m comment --comment "lvsctl fwmark 2748" -j MARK --set-xmark 0xabc/0xffffffff`},
		},
		{
			name: "more than 15 multiport entries split",
			rule: Rule{VIP: netip.MustParseAddr("192.0.2.1"), Proto: lvs.SCTP, Ports: mustPorts(t, "1,2,3,4,5,6,7,8,9,10,11,12,13,20:30,40"), Mark: 1},
			want: []string{
				`-A LVSCTL-FWMARK -d 192.0.2.1/32 -p sctp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,20:30 -m comment --comment "lvsctl fwmark 1" -j MARK --set-xmark 0x1/0xffffffff`,
				`-A LVSCTL-FWMARK -d 192.0.2.1/32 -p sctp -m multiport --dports 40 -m comment --comment "lvsctl fwmark 1" -j MARK --set-xmark 0x1/0xffffffff`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, s := range tt.rule.specs() {
				got = append(got, "-A "+Chain+" "+joinQuoted(s))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("specs (-want +got):\n%s", diff)
			}
			// Each listing line reads back as the rule's own part.
			var ports []PortRange
			for _, line := range got {
				chain, r, err := ParseRule(line)
				if err != nil || chain != Chain {
					t.Fatalf("ParseRule(%q) = %q, %v", line, chain, err)
				}
				if r.VIP != tt.rule.VIP || r.Proto != tt.rule.Proto || r.Mark != tt.rule.Mark {
					t.Errorf("ParseRule(%q) = %+v", line, r)
				}
				ports = append(ports, r.Ports...)
			}
			if diff := cmp.Diff(tt.rule.Ports, ports); diff != "" {
				t.Errorf("ports read back (-want +got):\n%s", diff)
			}
		})
	}
}

// joinQuoted writes a spec as iptables -S does.
func joinQuoted(spec []string) string {
	words := make([]string, len(spec))
	for i, w := range spec {
		if strings.ContainsAny(w, " \"\\") {
			w = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(w) + `"`
		}
		words[i] = w
	}
	return strings.Join(words, " ")
}

func TestParseRuleRejects(t *testing.T) {
	for _, line := range []string{
		``,
		`-N LVSCTL-FWMARK`,
		`-A LVSCTL-FWMARK -j ACCEPT`,
		`-A LVSCTL-FWMARK -d 192.0.2.0/24 -p tcp -m multiport --dports 80 -m comment --comment "lvsctl fwmark 5" -j MARK --set-xmark 0x5/0xffffffff`,
		`-A LVSCTL-FWMARK -d 192.0.2.1/32 -p icmp -m multiport --dports 80 -m comment --comment "lvsctl fwmark 5" -j MARK --set-xmark 0x5/0xffffffff`,
		`-A LVSCTL-FWMARK -d 192.0.2.1/32 -p tcp -m multiport --dports 80 -m comment --comment "someone else" -j MARK --set-xmark 0x5/0xffffffff`,
		`-A LVSCTL-FWMARK -d 192.0.2.1/32 -p tcp -m multiport --dports 80 -m comment --comment "lvsctl fwmark 5" -j MARK --set-xmark 0x5/0xff`,
		`-A LVSCTL-FWMARK -d 192.0.2.1/32 -p tcp -m multiport --dports 80 -m comment --comment "lvsctl fwmark 5 -j MARK --set-xmark 0x5/0xffffffff`,
		`-A LVSCTL-FWMARK -d 192.0.2.1/32 -p tcp -m multiport --dports 80 -m comment --comment "lvsctl fwmark 0" -j MARK --set-xmark 0x0/0xffffffff`,
	} {
		if _, r, err := ParseRule(line); err == nil {
			t.Errorf("ParseRule(%q) = %+v, want an error", line, r)
		}
	}
}

func TestSplitSaved(t *testing.T) {
	got, err := splitSaved(`-A X -m comment --comment "a \"quoted\" \\ word"  -j Y`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"-A", "X", "-m", "comment", "--comment", `a "quoted" \ word`, "-j", "Y"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func FuzzParseRule(f *testing.F) {
	f.Add(`-A LVSCTL-FWMARK -d 192.0.2.1/32 -p tcp -m multiport --dports 80,443 -m comment --comment "lvsctl fwmark 5" -j MARK --set-xmark 0x5/0xffffffff`)
	f.Add(`-A LVSCTL-FWMARK-LOCAL -d 2001:db8::1/128 -p udp -m multiport --dports 5060:5070 -m comment --comment "lvsctl fwmark 2748" -j MARK --set-xmark 0xabc/0xffffffff`)
	f.Fuzz(func(t *testing.T, line string) {
		chain, r, err := ParseRule(line)
		if err != nil {
			return
		}
		// What parses must be a valid rule whose spec parses back to itself.
		if err := r.validate(); err != nil {
			t.Fatalf("ParseRule(%q) = %+v, invalid: %v", line, r, err)
		}
		for _, s := range r.specs() {
			c2, r2, err := ParseRule("-A " + chain + " " + joinQuoted(s))
			if err != nil || c2 != chain || r2.VIP != r.VIP || r2.Mark != r.Mark || r2.Proto != r.Proto {
				t.Fatalf("round trip of %q: %q %+v %v", line, c2, r2, err)
			}
		}
	})
}

func FuzzParsePorts(f *testing.F) {
	for _, s := range []string{"80", "80,443,8000:8100", "8000-8100", "1:65535", "0", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePorts(s)
		if err != nil {
			return
		}
		again, err := ParsePorts(FormatPorts(p))
		if err != nil {
			t.Fatalf("ParsePorts(%q) = %v; its formatting %q fails: %v", s, p, FormatPorts(p), err)
		}
		if diff := cmp.Diff(p, again); diff != "" {
			t.Fatalf("ParsePorts(%q) not stable (-first +second):\n%s", s, diff)
		}
	})
}
