package cli

import (
	"strings"
	"testing"

	ucli "github.com/urfave/cli/v2"
)

func TestClosest(t *testing.T) {
	names := []string{"version", "fwmark", "realserver", "apply", "vrrp", "monitor", "completion"}
	tests := []struct{ word, want string }{
		{"vrp", "vrrp"},
		{"vrrrp", "vrrp"},
		{"fwmrk", "fwmark"},
		{"fwmakr", "fwmark"},
		{"aply", "apply"},
		{"versoin", "version"},
		{"realsever", "realserver"},
		{"real", "realserver"},
		{"monitr", "monitor"},
		{"comp", "completion"},
		{"x", ""},
		{"zzz", ""},
		{"status", ""},
		{"list", ""},
	}
	for _, tt := range tests {
		if got := closest(tt.word, names); got != tt.want {
			t.Errorf("closest(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int
		wantErr  string // a line stderr must hold
	}{
		{[]string{"lvsctl", "vrp"}, ExitUsage, `lvsctl: unknown command "vrp"; did you mean "vrrp"?`},
		{[]string{"lvsctl", "fwmrk", "add"}, ExitUsage, `lvsctl: unknown command "fwmrk"; did you mean "fwmark"?`},
		{[]string{"lvsctl", "fwmark", "ad"}, ExitUsage, `lvsctl: fwmark: unknown command "ad"; did you mean "add"?`},
		{[]string{"lvsctl", "fwmark", "zzz"}, ExitUsage, `lvsctl: fwmark: unknown command "zzz"`},
		{[]string{"lvsctl", "fwmark"}, ExitUsage, `lvsctl: fwmark: a command is needed (add, del, delete, list, ls, flush, service)`},
		{[]string{"lvsctl", "fwmark", "add", "--vp", "192.0.2.1"}, ExitUsage, `lvsctl: fwmark add: unknown flag --vp; did you mean --vip?`},
		{[]string{"lvsctl", "fwmark", "add", "--vip", "192.0.2.1"}, ExitUsage, `lvsctl: Required flags "ports, mark" not set`},
		{[]string{"lvsctl", "apply", "--dryrun", "x"}, ExitUsage, `lvsctl: apply: unknown flag --dryrun; did you mean --dry-run?`},
		{[]string{"lvsctl", "apply"}, ExitUsage, `lvsctl: apply: need exactly one FILE (or - for standard input)`},
		{[]string{"lvsctl", "completion", "tcsh"}, ExitUsage, `lvsctl: completion: unknown command "tcsh"`},
		{[]string{"lvsctl", "completion", "bsh"}, ExitUsage, `lvsctl: completion: unknown command "bsh"; did you mean "bash"?`},
		// Not close to a subcommand: the ipvsadm grammar answers, as before
		// (here without IPVS).
		{[]string{"lvsctl", "status"}, 2, "Can't initialize ipvs: Protocol not available"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := run(t, nil, "", tt.args...)
			if r.code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", r.code, tt.wantCode, r.err)
			}
			if tt.wantErr != "" && !strings.Contains(r.err, tt.wantErr+"\n") {
				t.Errorf("stderr lacks %q:\n%s", tt.wantErr, r.err)
			}
		})
	}
}

func TestMainHelp(t *testing.T) {
	for _, flag := range []string{"-h", "--help"} {
		r := run(t, nil, "", "lvsctl", flag)
		if r.code != 0 || r.err != "" {
			t.Fatalf("lvsctl %s: %+v", flag, r)
		}
		for _, c := range newApp(Stdio{}).Commands {
			if !strings.Contains(r.out, "\n  "+c.Name+" ") {
				t.Errorf("lvsctl %s does not list %s", flag, c.Name)
			}
		}
		for _, want := range []string{"Examples:\n", "lvsctl -A|-E SERVICE", "Exit status: 0 success, 1 the operation failed, 2 bad usage"} {
			if !strings.Contains(r.out, want) {
				t.Errorf("lvsctl %s lacks %q", flag, want)
			}
		}
	}
	// As ipvsadm, -h stays the grammar's help alone.
	if r := run(t, nil, "", "ipvsadm", "-h"); strings.Contains(r.out, "Commands:\n  version") {
		t.Errorf("ipvsadm -h shows lvsctl's subcommands")
	}
}

// TestEveryHelpHasExamples runs --help for every subcommand.
func TestEveryHelpHasExamples(t *testing.T) {
	var walk func(path []string, cmds []*ucli.Command)
	walk = func(path []string, cmds []*ucli.Command) {
		for _, c := range cmds {
			p := append(append([]string{}, path...), c.Name)
			t.Run(strings.Join(p, " "), func(t *testing.T) {
				r := run(t, nil, "", append(append([]string{"lvsctl"}, p...), "--help")...)
				if r.code != 0 {
					t.Fatalf("exit %d: %s", r.code, r.err)
				}
				if !strings.Contains(r.out, "Example") {
					t.Errorf("lvsctl %s --help shows no example:\n%s", strings.Join(p, " "), r.out)
				}
			})
			walk(p, c.Subcommands)
		}
	}
	walk(nil, newApp(Stdio{}).Commands)
}
