package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Options tune a parse. The zero value reads the real file system and
// keeps no '@id' line.
type Options struct {
	// ConfigID selects conditional lines: "@ID line" is kept when ID
	// equals ConfigID, "@^ID line" when it does not (keepalived -i). Empty
	// matches no ID. keepalived defaults it to the host name; callers that
	// want that pass it in.
	ConfigID string

	// FS, when set, is where the file and its includes are read, with
	// slash paths; absolute include paths are taken relative to its root.
	// Tests use fstest.MapFS. nil means the operating system's files.
	FS fs.FS
}

// ParseFile reads the configuration at name and everything it includes.
// Warnings are returned even with an error. The error, when not nil,
// wraps ErrSyntax (possibly several joined) or an error opening name.
func ParseFile(name string, opts Options) (*Config, []Warning, error) {
	fsys, fname, err := resolveFS(name, opts)
	if err != nil {
		return nil, nil, err
	}
	data, err := fs.ReadFile(fsys, fsName(fname))
	if err != nil {
		return nil, nil, fmt.Errorf("read configuration: %w", err)
	}
	return parse(fsys, fname, data, opts)
}

// Parse reads a configuration from r; name is used in messages and as the
// directory its relative includes are resolved against.
func Parse(name string, r io.Reader, opts Options) (*Config, []Warning, error) {
	fsys, fname, err := resolveFS(name, opts)
	if err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("read configuration %s: %w", name, err)
	}
	return parse(fsys, fname, data, opts)
}

func resolveFS(name string, opts Options) (fs.FS, string, error) {
	if opts.FS != nil {
		return opts.FS, filepath.ToSlash(name), nil
	}
	abs, err := filepath.Abs(name)
	if err != nil {
		return nil, "", fmt.Errorf("configuration path %s: %w", name, err)
	}
	return os.DirFS("/"), filepath.ToSlash(abs), nil
}

func parse(fsys fs.FS, name string, data []byte, opts Options) (*Config, []Warning, error) {
	lx := &lexer{fsys: fsys, configID: opts.ConfigID, defs: map[string]*definition{}}
	lx.readFile(name, data)
	tree := lx.buildTree()
	p := &parser{lx: lx, cfg: newConfig()}
	p.cfg.Files = lx.files
	if len(lx.errs) == 0 {
		p.top(tree)
		p.resolve()
		if len(lx.errs) == 0 {
			for _, err := range p.cfg.validate() {
				if len(lx.errs) < maxErrors {
					lx.errs = append(lx.errs, err)
				}
			}
		}
	}
	// Warnings from the lexer and from the directives interleave in file
	// order, as a reader of the file expects.
	order := map[string]int{}
	for i, f := range lx.files {
		if _, ok := order[f]; !ok {
			order[f] = i
		}
	}
	sort.SliceStable(lx.warnings, func(i, j int) bool {
		a, b := lx.warnings[i], lx.warnings[j]
		if order[a.File] != order[b.File] {
			return order[a.File] < order[b.File]
		}
		return a.Line < b.Line
	})
	if len(lx.errs) > 0 {
		return nil, lx.warnings, errors.Join(lx.errs...)
	}
	return p.cfg, lx.warnings, nil
}

func newConfig() *Config {
	return &Config{Global: Global{
		VRRPVersion:                 2,
		VRRPMcastGroup4:             netip.AddrFrom4([4]byte{224, 0, 0, 18}),
		VRRPMcastGroup6:             netip.MustParseAddr("ff02::12"),
		VRRPGARPMasterDelay:         5 * time.Second,
		VRRPGARPMasterRepeat:        5,
		VRRPGARPLowerPrioDelay:      -1,
		VRRPGARPLowerPrioRepeat:     -1,
		VRRPGARPMasterRefreshRepeat: 1,
		DefaultInterface:            "eth0",
	}}
}

type parser struct {
	lx  *lexer
	cfg *Config

	// per-object settings that are resolved after the whole file is read
	instSet map[*VRRPInstance]*instanceSet
	vsT     map[*VirtualServer]*timing
	rsT     map[*RealServer]*timing
	ckT     map[*Checker]*timing
	// sorryFwd marks virtual servers with sorry_server_lvs_method
	sorryFwd map[*VirtualServer]bool
}

type instanceSet struct {
	version, garpDelay, garpRepeat, lowerDelay, lowerRepeat, refresh, refreshRepeat, strict, accept bool
}

func (p *parser) errorf(n *node, format string, args ...any) {
	p.lx.errorf(n.file, n.line, format, args...)
}

func (p *parser) warnf(n *node, format string, args ...any) {
	p.lx.warnf(n.file, n.line, format, args...)
}

