package ipvsadm

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lvsctl/lvsctl/lvs/reconcile"
)

// saveOf returns what -S -n prints for the table populate builds.
func saveOf(t *testing.T, setup []step) string {
	t.Helper()
	k := newFakeKernel()
	runSteps(t, k, setup)
	var out, errb bytes.Buffer
	if code := Main(context.Background(), "ipvsadm", []string{"-S", "-n"}, Env{Stdout: &out, Stderr: &errb, Kernel: k}); code != 0 {
		t.Fatalf("-S -n: exit %d: %s", code, errb.String())
	}
	return out.String()
}

// rulesOf renders a table as the ops that create it, one line each.
func rulesOf(t *testing.T, table []reconcile.Service) []string {
	t.Helper()
	ops, err := reconcile.Plan(table, nil, reconcile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, op := range ops {
		lines = append(lines, OpRule(op))
	}
	return lines
}

// TestReadRulesRoundTrip: what -S -n writes reads back into a table whose
// operations, written as command lines, are the lines -S -n wrote.
func TestReadRulesRoundTrip(t *testing.T) {
	saved := saveOf(t, populate)
	table, err := ReadRules(context.Background(), strings.NewReader(saved), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSuffix(saved, "\n"), "\n")
	got := rulesOf(t, table)
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rules (-saved +rendered):\n%s", diff)
	}
}

func TestReadRulesSyntax(t *testing.T) {
	in := "# saved by ipvsadm-save\n\n   \n\t# indented comment\r\n" +
		"ipvsadm -A -t 192.0.2.1:80 -s rr\r\n" +
		"-a -t 192.0.2.1:80 -r 198.51.100.1 -m\n" +
		"--add-server --tcp-service=192.0.2.1:80 --real-server 198.51.100.2:80 --weight=3\n" +
		"-A -t www:http\n" +
		"-a -t 192.0.2.9:80 -r 198.51.100.3" // no final newline
	table, err := ReadRules(context.Background(), strings.NewReader(in), ParseOptions{Resolver: mapResolver{hosts: map[string]netip.Addr{"www": netip.MustParseAddr("192.0.2.9")}, services: map[string]uint16{"http/tcp": 80}}})
	if err != nil {
		t.Fatal(err)
	}
	got := rulesOf(t, table)
	want := []string{
		"-A -t 192.0.2.1:80 -s rr",
		"-a -t 192.0.2.1:80 -r 198.51.100.1:80 -m -w 1",
		"-a -t 192.0.2.1:80 -r 198.51.100.2:80 -g -w 3",
		"-A -t 192.0.2.9:80 -s wlc",
		"-a -t 192.0.2.9:80 -r 198.51.100.3:80 -g -w 1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestReadRulesErrors(t *testing.T) {
	tests := []struct {
		name, in string
		line     int
		msg      string
	}{
		{"parse error", "-A -t 192.0.2.1:80\n-a -t 192.0.2.1:80 -r 198.51.100.1 -w -1\n", 2, "illegal weight specified"},
		{"popt error", "-A -t 192.0.2.1:80 --bogus\n", 1, "--bogus: unknown option"},
		{"garbage", "\n\nhello world\n", 3, "not an ipvsadm command line"},
		{"trailing comment", "-A -t 192.0.2.1:80 # web\n", 1, "unexpected argument #"},
		{"other command", "-A -t 192.0.2.1:80\n-C\n", 2, "flush: only add-service (-A) and add-server (-a) lines belong in a rules file"},
		{"edit", "-E -t 192.0.2.1:80 -s rr\n", 1, "edit-service: only add-service (-A) and add-server (-a) lines belong in a rules file"},
		{"restore", "-R\n", 1, "restore: only add-service (-A) and add-server (-a) lines belong in a rules file"},
		{"service twice", "-A -t 192.0.2.1:80\n#\n-A -t 192.0.2.1:80 -s rr\n", 3, "service -t 192.0.2.1:80 is already defined on line 1"},
		{"server twice", "-A -f 5 -6\n-a -f 5 -6 -r [2001:db8::1]:0\n-a -f 5 -6 -r [2001:db8::1]:0 -w 3\n", 3,
			"real server [2001:db8::1]:0 of service -f 5 -6 is already defined on line 2"},
		{"server without service", "-A -t 192.0.2.1:80\n-a -t 192.0.2.2:80 -r 198.51.100.1\n", 2,
			"real server for service -t 192.0.2.2:80, which no -A line before it defines"},
		{"server before service", "-a -u 192.0.2.1:53 -r 198.51.100.1\n-A -u 192.0.2.1:53\n", 1,
			"real server for service -u 192.0.2.1:53, which no -A line before it defines"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadRules(context.Background(), strings.NewReader(tt.in), ParseOptions{})
			var re *RuleError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want a *RuleError", err)
			}
			if re.Line != tt.line || re.Msg != tt.msg {
				t.Errorf("got line %d %q, want line %d %q", re.Line, re.Msg, tt.line, tt.msg)
			}
		})
	}
	// IPv4 and IPv6 services with the same mark are different services.
	if _, err := ReadRules(context.Background(), strings.NewReader("-A -f 5\n-A -f 5 -6\n-a -f 5 -r 198.51.100.1\n-a -f 5 -6 -r 2001:db8::1\n"), ParseOptions{}); err != nil {
		t.Errorf("marks of two families: %v", err)
	}
}

// FuzzReadRules: any input either fails with a *RuleError or gives a table
// without duplicates whose rendering reads back to the same table.
func FuzzReadRules(f *testing.F) {
	f.Add("-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 198.51.100.1:80 -m -w 2\n")
	f.Add("# c\n\n-A -f 5 -6 -p 60 -M 64\n-a -f 5 -6 -r [2001:db8::1]:0 -i --tun-type gue --tun-port 6080 --tun-csum\n")
	f.Add("-A -u 192.0.2.1:53 -s sh -b sh-port -o\n-a -u 192.0.2.1:53 -r 198.51.100.1 -x 10 -y 1\n-C\n")
	f.Add("-A --sctp-service 192.0.2.6:3868 -s mh -b mh-port --pe sip\n")
	f.Fuzz(func(t *testing.T, in string) {
		ctx := context.Background()
		table, err := ReadRules(ctx, strings.NewReader(in), ParseOptions{})
		if err != nil {
			var re *RuleError
			if !errors.As(err, &re) || re.Line < 1 || re.Msg == "" {
				t.Fatalf("error %#v", err)
			}
			return
		}
		lines := rulesOf(t, table)
		again, err := ReadRules(ctx, strings.NewReader(strings.Join(lines, "\n")), ParseOptions{})
		if err != nil {
			t.Fatalf("rendering %q does not read back: %v", lines, err)
		}
		if diff := cmp.Diff(lines, rulesOf(t, again)); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
