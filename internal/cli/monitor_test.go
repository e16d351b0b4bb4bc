package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lvsctl/lvsctl/check"
	"github.com/lvsctl/lvsctl/check/monitor"
	"github.com/lvsctl/lvsctl/lvs"
	"github.com/lvsctl/lvsctl/lvs/ipvs/ipvstest"
)

// runMonitorCmd runs `lvsctl monitor ...` with the daemon replaced by a
// recorder; opened reports whether the kernel was opened.
func runMonitorCmd(t *testing.T, args ...string) (r result, cfg *monitor.Config, opened bool) {
	t.Helper()
	var out, errb bytes.Buffer
	app := newApp(Stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
	replaceCommand(t, app, newMonitorCommand(monitorEnv{
		openKernel: func() (monitor.Kernel, func() error, error) {
			opened = true
			return ipvstest.New(), func() error { return nil }, nil
		},
		run: func(_ context.Context, c *monitor.Config, _ monitor.RunOptions) error {
			cfg = c
			return nil
		},
	}))
	err := app.RunContext(context.Background(), append([]string{"lvsctl", "monitor"}, args...))
	return result{exitCode(err, &errb), out.String(), errb.String()}, cfg, opened
}

func TestMonitorArguments(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"nothing", nil, 2, "-f FILE or -t VIP:PORT is required"},
		{"syntax error", []string{"-f", "testdata/monitor/broken.conf"}, 2, `broken.conf:6: weight: invalid number "lots"`},
		{"missing file", []string{"-f", "testdata/monitor/none.conf"}, 2, "none.conf"},
		{"flags with -f", []string{"-f", "testdata/monitor/web.conf", "-r", "192.0.2.11"}, 2, "--real-server: not with -f"},
		{"no real server", []string{"-t", "192.0.2.100:80"}, 2, "-r RIP[:PORT[:WEIGHT]] is required"},
		{"bad service", []string{"-t", "192.0.2.100", "-r", "192.0.2.11"}, 2, `-t "192.0.2.100": not VIP:PORT`},
		{"bad real server", []string{"-t", "192.0.2.100:80", "-r", "192.0.2.11:http"}, 2, `port "http"`},
		{"bad weight", []string{"-t", "192.0.2.100:80", "-r", "192.0.2.11:80:-1"}, 2, `weight "-1"`},
		{"two methods", []string{"-t", "192.0.2.100:80", "-r", "192.0.2.11", "-g", "-m"}, 2, "choose one forwarding method"},
		{"bad check", []string{"-t", "192.0.2.100:80", "-r", "192.0.2.11", "--check", "smtp"}, 2, `--check "smtp"`},
		{"script without command", []string{"-t", "192.0.2.100:80", "-r", "192.0.2.11", "--check", "script"}, 2, "--script CMD"},
		{"no tries", []string{"-t", "192.0.2.100:80", "-r", "192.0.2.11", "--tries", "0"}, 2, "--tries 0"},
		{"bad interval", []string{"-t", "192.0.2.100:80", "-r", "192.0.2.11", "--interval", "soon"}, 2, `--interval "soon"`},
		{"mixed families", []string{"-t", "192.0.2.100:80", "-r", "2001:db8::1", "-m"}, 2, "not of the virtual server's family"},
		{"argument", []string{"-t", "192.0.2.100:80", "-r", "192.0.2.11", "extra"}, 2, `unexpected argument "extra"`},
		{"status without monitor", []string{"status", "--socket", "testdata/monitor/none.sock"}, 1, "no monitor answers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, opened := runMonitorCmd(t, tt.args...)
			if r.code != tt.wantCode || !strings.Contains(r.err, tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.err, tt.wantCode, tt.wantErr)
			}
			if opened {
				t.Errorf("the kernel was opened")
			}
		})
	}
}

func TestMonitorFileWarnsWithPlace(t *testing.T) {
	r, cfg, opened := runMonitorCmd(t, "-f", "testdata/monitor/web.conf")
	if r.code != 0 || cfg == nil || !opened {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	for _, want := range []string{`monitor/web.conf:4: keepalived keyword not supported by lvsctl "smtp_server"`,
		"monitor/web.conf:17: ha_suspend: not supported by the monitor"} {
		if !strings.Contains(r.err, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.err)
		}
	}
	b := cfg.Blocks[0]
	if len(cfg.Blocks) != 1 || b.Name != "TCP 192.0.2.100:80" || b.Services[0].Sorry == nil || b.RealServers[0].Checks[0].Kind != check.KindHTTP {
		t.Errorf("config %+v", b)
	}
}

