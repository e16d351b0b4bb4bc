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
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lvsctl/lvsctl/internal/statussock"

	ucli "github.com/urfave/cli/v2"

	"github.com/lvsctl/lvsctl/internal/clock"
	"github.com/lvsctl/lvsctl/internal/config"
	"github.com/lvsctl/lvsctl/internal/netif"
	"github.com/lvsctl/lvsctl/lvs"
	"github.com/lvsctl/lvsctl/lvs/ipvs"
	"github.com/lvsctl/lvsctl/vrrp"
)

// DefaultVRRPSocket is where `lvsctl vrrp run` answers `lvsctl vrrp status`.
const DefaultVRRPSocket = "/run/lvsctl/vrrp.sock"

// vrrpEnv is what the vrrp commands need from the system; tests replace
// runSpeaker to stop short of the network.
type vrrpEnv struct {
	// runSpeaker runs the speaker until ctx ends.
	runSpeaker func(ctx context.Context, c *ucli.Context, run vrrpRun) error
}

// vrrpRun is what `vrrp run` hands the speaker.
type vrrpRun struct {
	sc  vrrp.SpeakerConfig
	sd  *vrrp.SyncDaemonConfig
	g   config.Global
	log *slog.Logger
	// reloads carries each configuration a SIGHUP re-read and checked;
	// a file that does not pass never gets here.
	reloads <-chan vrrp.SpeakerConfig
}

// lockedWriter serialises the writes of the logger and of the reload
// goroutine's warnings to stderr.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func vrrpCommand(Stdio) *ucli.Command {
	return newVRRPCommand(vrrpEnv{runSpeaker: runSpeaker})
}

const vrrpRunDescription = `Runs VRRP (RFC 3768 v2, RFC 5798 v3) for the vrrp_instance blocks of a
keepalived.conf, in the foreground, interoperating with keepalived on the
same link: the same adverts, timers, VIPs, gratuitous ARPs / unsolicited
NAs, track scripts and notify scripts. SIGTERM or SIGINT stops it as
keepalived stops: a priority 0 advert, the VIPs removed, notify_stop, exit 0.

SIGHUP (systemctl reload) re-reads -f FILE, as keepalived does, keeping
what did not change. Warnings are printed with their file:line; a file
with an error is reported and the running configuration goes on
unchanged. Instances are matched by name. An unchanged instance is not
touched: a MASTER stays MASTER, with no priority 0 advert and its VIPs in
place. Changes to priority, nopreempt, preempt_delay, advert_int, state,
the garp settings, virtual_ipaddress(_excluded) of the same address
family, the notify scripts and track_script (scripts and weights) apply
in place: a MASTER adds the new VIPs (with gratuitous ARPs / NAs),
removes the dropped ones, advertises its new effective priority and
stays MASTER (FAULT if a weight-0 tracked script has failed). A
vrrp_script whose settings changed starts anew; its instances keep what
they knew of it until its first result. Any other change (interface,
virtual_router_id, version, source address, unicast peers,
authentication, track_interface, sync group membership) stops that
instance gracefully and starts it again. Removed instances stop
gracefully; new ones start as at startup. Changes to the IPVS sync daemon's settings,
script_user and the status socket need a restart. Without -f, SIGHUP has
nothing to re-read: it is logged and ignored.

Without -f, the flags describe one instance (name VI_1 unless --name).
Durations are seconds ("0.5") or Go durations ("500ms").

Scripts run without a shell: the command is split into words as keepalived
splits it. Under enable_script_security a script that a non-root user could
change is refused.`

