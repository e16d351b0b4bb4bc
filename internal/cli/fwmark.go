package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/lvsctl/lvsctl/fwmark"
	"github.com/lvsctl/lvsctl/lvs"
	"github.com/lvsctl/lvsctl/lvs/ipvsadm"
)

// fwmarkEnv is what the fwmark commands act on; tests replace both.
type fwmarkEnv struct {
	rules      func() *fwmark.Manager
	openKernel func() (ipvsadm.Kernel, func() error, error)
}

func fwmarkCommand(stdio Stdio) *ucli.Command {
	open := stdio.openKernel
	if open == nil {
		open = openKernel
	}
	return newFwmarkCommand(fwmarkEnv{
		rules:      func() *fwmark.Manager { return fwmark.New(fwmark.Options{}) },
		openKernel: open,
	})
}

// ruleFlags are the flags that name mark rules, shared by add, del and
// service.
func ruleFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringSliceFlag{Name: "vip", Usage: "virtual IP `ADDR` the rule matches (IPv4 or IPv6; repeatable)", Required: true},
		&ucli.StringFlag{Name: "proto", Value: "tcp", Usage: "transport `PROTOCOL`: tcp, udp or sctp"},
		&ucli.StringFlag{Name: "ports", Usage: "destination `PORTS`: a list of ports and ranges, e.g. 80,443,8000:8100", Required: true},
		&ucli.StringFlag{Name: "mark", Usage: "firewall `MARK` to set, 1..4294967295, decimal or 0x hex", Required: true},
		&ucli.BoolFlag{Name: "local", Usage: "also mark packets the director itself sends (clients on the director)"},
	}
}

const fwmarkDescription = `The rules live in the mangle table in chains of lvsctl's own:
LVSCTL-FWMARK, jumped to from PREROUTING, and LVSCTL-FWMARK-LOCAL, jumped to
from OUTPUT for rules added with --local. IPv4 VIPs go to iptables, IPv6 VIPs
to ip6tables. Every rule carries the comment "lvsctl fwmark N", so
iptables-save shows what owns it; nothing outside these chains and their
two jump rules is ever changed. Adding a rule that is there already leaves
one rule; deleting one that is not there fails. Concurrent invocations are
serialised by the xtables lock and by /run/lvsctl/fwmark.lock.

An IPVS firewall-mark service (ipvsadm -A -f N) then balances every packet
carrying the mark as one service, so persistence (-p) keeps a client on one
real server across all the ports of the mark.`

