package cli

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/template"

	ucli "github.com/urfave/cli/v2"
)

// Shell completion. The scripts are generated from two definitions: the
// urfave/cli command tree (subcommands and their flags, so a new subcommand
// completes as soon as it is registered and the scripts are regenerated)
// and ipvsadmGrammar below (ipvsadm's commands and the options each one
// takes). The generated copies live in completions/; TestGenerated fails
// when they are stale.

// compInstallHint is where a user's own copy of each script goes.
var compInstallHint = map[string]string{
	"bash": "~/.local/share/bash-completion/completions/lvsctl",
	"zsh":  "~/.zfunc/_lvsctl",
	"fish": "~/.config/fish/completions/lvsctl.fish",
}

// compShells are the shells `lvsctl completion` writes scripts for.
var compShells = []string{"bash", "zsh", "fish"}

func completionCommand() *ucli.Command {
	cmd := &ucli.Command{
		Name:  "completion",
		Usage: "print a shell completion script for lvsctl and ipvsadm",
		UsageText: "lvsctl completion bash|zsh|fish\n\nExamples:\n" +
			"   source <(lvsctl completion bash)\n" +
			"   lvsctl completion zsh >~/.zfunc/_lvsctl\n" +
			"   lvsctl completion fish >~/.config/fish/completions/lvsctl.fish",
		Description: "The script completes lvsctl's subcommands and flags, the ipvsadm grammar\n" +
			"(commands, options, scheduler names, forwarding methods, tunnel types), the\n" +
			"virtual services of the running table after -t, -u and -f (read with\n" +
			"\"lvsctl -S -n\"; nothing when that fails), interface names and files. It\n" +
			"also completes ipvsadm, under which name lvsctl runs as ipvsadm.\n" +
			"\"make install\" puts the scripts where bash-completion, zsh and fish look.\n" +
			"bash and fish load a command's completions by its name: for ipvsadm, link\n" +
			"ipvsadm (bash) or ipvsadm.fish (fish) to the script; \"make install\" does.",
	}
	for _, sh := range compShells {
		cmd.Subcommands = append(cmd.Subcommands, &ucli.Command{
			Name:      sh,
			Usage:     "print the " + sh + " script",
			UsageText: "lvsctl completion " + sh + "\n\nExample:\n   lvsctl completion " + sh + " >" + compInstallHint[sh],
			Action: func(c *ucli.Context) error {
				if c.NArg() > 0 {
					return usageError{fmt.Errorf("completion %s: no arguments expected", sh)}
				}
				// A fresh tree: the running one has urfave's help
				// commands and flags added, which the scripts list
				// themselves.
				return writeCompletion(c.App.Writer, sh, newApp(Stdio{}))
			},
		})
	}
	return cmd
}