func newVRRPCommand(env vrrpEnv) *ucli.Command {
	socketFlag := &ucli.StringFlag{Name: "socket", Value: DefaultVRRPSocket, Usage: "status socket `PATH`"}
	return &ucli.Command{
		Name:      "vrrp",
		Usage:     "run a VRRP speaker compatible with keepalived, or show its state",
		UsageText: "lvsctl vrrp run|status [options]",
		Subcommands: []*ucli.Command{
			{
				Name:  "run",
				Usage: "run VRRP instances in the foreground",
				UsageText: "lvsctl vrrp run -f FILE [--instance NAME]...\n" +
					"   lvsctl vrrp run --interface IF --vrid N --priority P --vip ADDR/LEN [--vip ...] [options]\n\n" +
					"Examples:\n   lvsctl vrrp run -f /etc/keepalived/keepalived.conf\n" +
					"   lvsctl vrrp run --interface eth0 --vrid 51 --priority 150 --vip 192.0.2.100/24",
				Description: vrrpRunDescription,
				Flags:       append(vrrpRunFlags(), socketFlag),
				Action: func(c *ucli.Context) error {
					sc, sd, g, err := vrrpConfig(c, c.App.ErrWriter)
					if err != nil {
						return err
					}
					if g.EnableScriptSecurity {
						if err := sc.CheckSecurity(); err != nil {
							return usageError{fmt.Errorf("enable_script_security: %w", err)}
						}
					}
					ctx, stop := signal.NotifyContext(c.Context, syscall.SIGTERM, syscall.SIGINT)
					defer stop()
					errw := &lockedWriter{w: c.App.ErrWriter}
					log := slog.New(slog.NewTextHandler(errw, &slog.HandlerOptions{Level: slog.LevelInfo}))
					// SIGHUP is caught from here on: before, its default
					// action (exit) is as good as a reload.
					hup := make(chan os.Signal, 1)
					signal.Notify(hup, syscall.SIGHUP)
					defer signal.Stop(hup)
					reloads := make(chan vrrp.SpeakerConfig, 1)
					done := make(chan struct{})
					go func() {
						defer close(done)
						watchReload(ctx, c, errw, log, hup, reloads, sd, g)
					}()
					err = env.runSpeaker(ctx, c, vrrpRun{sc: sc, sd: sd, g: g, log: log, reloads: reloads})
					stop()
					<-done
					return err
				},
			},
			{
				Name:  "status",
				Usage: "show the state of the running speaker",
				UsageText: "lvsctl vrrp status [--json] [--socket PATH]\n\n" +
					"Example:\n   lvsctl vrrp status",
				Description: "Asks the running `lvsctl vrrp run` over its unix socket for each instance's\n" +
					"state, base and effective priority, master, adverts sent and received,\n" +
					"dropped adverts by kind and last transition.",
				Flags: []ucli.Flag{
					&ucli.BoolFlag{Name: "json", Usage: "print JSON (schema: see VRRPStatus)"},
					socketFlag,
				},
				Action: func(c *ucli.Context) error {
					st, err := readVRRPStatus(c.Context, c.String("socket"))
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return writeJSON(c.App.Writer, st)
					}
					return writeVRRPStatus(c.App.Writer, st, time.Now(), time.Local)
				},
			},
		},
	}
}

func vrrpRunFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "keepalived.conf `FILE`"},
		&ucli.StringSliceFlag{Name: "instance", Usage: "run only vrrp_instance `NAME` (repeatable)"},
		&ucli.StringFlag{Name: "name", Value: "VI_1", Usage: "instance `NAME` (flags mode)"},
		&ucli.StringFlag{Name: "interface", Usage: "`IF` to advertise on"},
		&ucli.IntFlag{Name: "vrid", Usage: "virtual router id `N` (1-255)"},
		&ucli.IntFlag{Name: "priority", Value: 100, Usage: "priority `P` (1-255)"},
		&ucli.StringSliceFlag{Name: "vip", Usage: "virtual `ADDR/LEN` (repeatable)"},
		&ucli.StringFlag{Name: "advert-int", Value: "1", Usage: "advert interval `D`"},
		&ucli.IntFlag{Name: "version", Usage: "VRRP version 2 or 3 (default 2, 3 for IPv6)"},
		&ucli.StringFlag{Name: "state", Value: "BACKUP", Usage: "initial state MASTER or BACKUP"},
		&ucli.BoolFlag{Name: "nopreempt", Usage: "do not preempt a lower priority master"},
		&ucli.StringFlag{Name: "preempt-delay", Usage: "wait `D` before preempting"},
		&ucli.StringFlag{Name: "unicast-src", Usage: "unicast source `ADDR`"},
		&ucli.StringSliceFlag{Name: "unicast-peer", Usage: "unicast peer `ADDR` (repeatable)"},
		&ucli.StringFlag{Name: "auth-pass", Usage: "VRRPv2 simple password `PASS` (8 bytes at most)"},
		&ucli.StringFlag{Name: "track-script", Usage: "track script `CMD` (run without a shell)"},
		&ucli.StringFlag{Name: "track-interval", Value: "1", Usage: "track script interval `D`"},
		&ucli.IntFlag{Name: "track-weight", Usage: "track script weight `W` (0: failure is FAULT)"},
		&ucli.IntFlag{Name: "track-fall", Value: 1, Usage: "failures `N` before the script counts as failed"},
		&ucli.IntFlag{Name: "track-rise", Value: 1, Usage: "successes `N` before the script counts as OK"},
		&ucli.StringSliceFlag{Name: "track-interface", Usage: "FAULT while `IF` is down (repeatable)"},
		&ucli.StringFlag{Name: "notify-master", Usage: "run `CMD` on becoming MASTER"},
		&ucli.StringFlag{Name: "notify-backup", Usage: "run `CMD` on becoming BACKUP"},
		&ucli.StringFlag{Name: "notify-fault", Usage: "run `CMD` on becoming FAULT"},
		&ucli.StringFlag{Name: "notify-stop", Usage: "run `CMD` on stopping"},
		&ucli.StringFlag{Name: "notify", Usage: "run `CMD` INSTANCE NAME STATE PRIORITY on every transition"},
	}
}