func newFwmarkCommand(env fwmarkEnv) *ucli.Command {
	return &ucli.Command{
		Name:        "fwmark",
		Usage:       "manage the iptables mark rules of firewall-mark services",
		UsageText:   "lvsctl fwmark add|del|list|flush|service [options]",
		Description: fwmarkDescription,
		Subcommands: []*ucli.Command{
			{
				Name:      "add",
				Usage:     "mark packets to VIP:PORTS with MARK",
				UsageText: "lvsctl fwmark add --vip ADDR [--proto tcp|udp|sctp] --ports LIST --mark N [--local]\n\nExample:\n   lvsctl fwmark add --vip 192.0.2.100 --ports 80,443 --mark 5",
				Description: "Adds one rule per VIP (more when the port list needs more than the 15 slots of\n" +
					"one multiport match). Rules already present are left alone.",
				Flags: ruleFlags(),
				Action: func(c *ucli.Context) error {
					rules, err := rulesFromFlags(c)
					if err != nil {
						return err
					}
					_, err = env.rules().Add(c.Context, rules...)
					return err
				},
			},
			{
				Name:      "del",
				Aliases:   []string{"delete"},
				Usage:     "remove mark rules added with the same arguments",
				UsageText: "lvsctl fwmark del --vip ADDR [--proto tcp|udp|sctp] --ports LIST --mark N\n\nExample:\n   lvsctl fwmark del --vip 192.0.2.100 --ports 80,443 --mark 5",
				Description: "Removes the rules from both chains (a rule added with --local is in both). A rule\n" +
					"that is not there is reported and the exit status is 1; the others are removed.\n" +
					"A chain left empty is removed with its jump rule.",
				Flags: ruleFlags(),
				Action: func(c *ucli.Context) error {
					rules, err := rulesFromFlags(c)
					if err != nil {
						return err
					}
					return env.rules().Del(c.Context, rules...)
				},
			},
			{
				Name:      "list",
				Aliases:   []string{"ls"},
				Usage:     "show the mark rules",
				UsageText: "lvsctl fwmark list [--json]\n\nExample:\n   lvsctl fwmark list",
				Description: "One line per rule: mark, VIP, protocol, ports, and whether it also applies to the\n" +
					"director's own packets. Rules in lvsctl's chains that lvsctl did not write are\n" +
					"listed after the table.",
				Flags: []ucli.Flag{&ucli.BoolFlag{Name: "json", Usage: "print JSON instead of a table"}},
				Action: func(c *ucli.Context) error {
					l, err := env.rules().List(c.Context)
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return writeRulesJSON(c.App.Writer, l)
					}
					return writeRulesTable(c.App.Writer, l)
				},
			},
			{
				Name:        "flush",
				Usage:       "remove every mark rule of lvsctl's, its chains and jump rules",
				UsageText:   "lvsctl fwmark flush\n\nExample:\n   lvsctl fwmark flush",
				Description: "Removes LVSCTL-FWMARK and LVSCTL-FWMARK-LOCAL with everything in them, and the\njumps to them, for IPv4 and IPv6. Nothing else in the mangle table is touched.",
				Action: func(c *ucli.Context) error {
					_, err := env.rules().Flush(c.Context)
					return err
				},
			},
			fwmarkServiceCommand(env),
		},
	}
}

// rulesFromFlags builds one rule per --vip.
func rulesFromFlags(c *ucli.Context) ([]fwmark.Rule, error) {
	proto, err := fwmark.ParseProto(c.String("proto"))
	if err != nil {
		return nil, usageError{err}
	}
	ports, err := fwmark.ParsePorts(c.String("ports"))
	if err != nil {
		return nil, usageError{err}
	}
	mark, err := fwmark.ParseMark(c.String("mark"))
	if err != nil {
		return nil, usageError{err}
	}
	var rules []fwmark.Rule
	for _, v := range c.StringSlice("vip") {
		addr, err := netip.ParseAddr(v)
		if err != nil {
			return nil, usageError{fmt.Errorf("--vip %q: not an IP address", v)}
		}
		rules = append(rules, fwmark.Rule{VIP: addr.Unmap(), Proto: proto, Ports: ports, Mark: mark, Local: c.Bool("local")})
	}
	return rules, nil
}

func protoText(p lvs.Protocol) string { return strings.ToLower(p.String()) }

func writeRulesTable(w io.Writer, l fwmark.Listing) error {
	var buf bytes.Buffer
	tb := newTable(&buf, "MARK", "VIP", "PROTO", "PORTS", "LOCAL")
	for _, e := range l.Entries {
		local := "no"
		if e.Local {
			local = "yes"
		}
		if err := tb.Append(strconv.FormatUint(uint64(e.Mark), 10), e.VIP.String(), protoText(e.Proto), fwmark.FormatPorts(e.Ports), local); err != nil {
			return err
		}
	}
	if err := tb.Render(); err != nil {
		return err
	}
	if err := writeTrimmed(w, buf.String()); err != nil {
		return err
	}
	if len(l.Foreign) > 0 {
		fmt.Fprintln(w, "\nRules in lvsctl's chains that lvsctl did not write:")
		for _, f := range l.Foreign {
			fmt.Fprintln(w, "  "+f)
		}
	}
	return nil
}

type ruleJSON struct {
	Mark   uint32   `json:"mark"`
	VIP    string   `json:"vip"`
	Proto  string   `json:"proto"`
	Ports  string   `json:"ports"`
	Local  bool     `json:"local"`
	Chains []string `json:"chains"`
}

