package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvsctl/lvsctl/internal/netif"
	"github.com/lvsctl/lvsctl/internal/netif/netiftest"
)

type rsWorld struct {
	links *netiftest.Links
	root  string
	state string
}

func newRSWorld(t *testing.T) *rsWorld {
	return &rsWorld{
		links: netiftest.New(),
		root:  netiftest.SysctlTree(t, netiftest.DefaultSysctls()),
		state: filepath.Join(t.TempDir(), "realserver.json"),
	}
}

func (w *rsWorld) run(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	app := newApp(Stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
	replaceCommand(t, app, newRealserverCommand(realserverEnv{
		realServer: func(string) *netif.RealServer {
			return &netif.RealServer{Links: w.links, Sysctls: netif.Sysctls{Root: w.root}, StatePath: w.state}
		},
	}))
	err := app.RunContext(context.Background(), append([]string{"lvsctl"}, args...))
	return result{exitCode(err, &errb), out.String(), errb.String()}
}

func TestRealserverCommands(t *testing.T) {
	w := newRSWorld(t)
	steps := []struct {
		args     []string
		wantCode int
		golden   string // stdout golden, or "" for no output check
		wantErr  string
	}{
		{[]string{"realserver", "status"}, 0, "realserver-status-empty.golden", ""},
		{[]string{"realserver", "up", "--vip", "192.0.2.100", "--vip", "2001:db8::100"}, 0, "", ""},
		{[]string{"realserver", "up", "--vip", "192.0.2.100", "--vip", "2001:db8::100"}, 0, "", ""},
		{[]string{"realserver", "up", "--vip", "192.0.2.101", "--mode", "tun"}, 0, "", ""},
		{[]string{"realserver", "status"}, 0, "realserver-status.golden", ""},
		{[]string{"realserver", "up", "--vip", "192.0.2.100", "--mode", "tun"}, 1, "", "set up for dr already"},
		{[]string{"realserver", "up", "--vip", "192.0.2.102", "--mode", "nat"}, 2, "", `mode "nat"`},
		{[]string{"realserver", "up", "--vip", "rs.example"}, 2, "", "not an IP address"},
		{[]string{"realserver", "down", "--vip", "192.0.2.200"}, 1, "", "was not set up"},
		{[]string{"realserver", "down"}, 0, "", ""},
		{[]string{"realserver", "status"}, 0, "realserver-status-empty.golden", ""},
	}
	for _, st := range steps {
		r := w.run(t, st.args...)
		if r.code != st.wantCode || !strings.Contains(r.err, st.wantErr) {
			t.Fatalf("%q: exit %d stderr %q; want %d and %q", st.args, r.code, r.err, st.wantCode, st.wantErr)
		}
		if st.golden != "" {
			checkGolden(t, st.golden, r.out)
		}
	}
	if got, _ := w.links.Addrs("lo"); len(got) != 0 {
		t.Errorf("lo after down: %v", got)
	}
	v, err := netif.Sysctls{Root: w.root}.Get("net.ipv4.conf.all.rp_filter")
	if err != nil || v != "2" {
		t.Errorf("all.rp_filter after down = %q, %v; want 2", v, err)
	}
}

func TestRealserverHelp(t *testing.T) {
	for _, cmd := range []string{"up", "down", "status"} {
		w := newRSWorld(t)
		r := w.run(t, "realserver", cmd, "--help")
		if r.code != 0 || !strings.Contains(r.out, "Example") || !strings.Contains(r.out, "lvsctl realserver "+cmd) {
			t.Errorf("realserver %s --help: exit %d, output:\n%s", cmd, r.code, r.out)
		}
	}
	var out, errb bytes.Buffer
	if code := Run(context.Background(), []string{"lvsctl", "realserver", "--help"}, Stdio{Out: &out, Err: &errb}); code != 0 ||
		!strings.Contains(out.String(), "arp_ignore") {
		t.Errorf("lvsctl realserver --help: exit %d\n%s%s", code, out.String(), errb.String())
	}
}