// unknown warns about a directive lvsctl does not use. Keywords in
// known are keepalived's and get a milder message than typos do.
func (p *parser) unknown(n *node, where string, known map[string]bool) {
	what := "unknown keyword"
	if known[n.key()] {
		what = "keepalived keyword not supported by lvsctl"
	}
	if n.block {
		p.warnf(n, "%s %q in %s; ignored with its block", what, n.key(), where)
		return
	}
	p.warnf(n, "%s %q in %s; ignored", what, n.key(), where)
}

func set(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

// needBlock reports whether n has the block its keyword requires.
func (p *parser) needBlock(n *node) bool {
	if !n.block {
		p.errorf(n, "%s needs a '{' block", n.key())
		return false
	}
	return true
}

// noBlock rejects a block after a keyword that takes none.
func (p *parser) noBlock(n *node) bool {
	if n.block {
		p.errorf(n, "%s does not take a '{' block", n.key())
		return false
	}
	return true
}

// nargs checks the argument count: at least min, and warns beyond max
// (max < 0: no limit), the way keepalived ignores extra words.
func (p *parser) nargs(n *node, min, max int) bool {
	if !p.noBlock(n) {
		return false
	}
	a := len(n.args())
	if a < min {
		if min == 1 {
			p.errorf(n, "%s is missing its value", n.key())
		} else {
			p.errorf(n, "%s needs %d values", n.key(), min)
		}
		return false
	}
	if max >= 0 && a > max {
		p.warnf(n, "%s: extra words %q ignored", n.key(), strings.Join(n.args()[max:], " "))
	}
	return true
}

func (p *parser) str(n *node, dst *string) {
	if p.nargs(n, 1, 1) {
		*dst = n.args()[0]
	}
}

func (p *parser) flag(n *node, dst *bool) {
	if p.nargs(n, 0, 0) {
		*dst = true
	}
}

// optBool reads "keyword [on|off|true|false|yes|no]"; the keyword alone
// means true.
func (p *parser) optBool(n *node, dst *bool) {
	if !p.nargs(n, 0, 1) {
		return
	}
	if len(n.args()) == 0 {
		*dst = true
		return
	}
	switch n.args()[0] {
	case "on", "true", "yes":
		*dst = true
	case "off", "false", "no":
		*dst = false
	default:
		p.errorf(n, "%s: %q is not one of on|off|true|false|yes|no", n.key(), n.args()[0])
	}
}

func (p *parser) intVal(n *node, s string, min, max int) (int, bool) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		p.errorf(n, "%s: invalid number %q", n.key(), s)
		return 0, false
	}
	if v < int64(min) || v > int64(max) {
		p.errorf(n, "%s: %s outside range [%d, %d]", n.key(), s, min, max)
		return 0, false
	}
	return int(v), true
}

func (p *parser) int(n *node, dst *int, min, max int) bool {
	if !p.nargs(n, 1, 1) {
		return false
	}
	v, ok := p.intVal(n, n.args()[0], min, max)
	if ok {
		*dst = v
	}
	return ok
}

// maxTimer is keepalived's TIMER_MAXIMUM order of magnitude; anything
// longer is a typo.
const maxTimer = 1000 * 24 * time.Hour

// timerVal reads keepalived's <TIMER>: seconds with an optional fraction,
// kept to the microsecond as keepalived does.
func (p *parser) timerVal(n *node, s string, min time.Duration) (time.Duration, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || strings.ContainsAny(s, "xXpP_") {
		p.errorf(n, "%s: invalid time %q (seconds)", n.key(), s)
		return 0, false
	}
	d := time.Duration(math.Round(f*1e6)) * time.Microsecond
	if f*1e6 > float64(maxTimer/time.Microsecond) || d < min {
		p.errorf(n, "%s: %s seconds outside range [%g, %g]", n.key(), s, min.Seconds(), maxTimer.Seconds())
		return 0, false
	}
	return d, true
}

func (p *parser) timer(n *node, dst *time.Duration, min time.Duration) bool {
	if !p.nargs(n, 1, 1) {
		return false
	}
	v, ok := p.timerVal(n, n.args()[0], min)
	if ok {
		*dst = v
	}
	return ok
}

// seconds reads a whole number of seconds (vrrp_script interval/timeout,
// misc_timeout, persistence_timeout).
func (p *parser) seconds(n *node, dst *time.Duration, min, max int) bool {
	var v int
	if !p.int(n, &v, min, max) {
		return false
	}
	*dst = time.Duration(v) * time.Second
	return true
}

func (p *parser) addrVal(n *node, s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		p.errorf(n, "%s: invalid IP address %q", n.key(), s)
		return netip.Addr{}, false
	}
	return a, true
}

func (p *parser) addr(n *node, dst *netip.Addr) {
	if !p.nargs(n, 1, 1) {
		return
	}
	if a, ok := p.addrVal(n, n.args()[0]); ok {
		*dst = a
	}
}