func writeRulesJSON(w io.Writer, l fwmark.Listing) error {
	out := struct {
		Rules   []ruleJSON `json:"rules"`
		Foreign []string   `json:"foreign"`
	}{Rules: []ruleJSON{}, Foreign: l.Foreign}
	if out.Foreign == nil {
		out.Foreign = []string{}
	}
	for _, e := range l.Entries {
		out.Rules = append(out.Rules, ruleJSON{e.Mark, e.VIP.String(), protoText(e.Proto), fwmark.FormatPorts(e.Ports), e.Local, e.Chains})
	}
	return writeJSON(w, out)
}

const fwmarkServiceUsage = `lvsctl fwmark service --vip ADDR [--proto tcp|udp|sctp] --ports LIST --mark N
    -s SCHED [-p TIMEOUT] [-M NETMASK] -r RIP [-r RIP...] [-g|-i|-m] [-w WEIGHT] [--local]
lvsctl fwmark service --vip ADDR [--proto tcp|udp|sctp] --ports LIST --mark N --delete

Example (a client keeps its real server on both HTTP and HTTPS for 10 minutes):
   lvsctl fwmark service --vip 192.0.2.100 --ports 80,443 --mark 5 -s rr -p 600 \
       -r 192.0.2.11 -r 192.0.2.12 -g`

const fwmarkServiceDescription = `Does in one step what otherwise takes iptables rules and ipvsadm -A -f and -a -f
commands: it adds the mark rules (as "fwmark add"), the IPVS firewall-mark
service for MARK in the VIP's address family, and one real server per -r. Parts
that are there already with the same settings are left as they are, so running
the same command twice changes nothing; a part that is there with other
settings is an error. When a step fails, everything this command added is
removed again and the exit status is 1.

With --delete it removes the service (and so its real servers) and the mark
rules; a part that is missing is reported and the exit status is 1.

Real servers are ADDR or ADDR:PORT ([ADDR]:PORT for IPv6). The forwarding
method is direct routing (-g) unless -i (IPIP tunnel) or -m (NAT) is given.`

func fwmarkServiceCommand(env fwmarkEnv) *ucli.Command {
	flags := append(ruleFlags(),
		&ucli.StringFlag{Name: "scheduler", Aliases: []string{"s"}, Value: "wlc", Usage: "IPVS scheduler `SCHED` (rr, wrr, lc, wlc, sh, mh, ...)"},
		&ucli.UintFlag{Name: "persistent", Aliases: []string{"p"}, Usage: "persistence `TIMEOUT` in seconds; 0: no persistence"},
		&ucli.StringFlag{Name: "netmask", Aliases: []string{"M"}, Usage: "persistence granularity `NETMASK` (255.255.255.0, or a prefix length)"},
		&ucli.StringSliceFlag{Name: "real-server", Aliases: []string{"r"}, Usage: "real server `RIP` (repeatable)"},
		&ucli.BoolFlag{Name: "gatewaying", Aliases: []string{"g"}, Usage: "forward by direct routing (the default)"},
		&ucli.BoolFlag{Name: "ipip", Aliases: []string{"i"}, Usage: "forward through an IPIP tunnel"},
		&ucli.BoolFlag{Name: "masquerading", Aliases: []string{"m"}, Usage: "forward by NAT"},
		&ucli.IntFlag{Name: "weight", Aliases: []string{"w"}, Value: 1, Usage: "`WEIGHT` of each real server"},
		&ucli.BoolFlag{Name: "delete", Usage: "remove the rules and the service instead"},
	)
	return &ucli.Command{
		Name:        "service",
		Usage:       "add mark rules, a firewall-mark virtual service and its real servers in one step",
		UsageText:   fwmarkServiceUsage,
		Description: fwmarkServiceDescription,
		Flags:       flags,
		Action: func(c *ucli.Context) error {
			rules, err := rulesFromFlags(c)
			if err != nil {
				return err
			}
			plan, err := servicePlanFromFlags(c, rules)
			if err != nil {
				return err
			}
			kernel, closeKernel, err := env.openKernel()
			if err != nil {
				return fmt.Errorf("open IPVS: %w", err)
			}
			defer closeKernel()
			if c.Bool("delete") {
				return deleteMarkService(c.Context, env.rules(), kernel, plan)
			}
			return addMarkService(c.Context, env.rules(), kernel, plan)
		},
	}
}

