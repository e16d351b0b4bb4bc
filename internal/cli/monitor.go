package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/lvsctl/lvsctl/check/monitor"
	"github.com/lvsctl/lvsctl/internal/config"
	"github.com/lvsctl/lvsctl/lvs"
	"github.com/lvsctl/lvsctl/lvs/ipvs"
)

// DefaultMonitorSocket is where `lvsctl monitor` answers `lvsctl monitor
// status`.
const DefaultMonitorSocket = "/run/lvsctl/monitor.sock"

// monitorEnv is what the monitor command needs from the system; tests
// replace it to stop short of the kernel.
type monitorEnv struct {
	// openKernel connects to IPVS; called only after the configuration
	// has been read without error.
	openKernel func() (monitor.Kernel, func() error, error)
	// run runs the daemon until ctx ends.
	run func(ctx context.Context, cfg *monitor.Config, o monitor.RunOptions) error
}

func monitorCommand(Stdio) *ucli.Command {
	return newMonitorCommand(monitorEnv{
		openKernel: func() (monitor.Kernel, func() error, error) {
			c, err := ipvs.Open(ipvs.Options{})
			if err != nil {
				return nil, nil, err
			}
			return c, c.Close, nil
		},
		run: monitor.Run,
	})
}

const monitorDescription = `Health-checks real servers and keeps the IPVS table in step: a real server
that fails its checks is removed (or set to weight 0 with inhibit_on_failure),
one that passes again is added back with its weight, and the sorry server
goes in when no real server is healthy or quorum is lost. It replaces the
classic bash loop (curl every few seconds, ipvsadm -d / -a, a log of "is
gone." and "is back." lines) and keepalived's checkers.

With -f it reads keepalived.conf: virtual_server (address, fwmark or group)
blocks with their real servers and HTTP_GET, SSL_GET, TCP_CHECK, MISC_CHECK,
DNS_CHECK, UDP_CHECK and PING_CHECK checkers, as keepalived 2.2 reads them.
vrrp blocks are left to "lvsctl vrrp run". An error names file:line and
stops before the kernel is touched; what the monitor does not apply is
warned about with its file:line.

Without -f, the flags describe one service, the bash loop in one line:
   lvsctl monitor -t 192.0.2.100:80 -r 192.0.2.11 -r 192.0.2.12:80:2 -g \
       --sorry 127.0.0.1:80 --url /health --log /var/log/lvs-check.log
checks each real server over HTTP every --interval, --tries times
--connect-timeout apart before it leaves. Durations are seconds ("0.5") or
Go durations ("500ms"). With -g or -i a real server goes into the table
with the virtual port, as ipvsadm puts it there, and a PORT given is the
port its check connects to.

An HTTP check sends keepalived's request (GET PATH HTTP/1.0, User-Agent
KeepAliveClient). Without digest or bindto it reads the answer until the
server closes its end and then resets the connection, so that neither the
director nor the real server keeps it in TIME_WAIT: a real server's
counters show one reset received per such check. While every check is
of that kind or TCP_CHECK, the monitor runs on one CPU, as keepalived's
checker does (GOMAXPROCS in the environment overrides).

At start the kernel's table is read once and adopted: a real server already
in it is neither removed nor re-added, so restarting the monitor never
flaps a server. Only the services of the configuration, and in them only
its real and sorry servers, are ever changed.

Signals: SIGHUP reloads the file and applies only the difference (a broken
file is reported and the running configuration kept); SIGUSR1 reopens
--log (for logrotate); SIGTERM and SIGINT stop, leaving the table as it is,
or with --cleanup removing what the monitor added.`