func (p *parser) portVal(n *node, s string) (uint16, bool) {
	v, ok := p.intVal(n, s, 0, 65535)
	return uint16(v), ok
}

func (p *parser) port(n *node, dst *uint16) {
	if p.nargs(n, 1, 1) {
		if v, ok := p.portVal(n, n.args()[0]); ok {
			*dst = v
		}
	}
}

// script reads "keyword COMMAND [user [group]]". The statement is split
// again with keepalived's quote-and-escape rules, and the command is split
// once more into its arguments, as notify_script_init does.
func (p *parser) script(n *node) *Script {
	if !p.nargs(n, 1, -1) {
		return nil
	}
	words, err := splitScriptWords(n.raw)
	if err != nil {
		p.errorf(n, "%s: %v", n.key(), err)
		return nil
	}
	if len(words) < 2 || strings.TrimSpace(words[1]) == "" {
		p.errorf(n, "%s: empty command", n.key())
		return nil
	}
	args, err := splitScriptWords(words[1])
	if err != nil || len(args) == 0 {
		p.errorf(n, "%s: cannot split command %q", n.key(), words[1])
		return nil
	}
	s := &Script{Command: words[1], Args: args}
	if len(words) > 2 {
		s.User = words[2]
	}
	if len(words) > 3 {
		s.Group = words[3]
	}
	if len(words) > 4 {
		p.warnf(n, "%s: extra words %q ignored", n.key(), strings.Join(words[4:], " "))
	}
	return s
}

// values returns a value block's lines (virtual_ipaddress, group, ...):
// each child statement is one entry; nested blocks are errors.
func (p *parser) values(n *node) []*node {
	if !p.needBlock(n) {
		return nil
	}
	if len(n.args()) > 0 {
		p.warnf(n, "%s: extra words %q ignored", n.key(), strings.Join(n.args(), " "))
	}
	var out []*node
	for _, c := range n.children {
		if c.block {
			p.errorf(c, "unexpected block in %s", n.key())
			continue
		}
		out = append(out, c)
	}
	return out
}

// name reads the NAME of "keyword NAME {".
func (p *parser) name(n *node) (string, bool) {
	if !p.needBlock(n) {
		return "", false
	}
	if len(n.args()) == 0 {
		p.errorf(n, "%s needs a name", n.key())
		return "", false
	}
	if len(n.args()) > 1 {
		p.warnf(n, "%s: extra words %q ignored", n.key(), strings.Join(n.args()[1:], " "))
	}
	return n.args()[0], true
}

var topUnsupported = set("static_ipaddress", "static_routes", "static_rules", "linkbeat_interfaces",
	"track_group", "track_file", "vrrp_track_file", "vrrp_track_process", "garp_group",
	"bfd_instance", "interface_up_down_delays", "SSL", "net_namespace", "net_namespace_ipvs",
	"namespace_with_ipsets", "instance", "use_pid_dir", "linkbeat_use_polling", "child_wait_time")

func (p *parser) top(tree []*node) {
	p.instSet = map[*VRRPInstance]*instanceSet{}
	p.vsT = map[*VirtualServer]*timing{}
	p.rsT = map[*RealServer]*timing{}
	p.ckT = map[*Checker]*timing{}
	p.sorryFwd = map[*VirtualServer]bool{}
	for _, n := range tree {
		switch n.key() {
		case "global_defs":
			if p.needBlock(n) {
				p.global(n)
			}
		case "vrrp_script":
			p.vrrpScript(n)
		case "vrrp_sync_group":
			p.syncGroup(n)
		case "vrrp_instance":
			p.instance(n)
		case "virtual_server_group":
			p.vsGroup(n)
		case "virtual_server":
			p.virtualServer(n)
		default:
			p.unknown(n, "the top level", topUnsupported)
		}
	}
}