// markService is what `fwmark service` sets up.
type markService struct {
	rules []fwmark.Rule
	svc   lvs.Service
	dests []lvs.Destination
}

func servicePlanFromFlags(c *ucli.Context, rules []fwmark.Rule) (markService, error) {
	family := rules[0].Family()
	for _, r := range rules[1:] {
		if r.Family() != family {
			return markService{}, usageError{errors.New("--vip: one service cannot mix IPv4 and IPv6 VIPs")}
		}
	}
	p := markService{rules: rules, svc: lvs.Service{
		Family:    family,
		FWMark:    rules[0].Mark,
		Scheduler: c.String("scheduler"),
	}}
	if t := c.Uint("persistent"); t > 0 {
		p.svc.Flags |= lvs.FlagPersistent
		p.svc.Timeout = time.Duration(t) * time.Second
		p.svc.Netmask = 0xffffffff
		if family == lvs.IPv6 {
			p.svc.Netmask = 128
		}
	}
	if m := c.String("netmask"); m != "" {
		if p.svc.Flags&lvs.FlagPersistent == 0 {
			return markService{}, usageError{errors.New("-M/--netmask needs -p/--persistent")}
		}
		nm, err := parseNetmask(m, family)
		if err != nil {
			return markService{}, usageError{err}
		}
		p.svc.Netmask = nm
	}
	if c.Bool("delete") {
		return p, nil
	}

	fwd, n := lvs.DirectRoute, 0
	for _, f := range []struct {
		name string
		m    lvs.ForwardMethod
	}{{"gatewaying", lvs.DirectRoute}, {"ipip", lvs.Tunnel}, {"masquerading", lvs.Masquerade}} {
		if c.Bool(f.name) {
			fwd, n = f.m, n+1
		}
	}
	if n > 1 {
		return markService{}, usageError{errors.New("give at most one of -g, -i and -m")}
	}
	w := c.Int("weight")
	if w < 0 {
		return markService{}, usageError{fmt.Errorf("-w %d: the weight must be 0 or more", w)}
	}
	rips := c.StringSlice("real-server")
	if len(rips) == 0 {
		return markService{}, usageError{errors.New("give at least one real server with -r")}
	}
	for _, r := range rips {
		ap, err := parseRealServer(r)
		if err != nil {
			return markService{}, usageError{err}
		}
		p.dests = append(p.dests, lvs.Destination{
			Family: lvs.FamilyOf(ap.Addr()), Address: ap.Addr(), Port: ap.Port(),
			Forward: fwd, Weight: int32(w),
		})
	}
	return p, nil
}

// parseRealServer reads ADDR, ADDR:PORT or [ADDR]:PORT.
func parseRealServer(s string) (netip.AddrPort, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a.Unmap(), 0), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("-r %q: want ADDR, ADDR:PORT or [ADDR]:PORT", s)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// parseNetmask reads a persistence netmask: for IPv4 a dotted mask or a
// prefix length, kept as the mask in host byte order; for IPv6 a prefix
// length, which is what the kernel stores for it.
func parseNetmask(s string, family lvs.Family) (uint32, error) {
	if family == lvs.IPv4 {
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			b := a.As4()
			m := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
			if m != 0 && ^m&(^m+1) != 0 { // the ones must be contiguous from the top
				return 0, fmt.Errorf("-M %s: not a contiguous netmask", s)
			}
			return m, nil
		}
	}
	maxBits := 32
	if family == lvs.IPv6 {
		maxBits = 128
	}
	bits, err := strconv.Atoi(strings.TrimPrefix(s, "/"))
	if err != nil || bits < 1 || bits > maxBits {
		return 0, fmt.Errorf("-M %s: want a netmask or a prefix length 1..%d", s, maxBits)
	}
	if family == lvs.IPv6 {
		return uint32(bits), nil
	}
	return ^uint32(0) << (32 - bits), nil
}