func newMonitorCommand(env monitorEnv) *ucli.Command {
	socketFlag := &ucli.StringFlag{Name: "socket", Value: DefaultMonitorSocket, Usage: "status socket `PATH`"}
	return &ucli.Command{
		Name:  "monitor",
		Usage: "health-check real servers and add or remove them (keepalived.conf or flags)",
		UsageText: "lvsctl monitor -f FILE [options]\n" +
			"   lvsctl monitor -t VIP:PORT -r RIP[:PORT[:WEIGHT]]... [-g|-m|-i] [-s SCHED] [--sorry ADDR:PORT] [--check KIND] [options]\n" +
			"   lvsctl monitor status [--json] [--socket PATH]\n\n" +
			"Examples:\n   lvsctl monitor -f /etc/keepalived/keepalived.conf --log /var/log/lvs-monitor.log\n" +
			"   lvsctl monitor -t 192.0.2.100:80 -r 192.0.2.11 -r 192.0.2.12 -m --sorry 127.0.0.1:80",
		Description: monitorDescription,
		Flags:       append(monitorFlags(), socketFlag),
		Action: func(c *ucli.Context) error {
			if c.NArg() > 0 {
				return usageError{fmt.Errorf("monitor: unexpected argument %q", c.Args().First())}
			}
			return runMonitor(c, env)
		},
		Subcommands: []*ucli.Command{{
			Name:  "status",
			Usage: "show the running monitor's services, real servers and checks",
			UsageText: "lvsctl monitor status [--json] [--socket PATH]\n\n" +
				"Example:\n   lvsctl monitor status",
			Description: "Asks the running `lvsctl monitor` over its unix socket for each virtual\n" +
				"service, its real servers, their state, last check result, latency and\n" +
				"since when.",
			Flags: []ucli.Flag{
				&ucli.BoolFlag{Name: "json", Usage: "print JSON (schema: see monitor.Status)"},
				socketFlag,
			},
			Action: func(c *ucli.Context) error {
				st, err := monitor.ReadStatus(c.Context, c.String("socket"))
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return writeJSON(c.App.Writer, st)
				}
				return writeMonitorStatus(c.App.Writer, st, time.Now(), time.Local)
			},
		}},
	}
}

func monitorFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "keepalived.conf `FILE`"},
		&ucli.StringFlag{Name: "tcp-service", Aliases: []string{"t"}, Usage: "TCP virtual service `VIP:PORT` (flags mode)"},
		&ucli.StringFlag{Name: "udp-service", Aliases: []string{"u"}, Usage: "UDP virtual service `VIP:PORT` (flags mode)"},
		&ucli.StringSliceFlag{Name: "real-server", Aliases: []string{"r"}, Usage: "real server `RIP[:PORT[:WEIGHT]]` (repeatable; [IPv6]:PORT:WEIGHT)"},
		&ucli.BoolFlag{Name: "gatewaying", Aliases: []string{"g"}, Usage: "direct routing (the default)"},
		&ucli.BoolFlag{Name: "masquerading", Aliases: []string{"m"}, Usage: "NAT"},
		&ucli.BoolFlag{Name: "ipip", Aliases: []string{"i"}, Usage: "IP-in-IP tunnelling"},
		&ucli.StringFlag{Name: "scheduler", Aliases: []string{"s"}, Value: "wlc", Usage: "scheduler `SCHED`"},
		&ucli.StringFlag{Name: "sorry", Usage: "sorry server `ADDR:PORT` when no real server is healthy"},
		&ucli.StringFlag{Name: "check", Value: "http", Usage: "checker `KIND`: http, https, tcp, udp, dns, ping or script"},
		&ucli.StringFlag{Name: "url", Value: "/", Usage: "`PATH` to GET for http and https (2xx is healthy)"},
		&ucli.StringFlag{Name: "script", Usage: "`CMD` for --check script, run without a shell (exit 0 is healthy)"},
		&ucli.IntFlag{Name: "tries", Value: 3, Usage: "failed checks `N` in a row before a server leaves"},
		&ucli.StringFlag{Name: "connect-timeout", Value: "3", Usage: "deadline `D` of each check"},
		&ucli.StringFlag{Name: "interval", Value: "5", Usage: "check each server every `D`"},
		&ucli.StringFlag{Name: "retry-delay", Value: "1", Usage: "delay `D` between the tries of a failing server"},
		&ucli.StringFlag{Name: "log", Usage: "append the classic \"is gone.\"/\"is back.\" lines to `FILE` (reopened on SIGUSR1)"},
		&ucli.BoolFlag{Name: "dry-run", Usage: "check and log decisions, change nothing in the kernel"},
		&ucli.BoolFlag{Name: "cleanup", Usage: "on SIGTERM/SIGINT remove what the monitor added"},
		&ucli.StringFlag{Name: "metrics-addr", Usage: "serve Prometheus metrics on `HOST:PORT` (/metrics)"},
		&ucli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log every check transition"},
	}
}

// monitorFlagsOnly are the flags that describe the service without -f.
var monitorFlagsOnly = []string{"tcp-service", "udp-service", "real-server", "gatewaying", "masquerading", "ipip",
	"scheduler", "sorry", "check", "url", "script", "tries", "connect-timeout", "interval", "retry-delay"}