var globalUnsupported = set("tmp_config_directory", "config_save_dir", "process_names", "process_name",
	"vrrp_process_name", "checker_process_name", "bfd_process_name", "startup_script",
	"startup_script_timeout", "shutdown_script", "shutdown_script_timeout", "notification_email",
	"notification_email_from", "smtp_server", "smtp_helo_name", "smtp_connect_timeout", "smtp_alert",
	"smtp_alert_vrrp", "smtp_alert_checker", "checker_log_all_failures", "no_email_faults",
	"vrrp_down_timer_adverts", "vrrp_garp_extra_if", "nftables", "nftables_priority", "nftables_counters",
	"nftables_ifindex", "nftables_ipvs", "nftables_ipvs_priority", "nftables_ipvs_start_fwmark",
	"vrrp_iptables", "vrrp_ipsets", "disable_local_igmp", "vrrp_notify_priority_changes",
	"max_auto_priority", "min_auto_priority_delay", "vrrp_priority", "checker_priority", "bfd_priority",
	"vrrp_no_swap", "checker_no_swap", "bfd_no_swap", "vrrp_cpu_affinity", "checker_cpu_affinity",
	"bfd_cpu_affinity", "vrrp_rt_priority", "checker_rt_priority", "bfd_rt_priority",
	"vrrp_rlimit_rttime", "checker_rlimit_rttime", "bfd_rlimit_rttime", "snmp_socket",
	"enable_snmp_vrrp", "enable_snmp_checker", "enable_snmp_rfc", "enable_snmp_rfcv2",
	"enable_snmp_rfcv3", "enable_traps", "enable_dbus", "dbus_service_name", "notify_fifo",
	"notify_fifo_script", "vrrp_notify_fifo", "vrrp_notify_fifo_script", "lvs_notify_fifo",
	"lvs_notify_fifo_script", "fifo_write_vrrp_states_on_reload", "vrrp_netlink_cmd_rcv_bufs",
	"vrrp_netlink_cmd_rcv_bufs_force", "vrrp_netlink_monitor_rcv_bufs",
	"vrrp_netlink_monitor_rcv_bufs_force", "lvs_netlink_cmd_rcv_bufs", "lvs_netlink_cmd_rcv_bufs_force",
	"lvs_netlink_monitor_rcv_bufs", "lvs_netlink_monitor_rcv_bufs_force", "rs_init_notifies",
	"no_checker_emails", "vrrp_rx_bufs_policy", "vrrp_rx_bufs_multiplier", "log_unknown_vrids",
	"vmac_prefix", "vmac_addr_prefix", "random_seed", "reload_check_config", "include_check",
	"reload_time_file", "reload_repeat", "reload_file", "data_use_instance", "dynamic_interfaces",
	"umask", "vrrp_dont_track_primary", "vrrp_version_check", "vrrp_use_process_cmdline",
	"vrrp_use_process_comm", "script_security", "linkbeat_use_polling", "net_namespace",
	"net_namespace_ipvs", "namespace_with_ipsets", "instance", "use_pid_dir", "child_wait_time",
	"vrrp_skip_check_adv_addr_all", "lvs_sync_daemon_interface", "lvs_id")

func (p *parser) global(n *node) {
	g := &p.cfg.Global
	for _, c := range n.children {
		switch c.key() {
		case "router_id":
			p.str(c, &g.RouterID)
		case "vrrp_version":
			p.int(c, &g.VRRPVersion, 2, 3)
		case "vrrp_mcast_group4":
			p.addr(c, &g.VRRPMcastGroup4)
			if g.VRRPMcastGroup4.IsValid() && !(g.VRRPMcastGroup4.Is4() && g.VRRPMcastGroup4.IsMulticast()) {
				p.errorf(c, "vrrp_mcast_group4: %s is not an IPv4 multicast address", g.VRRPMcastGroup4)
			}
		case "vrrp_mcast_group6":
			p.addr(c, &g.VRRPMcastGroup6)
			if g.VRRPMcastGroup6.IsValid() && !(g.VRRPMcastGroup6.Is6() && g.VRRPMcastGroup6.IsMulticast()) {
				p.errorf(c, "vrrp_mcast_group6: %s is not an IPv6 multicast address", g.VRRPMcastGroup6)
			}
		case "vrrp_garp_master_delay":
			p.seconds(c, &g.VRRPGARPMasterDelay, 0, 1000)
		case "vrrp_garp_master_repeat":
			p.int(c, &g.VRRPGARPMasterRepeat, 1, 255)
		case "vrrp_garp_lower_prio_delay":
			p.seconds(c, &g.VRRPGARPLowerPrioDelay, 0, 1000)
		case "vrrp_garp_lower_prio_repeat":
			p.int(c, &g.VRRPGARPLowerPrioRepeat, 0, 255)
		case "vrrp_garp_master_refresh":
			p.seconds(c, &g.VRRPGARPMasterRefresh, 0, 86400)
		case "vrrp_garp_master_refresh_repeat":
			p.int(c, &g.VRRPGARPMasterRefreshRepeat, 1, 255)
		case "vrrp_garp_interval":
			p.timer(c, &g.VRRPGARPInterval, 0)
		case "vrrp_gna_interval":
			p.timer(c, &g.VRRPGNAInterval, 0)
		case "vrrp_min_garp":
			p.optBool(c, &g.VRRPMinGARP)
		case "vrrp_strict":
			p.flag(c, &g.VRRPStrict)
		case "vrrp_check_unicast_src":
			p.flag(c, &g.VRRPCheckUnicastSrc)
		case "vrrp_skip_check_adv_addr":
			p.optBool(c, &g.VRRPSkipCheckAdvAddr)
		case "vrrp_lower_prio_no_advert":
			p.optBool(c, &g.VRRPLowerPrioNoAdvert)
		case "vrrp_higher_prio_send_advert":
			p.optBool(c, &g.VRRPHigherPrioSendAdvert)
		case "vrrp_startup_delay":
			p.timer(c, &g.VRRPStartupDelay, 0)
		case "enable_script_security":
			p.flag(c, &g.EnableScriptSecurity)
		case "script_user":
			if p.nargs(c, 1, 2) {
				g.ScriptUser = c.args()[0]
				if len(c.args()) > 1 {
					g.ScriptGroup = c.args()[1]
				}
			}
		case "default_interface":
			p.str(c, &g.DefaultInterface)
		case "lvs_sync_daemon":
			p.syncDaemon(c)
		case "lvs_timeouts":
			p.lvsTimeouts(c)
		case "lvs_flush":
			p.flag(c, &g.LVSFlush)
		case "lvs_flush_on_stop":
			if p.nargs(c, 0, 1) {
				g.LVSFlushOnStop = true
			}
		default:
			p.unknown(c, "global_defs", globalUnsupported)
		}
	}
}