// flagsModeFlags are the flags that only make sense without -f.
var flagsModeFlags = []string{"interface", "vrid", "priority", "vip", "advert-int", "version", "state", "nopreempt",
	"preempt-delay", "unicast-src", "unicast-peer", "auth-pass", "track-script", "track-interval", "track-weight",
	"track-fall", "track-rise", "track-interface", "notify-master", "notify-backup", "notify-fault", "notify-stop", "notify", "name"}

// watchReload turns each SIGHUP into a re-read and checked configuration
// on reloads, until ctx ends. A file that does not read or check is
// reported and nothing is sent: the speaker goes on as it was.
func watchReload(ctx context.Context, c *ucli.Context, errw io.Writer, log *slog.Logger, hup <-chan os.Signal,
	reloads chan<- vrrp.SpeakerConfig, sd *vrrp.SyncDaemonConfig, g config.Global) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		file := c.String("file")
		if file == "" {
			log.Warn("SIGHUP: nothing to reload without -f; the flags' instance runs on")
			continue
		}
		log.Info("SIGHUP: reloading", "file", file)
		sc, nsd, ng, err := vrrpConfig(c, errw)
		if err == nil && ng.EnableScriptSecurity {
			if serr := sc.CheckSecurity(); serr != nil {
				err = fmt.Errorf("enable_script_security: %w", serr)
			}
		}
		if err != nil {
			log.Error("reload failed: the running configuration is kept", "file", file, "err", err.Error())
			continue
		}
		if !sameSyncDaemon(sd, nsd) {
			log.Warn("reload: the IPVS sync daemon settings changed; they apply after a restart")
		}
		if ng.ScriptUser != g.ScriptUser || ng.ScriptGroup != g.ScriptGroup {
			log.Warn("reload: script_user changed; it applies after a restart")
		}
		select {
		case reloads <- sc:
		case <-ctx.Done():
			return
		}
	}
}

func sameSyncDaemon(a, b *vrrp.SyncDaemonConfig) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// vrrpConfig reads the file or the flags. Warnings go to errw with their
// file:line; every error is a usage error (exit 2).
func vrrpConfig(c *ucli.Context, errw io.Writer) (vrrp.SpeakerConfig, *vrrp.SyncDaemonConfig, config.Global, error) {
	var cfg *config.Config
	if f := c.String("file"); f != "" {
		for _, name := range flagsModeFlags {
			if c.IsSet(name) {
				return vrrp.SpeakerConfig{}, nil, config.Global{}, usageError{fmt.Errorf("--%s: not with -f (the file describes the instances)", name)}
			}
		}
		parsed, warns, err := config.ParseFile(f, config.Options{})
		for _, w := range warns {
			fmt.Fprintf(errw, "lvsctl: warning: %s\n", w)
		}
		if err != nil {
			return vrrp.SpeakerConfig{}, nil, config.Global{}, usageError{err}
		}
		cfg = parsed
	} else {
		if c.IsSet("instance") {
			return vrrp.SpeakerConfig{}, nil, config.Global{}, usageError{errors.New("--instance needs -f")}
		}
		in, scripts, err := instanceFromFlags(c)
		if err != nil {
			return vrrp.SpeakerConfig{}, nil, config.Global{}, usageError{err}
		}
		cfg = &config.Config{Instances: []*config.VRRPInstance{in}, Scripts: scripts, Files: []string{"(flags)"}}
	}
	sc, sd, err := vrrp.FromConfig(cfg, c.StringSlice("instance"))
	if err != nil {
		return sc, sd, cfg.Global, usageError{err}
	}
	return sc, sd, cfg.Global, nil
}