// writeCompletion writes the completion script for shell.
func writeCompletion(w io.Writer, shell string, app *ucli.App) error {
	var tmpl *template.Template
	switch shell {
	case "bash":
		tmpl = bashTemplate
	case "zsh":
		tmpl = zshTemplate
	case "fish":
		tmpl = fishTemplate
	default:
		return usageError{fmt.Errorf("completion: unknown shell %q (bash, zsh or fish)", shell)}
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, newCompModel(app)); err != nil {
		return fmt.Errorf("completion %s: %w", shell, err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// valueKind is what a flag's value or a positional argument is.
type valueKind string

const (
	valueNone  valueKind = ""      // a switch, no value
	valueAny   valueKind = "any"   // a value with nothing to offer
	valueFile  valueKind = "file"  // a file name
	valueIface valueKind = "iface" // a network interface
	valueWords valueKind = "words" // one of a fixed list
)

type valueSpec struct {
	kind  valueKind
	words []string
}

var schedulerNames = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"}

// flagValues says what the value of a subcommand flag is. Keys are
// "PATH/NAME" (PATH the subcommand path, "*" for any) and are looked up
// for the flag's every name; a flag that takes a value and is not here
// completes nothing.
var flagValues = map[string]valueSpec{
	"*/file":                  {kind: valueFile},
	"*/socket":                {kind: valueFile},
	"*/log":                   {kind: valueFile},
	"*/interface":             {kind: valueIface},
	"*/track-interface":       {kind: valueIface},
	"*/proto":                 {kind: valueWords, words: []string{"tcp", "udp", "sctp"}},
	"*/check":                 {kind: valueWords, words: []string{"http", "https", "tcp", "udp", "dns", "ping", "script"}},
	"*/scheduler":             {kind: valueWords, words: schedulerNames},
	"realserver up/mode":      {kind: valueWords, words: []string{"dr", "tun"}},
	"realserver up/state":     {kind: valueFile},
	"realserver down/state":   {kind: valueFile},
	"realserver status/state": {kind: valueFile},
	"vrrp run/state":          {kind: valueWords, words: []string{"MASTER", "BACKUP"}},
	"vrrp run/version":        {kind: valueWords, words: []string{"2", "3"}},
	"monitor/s":               {kind: valueWords, words: schedulerNames},
	"monitor run/s":           {kind: valueWords, words: schedulerNames},
}

// positionalValues says what a subcommand's arguments are.
var positionalValues = map[string]valueKind{
	"apply": valueFile,
}

// compModel is what the script templates read.
type compModel struct {
	Commands []compCommand // the subcommand tree, depth first; [0] is the app
	Grammar  []compGrammarOpt
	// ByCommand lists, per ipvsadm command, the options it takes.
	ByCommand  []compGrammarSet
	Schedulers []string
}

type compCommand struct {
	Path  string // "fwmark add"; "" for the app itself
	Usage string
	Subs  []compSub
	Flags []compFlag
	Args  valueKind // positional arguments
}

type compSub struct {
	Name    string
	Aliases []string
	Usage   string
	Path    string // the subcommand's own Path
}

type compFlag struct {
	Names []string // "--file", "-f"
	Usage string
	Value valueSpec
}

// Long and Short are the flag's first long and short spellings ("" when
// there is none).
func (f compFlag) Long() string  { return firstWith(f.Names, "--") }
func (f compFlag) Short() string { return strings.TrimPrefix(firstShort(f.Names), "-") }
func (f compFlag) Takes() bool   { return f.Value.kind != valueNone }
func (f compFlag) Kind() string  { return string(f.Value.kind) }
func (f compFlag) Words() string { return strings.Join(f.Value.words, " ") }

func firstWith(names []string, prefix string) string {
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			return strings.TrimPrefix(n, prefix)
		}
	}
	return ""
}

func firstShort(names []string) string {
	for _, n := range names {
		if !strings.HasPrefix(n, "--") {
			return n
		}
	}
	return ""
}

func newCompModel(app *ucli.App) compModel {
	m := compModel{Grammar: ipvsadmGrammar, Schedulers: schedulerNames}
	root := &ucli.Command{Name: "", Usage: app.Usage, Subcommands: app.Commands, Flags: app.Flags}
	var walk func(path string, c *ucli.Command)
	walk = func(path string, c *ucli.Command) {
		cc := compCommand{Path: path, Usage: c.Usage, Args: positionalValues[path]}
		var later []func()
		for _, s := range c.Subcommands {
			if s.Hidden || s.Name == "help" {
				continue
			}
			sp := strings.TrimSpace(path + " " + s.Name)
			cc.Subs = append(cc.Subs, compSub{Name: s.Name, Aliases: s.Aliases, Usage: s.Usage, Path: sp})
			s := s
			later = append(later, func() { walk(sp, s) })
		}
		if path != "" {
			for _, f := range c.Flags {
				cc.Flags = append(cc.Flags, newCompFlag(path, f))
			}
			cc.Flags = append(cc.Flags, compFlag{Names: []string{"--help", "-h"}, Usage: "show help"})
		}
		m.Commands = append(m.Commands, cc)
		for _, f := range later {
			f()
		}
	}
	walk("", root)
	m.ByCommand = grammarSets()
	return m
}

func newCompFlag(path string, f ucli.Flag) compFlag {
	cf := compFlag{}
	for _, n := range f.Names() {
		if len(n) == 1 {
			cf.Names = append(cf.Names, "-"+n)
		} else {
			cf.Names = append(cf.Names, "--"+n)
		}
	}
	takes := false
	if df, ok := f.(ucli.DocGenerationFlag); ok {
		takes = df.TakesValue()
		cf.Usage = strings.ReplaceAll(df.GetUsage(), "`", "")
	}
	if !takes {
		return cf
	}
	cf.Value = valueSpec{kind: valueAny}
	for _, n := range f.Names() {
		if v, ok := flagValues[path+"/"+n]; ok {
			cf.Value = v
			return cf
		}
	}
	for _, n := range f.Names() {
		if v, ok := flagValues["*/"+n]; ok {
			cf.Value = v
			return cf
		}
	}
	return cf
}

// grammarKind is how an ipvsadm option's value completes.
type grammarKind string

const (
	gNone      grammarKind = ""
	gAny       grammarKind = "any"
	gOptional  grammarKind = "optional" // -p [TIMEOUT]
	gService   grammarKind = "service"  // existing services of the protocol
	gServer    grammarKind = "server"   // real servers of the named service
	gIface     grammarKind = "iface"
	gWords     grammarKind = "words"
	gThreeNums grammarKind = "set" // --set TCP TCPFIN UDP
)

// compGrammarOpt is one ipvsadm option. Cmd names the command an option
// is (A, E, ..., "set", "start", "stop"); the others have Cmd "".
type compGrammarOpt struct {
	Short, Long string
	Cmd         string
	Kind        grammarKind
	Words       []string
	Usage       string
	LvsctlOnly  bool // lvsctl's own addition, not offered as ipvsadm
}

func (o compGrammarOpt) WordList() string { return strings.Join(o.Words, " ") }

// Names are the option's spellings with dashes.
func (o compGrammarOpt) Names() []string {
	var n []string
	if o.Short != "" {
		n = append(n, "-"+o.Short)
	}
	if o.Long != "" {
		n = append(n, "--"+o.Long)
	}
	return n
}

// ipvsadmGrammar is ipvsadm 1.31's option table (lvs/ipvsadm/popt.go) with
// what completion needs to know; TestGrammarMatchesParser checks every
// spelling against the parser.
var ipvsadmGrammar = []compGrammarOpt{
	{Short: "A", Long: "add-service", Cmd: "A", Usage: "add a virtual service"},
	{Short: "E", Long: "edit-service", Cmd: "E", Usage: "edit a virtual service"},
	{Short: "D", Long: "delete-service", Cmd: "D", Usage: "delete a virtual service"},
	{Short: "C", Long: "clear", Cmd: "C", Usage: "delete every virtual service"},
	{Short: "R", Long: "restore", Cmd: "R", Usage: "run the commands on standard input"},
	{Short: "S", Long: "save", Cmd: "S", Usage: "print the table as commands"},
	{Short: "a", Long: "add-server", Cmd: "a", Usage: "add a real server"},
	{Short: "e", Long: "edit-server", Cmd: "e", Usage: "edit a real server"},
	{Short: "d", Long: "delete-server", Cmd: "d", Usage: "delete a real server"},
	{Short: "L", Long: "list", Cmd: "L", Usage: "list the table"},
	{Short: "l", Cmd: "L", Usage: "list the table"},
	{Short: "Z", Long: "zero", Cmd: "Z", Usage: "zero the counters"},
	{Long: "set", Cmd: "set", Kind: gThreeNums, Usage: "set the tcp, tcpfin and udp timeouts"},
	{Long: "start-daemon", Cmd: "start", Kind: gWords, Words: []string{"master", "backup"}, Usage: "start a connection sync daemon"},
	{Long: "stop-daemon", Cmd: "stop", Kind: gWords, Words: []string{"master", "backup"}, Usage: "stop a connection sync daemon"},
	{Short: "h", Long: "help", Cmd: "h", Usage: "show the help"},
	{Short: "v", Long: "version", Cmd: "v", Usage: "show the version"},

	{Short: "t", Long: "tcp-service", Kind: gService, Usage: "TCP service ADDR:PORT"},
	{Short: "u", Long: "udp-service", Kind: gService, Usage: "UDP service ADDR:PORT"},
	{Long: "sctp-service", Kind: gService, Usage: "SCTP service ADDR:PORT"},
	{Short: "f", Long: "fwmark-service", Kind: gService, Usage: "firewall-mark service MARK"},
	{Short: "6", Long: "ipv6", Usage: "IPv6 firewall-mark service"},
	{Short: "s", Long: "scheduler", Kind: gWords, Words: schedulerNames, Usage: "scheduling method"},
	{Short: "p", Long: "persistent", Kind: gOptional, Usage: "persistence [timeout]"},
	{Short: "M", Long: "netmask", Kind: gAny, Usage: "persistence granularity"},
	{Long: "pe", Kind: gWords, Words: []string{"sip"}, Usage: "persistence engine"},
	{Short: "b", Long: "sched-flags", Kind: gWords, Words: []string{"flag-1", "flag-2", "flag-3", "sh-fallback", "sh-port", "mh-fallback", "mh-port"}, Usage: "scheduler flags"},
	{Short: "o", Long: "ops", Usage: "one-packet scheduling"},
	{Short: "r", Long: "real-server", Kind: gServer, Usage: "real server ADDR[:PORT]"},
	{Short: "g", Long: "gatewaying", Usage: "direct routing"},
	{Short: "i", Long: "ipip", Usage: "tunnelling"},
	{Short: "m", Long: "masquerading", Usage: "NAT"},
	{Short: "w", Long: "weight", Kind: gAny, Usage: "weight"},
	{Short: "x", Long: "u-threshold", Kind: gAny, Usage: "upper connection threshold"},
	{Short: "y", Long: "l-threshold", Kind: gAny, Usage: "lower connection threshold"},
	{Long: "tun-type", Kind: gWords, Words: []string{"ipip", "gue", "gre"}, Usage: "tunnel type"},
	{Long: "tun-port", Kind: gAny, Usage: "GUE tunnel port"},
	{Long: "tun-nocsum", Usage: "tunnel without checksum"},
	{Long: "tun-csum", Usage: "tunnel with checksum"},
	{Long: "tun-remcsum", Usage: "tunnel with remote checksum offload"},
	{Short: "n", Long: "numeric", Usage: "numeric addresses and ports"},
	{Short: "c", Long: "connection", Usage: "list connections"},
	{Long: "timeout", Usage: "list the timeouts"},
	{Long: "daemon", Usage: "list the sync daemons"},
	{Long: "stats", Usage: "list counters"},
	{Long: "rate", Usage: "list rates"},
	{Long: "thresholds", Usage: "list thresholds"},
	{Long: "persistent-conn", Usage: "list persistent connections"},
	{Long: "tun-info", Usage: "list tunnel settings"},
	{Short: "X", Long: "exact", Usage: "exact counters"},
	{Long: "nosort", Usage: "kernel order"},
	{Long: "sort", Usage: "sorted (the default)"},
	{Long: "json", Usage: "list as JSON", LvsctlOnly: true},
	{Long: "mcast-interface", Kind: gIface, Usage: "sync daemon interface"},
	{Long: "syncid", Kind: gAny, Usage: "sync daemon id"},
	{Long: "sync-maxlen", Kind: gAny, Usage: "sync message size"},
	{Long: "mcast-group", Kind: gAny, Usage: "sync multicast group"},
	{Long: "mcast-port", Kind: gAny, Usage: "sync multicast port"},
	{Long: "mcast-ttl", Kind: gAny, Usage: "sync multicast TTL"},
}

// grammarCommandOptions are the options each ipvsadm command takes
// (ipvsadm.c's commands_v_options table, positively).
var grammarCommandOptions = map[string][]string{
	"A":     {"t", "u", "sctp-service", "f", "6", "s", "p", "M", "pe", "b", "o"},
	"E":     {"t", "u", "sctp-service", "f", "6", "s", "p", "M", "pe", "b", "o"},
	"D":     {"t", "u", "sctp-service", "f", "6"},
	"a":     {"t", "u", "sctp-service", "f", "6", "r", "g", "i", "m", "w", "x", "y", "tun-type", "tun-port", "tun-nocsum", "tun-csum", "tun-remcsum"},
	"e":     {"t", "u", "sctp-service", "f", "6", "r", "g", "i", "m", "w", "x", "y", "tun-type", "tun-port", "tun-nocsum", "tun-csum", "tun-remcsum"},
	"d":     {"t", "u", "sctp-service", "f", "6", "r"},
	"L":     {"t", "u", "sctp-service", "f", "6", "n", "c", "timeout", "daemon", "stats", "rate", "thresholds", "persistent-conn", "tun-info", "X", "nosort", "sort", "json"},
	"Z":     {"t", "u", "sctp-service", "f", "6"},
	"S":     {"n"},
	"start": {"mcast-interface", "syncid", "sync-maxlen", "mcast-group", "mcast-port", "mcast-ttl"},
	"stop":  {"syncid"},
}

type compGrammarSet struct {
	Cmd        string
	Opts       []compGrammarOpt
	lvsctlOnly bool
}

// OptWords are the set's spellings, space separated; lvsctl adds its own.
func (s compGrammarSet) OptWords(lvsctl bool) string {
	var w []string
	for _, o := range s.Opts {
		if o.LvsctlOnly && !lvsctl {
			continue
		}
		w = append(w, o.Names()...)
	}
	return strings.Join(w, " ")
}

func grammarSets() []compGrammarSet {
	byName := map[string]compGrammarOpt{}
	var cmds []compGrammarOpt
	for _, o := range ipvsadmGrammar {
		if o.Short != "" {
			byName[o.Short] = o
		}
		if o.Long != "" {
			byName[o.Long] = o
		}
		if o.Cmd != "" && o.Short != "l" {
			cmds = append(cmds, o)
		}
	}
	sets := []compGrammarSet{{Cmd: "", Opts: cmds}}
	keys := make([]string, 0, len(grammarCommandOptions))
	for k := range grammarCommandOptions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s := compGrammarSet{Cmd: k}
		for _, n := range grammarCommandOptions[k] {
			s.Opts = append(s.Opts, byName[n])
		}
		sets = append(sets, s)
	}
	return sets
}