// sameService reports whether an existing service has the settings asked
// for.
func sameService(have, want lvs.Service) bool {
	const mine = lvs.FlagPersistent
	return have.Scheduler == want.Scheduler && have.Flags&mine == want.Flags&mine &&
		(want.Flags&lvs.FlagPersistent == 0 || have.Timeout == want.Timeout && have.Netmask == want.Netmask)
}

// addMarkService adds the rules, the service and the real servers, and
// removes what it added when a step fails.
func addMarkService(ctx context.Context, rules *fwmark.Manager, k ipvsadm.Kernel, p markService) (err error) {
	key := p.svc.Key()
	var undo []func() error
	defer func() {
		if err == nil {
			return
		}
		// The rollback must run even when ctx was cancelled.
		var uerrs []error
		for i := len(undo) - 1; i >= 0; i-- {
			if e := undo[i](); e != nil {
				uerrs = append(uerrs, e)
			}
		}
		if len(uerrs) > 0 {
			err = fmt.Errorf("%w; rolling back also failed: %w", err, errors.Join(uerrs...))
		} else if len(undo) > 0 {
			err = fmt.Errorf("%w (what this command had added was removed again)", err)
		}
	}()
	bg := context.WithoutCancel(ctx)

	ch, err := rules.Add(ctx, p.rules...)
	if err != nil {
		return err
	}
	if ch.Added() > 0 {
		undo = append(undo, func() error { return rules.Undo(bg, ch) })
	}

	have, err := k.Service(ctx, key)
	switch {
	case err == nil:
		if !sameService(have, p.svc) {
			return fmt.Errorf("virtual service %s exists with other settings (scheduler %s, persistence %v); delete it first", key, have.Scheduler, have.Timeout)
		}
	case errors.Is(err, lvs.ErrNoSuchService):
		if err := k.Exec(ctx, lvs.Op{Kind: lvs.AddService, Service: p.svc}); err != nil {
			if errors.Is(err, lvs.ErrNoSuchScheduler) {
				return fmt.Errorf("add virtual service %s: scheduler %q or its module not found: %w", key, p.svc.Scheduler, err)
			}
			return fmt.Errorf("add virtual service %s: %w", key, err)
		}
		undo = append(undo, func() error { return k.Exec(bg, lvs.Op{Kind: lvs.DeleteService, Service: p.svc}) })
	default:
		return fmt.Errorf("read virtual service %s: %w", key, err)
	}

	existing, err := k.Destinations(ctx, key)
	if err != nil {
		return fmt.Errorf("list real servers of %s: %w", key, err)
	}
	for _, d := range p.dests {
		if i := indexDest(existing, d); i >= 0 {
			if e := existing[i]; e.Forward != d.Forward || e.Weight != d.Weight {
				return fmt.Errorf("real server %s of %s exists with other settings (%s, weight %d)", d, key, e.Forward, e.Weight)
			}
			continue
		}
		if err := k.Exec(ctx, lvs.Op{Kind: lvs.AddDestination, Service: p.svc, Destination: d}); err != nil {
			return fmt.Errorf("add real server %s to %s: %w", d, key, err)
		}
		undo = append(undo, func() error {
			return k.Exec(bg, lvs.Op{Kind: lvs.DeleteDestination, Service: p.svc, Destination: d})
		})
	}
	return nil
}

func indexDest(ds []lvs.Destination, d lvs.Destination) int {
	for i, e := range ds {
		if e.Address == d.Address && e.Port == d.Port {
			return i
		}
	}
	return -1
}

// deleteMarkService removes the service and the rules; missing parts are
// reported after the others are gone.
func deleteMarkService(ctx context.Context, rules *fwmark.Manager, k ipvsadm.Kernel, p markService) error {
	var errs []error
	if err := k.Exec(ctx, lvs.Op{Kind: lvs.DeleteService, Service: p.svc}); err != nil {
		if errors.Is(err, lvs.ErrNoSuchService) {
			err = lvs.ErrNoSuchService
		}
		errs = append(errs, fmt.Errorf("delete virtual service %s: %w", p.svc.Key(), err))
	}
	if err := rules.Del(ctx, p.rules...); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
