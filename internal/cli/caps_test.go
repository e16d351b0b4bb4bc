package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lvsctl/lvsctl/lab"
	"github.com/lvsctl/lvsctl/lvs/ipvs"
	"github.com/lvsctl/lvsctl/lvs/ipvsadm"
)

func TestPermissionHint(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("no such service"), ""},
		{fmt.Errorf("add service: %w", &ipvs.Error{Cmd: ipvs.CmdNewService, Errno: unix.EPERM}), hintNetAdmin},
		{errors.New("iptables: Permission denied (you must be root)"), hintNetAdmin},
		{fmt.Errorf("vrrp: raw socket: %w", os.ErrPermission), hintNetRaw},
		{fmt.Errorf("announce 192.0.2.1: AF_PACKET socket: %w", unix.EPERM), hintNetRaw},
		{&os.PathError{Op: "open", Path: "/etc/keepalived/keepalived.conf", Err: os.ErrPermission}, ""},
	}
	for _, tt := range tests {
		if got := permissionHint(tt.err); got != tt.want {
			t.Errorf("permissionHint(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// runDenied runs a command line against a kernel that refuses everything
// with EPERM, as IPVS does without CAP_NET_ADMIN.
func runDenied(args ...string) result {
	var out, errb bytes.Buffer
	stdio := Stdio{
		In: strings.NewReader(""), Out: &out, Err: &errb,
		openKernel: func() (ipvsadm.Kernel, func() error, error) {
			return nil, nil, &ipvs.Error{Cmd: ipvs.CmdGetInfo, Errno: unix.EPERM}
		},
	}
	code := Run(context.Background(), args, stdio)
	return result{code, out.String(), errb.String()}
}

func TestPermissionDenied(t *testing.T) {
	const ipvsadmText = "Can't initialize ipvs: Permission denied (you must be root)\n" +
		"Are you sure that IP Virtual Server is built in the kernel or as module?\n"
	tests := []struct {
		args    []string
		wantErr string
	}{
		// ipvsadm's names: ipvsadm's text alone.
		{[]string{"ipvsadm", "-L", "-n"}, ipvsadmText},
		{[]string{"/usr/sbin/ipvsadm", "-A", "-t", "192.0.2.1:80"}, ipvsadmText},
		// lvsctl: ipvsadm's text, then the capability.
		{[]string{"lvsctl", "-L", "-n"}, ipvsadmText + hintNetAdmin},
		{[]string{"lvsctl", "-A", "-t", "192.0.2.1:80"}, ipvsadmText + hintNetAdmin},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runDenied(tt.args...)
			if r.code == 0 || r.err != tt.wantErr {
				t.Errorf("exit %d, stderr:\n%s\nwant:\n%s", r.code, r.err, tt.wantErr)
			}
		})
	}
	// A subcommand names the capability after its own error.
	f := filepath.Join(t.TempDir(), "rules")
	if err := os.WriteFile(f, []byte("-A -t 192.0.2.1:80 -s rr\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runDenied("lvsctl", "apply", f)
	if r.code != ExitFailed || !strings.HasSuffix(r.err, hintNetAdmin) {
		t.Errorf("apply without permission: exit %d, stderr:\n%s", r.code, r.err)
	}
}

// TestLabCapabilities runs lvsctl as nobody with and without
// CAP_NET_ADMIN and CAP_NET_RAW on a real kernel.
func TestLabCapabilities(t *testing.T) {
	lab.Require(t)
	bin := filepath.Join(t.TempDir(), "lvsctl")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/lvsctl")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	lab.RunTestsWith(t, lab.TestOptions{Run: "^TestVMCapabilities$", Files: map[string]string{bin: "/usr/local/bin/lvsctl"}})
}

func TestVMCapabilities(t *testing.T) {
	lab.RequireVM(t)
	sh := func(script string) (string, string, int) {
		t.Helper()
		cmd := exec.Command("/bin/sh", "-c", script)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: %v", script, err)
		}
		return out.String(), errb.String(), code
	}
	const withCaps = "setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=+net_admin,+net_raw --ambient-caps=+net_admin,+net_raw "
	const noCaps = "setpriv --reuid=65534 --regid=65534 --clear-groups "
	if _, e, c := sh("lvsctl -C && lvsctl -A -t 192.0.2.1:80 -s rr && ln -sf /usr/local/bin/lvsctl /tmp/ipvsadm"); c != 0 {
		t.Fatalf("setup: exit %d: %s", c, e)
	}
	defer sh("lvsctl -C")

	steps := []struct {
		script   string
		wantCode int
		wantOut  string // a substring of stdout
		wantErr  string // a substring of stderr ("" with wantCode 0: stderr empty)
		notErr   string
	}{
		{withCaps + "lvsctl -L -n", 0, "TCP  192.0.2.1:80 rr", "", ""},
		{withCaps + "lvsctl -a -t 192.0.2.1:80 -r 192.0.2.2:80 -m", 0, "", "", ""},
		{withCaps + "lvsctl -S -n", 0, "-a -t 192.0.2.1:80 -r 192.0.2.2:80 -m -w 1", "", ""},
		{withCaps + "lvsctl -L -n --json", 0, `"address": "192.0.2.2"`, "", ""},
		{noCaps + "lvsctl -L -n", 2, "", "Permission denied (you must be root)\n", ""},
		{noCaps + "lvsctl -L -n", 2, "", hintNetAdmin, ""},
		{noCaps + "/tmp/ipvsadm -L -n", 2, "", "Permission denied (you must be root)\n", "CAP_NET_ADMIN"},
		{noCaps + "lvsctl -D -t 192.0.2.1:80", 2, "", hintNetAdmin, ""},
		{"printf -- '-A -t 192.0.2.1:80 -s wlc\\n' >/tmp/rules; " + noCaps + "lvsctl apply /tmp/rules", 1, "", hintNetAdmin, ""},
		{withCaps + "lvsctl apply /tmp/rules", 0, "~ -E -t 192.0.2.1:80 -s wlc", "", ""},
		{"lvsctl -L -n", 0, "TCP  192.0.2.1:80 wlc", "", ""},
	}
	for _, st := range steps {
		out, errs, code := sh(st.script)
		if code != st.wantCode || !strings.Contains(out, st.wantOut) ||
			(st.wantErr == "" && st.wantCode == 0 && errs != "") || !strings.Contains(errs, st.wantErr) ||
			(st.notErr != "" && strings.Contains(errs, st.notErr)) {
			t.Errorf("%s: exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", st.script, code, st.wantCode, out, errs)
		}
	}
}
