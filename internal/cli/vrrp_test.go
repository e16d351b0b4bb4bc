package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	ucli "github.com/urfave/cli/v2"

	"github.com/lvsctl/lvsctl/internal/config"
	"github.com/lvsctl/lvsctl/vrrp"
)

// runVRRP runs `lvsctl vrrp ...` with the speaker replaced by a recorder.
func runVRRP(t *testing.T, args ...string) (result, *vrrp.SpeakerConfig, *vrrp.SyncDaemonConfig) {
	t.Helper()
	var out, errb bytes.Buffer
	app := newApp(Stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
	var got *vrrp.SpeakerConfig
	var gotSD *vrrp.SyncDaemonConfig
	replaceCommand(t, app, newVRRPCommand(vrrpEnv{
		runSpeaker: func(_ context.Context, _ *ucli.Context, run vrrpRun) error {
			got, gotSD = &run.sc, run.sd
			return nil
		},
	}))
	err := app.RunContext(context.Background(), append([]string{"lvsctl", "vrrp"}, args...))
	return result{exitCode(err, &errb), out.String(), errb.String()}, got, gotSD
}

func TestVRRPRunArguments(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no interface", []string{"run", "--vrid", "5", "--vip", "192.0.2.100/24"}, 2, "--interface or -f is required"},
		{"no vrid", []string{"run", "--interface", "eth0", "--vip", "192.0.2.100/24"}, 2, "(flags): vrrp_instance VI_1: virtual_router_id must be set"},
		{"bad vip", []string{"run", "--interface", "eth0", "--vrid", "5", "--vip", "vip.example"}, 2, `--vip "vip.example"`},
		{"v2 fraction", []string{"run", "--interface", "eth0", "--vrid", "5", "--vip", "192.0.2.100/24", "--advert-int", "0.5"}, 2, "not whole seconds"},
		{"bad state", []string{"run", "--interface", "eth0", "--vrid", "5", "--vip", "192.0.2.100/24", "--state", "LEADER"}, 2, "want MASTER or BACKUP"},
		{"flags with -f", []string{"run", "-f", "testdata/vrrp/pair.conf", "--vrid", "5"}, 2, "--vrid: not with -f"},
		{"instance without -f", []string{"run", "--instance", "VI_1"}, 2, "--instance needs -f"},
		{"missing file", []string{"run", "-f", "testdata/vrrp/none.conf"}, 2, "none.conf"},
		{"unknown instance", []string{"run", "-f", "testdata/vrrp/pair.conf", "--instance", "VI_9"}, 2, "--instance VI_9: no vrrp_instance"},
		{"insecure script", []string{"run", "-f", "testdata/vrrp/pair.conf"}, 2, "enable_script_security"},
		{"status without speaker", []string{"status", "--socket", "testdata/vrrp/none.sock"}, 1, "no VRRP speaker answers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, _ := runVRRP(t, tt.args...)
			if r.code != tt.wantCode || !strings.Contains(r.err, tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.err, tt.wantCode, tt.wantErr)
			}
		})
	}
}

func TestVRRPRunWarnsWithPlace(t *testing.T) {
	// The file's scripts do not exist, so script security refuses them;
	// the warning about the unknown directive comes first, with its place.
	r, _, _ := runVRRP(t, "run", "-f", "testdata/vrrp/pair.conf")
	if !strings.Contains(r.err, "vrrp/pair.conf:34: unknown keyword") {
		t.Errorf("stderr lacks the file:line warning:\n%s", r.err)
	}
}