func TestMonitorFlagsMode(t *testing.T) {
	r, cfg, _ := runMonitorCmd(t, "-t", "192.0.2.100:80", "-r", "192.0.2.11", "-r", "192.0.2.12:8080:3",
		"-r", "[2001:db8::1]:80", "-i", "-s", "wrr", "--sorry", "127.0.0.1:80", "--url", "/health", "--tries", "2",
		"--connect-timeout", "0.5", "--interval", "2s")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	b := cfg.Blocks[0]
	svc := b.Services[0]
	if svc.Scheduler != "wrr" || svc.Sorry == nil || svc.Sorry.Address != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("service %+v", svc.Service)
	}
	var got []string
	for _, rs := range svc.RealServers {
		got = append(got, fmt.Sprintf("%s w%d %s", check.KeyOf(rs.Destination), rs.Weight, rs.Forward))
	}
	// With -i (and -g) a real server takes the virtual port, as ipvsadm
	// gives it; the port given is the one checked.
	want := []string{"192.0.2.11:80 w1 Tunnel", "192.0.2.12:80 w3 Tunnel", "[2001:db8::1]:80 w1 Tunnel"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("real servers (-want +got):\n%s", diff)
	}
	c := b.RealServers[1].Checks[0]
	wantP := check.Params{Interval: 2 * time.Second, Timeout: 500 * time.Millisecond, Retry: 1, DelayBeforeRetry: time.Second, Warmup: 2 * time.Second}
	if diff := cmp.Diff(wantP, c.Params); diff != "" {
		t.Errorf("params (-want +got):\n%s", diff)
	}
	h, ok := c.Checker.(check.HTTP)
	if !ok || len(h.URLs) != 1 || h.URLs[0].Path != "/health" {
		t.Errorf("checker %#v", c.Checker)
	}
	if h.ConnectPort != 8080 && c.Target.Port != 8080 {
		t.Errorf("192.0.2.12's check goes to port %d (connect_port %d), want 8080", c.Target.Port, h.ConnectPort)
	}

	// With -m the port given is the real server's.
	r, cfg, _ = runMonitorCmd(t, "-t", "192.0.2.100:80", "-r", "192.0.2.12:8080", "-m")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	if k := check.KeyOf(cfg.Blocks[0].Services[0].RealServers[0].Destination); k.String() != "192.0.2.12:8080" {
		t.Errorf("NAT real server %s, want 192.0.2.12:8080", k)
	}
}

func statusFixture() monitor.Status {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := t0.Add(d); return &t }
	return monitor.Status{Version: 1, Config: "/etc/keepalived/keepalived.conf", Started: t0, Services: []monitor.ServiceStatus{
		{Service: "TCP 192.0.2.100:80", Block: "TCP 192.0.2.100:80", Scheduler: "wrr", QuorumUp: true,
			Sorry: &monitor.SorryStatus{Server: "127.0.0.1:80"},
			RealServers: []monitor.RealServerStatus{
				{Server: "192.0.2.11:80", Weight: 3, InTable: true, TableWeight: 3, State: "up", Checks: []monitor.CheckStatus{
					{Kind: "HTTP_GET", State: "up", Checked: true, OK: true, Result: "/health: 200 OK", Latency: 0.00123, At: at(59 * time.Second)},
					{Kind: "TCP_CHECK", State: "up", Checked: true, OK: true, Result: "connected", Latency: 0.00021, At: at(58 * time.Second)},
				}},
				{Server: "192.0.2.12:80", Weight: 2, InTable: false, State: "down", Since: at(30 * time.Second), Checks: []monitor.CheckStatus{
					{Kind: "HTTP_GET", State: "down", Since: at(30 * time.Second), Checked: true, Result: "GET /health: connect 192.0.2.12:80: connection refused", Latency: 0.0004, At: at(58 * time.Second)},
				}},
				{Server: "192.0.2.13:80", Weight: 1, InTable: true, TableWeight: 0, State: "down", Checks: []monitor.CheckStatus{
					{Kind: "HTTP_GET", State: "down"},
				}},
			}},
		{Service: "FWM 5", Block: "fwmark 5", Scheduler: "rr", QuorumUp: false,
			Sorry: &monitor.SorryStatus{Server: "198.51.100.1:0", Active: true},
			RealServers: []monitor.RealServerStatus{
				{Server: "192.0.2.21:0", Weight: 1, State: "down", Since: at(45 * time.Second), Checks: []monitor.CheckStatus{
					{Kind: "PING_CHECK", State: "down", Since: at(45 * time.Second), Checked: true, Result: "check timed out: no echo reply", Latency: 1, At: at(55 * time.Second)},
				}},
			}},
	}}
}