func (p *parser) syncDaemon(n *node) {
	if !p.nargs(n, 1, -1) {
		return
	}
	a := n.args()
	sd := &LVSSyncDaemon{Interface: a[0], SyncID: -1}
	for i := 1; i < len(a); i++ {
		kw := a[i]
		val := func() (string, bool) {
			if i+1 >= len(a) {
				p.errorf(n, "lvs_sync_daemon: %s needs a value", kw)
				return "", false
			}
			i++
			return a[i], true
		}
		switch kw {
		case "inst":
			if v, ok := val(); ok {
				sd.Instance = v
			}
		case "id":
			if v, ok := val(); ok {
				sd.SyncID, _ = p.intVal(n, v, 0, 255)
			}
		case "maxlen":
			if v, ok := val(); ok {
				sd.MaxLen, _ = p.intVal(n, v, 1, 65507)
			}
		case "port":
			if v, ok := val(); ok {
				x, _ := p.intVal(n, v, 1, 65535)
				sd.Port = uint16(x)
			}
		case "ttl":
			if v, ok := val(); ok {
				sd.TTL, _ = p.intVal(n, v, 1, 255)
			}
		case "group":
			if v, ok := val(); ok {
				sd.Group, _ = p.addrVal(n, v)
			}
		default:
			if i == 1 && sd.Instance == "" {
				// "inst" may be omitted for backward compatibility.
				sd.Instance = kw
				continue
			}
			p.errorf(n, "lvs_sync_daemon: unknown option %q", kw)
		}
	}
	p.cfg.Global.LVSSyncDaemon = sd
}

func (p *parser) lvsTimeouts(n *node) {
	if !p.nargs(n, 2, -1) {
		return
	}
	a := n.args()
	t := &p.cfg.Global.LVSTimeouts
	for i := 0; i+1 < len(a); i += 2 {
		v, ok := p.intVal(n, a[i+1], 0, 86400*31)
		if !ok {
			continue
		}
		d := time.Duration(v) * time.Second
		switch a[i] {
		case "tcp":
			t.TCP = d
		case "tcpfin":
			t.TCPFin = d
		case "udp":
			t.UDP = d
		default:
			p.errorf(n, "lvs_timeouts: unknown protocol %q", a[i])
		}
	}
	if len(a)%2 != 0 {
		p.errorf(n, "lvs_timeouts: %q needs a value", a[len(a)-1])
	}
}

var scriptUnsupported = set()

func (p *parser) vrrpScript(n *node) {
	name, ok := p.name(n)
	if !ok {
		return
	}
	s := &VRRPScript{Name: name, File: n.file, Line: n.line, Interval: time.Second, Rise: 1, Fall: 1}
	haveScript := false
	for _, c := range n.children {
		switch c.key() {
		case "script":
			if sc := p.script(c); sc != nil {
				// "script" takes the whole rest of the line as the
				// command; user/group go on the "user" line.
				words, _ := splitScriptWords(c.raw)
				sc.Command = words[1]
				sc.User, sc.Group = "", ""
				if len(words) > 2 {
					p.warnf(c, "script: words after the command are ignored; quote the command with its arguments")
				}
				s.Script.Command, s.Script.Args = sc.Command, sc.Args
				haveScript = true
			}
		case "interval":
			p.seconds(c, &s.Interval, 1, math.MaxInt32)
		case "timeout":
			p.seconds(c, &s.Timeout, 1, math.MaxInt32)
		case "weight":
			if p.nargs(c, 1, 2) {
				s.Weight, _ = p.intVal(c, c.args()[0], -253, 253)
				if len(c.args()) == 2 {
					if c.args()[1] == "reverse" {
						s.Reverse = true
					} else {
						p.errorf(c, "weight: unknown option %q", c.args()[1])
					}
				}
			}
		case "rise":
			p.int(c, &s.Rise, 1, math.MaxInt32)
		case "fall":
			p.int(c, &s.Fall, 1, math.MaxInt32)
		case "user":
			if p.nargs(c, 1, 2) {
				s.Script.User = c.args()[0]
				if len(c.args()) > 1 {
					s.Script.Group = c.args()[1]
				}
			}
		case "init_fail":
			p.flag(c, &s.InitFail)
		default:
			p.unknown(c, "vrrp_script", scriptUnsupported)
		}
	}
	if !haveScript {
		p.errorf(n, "vrrp_script %s has no script", name)
		return
	}
	p.cfg.Scripts = append(p.cfg.Scripts, s)
}

