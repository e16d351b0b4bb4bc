package monitor_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lvsctl/lvsctl/check"
	"github.com/lvsctl/lvsctl/check/monitor"
	"github.com/lvsctl/lvsctl/internal/config"
)

// summary prints a Config one line per service, real server and check.
func summary(cfg *monitor.Config) string {
	var b strings.Builder
	for _, bl := range cfg.Blocks {
		fmt.Fprintf(&b, "block %s (line %d) quorum_up=%q quorum_down=%q\n", bl.Name, bl.Line, bl.QuorumUp, bl.QuorumDown)
		for _, s := range bl.Services {
			fmt.Fprintf(&b, "  service %s sched=%s flags=%#x timeout=%v netmask=%#x quorum=%d hysteresis=%d", s.Key(), s.Scheduler, s.Flags, s.Timeout, s.Netmask, s.Quorum, s.Hysteresis)
			if s.Sorry != nil {
				fmt.Fprintf(&b, " sorry=%s/%d inhibit=%v", check.KeyOf(s.Sorry.Destination), s.Sorry.Weight, s.Sorry.Inhibit)
			}
			b.WriteString("\n")
			for _, rs := range s.RealServers {
				fmt.Fprintf(&b, "    dest %s %s w%d x%d y%d inhibit=%v tun=%s/%d/%d\n", check.KeyOf(rs.Destination), rs.Forward, rs.Weight,
					rs.UpperThreshold, rs.LowerThreshold, rs.InhibitOnFailure, rs.TunnelType, rs.TunnelPort, rs.TunnelFlags)
			}
		}
		for _, rs := range bl.RealServers {
			fmt.Fprintf(&b, "  real server %s notify_up=%q notify_down=%q\n", rs.Key, rs.NotifyUp, rs.NotifyDown)
			for _, c := range rs.Checks {
				ck := c.Checker
				tls := ""
				if h, ok := ck.(check.HTTP); ok && h.TLS != nil {
					tls = fmt.Sprintf(" tls=%+v", *h.TLS)
					h.TLS = nil
					ck = h
				}
				fmt.Fprintf(&b, "    %s %+v target=%s checker=%+v%s\n", c.Kind, c.Params, c.Target, ck, tls)
			}
		}
	}
	return b.String()
}

func TestFromConfig(t *testing.T) {
	for _, name := range []string{"dr_web_farm", "checkers", "advanced"} {
		t.Run(name, func(t *testing.T) {
			c, _, err := config.ParseFile("../../internal/config/testdata/"+name+".conf", config.Options{})
			if err != nil {
				t.Fatal(err)
			}
			cfg, warns, err := monitor.FromConfig(c)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			b.WriteString(summary(cfg))
			for _, w := range warns {
				fmt.Fprintf(&b, "warning: %s:%d: %s\n", w.File[strings.LastIndex(w.File, "/")+1:], w.Line, w.Msg)
			}
			checkGolden(t, "fromconfig-"+name+".golden", b.String())
		})
	}
}

func TestFromConfigErrors(t *testing.T) {
	tests := []struct{ name, conf, want string }{
		{"duplicate service across a group", `
virtual_server_group G {
    192.0.2.1 80
}
virtual_server group G {
    protocol TCP
}
virtual_server 192.0.2.1 80 {
    protocol TCP
}`, "test.conf:8: virtual_server TCP 192.0.2.1:80: service -t 192.0.2.1:80 is also in group G"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := config.Parse("test.conf", strings.NewReader(tt.conf), config.Options{})
			if err != nil {
				if !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("parse: %v", err)
				}
				return
			}
			_, _, err = monitor.FromConfig(c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}