func TestMonitorStatusGolden(t *testing.T) {
	var b bytes.Buffer
	if err := writeMonitorStatus(&b, statusFixture(), time.Date(2026, 11, 26, 10, 1, 0, 0, time.UTC), time.UTC); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "monitor-status.golden", b.String())
	js, err := json.MarshalIndent(statusFixture(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "monitor-status-json.golden", string(js)+"\n")
}

// TestMonitorEndToEnd runs the whole command on the fake kernel with an
// HTTP server on loopback, reads its status through the socket as
// `lvsctl monitor status` does, and stops it.
func TestMonitorEndToEnd(t *testing.T) {
	healthy := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	sock := filepath.Join(t.TempDir(), "monitor.sock")
	k := ipvstest.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result, 1)
	go func() {
		var out, errb bytes.Buffer
		app := newApp(Stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
		replaceCommand(t, app, newMonitorCommand(monitorEnv{
			openKernel: func() (monitor.Kernel, func() error, error) { return k, func() error { return nil }, nil },
			run:        monitor.Run,
		}))
		err := app.RunContext(ctx, []string{"lvsctl", "monitor", "-t", "192.0.2.100:80", "-r", fmt.Sprintf("127.0.0.1:%d:4", port),
			"-m", "--interval", "0.1", "--connect-timeout", "1", "--socket", sock})
		done <- result{exitCode(err, &errb), out.String(), errb.String()}
	}()
	var st monitor.Status
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var err error
		st, err = monitor.ReadStatus(ctx, sock)
		if err == nil && len(st.Services) == 1 && st.Services[0].RealServers[0].Checks[0].Checked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checked status: %+v %v", st, err)
		}
	}
	rs := st.Services[0].RealServers[0]
	if rs.State != "up" || !rs.InTable || rs.TableWeight != 4 || !rs.Checks[0].OK {
		t.Errorf("status %+v", rs)
	}
	var out, errb bytes.Buffer
	code := Run(ctx, []string{"lvsctl", "monitor", "status", "--socket", sock}, Stdio{Out: &out, Err: &errb})
	if code != 0 || !strings.Contains(out.String(), "TCP 192.0.2.100:80") {
		t.Errorf("monitor status: exit %d\n%s%s", code, out.String(), errb.String())
	}
	ds, err := k.Destinations(ctx, lvs.ServiceKey{Family: lvs.IPv4, Protocol: lvs.TCP, Address: netip.MustParseAddr("192.0.2.100"), Port: 80})
	if err != nil || len(ds) != 1 || ds[0].Weight != 4 {
		t.Errorf("kernel: %v %v", ds, err)
	}
	cancel()
	r := <-done
	if r.code != 0 || !strings.Contains(r.err, `msg=ipvs op=add-destination rule="-a -t 192.0.2.100:80 -r 127.0.0.1:`) {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.err)
	}
}

// TestProcsForChecks: the monitor runs on one CPU while every check runs
// on the event loop, on all of them again when one does not, and leaves
// GOMAXPROCS alone when the environment sets it.
func TestProcsForChecks(t *testing.T) {
	all := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(all)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	t.Setenv("GOMAXPROCS", "")
	os.Unsetenv("GOMAXPROCS")
	f := procsForChecks(log)
	if f == nil {
		t.Fatal("no function without GOMAXPROCS in the environment")
	}
	f(true)
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Errorf("checks on the loop only: GOMAXPROCS %d, want 1", n)
	}
	f(false)
	if n := runtime.GOMAXPROCS(0); n != all {
		t.Errorf("some checks in goroutines: GOMAXPROCS %d, want %d", n, all)
	}
	t.Setenv("GOMAXPROCS", "3")
	if procsForChecks(log) != nil {
		t.Error("GOMAXPROCS in the environment: the monitor sizes the runtime anyway")
	}
}