var groupUnsupported = set("track_file", "track_process", "track_bfd", "notify_deleted",
	"notify_priority_changes", "smtp_alert", "global_tracking", "sync_group_tracking_weight")

func (p *parser) syncGroup(n *node) {
	name, ok := p.name(n)
	if !ok {
		return
	}
	g := &SyncGroup{Name: name, File: n.file, Line: n.line}
	for _, c := range n.children {
		switch c.key() {
		case "group":
			for _, v := range p.values(c) {
				g.Instances = append(g.Instances, v.words...)
			}
		case "track_interface":
			g.TrackInterfaces = append(g.TrackInterfaces, p.trackInterfaces(c)...)
		case "track_script":
			g.TrackScripts = append(g.TrackScripts, p.trackScripts(c)...)
		default:
			if !p.notify(c, &g.Notify) {
				p.unknown(c, "vrrp_sync_group", groupUnsupported)
			}
		}
	}
	if len(g.Instances) == 0 {
		p.errorf(n, "vrrp_sync_group %s has no group { } of instances", name)
		return
	}
	p.cfg.SyncGroups = append(p.cfg.SyncGroups, g)
}

func (p *parser) notify(c *node, dst *Notify) bool {
	var slot **Script
	switch c.key() {
	case "notify_master":
		slot = &dst.Master
	case "notify_backup":
		slot = &dst.Backup
	case "notify_fault":
		slot = &dst.Fault
	case "notify_stop":
		slot = &dst.Stop
	case "notify":
		slot = &dst.Any
	default:
		return false
	}
	*slot = p.script(c)
	return true
}

// weightOpt reads "NAME [weight W [reverse|noreverse|no_reverse]]".
func (p *parser) weightOpt(c *node, lo, hi int) (weight int, weightSet, reverse bool) {
	a := c.words[1:]
	if len(a) == 0 {
		return 0, false, false
	}
	if a[0] != "weight" || len(a) < 2 {
		p.errorf(c, "%s: expected \"weight W\" after the name, got %q", c.key(), strings.Join(a, " "))
		return 0, false, false
	}
	w, ok := p.intVal(c, a[1], lo, hi)
	if !ok {
		return 0, false, false
	}
	if len(a) > 2 {
		switch a[2] {
		case "reverse":
			reverse = true
		case "noreverse", "no_reverse":
		default:
			p.errorf(c, "%s: unknown weight option %q", c.key(), a[2])
		}
	}
	if len(a) > 3 {
		p.warnf(c, "%s: extra words %q ignored", c.key(), strings.Join(a[3:], " "))
	}
	return w, true, reverse
}

func (p *parser) trackInterfaces(n *node) []TrackInterface {
	var out []TrackInterface
	for _, c := range p.values(n) {
		w, _, rev := p.weightOpt(c, -253, 253)
		out = append(out, TrackInterface{Name: c.key(), Weight: w, Reverse: rev})
	}
	return out
}

func (p *parser) trackScripts(n *node) []TrackScript {
	var out []TrackScript
	for _, c := range p.values(n) {
		w, set, rev := p.weightOpt(c, -253, 253)
		out = append(out, TrackScript{Name: c.key(), Weight: w, WeightSet: set, Reverse: rev})
	}
	return out
}

var instanceUnsupported = set("use_vmac", "use_vmac_addr", "vmac_xmit_base", "use_ipvlan", "native_ipv6",
	"vrf", "track_file", "track_process", "track_bfd", "track_src_ip", "unicast_fault_no_peer",
	"old_unicast_checksum", "garp_extra_if", "lower_prio_no_advert", "higher_prio_send_advert",
	"skip_check_adv_addr", "debug", "notify_master_rx_lower_pri", "notify_priority_changes",
	"smtp_alert", "kernel_rx_buf_size", "linkbeat_use_polling", "promote_secondaries",
	"virtual_routes", "virtual_rules", "notify_deleted", "lvs_sync_daemon_interface_inst")