func runMonitor(c *ucli.Context, env monitorEnv) error {
	errw := c.App.ErrWriter
	load, err := monitorLoader(c)
	if err != nil {
		return err
	}
	cfg, warns, err := load()
	for _, w := range warns {
		fmt.Fprintf(errw, "lvsctl: warning: %s\n", w)
	}
	if err != nil {
		return usageError{err}
	}
	if len(cfg.Blocks) == 0 {
		return usageError{fmt.Errorf("%s: no virtual_server to monitor", cfg.Source)}
	}
	if c.String("file") == "" {
		load = nil // SIGHUP has nothing to read again
	}

	level := slog.LevelInfo
	if c.Bool("verbose") {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(errw, &slog.HandlerOptions{Level: level}))
	kernel, closeKernel, err := env.openKernel()
	if err != nil {
		return fmt.Errorf("monitor: open IPVS: %w", err)
	}
	defer closeKernel()

	o := monitor.RunOptions{
		Options: monitor.Options{Kernel: kernel, Logger: log, DryRun: c.Bool("dry-run")},
		Load:    load, Cleanup: c.Bool("cleanup"), Socket: c.String("socket"),
		MetricsAddr: c.String("metrics-addr"),
		Checks:      procsForChecks(log),
	}
	if p := c.String("log"); p != "" {
		lf, err := monitor.OpenLog(p)
		if err != nil {
			return err
		}
		defer lf.Close()
		o.Log, o.ClassicLog = lf, lf
	}
	if o.MetricsAddr != "" {
		o.Metrics = monitor.NewMetrics(kernel, log)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	o.Signals = sigs
	return env.run(c.Context, cfg, o)
}

// procsForChecks returns what sizes the runtime for the monitor's checks.
// When every check runs on the scheduler's event loop (HTTP_GET and
// TCP_CHECK, the common case), the monitor runs on one CPU, as keepalived's
// checker process does: that loop is one goroutine holding its CPU while
// it waits, and with a second one idle the runtime wakes a thread there
// at each of its yields (some 200 a second), for nothing. In the lab
// bench, 1,000 HTTP checks a second, one CPU cost 6 % less CPU time. When
// some checks run in goroutines (TLS, digest, UDP, DNS, ICMP, scripts)
// the monitor uses every CPU again. GOMAXPROCS in the environment decides
// instead.
func procsForChecks(log *slog.Logger) func(bool) {
	if os.Getenv("GOMAXPROCS") != "" {
		return nil
	}
	all := runtime.GOMAXPROCS(0)
	return func(onLoopOnly bool) {
		n := all
		if onLoopOnly {
			n = 1
		}
		if runtime.GOMAXPROCS(n) != n {
			log.Debug("runtime", "GOMAXPROCS", n, "checks on the event loop only", onLoopOnly)
		}
	}
}

// monitorLoader returns the function that reads the configuration: the
// file (again at each SIGHUP), or the flags.
func monitorLoader(c *ucli.Context) (func() (*monitor.Config, []monitor.Warning, error), error) {
	if f := c.String("file"); f != "" {
		for _, name := range monitorFlagsOnly {
			if c.IsSet(name) {
				return nil, usageError{fmt.Errorf("--%s: not with -f (the file describes the services)", name)}
			}
		}
		return func() (*monitor.Config, []monitor.Warning, error) {
			parsed, warns, err := config.ParseFile(f, config.Options{})
			if err != nil {
				return nil, warns, err
			}
			cfg, more, err := monitor.FromConfig(parsed)
			return cfg, append(warns, more...), err
		}, nil
	}
	vs, err := virtualServerFromFlags(c)
	if err != nil {
		return nil, usageError{err}
	}
	return func() (*monitor.Config, []monitor.Warning, error) {
		return monitor.FromConfig(&config.Config{VirtualServers: []*config.VirtualServer{vs}, Files: []string{"(flags)"}})
	}, nil
}

// virtualServerFromFlags builds the one virtual_server the flags
// describe, with keepalived's defaults where the flags say nothing.
func virtualServerFromFlags(c *ucli.Context) (*config.VirtualServer, error) {
	svc, proto, flag := c.String("tcp-service"), lvs.TCP, "-t"
	if u := c.String("udp-service"); u != "" {
		if svc != "" {
			return nil, errors.New("-t and -u: one service at a time")
		}
		svc, proto, flag = u, lvs.UDP, "-u"
	}
	if svc == "" {
		return nil, errors.New("-f FILE or -t VIP:PORT is required")
	}
	vip, err := netip.ParseAddrPort(svc)
	if err != nil || vip.Port() == 0 {
		return nil, fmt.Errorf("%s %q: not VIP:PORT", flag, svc)
	}
	vs := config.NewVirtualServer(vip.Addr().Unmap(), vip.Port(), proto)
	vs.File = "(flags)"
	vs.Scheduler = c.String("scheduler")
	vs.Forwarding = config.Forwarding{Method: lvs.DirectRoute} // ipvsadm's default
	n := 0
	for _, m := range []struct {
		flag   string
		method lvs.ForwardMethod
	}{{"gatewaying", lvs.DirectRoute}, {"masquerading", lvs.Masquerade}, {"ipip", lvs.Tunnel}} {
		if c.Bool(m.flag) {
			vs.Forwarding.Method = m.method
			n++
		}
	}
	if n > 1 {
		return nil, errors.New("-g, -m and -i: choose one forwarding method")
	}
	if vs.DelayLoop, err = parseSeconds("interval", c.String("interval")); err != nil {
		return nil, err
	}
	if vs.ConnectTimeout, err = parseSeconds("connect-timeout", c.String("connect-timeout")); err != nil {
		return nil, err
	}
	retryDelay, err := parseSeconds("retry-delay", c.String("retry-delay"))
	if err != nil {
		return nil, err
	}
	if vs.DelayLoop <= 0 || vs.ConnectTimeout <= 0 {
		return nil, errors.New("--interval and --connect-timeout must be positive")
	}
	vs.Warmup = vs.DelayLoop
	tries := c.Int("tries")
	if tries < 1 {
		return nil, fmt.Errorf("--tries %d: at least 1", tries)
	}
	kind := strings.ToLower(c.String("check"))
	script := strings.Fields(c.String("script"))
	switch {
	case kind == "script" && len(script) == 0:
		return nil, errors.New("--check script needs --script CMD")
	case kind != "script" && len(script) > 0:
		return nil, errors.New("--script needs --check script")
	}
	if s := c.String("sorry"); s != "" {
		ap, err := parseHostPort(s, vip.Port())
		if err != nil {
			return nil, fmt.Errorf("--sorry %q: %w", s, err)
		}
		vs.SorryServer = &config.SorryServer{Addr: ap.Addr(), Port: destPort(vs.Forwarding.Method, ap.Port(), vip.Port()), Forwarding: vs.Forwarding}
	}
	rss := c.StringSlice("real-server")
	if len(rss) == 0 {
		return nil, errors.New("-r RIP[:PORT[:WEIGHT]] is required")
	}
	for _, r := range rss {
		addr, port, weight, err := parseMonitorRealServer(r, vip.Port())
		if err != nil {
			return nil, fmt.Errorf("-r %q: %w", r, err)
		}
		rs := &config.RealServer{File: "(flags)", Addr: addr, Port: destPort(vs.Forwarding.Method, port, vip.Port()),
			Weight: weight, Forwarding: vs.Forwarding}
		ck := &config.Checker{File: "(flags)", ConnectIP: addr, ConnectPort: port,
			ConnectTimeout: vs.ConnectTimeout, Retry: tries - 1, DelayBeforeRetry: retryDelay,
			Warmup: vs.Warmup, DelayLoop: vs.DelayLoop}
		switch kind {
		case "http", "https":
			ck.Type = config.HTTPGet
			if kind == "https" {
				ck.Type = config.SSLGet
			}
			ck.HTTP = &config.HTTPCheck{URLs: []config.URL{{Path: c.String("url")}}}
		case "tcp":
			ck.Type = config.TCPCheck
		case "udp":
			ck.Type = config.UDPCheck
			ck.UDP = &config.UDPCheckConfig{MaxReplyLength: 255}
		case "dns":
			ck.Type = config.DNSCheck
			ck.DNS = &config.DNSCheckConfig{Type: "SOA", Name: "."}
		case "ping":
			ck.Type = config.PingCheck
		case "script":
			ck.Type = config.MiscCheck
			ck.Misc = &config.MiscCheckConfig{Path: config.Script{Command: c.String("script"), Args: script}, Timeout: vs.ConnectTimeout}
		default:
			return nil, fmt.Errorf("--check %q: want http, https, tcp, udp, dns, ping or script", c.String("check"))
		}
		rs.Checkers = []*config.Checker{ck}
		vs.RealServers = append(vs.RealServers, rs)
	}
	if err := vs.Validate(); err != nil {
		return nil, err
	}
	return vs, nil
}

// destPort is the port a real server gets in the table: with direct
// routing or tunnelling the packets keep the virtual port, so ipvsadm
// (-a/-e with -g or -i) puts the virtual port there whatever port is
// given, and so does the flags mode. The port given is still the one the
// check connects to.
func destPort(m lvs.ForwardMethod, given, virtual uint16) uint16 {
	if m == lvs.DirectRoute || m == lvs.Tunnel {
		return virtual
	}
	return given
}

// parseHostPort reads ADDR or ADDR:PORT ([IPv6]:PORT); the port defaults
// to def.
func parseHostPort(s string, def uint16) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.AddrPort{}, errors.New("not ADDR[:PORT]")
	}
	return netip.AddrPortFrom(a.Unmap(), def), nil
}

