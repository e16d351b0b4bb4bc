package ipvsadm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/lvsctl/lvsctl/lvs"
	"github.com/lvsctl/lvsctl/lvs/ipvs"
	"github.com/lvsctl/lvsctl/lvs/reconcile"
)

// This file serves lvsctl apply: it reads a rules file in the save format
// into a desired table for lvs/reconcile, with the grammar of -R, and
// writes a planned operation back as an ipvsadm command line.

// RuleError is a line of a rules file that ReadRules refuses.
type RuleError struct {
	Line int    // 1-based
	Msg  string // what is wrong, in ipvsadm's words where it has them
}

func (e *RuleError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// ReadRules reads a whole rules file and returns the table it describes,
// services and destinations in the file's order. The file is what
// ipvsadm -S or ipvsadm-save writes: -A (add-service) and -a (add-server)
// lines, each parsed exactly as ipvsadm -R parses it (so "ipvsadm" words
// are dropped and defaults are ipvsadm's: wlc, -g, weight 1), plus blank
// lines and comments (lines whose first non-blank character is '#', which
// ipvsadm-restore drops). A real server must follow the -A line of its
// service; a service or a real server may be defined once. The first
// offending line ends the reading with a *RuleError.
func ReadRules(ctx context.Context, r io.Reader, opts ParseOptions) ([]reconcile.Service, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	type svcDef struct {
		index int // in table
		line  int
	}
	var table []reconcile.Service
	services := map[lvs.ServiceKey]svcDef{}
	type destID struct {
		svc    lvs.ServiceKey
		family lvs.Family
		addr   netip.AddrPort
	}
	dests := map[destID]int{} // -> line
	lines := bytes.Split(data, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	for i, raw := range lines {
		n := i + 1
		if t := strings.TrimLeft(string(raw), " \t\r"); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		tokens, _ := newConfigStream(bytes.NewReader(append(raw, '\n'))).next()
		if len(tokens) == 0 {
			continue // only "ipvsadm" words
		}
		cmd, err := Parse(ctx, append([]string{"ipvsadm"}, tokens...), opts)
		if err != nil {
			var f *Failure
			msg := err.Error()
			if errors.As(err, &f) && strings.HasPrefix(f.Message, "Try `") {
				msg = "not an ipvsadm command line"
			}
			return nil, &RuleError{Line: n, Msg: msg}
		}
		switch cmd.Kind {
		case CmdAddService:
			k := reconcile.Key(cmd.Service)
			if d, dup := services[k]; dup {
				return nil, &RuleError{Line: n, Msg: fmt.Sprintf("service %s is already defined on line %d", ruleName(cmd.Service), d.line)}
			}
			services[k] = svcDef{index: len(table), line: n}
			table = append(table, reconcile.Service{Service: cmd.Service})
		case CmdAddServer:
			k := reconcile.Key(cmd.Service)
			def, ok := services[k]
			if !ok {
				return nil, &RuleError{Line: n, Msg: fmt.Sprintf("real server for service %s, which no -A line before it defines", ruleName(cmd.Service))}
			}
			d := cmd.Destination
			id := destID{k, d.Family, netip.AddrPortFrom(d.Address, d.Port)}
			if l, dup := dests[id]; dup {
				return nil, &RuleError{Line: n, Msg: fmt.Sprintf("real server %s of service %s is already defined on line %d",
					destName(table[def.index].Service, d), ruleName(cmd.Service), l)}
			}
			dests[id] = n
			table[def.index].Destinations = append(table[def.index].Destinations, d)
		default:
			return nil, &RuleError{Line: n, Msg: fmt.Sprintf("%s: only add-service (-A) and add-server (-a) lines belong in a rules file", cmd.Kind)}
		}
	}
	return table, nil
}

// OpRule writes a service or destination operation as the ipvsadm command
// line that performs it, numerically, in the save format's words plus the
// thresholds (-x, -y), which ipvsadm -S does not write: "-A -t
// 192.0.2.1:80 -s rr", "-e -t 192.0.2.1:80 -r 198.51.100.1:80 -m -w 3",
// "-d -t 192.0.2.1:80 -r 198.51.100.1:80", "-D -f 5 -6".
func OpRule(op lvs.Op) string {
	name := ruleName(op.Service)
	switch op.Kind {
	case lvs.AddService, lvs.EditService:
		var b strings.Builder
		p := &Printer{W: &b}
		p.Service(context.Background(), op.Service, nil, FormatRule|FormatNumeric)
		line := strings.TrimSuffix(b.String(), "\n")
		if op.Kind == lvs.EditService {
			line = "-E" + strings.TrimPrefix(line, "-A")
		}
		return line
	case lvs.DeleteService:
		return "-D " + name
	case lvs.AddDestination, lvs.EditDestination:
		d := op.Destination
		line := strings.TrimSuffix(destRule(name, destName(op.Service, d), d), "\n")
		// The save format has no thresholds; the plan must show them.
		if d.UpperThreshold != 0 || d.LowerThreshold != 0 {
			line += fmt.Sprintf(" -x %d -y %d", d.UpperThreshold, d.LowerThreshold)
		}
		if op.Kind == lvs.EditDestination {
			line = "-e" + strings.TrimPrefix(line, "-a")
		}
		return line
	case lvs.DeleteDestination:
		return fmt.Sprintf("-d %s -r %s", name, destName(op.Service, op.Destination))
	}
	return op.Kind.String()
}

// ruleName is a service as the save format names it: "-t 192.0.2.1:80",
// "--sctp-service [2001:db8::1]:3868", "-f 5 -6".
func ruleName(s lvs.Service) string {
	if s.FWMark != 0 {
		if s.Family == lvs.IPv6 {
			return fmt.Sprintf("-f %d -6", int32(s.FWMark))
		}
		return fmt.Sprintf("-f %d", int32(s.FWMark))
	}
	opt := "-t"
	switch s.Protocol {
	case lvs.UDP:
		opt = "-u"
	case lvs.SCTP:
		opt = "--sctp-service"
	}
	af := s.Family
	if af == 0 {
		af = lvs.FamilyOf(s.Address)
	}
	p := &Printer{}
	return opt + " " + p.addrPort(context.Background(), af, s.Address, s.Port, s.Protocol, FormatNumeric)
}

func destName(s lvs.Service, d lvs.Destination) string {
	af := d.Family
	if af == 0 {
		af = lvs.FamilyOf(d.Address)
	}
	p := &Printer{}
	return p.addrPort(context.Background(), af, d.Address, d.Port, s.Protocol, FormatNumeric)
}

// OpErrorText is ipvsadm's message for a failed operation: "Service
// already exists", "No such destination", ...
func OpErrorText(k lvs.OpKind, err error) string { return opErrorText(k, err) }

// ListErrorText is ipvsadm's message for a failed listing of the services
// or their destinations.
func ListErrorText(err error) string { return errorText(ipvs.CmdGetService, err) }

// InitErrorText is the reason ipvsadm gives in "Can't initialize ipvs: ..."
// when the kernel cannot be reached.
func InitErrorText(err error) string {
	if errors.Is(err, lvs.ErrIPVSUnavailable) {
		// ipvsadm falls back to the sockopt interface, which answers so.
		return strerror(ipvs.CmdUnspec, unix.ENOPROTOOPT)
	}
	return errorText(ipvs.CmdUnspec, err)
}