// parseSeconds reads keepalived's "<seconds>[.fraction]" or a Go duration.
func parseSeconds(flag, s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return d, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("--%s %q: not a duration (seconds such as 0.5, or 500ms)", flag, s)
	}
	return time.Duration(f*1e6) * time.Microsecond, nil
}

func commandFlag(c *ucli.Context, name string) *config.Script {
	v := c.String(name)
	if v == "" {
		return nil
	}
	return &config.Script{Command: v, Args: strings.Fields(v)}
}

func instanceFromFlags(c *ucli.Context) (*config.VRRPInstance, []*config.VRRPScript, error) {
	in := config.NewInstance(c.String("name"))
	in.File = "(flags)"
	in.Interface = c.String("interface")
	if in.Interface == "" {
		return nil, nil, errors.New("--interface or -f is required")
	}
	in.VirtualRouterID = c.Int("vrid")
	in.Priority = c.Int("priority")
	switch st := strings.ToUpper(c.String("state")); st {
	case "MASTER", "BACKUP":
		in.State = config.State(st)
	default:
		return nil, nil, fmt.Errorf("--state %q: want MASTER or BACKUP", c.String("state"))
	}
	in.NoPreempt = c.Bool("nopreempt")
	var err error
	if in.AdvertInt, err = parseSeconds("advert-int", c.String("advert-int")); err != nil {
		return nil, nil, err
	}
	if c.IsSet("preempt-delay") {
		if in.PreemptDelay, err = parseSeconds("preempt-delay", c.String("preempt-delay")); err != nil {
			return nil, nil, err
		}
	}
	if len(c.StringSlice("vip")) == 0 {
		return nil, nil, errors.New("--vip is required")
	}
	for _, v := range c.StringSlice("vip") {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return nil, nil, fmt.Errorf("--vip %q: not ADDR/LEN", v)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		in.VIPs = append(in.VIPs, config.VirtualAddress{Prefix: p})
	}
	in.Version = 2
	if in.VIPs[0].Prefix.Addr().Is6() {
		in.Version = 3
	}
	if c.IsSet("version") {
		in.Version = c.Int("version")
	}
	if s := c.String("unicast-src"); s != "" {
		if in.UnicastSrcIP, err = netip.ParseAddr(s); err != nil {
			return nil, nil, fmt.Errorf("--unicast-src %q: not an address", s)
		}
	}
	for _, s := range c.StringSlice("unicast-peer") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, nil, fmt.Errorf("--unicast-peer %q: not an address", s)
		}
		in.UnicastPeers = append(in.UnicastPeers, config.UnicastPeer{Addr: a})
	}
	if p := c.String("auth-pass"); p != "" {
		if len(p) > 8 {
			return nil, nil, errors.New("--auth-pass: 8 bytes at most")
		}
		in.Authentication, in.AuthPass = config.AuthPass, p
	}
	for _, name := range c.StringSlice("track-interface") {
		in.TrackInterfaces = append(in.TrackInterfaces, config.TrackInterface{Name: name})
	}
	in.Notify = config.Notify{Master: commandFlag(c, "notify-master"), Backup: commandFlag(c, "notify-backup"),
		Fault: commandFlag(c, "notify-fault"), Stop: commandFlag(c, "notify-stop"), Any: commandFlag(c, "notify")}
	var scripts []*config.VRRPScript
	if s := commandFlag(c, "track-script"); s != nil {
		interval, err := parseSeconds("track-interval", c.String("track-interval"))
		if err != nil {
			return nil, nil, err
		}
		if interval <= 0 {
			return nil, nil, errors.New("--track-interval must be positive")
		}
		w := c.Int("track-weight")
		if w < -253 || w > 253 {
			return nil, nil, errors.New("--track-weight outside [-253, 253]")
		}
		scripts = append(scripts, &config.VRRPScript{Name: "track", File: "(flags)", Script: *s, Interval: interval,
			Timeout: interval, Weight: w, Rise: max(c.Int("track-rise"), 1), Fall: max(c.Int("track-fall"), 1)})
		in.TrackScripts = append(in.TrackScripts, config.TrackScript{Name: "track", Weight: w})
	}
	if err := in.Validate(); err != nil {
		return nil, nil, err
	}
	return in, scripts, nil
}