// parseMonitorRealServer reads RIP[:PORT[:WEIGHT]], with the address of an IPv6
// real server in brackets when a port follows.
func parseMonitorRealServer(s string, defPort uint16) (netip.Addr, uint16, int, error) {
	host, rest := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return netip.Addr{}, 0, 0, errors.New("missing ]")
		}
		host, rest = s[1:end], strings.TrimPrefix(s[end+1:], ":")
		if end+1 < len(s) && s[end+1] != ':' {
			return netip.Addr{}, 0, 0, errors.New("want [IPv6]:PORT")
		}
	} else if strings.Count(s, ":") <= 2 {
		host, rest, _ = strings.Cut(s, ":")
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, 0, 0, errors.New("not RIP[:PORT[:WEIGHT]]")
	}
	port, weight := defPort, 1
	if rest != "" {
		p, w, hasW := strings.Cut(rest, ":")
		if p != "" {
			n, err := strconv.ParseUint(p, 10, 16)
			if err != nil || n == 0 {
				return netip.Addr{}, 0, 0, fmt.Errorf("port %q: not 1-65535", p)
			}
			port = uint16(n)
		}
		if hasW {
			n, err := strconv.Atoi(w)
			if err != nil || n < 0 {
				return netip.Addr{}, 0, 0, fmt.Errorf("weight %q: not 0 or more", w)
			}
			weight = n
		}
	}
	return addr.Unmap(), port, weight, nil
}