var compFuncs = template.FuncMap{
	"join": strings.Join,
	// shq quotes for the shells' single quotes.
	"shq": func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" },
	// fq quotes for fish's single quotes, where \ escapes.
	"fq": func(s string) string {
		return "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) + "'"
	},
	// zname escapes a zsh _describe entry's name.
	"zname": func(s string) string { return strings.ReplaceAll(s, ":", `\:`) },
	// one line, for descriptions.
	"line": func(s string) string {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[:i]
		}
		return s
	},
	"alts": func(path string, names []string) string {
		var alts []string
		for _, n := range names {
			alts = append(alts, `"`+path+" "+n+`"`)
		}
		return strings.Join(alts, "|")
	},
	"allnames": func(s compSub) []string { return append([]string{s.Name}, s.Aliases...) },
	// progs are the programs an ipvsadm option completes for.
	"progs": func(o compGrammarOpt) []string {
		if o.LvsctlOnly {
			return []string{"lvsctl"}
		}
		return []string{"lvsctl", "ipvsadm"}
	},
	// cond is the fish condition under which an ipvsadm option is offered.
	"cond": func(o compGrammarOpt) string {
		if o.Cmd != "" {
			return "__lvsctl_no_cmd"
		}
		return "__lvsctl_cmd_in " + strings.Join(commandsTaking(o), " ")
	},
}

// commandsTaking lists the ipvsadm commands that take option o.
func commandsTaking(o compGrammarOpt) []string {
	var cmds []string
	for _, s := range grammarSets() {
		for _, x := range s.Opts {
			if s.Cmd != "" && x.Short == o.Short && x.Long == o.Long {
				cmds = append(cmds, s.Cmd)
			}
		}
	}
	return cmds
}

func mustTemplate(name, text string) *template.Template {
	return template.Must(template.New(name).Funcs(compFuncs).Parse(text))
}