// runSpeaker runs the speaker on the host with its status socket, and
// applies each configuration from run.reloads (Speaker.Reload).
func runSpeaker(ctx context.Context, c *ucli.Context, run vrrpRun) error {
	sc, sd, g, log := run.sc, run.sd, run.g, run.log
	exe := vrrp.Executor{}
	if g.ScriptUser != "" {
		cred, err := vrrp.LookupCredential(g.ScriptUser, g.ScriptGroup)
		if err != nil {
			return usageError{err}
		}
		exe.Credential = cred
	}
	// Closed once Run has returned: the stop removes the VIPs through it.
	vips := &netif.VIPs{Links: netif.System{}}
	defer vips.Close()
	env := vrrp.Env{
		Clock:         clock.Real{},
		Network:       vips,
		Links:         netif.LinkMonitor{},
		OpenTransport: vrrp.OpenSocket,
		LocalAddr:     vrrp.InterfaceAddr,
		Exec:          exe.Exec,
		Log:           log,
	}
	if sd != nil {
		d := &ipvsSyncDaemon{cfg: *sd, log: log}
		defer d.close()
		env.SyncDaemon = d
	}
	sp, err := vrrp.NewSpeaker(sc, env)
	if err != nil {
		return usageError{err}
	}
	srv, err := serveVRRPStatus(ctx, c.String("socket"), sp, log)
	if err != nil {
		return err
	}
	defer srv()
	rctx, cancel := context.WithCancel(ctx)
	reloaded := make(chan struct{})
	go func() {
		defer close(reloaded)
		for {
			select {
			case <-rctx.Done():
				return
			case cfg := <-run.reloads:
				// Reload logs what it did; a refusal leaves it all as is.
				if _, err := sp.Reload(rctx, cfg); err != nil {
					log.Error("reload failed: the running configuration is kept", "err", err.Error())
				}
			}
		}
	}()
	err = sp.Run(ctx)
	cancel()
	<-reloaded
	return err
}

// ipvsSyncDaemon switches the IPVS sync daemon as keepalived does: on
// MASTER the backup daemon stops and the master one starts, on BACKUP the
// reverse (IPVS_CMD_DEL_DAEMON, IPVS_CMD_NEW_DAEMON). Without IPVS in the
// kernel it says so once and does nothing.
type ipvsSyncDaemon struct {
	cfg         vrrp.SyncDaemonConfig
	log         *slog.Logger
	client      *ipvs.Client
	unavailable bool
}

func (d *ipvsSyncDaemon) SetRole(ctx context.Context, master bool) error {
	if d.unavailable {
		return nil
	}
	if d.client == nil {
		cl, err := ipvs.Open(ipvs.Options{})
		if errors.Is(err, lvs.ErrIPVSUnavailable) {
			d.unavailable = true
			d.log.Warn("IPVS is not available: the connection sync daemon is not switched", "interface", d.cfg.Interface)
			return nil
		}
		if err != nil {
			return err
		}
		d.client = cl
	}
	on, off := lvs.SyncMaster, lvs.SyncBackup
	if !master {
		on, off = off, on
	}
	_ = d.client.StopSyncDaemon(ctx, off) // not running is fine
	err := d.client.StartSyncDaemon(ctx, lvs.SyncDaemon{State: on, Interface: d.cfg.Interface, SyncID: d.cfg.SyncID,
		MaxLen: d.cfg.MaxLen, Group: d.cfg.Group, Port: d.cfg.Port, TTL: d.cfg.TTL})
	if err != nil {
		return fmt.Errorf("start %s sync daemon on %s: %w", on, d.cfg.Interface, err)
	}
	return nil
}

func (d *ipvsSyncDaemon) close() {
	if d.client != nil {
		d.client.Close()
	}
}

// VRRPStatus is the JSON of `lvsctl vrrp status --json` (and what the
// status socket sends). Version 1; fields are only ever added.
type VRRPStatus struct {
	Version   int                          `json:"version"`
	Instances []VRRPInstanceStatus         `json:"instances"`
	Drops     map[string]map[string]uint64 `json:"drops,omitempty"`
}