// writeMonitorStatus prints one row per real server and checker, grouped
// by service, then the sorry servers.
func writeMonitorStatus(w io.Writer, st monitor.Status, now time.Time, loc *time.Location) error {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "config %s, started %s", st.Config, st.Started.In(loc).Format(time.RFC3339))
	if st.DryRun {
		buf.WriteString(", dry run (the kernel is not changed)")
	}
	buf.WriteString("\n\n")
	tb := newTable(&buf, "SERVICE", "SCHED", "QUORUM", "REAL SERVER", "WEIGHT", "STATE", "CHECK", "LAST RESULT", "LATENCY", "SINCE")
	since := func(t *time.Time) string {
		if t == nil {
			return "start"
		}
		return t.In(loc).Format(time.RFC3339) + " (" + now.Sub(*t).Round(time.Second).String() + " ago)"
	}
	for _, s := range st.Services {
		quorum := "up"
		if !s.QuorumUp {
			quorum = "down"
		}
		first := true
		row := func(cols ...string) error {
			lead := []string{"", "", ""}
			if first {
				lead = []string{s.Service, s.Scheduler, quorum}
				first = false
			}
			return tb.Append(append(lead, cols...))
		}
		for _, rs := range s.RealServers {
			weight := strconv.Itoa(int(rs.Weight))
			switch {
			case !rs.InTable:
				weight += " (out)"
			case rs.TableWeight != rs.Weight:
				weight += fmt.Sprintf(" (%d)", rs.TableWeight)
			}
			if len(rs.Checks) == 0 {
				if err := row(rs.Server, weight, rs.State, "-", "-", "-", since(rs.Since)); err != nil {
					return err
				}
			}
			for i, c := range rs.Checks {
				server, wcol, state := rs.Server, weight, rs.State
				if i > 0 {
					server, wcol, state = "", "", ""
				}
				result, latency := "not checked yet", "-"
				if c.Checked {
					result = c.Result
					if !c.OK {
						result = "FAIL " + result
					}
					latency = time.Duration(c.Latency * float64(time.Second)).Round(10 * time.Microsecond).String()
				}
				if err := row(server, wcol, state, c.Kind, result, latency, since(c.Since)); err != nil {
					return err
				}
			}
		}
		if s.Sorry != nil {
			state := "standby"
			if s.Sorry.Active {
				state = "IN USE"
			}
			if err := row(s.Sorry.Server+" (sorry)", "-", state, "-", "-", "-", "-"); err != nil {
				return err
			}
		}
	}
	if err := tb.Render(); err != nil {
		return err
	}
	return writeTrimmed(w, buf.String())
}