func TestVRRPFlagsMode(t *testing.T) {
	r, sc, _ := runVRRP(t, "run", "--interface", "eth0", "--vrid", "7", "--priority", "120", "--vip", "2001:db8::100/64",
		"--advert-int", "0.2", "--nopreempt", "--track-script", "/bin/check --quick", "--track-weight", "-2",
		"--track-fall", "3", "--notify", "/bin/notify", "--unicast-src", "2001:db8::1", "--unicast-peer", "2001:db8::2")
	if r.code != 0 || sc == nil {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	in := sc.Instances[0]
	if in.Machine.Version != vrrp.Version3 || in.Machine.AdvertInterval != 200*time.Millisecond || !in.Machine.NoPreempt ||
		in.Machine.Priority != 120 || in.Machine.LocalAddr != netip.MustParseAddr("2001:db8::1") {
		t.Errorf("machine config: %+v", in.Machine)
	}
	if diff := cmp.Diff([]vrrp.ScriptConfig{{Name: "track", Argv: []string{"/bin/check", "--quick"}, Interval: time.Second,
		Timeout: time.Second, Rise: 1, Fall: 3}}, sc.Scripts); diff != "" {
		t.Errorf("scripts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]vrrp.TrackScriptRef{{Name: "track", Weight: -2}}, in.TrackScripts); diff != "" {
		t.Errorf("track scripts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]vrrp.UnicastPeer{{Addr: netip.MustParseAddr("2001:db8::2")}}, in.UnicastPeers, addrEqual()); diff != "" {
		t.Errorf("peers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/bin/notify"}, in.Notify.Any); diff != "" {
		t.Errorf("notify (-want +got):\n%s", diff)
	}
}

func TestVRRPFromFile(t *testing.T) {
	c, _, err := config.ParseFile("testdata/vrrp/pair.conf", config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sc, sd, err := vrrp.FromConfig(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := sc.Instances[0]
	wantVIPs := []vrrp.VIP{
		{Prefix: netip.MustParsePrefix("192.0.2.100/24"), Dev: "eth0", Label: "eth0:vip"},
		{Prefix: netip.MustParsePrefix("192.0.2.200/32"), Dev: "lo", Scope: "host"},
	}
	if diff := cmp.Diff(wantVIPs, append(in.VIPs, in.ExcludedVIPs...), addrEqual()); diff != "" {
		t.Errorf("VIPs (-want +got):\n%s", diff)
	}
	if in.AuthType != vrrp.AuthPass || in.AuthPass != vrrp.PassFromString("s3cr3t") || !in.Machine.StartMaster || !in.Machine.SyncDaemon {
		t.Errorf("instance: %+v", in)
	}
	if diff := cmp.Diff([]string{"/usr/local/bin/to-master", "arg"}, in.Notify.Master); diff != "" {
		t.Errorf("notify_master argv (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&vrrp.SyncDaemonConfig{Interface: "eth1", SyncID: 7}, sd, addrEqual()); diff != "" {
		t.Errorf("sync daemon (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]vrrp.ScriptConfig{{Name: "chk_maint", Argv: []string{"/usr/local/bin/maint-check", "--file", "/etc/maint"},
		Interval: 2 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 3}}, sc.Scripts); diff != "" {
		t.Errorf("scripts (-want +got):\n%s", diff)
	}
}

func testStatus() VRRPStatus {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return VRRPStatus{Version: 1, Instances: []VRRPInstanceStatus{
		{Name: "VI_1", Interface: "eth0", VRID: 51, State: "MASTER", Priority: 150, EffectivePriority: 148,
			MasterAddr: "192.0.2.1", MasterPriority: 148, AdvertsSent: 1234, AdvertsReceived: 2,
			Errors: map[string]uint64{"ttl": 1, "auth": 3}, LastTransition: &at},
		{Name: "VI_6", Interface: "eth0", VRID: 61, State: "BACKUP", Priority: 100, EffectivePriority: 100,
			MasterAddr: "fe80::1", MasterPriority: 200, AdvertsReceived: 99, LastTransition: &at},
		{Name: "VI_9", Interface: "eth1", VRID: 9, State: "FAULT", Priority: 100, EffectivePriority: 100},
	}, Drops: map[string]map[string]uint64{"eth0": {"vrid": 12}}}
}

func TestVRRPStatusOutput(t *testing.T) {
	var b bytes.Buffer
	st := testStatus()
	if err := writeVRRPStatus(&b, st, st.Instances[0].LastTransition.Add(90*time.Second), time.UTC); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "vrrp-status.golden", b.String())
	js, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "vrrp-status-json.golden", string(js)+"\n")
}

func addrEqual() cmp.Option {
	return cmp.Options{
		cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	}
}

// syncBuffer is a stderr the test can read while the command runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls stderr for want.
func (s *syncBuffer) waitFor(t *testing.T, want string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(s.String(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("stderr never showed %q:\n%s", want, s.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const reloadConf = `vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority %d
    advert_int 1
    virtual_ipaddress {
        192.0.2.100/24
    }%s
}
`

// runVRRPWithHUP runs `lvsctl vrrp args...` in process; hups is called
// with the reloads channel once SIGHUP is caught, while the command runs.
func runVRRPWithHUP(t *testing.T, errb *syncBuffer, hups func(reloads <-chan vrrp.SpeakerConfig), args ...string) int {
	t.Helper()
	var out bytes.Buffer
	app := newApp(Stdio{In: strings.NewReader(""), Out: &out, Err: errb})
	replaceCommand(t, app, newVRRPCommand(vrrpEnv{
		runSpeaker: func(_ context.Context, _ *ucli.Context, run vrrpRun) error {
			hups(run.reloads)
			return nil
		},
	}))
	err := app.RunContext(context.Background(), append([]string{"lvsctl", "vrrp"}, args...))
	return exitCode(err, errb)
}

func hup(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

func TestVRRPRunSIGHUP(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keepalived.conf")
	write := func(prio int, extra string) {
		if err := os.WriteFile(file, []byte(fmt.Sprintf(reloadConf, prio, extra)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(100, "")
	var errb syncBuffer
	next := func(reloads <-chan vrrp.SpeakerConfig) vrrp.SpeakerConfig {
		t.Helper()
		select {
		case sc := <-reloads:
			return sc
		case <-time.After(5 * time.Second):
			t.Fatalf("no reload; stderr:\n%s", errb.String())
		}
		return vrrp.SpeakerConfig{}
	}
	code := runVRRPWithHUP(t, &errb, func(reloads <-chan vrrp.SpeakerConfig) {
		// A good file: its configuration reaches the speaker; the
		// unknown keyword is a warning with its place.
		write(120, "\n    frobnicate yes")
		hup(t)
		if p := next(reloads).Instances[0].Machine.Priority; p != 120 {
			t.Errorf("reloaded priority %d, want 120", p)
		}
		errb.waitFor(t, "keepalived.conf:9: unknown keyword")
		// A broken file: reported, nothing sent. The next good file is
		// the next configuration the speaker sees.
		write(0, "\n    virtual_router_id")
		hup(t)
		errb.waitFor(t, "reload failed: the running configuration is kept")
		write(130, "")
		hup(t)
		if p := next(reloads).Instances[0].Machine.Priority; p != 130 {
			t.Errorf("reloaded priority %d after a broken file, want 130", p)
		}
	}, "run", "-f", file)
	if code != 0 {
		t.Errorf("exit %d; stderr:\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "keepalived.conf:9: virtual_router_id is missing its value") {
		t.Errorf("the broken file's error has no place:\n%s", errb.String())
	}
}

func TestVRRPRunSIGHUPFlagsMode(t *testing.T) {
	var errb syncBuffer
	code := runVRRPWithHUP(t, &errb, func(reloads <-chan vrrp.SpeakerConfig) {
		hup(t)
		errb.waitFor(t, "SIGHUP: nothing to reload without -f")
		select {
		case sc := <-reloads:
			t.Errorf("flags mode sent a reload: %+v", sc)
		case <-time.After(50 * time.Millisecond):
		}
	}, "run", "--interface", "eth0", "--vrid", "7", "--vip", "192.0.2.100/24")
	if code != 0 {
		t.Errorf("exit %d; stderr:\n%s", code, errb.String())
	}
}