func (p *parser) instance(n *node) {
	name, ok := p.name(n)
	if !ok {
		return
	}
	in := &VRRPInstance{
		Name: name, File: n.file, Line: n.line,
		State: StateBackup, Priority: 100, AdvertInt: time.Second,
		Accept: true, DownTimerAdverts: 3, UnicastTTL: 255,
	}
	st := &instanceSet{}
	p.instSet[in] = st
	for _, c := range n.children {
		switch c.key() {
		case "state":
			if p.nargs(c, 1, 1) {
				switch c.args()[0] {
				case "MASTER":
					in.State = StateMaster
				case "BACKUP":
					in.State = StateBackup
				default:
					p.errorf(c, "state: %q is neither MASTER nor BACKUP", c.args()[0])
				}
			}
		case "interface":
			p.str(c, &in.Interface)
		case "virtual_router_id":
			p.int(c, &in.VirtualRouterID, 1, 255)
		case "priority":
			p.int(c, &in.Priority, 1, 255)
		case "advert_int":
			// RFC 5798 §5.2.7 carries centiseconds in 12 bits: at most
			// 40.95 s; keepalived accepts at least 0.01 s.
			if p.timer(c, &in.AdvertInt, 10*time.Millisecond) && in.AdvertInt > 255*time.Second {
				p.errorf(c, "advert_int: %s exceeds 255 seconds", c.args()[0])
			}
		case "version":
			if p.int(c, &in.Version, 2, 3) {
				st.version = true
			}
		case "nopreempt":
			p.flag(c, &in.NoPreempt)
		case "preempt":
			if p.nargs(c, 0, 0) {
				in.NoPreempt = false
			}
		case "preempt_delay":
			p.timer(c, &in.PreemptDelay, 0)
			if in.PreemptDelay > 1000*time.Second {
				p.errorf(c, "preempt_delay: more than 1000 seconds")
			}
		case "accept":
			if p.nargs(c, 0, 0) {
				in.Accept, st.accept = true, true
			}
		case "no_accept":
			if p.nargs(c, 0, 0) {
				in.Accept, st.accept = false, true
			}
		case "strict_mode":
			st.strict = true
			p.optBool(c, &in.Strict)
		case "dont_track_primary":
			p.flag(c, &in.DontTrackPrimary)
		case "check_unicast_src":
			p.flag(c, &in.CheckUnicastSrc)
		case "down_timer_adverts":
			p.int(c, &in.DownTimerAdverts, 1, 100)
		case "authentication":
			p.auth(c, in)
		case "virtual_ipaddress":
			in.VIPs = append(in.VIPs, p.vips(c)...)
		case "virtual_ipaddress_excluded":
			in.ExcludedVIPs = append(in.ExcludedVIPs, p.vips(c)...)
		case "mcast_src_ip":
			p.addr(c, &in.McastSrcIP)
		case "mcast_dst_ip":
			p.addr(c, &in.McastDstIP)
			if in.McastDstIP.IsValid() && !in.McastDstIP.IsMulticast() {
				p.errorf(c, "mcast_dst_ip: %s is not a multicast address", in.McastDstIP)
			}
		case "unicast_src_ip":
			p.addr(c, &in.UnicastSrcIP)
		case "unicast_peer":
			in.UnicastPeers = append(in.UnicastPeers, p.unicastPeers(c)...)
		case "unicast_ttl":
			p.int(c, &in.UnicastTTL, 1, 255)
		case "track_interface":
			in.TrackInterfaces = append(in.TrackInterfaces, p.trackInterfaces(c)...)
		case "track_script":
			in.TrackScripts = append(in.TrackScripts, p.trackScripts(c)...)
		case "garp_master_delay":
			st.garpDelay = p.seconds(c, &in.GARPMasterDelay, 0, 1000)
		case "garp_master_repeat":
			st.garpRepeat = p.int(c, &in.GARPMasterRepeat, 1, 255)
		case "garp_lower_prio_delay":
			st.lowerDelay = p.seconds(c, &in.GARPLowerPrioDelay, 0, 1000)
		case "garp_lower_prio_repeat":
			st.lowerRepeat = p.int(c, &in.GARPLowerPrioRepeat, 0, 255)
		case "garp_master_refresh":
			st.refresh = p.seconds(c, &in.GARPMasterRefresh, 0, 86400)
		case "garp_master_refresh_repeat":
			st.refreshRepeat = p.int(c, &in.GARPMasterRefreshRepeat, 1, 255)
		case "lvs_sync_daemon_interface":
			p.warnf(c, "lvs_sync_daemon_interface in vrrp_instance is deprecated; use lvs_sync_daemon in global_defs")
			p.str(c, &in.LVSSyncDaemonInterface)
		default:
			if !p.notify(c, &in.Notify) {
				p.unknown(c, "vrrp_instance", instanceUnsupported)
			}
		}
	}
	p.cfg.Instances = append(p.cfg.Instances, in)
}

