package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/lvsctl/lvsctl/lvs"
	"github.com/lvsctl/lvsctl/lvs/ipvs/ipvstest"
	"github.com/lvsctl/lvsctl/lvs/ipvsadm"
)

type result struct {
	code     int
	out, err string
}

// run runs one command line against kernel (nil: IPVS unavailable).
func run(t *testing.T, kernel *ipvstest.Kernel, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	stdio := Stdio{
		In:  strings.NewReader(stdin),
		Out: &out,
		Err: &errb,
		openKernel: func() (ipvsadm.Kernel, func() error, error) {
			if kernel == nil {
				return nil, nil, fmt.Errorf("open: %w", lvs.ErrIPVSUnavailable)
			}
			return kernel, func() error { return nil }, nil
		},
	}
	code := Run(context.Background(), args, stdio)
	return result{code, out.String(), errb.String()}
}

func TestMultiCall(t *testing.T) {
	const rules = "-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 198.51.100.7:80 -m -w 2\n"
	tests := []struct {
		name string
		args []string
		// want is a line the output must hold; wantCode the exit status.
		want     string
		wantCode int
	}{
		{"lvsctl lists like ipvsadm", []string{"lvsctl", "-S", "-n"}, "-a -t 192.0.2.1:80 -r 198.51.100.7:80 -m -w 2", 0},
		{"bare lvsctl lists the table", []string{"lvsctl"}, "TCP  192.0.2.1:http rr", 0},
		{"ipvsadm by name", []string{"/usr/sbin/ipvsadm", "-L", "-n"}, "  -> 198.51.100.7:80              Masq    2      0          0", 0},
		{"ipvsadm-save by name", []string{"ipvsadm-save", "-n"}, "-A -t 192.0.2.1:80 -s rr", 0},
		{"version subcommand", []string{"lvsctl", "version"}, "ipvsadm 1.31 compatible", 0},
		{"unknown option fails as in ipvsadm", []string{"lvsctl", "-Q"}, "", 255},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := ipvstest.New()
			if r := run(t, k, rules, "ipvsadm-restore"); r.code != 0 {
				t.Fatalf("restore: %+v", r)
			}
			r := run(t, k, "", tt.args...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", r.code, tt.wantCode, r.out, r.err)
			}
			if tt.want != "" && !hasLine(r.out, tt.want) {
				t.Errorf("stdout lacks %q:\n%s", tt.want, r.out)
			}
		})
	}
}

func TestNoIPVS(t *testing.T) {
	r := run(t, nil, "", "lvsctl", "-L", "-n")
	want := "Can't initialize ipvs: Protocol not available\nAre you sure that IP Virtual Server is built in the kernel or as module?\n"
	if r.code != 2 || r.err != want || r.out != "" {
		t.Errorf("got exit %d stdout %q stderr %q; want exit 2 and stderr %q", r.code, r.out, r.err, want)
	}
	// Help needs no kernel.
	if r := run(t, nil, "", "ipvsadm", "-h"); r.code != 0 || !strings.Contains(r.out, "lvsctl") {
		t.Errorf("ipvsadm -h without IPVS: exit %d stdout %q stderr %q", r.code, r.out, r.err)
	}
}

func TestExitCode(t *testing.T) {
	var b bytes.Buffer
	if got := exitCode(nil, &b); got != ExitOK || b.Len() != 0 {
		t.Errorf("nil error: %d %q", got, b.String())
	}
	if got := exitCode(usageError{errors.New("bad flag")}, &b); got != ExitUsage {
		t.Errorf("usage error: %d", got)
	}
	if got := exitCode(errors.New("boom"), &b); got != ExitFailed {
		t.Errorf("failure: %d", got)
	}
}

// hasLine reports whether a line of out holds want (ipvsadm pads its last
// column with spaces, so whole lines are not compared).
func hasLine(out, want string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, want) {
			return true
		}
	}
	return false
}

func TestJSONIsLvsctlOnly(t *testing.T) {
	k := ipvstest.New()
	if r := run(t, k, "", "lvsctl", "-L", "-n", "--json"); r.code != 0 || !strings.HasPrefix(r.out, "{") {
		t.Errorf("lvsctl -L -n --json: exit %d stdout %q stderr %q", r.code, r.out, r.err)
	}
	// Under ipvsadm's name the option is unknown, as in ipvsadm 1.31.
	r := run(t, k, "", "ipvsadm", "-L", "-n", "--json")
	if r.code == 0 || r.out != "" || !strings.Contains(r.err, "--json: unknown option") {
		t.Errorf("ipvsadm -L -n --json: exit %d stdout %q stderr %q", r.code, r.out, r.err)
	}
}