// VRRPInstanceStatus is one instance in VRRPStatus.
type VRRPInstanceStatus struct {
	Name              string            `json:"name"`
	Interface         string            `json:"interface"`
	VRID              uint8             `json:"vrid"`
	State             string            `json:"state"`
	Priority          uint8             `json:"priority"`
	EffectivePriority uint8             `json:"effective_priority"`
	MasterAddr        string            `json:"master,omitempty"`
	MasterPriority    uint8             `json:"master_priority"`
	AdvertsSent       uint64            `json:"adverts_sent"`
	AdvertsReceived   uint64            `json:"adverts_received"`
	Errors            map[string]uint64 `json:"errors,omitempty"`
	LastTransition    *time.Time        `json:"last_transition,omitempty"`
}

func statusFromSnapshot(s vrrp.Snapshot) VRRPStatus {
	st := VRRPStatus{Version: 1, Drops: s.Drops, Instances: []VRRPInstanceStatus{}}
	for _, in := range s.Instances {
		is := VRRPInstanceStatus{Name: in.Name, Interface: in.Interface, VRID: in.VRID, State: in.State.String(),
			Priority: in.Priority, EffectivePriority: in.EffectivePriority, MasterPriority: in.MasterPriority,
			AdvertsSent: in.AdvertsSent, AdvertsReceived: in.AdvertsReceived, Errors: in.Errors}
		if in.MasterAddr.IsValid() {
			is.MasterAddr = in.MasterAddr.String()
		}
		if !in.LastTransition.IsZero() {
			t := in.LastTransition.UTC()
			is.LastTransition = &t
		}
		st.Instances = append(st.Instances, is)
	}
	return st
}

// serveVRRPStatus answers each connection to path with the speaker's
// VRRPStatus in JSON. It returns a function that stops serving and removes
// the socket.
func serveVRRPStatus(ctx context.Context, path string, sp *vrrp.Speaker, log *slog.Logger) (func(), error) {
	return statussock.Serve(ctx, path, func(ctx context.Context) (any, error) {
		snap, err := sp.Snapshot(ctx)
		if err != nil {
			return nil, err
		}
		return statusFromSnapshot(snap), nil
	}, log)
}

func readVRRPStatus(ctx context.Context, path string) (VRRPStatus, error) {
	var st VRRPStatus
	err := statussock.Read(ctx, path, "VRRP speaker", &st)
	return st, err
}

func writeVRRPStatus(w io.Writer, st VRRPStatus, now time.Time, loc *time.Location) error {
	var buf bytes.Buffer
	tb := newTable(&buf, "INSTANCE", "IF", "VRID", "STATE", "PRIO", "EFFECTIVE", "MASTER", "SENT", "RECEIVED", "ERRORS", "SINCE")
	for _, in := range st.Instances {
		master := in.MasterAddr
		if master == "" {
			master = "-"
		} else if in.State != "MASTER" {
			master += fmt.Sprintf(" (%d)", in.MasterPriority)
		}
		since := "-"
		if in.LastTransition != nil {
			since = in.LastTransition.In(loc).Format(time.RFC3339) + " (" + now.Sub(*in.LastTransition).Round(time.Second).String() + " ago)"
		}
		if err := tb.Append(in.Name, in.Interface, strconv.Itoa(int(in.VRID)), in.State, strconv.Itoa(int(in.Priority)),
			strconv.Itoa(int(in.EffectivePriority)), master, strconv.FormatUint(in.AdvertsSent, 10),
			strconv.FormatUint(in.AdvertsReceived, 10), countsText(in.Errors), since); err != nil {
			return err
		}
	}
	if err := tb.Render(); err != nil {
		return err
	}
	ifs := make([]string, 0, len(st.Drops))
	for name := range st.Drops {
		ifs = append(ifs, name)
	}
	sort.Strings(ifs)
	for _, name := range ifs {
		fmt.Fprintf(&buf, "dropped on %s: %s\n", name, countsText(st.Drops[name]))
	}
	return writeTrimmed(w, buf.String())
}

// countsText prints counters as "auth=2 ttl=1", sorted; "-" for none.
func countsText(m map[string]uint64) string {
	if len(m) == 0 {
		return "-"
	}
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