func (p *parser) auth(n *node, in *VRRPInstance) {
	if !p.needBlock(n) {
		return
	}
	for _, c := range n.children {
		switch c.key() {
		case "auth_type":
			if p.nargs(c, 1, 1) {
				switch t := AuthType(c.args()[0]); t {
				case AuthPass, AuthAH:
					in.Authentication = t
				default:
					p.errorf(c, "auth_type: %q is neither PASS nor AH", c.args()[0])
				}
			}
		case "auth_pass":
			if p.nargs(c, 1, 1) {
				pass := c.args()[0]
				// RFC 3768 §5.3.10: 8 octets, NUL padded.
				if len(pass) > 8 {
					p.warnf(c, "auth_pass: truncated to 8 characters, as keepalived does")
					pass = pass[:8]
				}
				in.AuthPass = pass
			}
		default:
			p.unknown(c, "authentication", nil)
		}
	}
}

var scopes = set("global", "site", "link", "host", "nowhere")

// vips reads virtual_ipaddress lines:
// ADDR[/LEN] [brd ADDR|+|-] [dev IF] [scope S] [label L] [peer ADDR] [home] ...
func (p *parser) vips(n *node) []VirtualAddress {
	var out []VirtualAddress
	for _, c := range p.values(n) {
		var v VirtualAddress
		pfx, ok := p.prefix(c, c.key())
		if !ok {
			continue
		}
		v.Prefix = pfx
		a := c.args()
		brd := ""
		for i := 0; i < len(a); i++ {
			kw := a[i]
			val := func() string {
				if i+1 >= len(a) {
					p.errorf(c, "%s: %s needs a value", c.key(), kw)
					return ""
				}
				i++
				return a[i]
			}
			switch kw {
			case "brd", "broadcast":
				brd = val()
			case "dev":
				v.Dev = val()
			case "label":
				v.Label = val()
			case "scope":
				s := val()
				if _, err := strconv.ParseUint(s, 10, 8); s != "" && !scopes[s] && err != nil {
					p.errorf(c, "%s: unknown scope %q", c.key(), s)
				}
				v.Scope = s
			case "peer":
				if s := val(); s != "" {
					v.Peer, _ = p.addrVal(c, s)
				}
			case "home":
				v.Home = true
			case "-nodad":
				v.NoDAD = true
			case "noprefixroute":
				v.NoPrefixRoute = true
			case "no_track":
				v.NoTrack = true
			case "use_vmac", "mngtmpaddr", "autojoin":
				p.warnf(c, "%s: option %q not supported by lvsctl; ignored", c.key(), kw)
			case "preferred_lft", "track_group":
				val()
				p.warnf(c, "%s: option %q not supported by lvsctl; ignored", c.key(), kw)
			default:
				p.errorf(c, "%s: unknown option %q", c.key(), kw)
				i = len(a)
			}
		}
		switch brd {
		case "":
		case "+", "-":
			v.Broadcast = broadcast(v.Prefix, brd == "+")
		default:
			if b, ok := p.addrVal(c, brd); ok {
				if b.Is4() != v.Prefix.Addr().Is4() {
					p.errorf(c, "%s: broadcast %s of another family", c.key(), b)
				}
				v.Broadcast = b
			}
		}
		out = append(out, v)
	}
	return out
}

// prefix reads ADDR or ADDR/LEN; a lone address is a host prefix.
func (p *parser) prefix(c *node, s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		pfx, err := netip.ParsePrefix(s)
		if err != nil || pfx.Addr().Zone() != "" {
			p.errorf(c, "invalid address/prefix %q", s)
			return netip.Prefix{}, false
		}
		return pfx, true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		p.errorf(c, "invalid IP address %q", s)
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}

// broadcast sets (or clears) the host bits of pfx, for "brd +" / "brd -".
func broadcast(pfx netip.Prefix, ones bool) netip.Addr {
	b := pfx.Addr().AsSlice()
	for i := pfx.Bits(); i < len(b)*8; i++ {
		if ones {
			b[i/8] |= 0x80 >> (i % 8)
		} else {
			b[i/8] &^= 0x80 >> (i % 8)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func (p *parser) unicastPeers(n *node) []UnicastPeer {
	var out []UnicastPeer
	for _, c := range p.values(n) {
		a, ok := p.addrVal(c, c.key())
		if !ok {
			continue
		}
		up := UnicastPeer{Addr: a}
		args := c.args()
		for i := 0; i < len(args); i += 2 {
			if i+1 >= len(args) {
				p.errorf(c, "unicast_peer: %s needs a value", args[i])
				break
			}
			v, ok := p.intVal(c, args[i+1], 0, 255)
			if !ok {
				continue
			}
			switch args[i] {
			case "min_ttl":
				up.MinTTL = v
			case "max_ttl":
				up.MaxTTL = v
			default:
				p.errorf(c, "unicast_peer: unknown option %q", args[i])
			}
		}
		out = append(out, up)
	}
	return out
}
