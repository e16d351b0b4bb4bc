package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// requireShell finds a shell for a test. A missing shell skips the test,
// except under CI=true as root, where it is installed with apt (zsh, fish:
// `make test` runs on a fresh Debian).
func requireShell(t *testing.T, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return aptInstall(t, name, pkg)
}

// aptInstall installs pkg for command name when root under CI=true, and
// skips the test otherwise.
func aptInstall(t *testing.T, name, pkg string) string {
	t.Helper()
	if os.Getenv("CI") != "true" || os.Geteuid() != 0 {
		t.Skipf("%s not installed (apt-get install %s); CI=true as root installs it", name, pkg)
	}
	cmd := exec.Command("apt-get", "install", "-y", "-q", "--no-install-recommends", pkg)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		upd := exec.Command("apt-get", "update", "-q")
		if uout, uerr := upd.CombinedOutput(); uerr != nil {
			t.Fatalf("apt-get update: %v\n%s", uerr, uout)
		}
		cmd = exec.Command("apt-get", "install", "-y", "-q", "--no-install-recommends", pkg)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out2, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("apt-get install %s: %v\n%s\n%s", pkg, err, out, out2)
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s still missing after apt-get install %s", name, pkg)
	}
	return p
}

func generated(t *testing.T, shell string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := writeCompletion(&buf, shell, newApp(Stdio{})); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bashWords splits a command line as bash does for COMP_WORDS: at blanks,
// and with each run of the word-break characters ':' and '=' a word of
// its own. The cursor is at the end of the line.
func bashWords(line string) (words []string, cword int) {
	const brk = ":="
	var cur strings.Builder
	inBrk := false
	flush := func() {
		if cur.Len() > 0 {
			words = append(words, cur.String())
			cur.Reset()
		}
	}
	for _, r := range line {
		switch {
		case r == ' ':
			flush()
			inBrk = false
		case strings.ContainsRune(brk, r):
			if !inBrk {
				flush()
			}
			inBrk = true
			cur.WriteRune(r)
		default:
			if inBrk {
				flush()
			}
			inBrk = false
			cur.WriteRune(r)
		}
	}
	flush()
	if strings.HasSuffix(line, " ") || line == "" {
		words = append(words, "")
	}
	return words, len(words) - 1
}

func bashQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// saveListing is what the fake lvsctl and ipvsadm print for -S -n.
const saveListing = `-A -t 192.0.2.1:80 -s rr
-a -t 192.0.2.1:80 -r 198.51.100.7:80 -m -w 1
-a -t 192.0.2.1:80 -r 198.51.100.8:80 -m -w 1
-A -t 192.0.2.2:443 -s wlc -p 300
-a -t 192.0.2.2:443 -r 198.51.100.9:443 -g -w 1
-A -t [2001:db8::1]:80 -s rr
-A -u 192.0.2.53:53 -s rr
-A -f 5 -s wlc
-a -f 5 -r 198.51.100.7:0 -g -w 1
`

func TestBashCompletion(t *testing.T) {
	bash := requireShell(t, "bash", "bash")
	dir := t.TempDir()
	script := filepath.Join(dir, "lvsctl.bash")
	if err := os.WriteFile(script, generated(t, "bash"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Fake programs: a table in good, a failing one in bad.
	good, bad, files := filepath.Join(dir, "good"), filepath.Join(dir, "bad"), filepath.Join(dir, "files")
	for _, d := range []string{good, bad, files} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, prog := range []string{"lvsctl", "ipvsadm"} {
		ok := "#!/bin/sh\n[ \"$1 $2\" = '-S -n' ] || exit 2\ncat <<'EOF'\n" + saveListing + "EOF\n"
		fail := "#!/bin/sh\necho \"Can't initialize ipvs: Permission denied (you must be root)\" >&2\nexit 1\n"
		if err := os.WriteFile(filepath.Join(good, prog), []byte(ok), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bad, prog), []byte(fail), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"keepalived.conf", "keepalived.conf.bak", "rules"} {
		if err := os.WriteFile(filepath.Join(files, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ifaces := listIfaces(t)
	var subcommands []string
	for _, c := range newApp(Stdio{}).Commands {
		subcommands = append(subcommands, c.Name)
	}

	tests := []struct {
		line string
		want []string // exactly these, in any order
		// or, when want is nil, has must be there and hasNot not.
		has, hasNot []string
		failing     bool // the table cannot be read
	}{
		{line: "lvsctl ", want: subcommands},
		{line: "lvsctl fw", want: []string{"fwmark"}},
		{line: "lvsctl fwmark ", want: []string{"add", "del", "list", "flush", "service"}},
		{line: "lvsctl fwmark add --", want: []string{"--vip", "--proto", "--ports", "--mark", "--local", "--help"}},
		{line: "lvsctl fwmark add --proto ", want: []string{"tcp", "udp", "sctp"}},
		{line: "lvsctl fwmark add --proto=s", want: []string{"sctp"}},
		{line: "lvsctl fwmark delete --m", want: []string{"--mark"}},
		{line: "lvsctl fwmark add --vip ", want: nil, hasNot: []string{"--vip", "tcp"}},
		{line: "lvsctl realserver up --mode ", want: []string{"dr", "tun"}},
		{line: "lvsctl vrrp run -f ", want: []string{"keepalived.conf", "keepalived.conf.bak", "rules"}},
		{line: "lvsctl vrrp run --file keep", want: []string{"keepalived.conf", "keepalived.conf.bak"}},
		{line: "lvsctl vrrp run --interface ", want: ifaces},
		{line: "lvsctl vrrp run --state ", want: []string{"MASTER", "BACKUP"}},
		{line: "lvsctl apply r", want: []string{"rules"}},
		{line: "lvsctl completion ", want: []string{"bash", "zsh", "fish"}},
		{line: "lvsctl version ", want: nil, hasNot: []string{"-A", "fwmark"}},
		{line: "lvsctl -", has: []string{"-A", "--add-service", "-L", "--list", "-S", "--set", "--start-daemon", "-h"}, hasNot: []string{"-t", "fwmark", "--json"}},
		{line: "lvsctl -A -t 192.0.2.100:80 -s ", want: schedulerNames},
		{line: "lvsctl -A -t 192.0.2.100:80 -s w", want: []string{"wrr", "wlc"}},
		{line: "lvsctl -A -t ", want: nil},
		{line: "lvsctl -E -t ", want: []string{"192.0.2.1:80", "192.0.2.2:443", "[2001:db8::1]:80"}},
		{line: "lvsctl -E -t 192.0.2.1:", want: []string{"80"}},
		{line: "lvsctl -D -t [2001:db8::1]:", want: []string{"80"}},
		{line: "lvsctl -D --tcp-service=192.0.2.2", want: []string{"192.0.2.2:443"}},
		{line: "lvsctl -E -t ", failing: true, want: nil},
		{line: "lvsctl -E -", has: []string{"-t", "--tcp-service", "-u", "-f", "-s", "-p", "-M", "--pe", "-b", "-o"}, hasNot: []string{"-r", "-w", "-A"}},
		{line: "lvsctl -a -t 192.0.2.1:80 -r 198.51.100.7 -", has: []string{"-g", "-i", "-m", "-w", "-x", "-y", "--tun-type"}, hasNot: []string{"-s", "--stats"}},
		{line: "lvsctl -a -t 192.0.2.1:80 -r 198.51.100.7 -i --tun-type ", want: []string{"ipip", "gue", "gre"}},
		{line: "lvsctl -d -t 192.0.2.1:80 -r ", want: []string{"198.51.100.7:80", "198.51.100.8:80"}},
		{line: "lvsctl -e -f 5 -r ", want: []string{"198.51.100.7:0"}},
		{line: "lvsctl -a -t 192.0.2.1:80 -r ", want: nil},
		{line: "lvsctl -L --", has: []string{"--stats", "--rate", "--thresholds", "--timeout", "--daemon", "--json", "--numeric"}, hasNot: []string{"--weight"}},
		{line: "lvsctl -Ln -t ", want: []string{"192.0.2.1:80", "192.0.2.2:443", "[2001:db8::1]:80"}},
		{line: "lvsctl -S -", want: []string{"-n", "--numeric"}},
		{line: "ipvsadm ", has: []string{"-A", "-E", "-L", "--save"}, hasNot: []string{"fwmark", "vrrp"}},
		{line: "ipvsadm -L --", hasNot: []string{"--json"}, has: []string{"--stats"}},
		{line: "ipvsadm -D -u ", want: []string{"192.0.2.53:53"}},
		{line: "ipvsadm -E -f ", want: []string{"5"}},
		{line: "/usr/sbin/ipvsadm -A -u 192.0.2.53:53 --scheduler l", want: []string{"lc", "lblc", "lblcr"}},
		{line: "ipvsadm --start-daemon ", want: []string{"master", "backup"}},
		{line: "ipvsadm --start-daemon master --mcast-interface ", want: ifaces},
		{line: "ipvsadm --stop-daemon master --", want: []string{"--syncid"}},
		{line: "ipvsadm -a -t 192.0.2.1:80 -r 198.51.100.9 --tun-type=g", want: []string{"gue", "gre"}},
		{line: "ipvsadm -E -t 192.0.2.2:443 -b ", want: []string{"flag-1", "flag-2", "flag-3", "sh-fallback", "sh-port", "mh-fallback", "mh-port"}},
	}

	var sb strings.Builder
	sb.WriteString("COMP_WORDBREAKS=$' \\t\\n\"\\'><=;|&(:'\nsource " + bashQuote(script) + "\n")
	for i, tt := range tests {
		words, cword := bashWords(tt.line)
		q := make([]string, len(words))
		for j, w := range words {
			q[j] = bashQuote(w)
		}
		path := good
		if tt.failing {
			path = bad
		}
		fmt.Fprintf(&sb, "echo '@@case %d'\n(cd %s && PATH=%s:/usr/bin:/bin; COMP_LINE=%s; COMP_POINT=${#COMP_LINE}; COMP_WORDS=(%s); COMP_CWORD=%d; COMPREPLY=(); _lvsctl; printf '%%s\\n' \"${COMPREPLY[@]}\")\n",
			i, bashQuote(files), bashQuote(path), bashQuote(tt.line), strings.Join(q, " "), cword)
	}
	cmd := exec.Command(bash, "--norc", "--noprofile", "-c", sb.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("bash: %v\nstderr:\n%s", err, stderr.String())
	}
	got := map[int][]string{}
	curCase := -1
	for _, l := range strings.Split(string(out), "\n") {
		if n, ok := strings.CutPrefix(l, "@@case "); ok {
			curCase, _ = strconv.Atoi(n)
			got[curCase] = nil
			continue
		}
		if l != "" && curCase >= 0 {
			got[curCase] = append(got[curCase], l)
		}
	}
	for i, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			g := got[i]
			if tt.has != nil || tt.hasNot != nil {
				set := map[string]bool{}
				for _, w := range g {
					set[w] = true
				}
				for _, w := range tt.has {
					if !set[w] {
						t.Errorf("%q: %q missing from %q", tt.line, w, g)
					}
				}
				for _, w := range tt.hasNot {
					if set[w] {
						t.Errorf("%q: %q offered: %q", tt.line, w, g)
					}
				}
				if tt.has != nil {
					return
				}
			}
			want := append([]string(nil), tt.want...)
			sort.Strings(want)
			gs := append([]string(nil), g...)
			sort.Strings(gs)
			if diff := cmp.Diff(want, gs); diff != "" {
				t.Errorf("%q: candidates (-want +got):\n%s", tt.line, diff)
			}
		})
	}
}

func listIfaces(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/sys/class/net")
	if err != nil {
		t.Skipf("no /sys/class/net: %v", err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestBashWords(t *testing.T) {
	tests := []struct {
		line  string
		words []string
	}{
		{"lvsctl ", []string{"lvsctl", ""}},
		{"lvsctl -E -t 192.0.2.1:", []string{"lvsctl", "-E", "-t", "192.0.2.1", ":"}},
		{"lvsctl -t [2001:db8::1]:80", []string{"lvsctl", "-t", "[2001", ":", "db8", "::", "1]", ":", "80"}},
		{"x --a=b", []string{"x", "--a", "=", "b"}},
	}
	for _, tt := range tests {
		w, cw := bashWords(tt.line)
		if diff := cmp.Diff(tt.words, w); diff != "" || cw != len(w)-1 {
			t.Errorf("%q (-want +got):\n%s", tt.line, diff)
		}
	}
}

func TestShellSyntax(t *testing.T) {
	for _, sh := range []struct{ shell, pkg string }{{"bash", "bash"}, {"zsh", "zsh"}, {"fish", "fish"}} {
		t.Run(sh.shell, func(t *testing.T) {
			bin := requireShell(t, sh.shell, sh.pkg)
			f := filepath.Join(t.TempDir(), "lvsctl."+sh.shell)
			if err := os.WriteFile(f, generated(t, sh.shell), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(bin, "-n", f).CombinedOutput(); err != nil || len(out) > 0 {
				t.Fatalf("%s -n: %v\n%s", sh.shell, err, out)
			}
		})
	}
}

// listingBin makes dir/bin with an lvsctl and an ipvsadm that print
// saveListing, for the completion scripts' "-S -n", and returns it.
func listingBin(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, prog := range []string{"lvsctl", "ipvsadm"} {
		ok := "#!/bin/sh\ncat <<'EOF'\n" + saveListing + "EOF\n"
		if err := os.WriteFile(filepath.Join(bin, prog), []byte(ok), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

// shellCases are lines and the candidates fish and zsh offer for them,
// sorted, with listingBin's table.
var shellCases = []struct {
	line string
	want []string
}{
	{"lvsctl fwmark ", []string{"add", "del", "flush", "list", "service"}},
	{"lvsctl fwmark add --proto ", []string{"sctp", "tcp", "udp"}},
	{"lvsctl vrrp run --state ", []string{"BACKUP", "MASTER"}},
	{"lvsctl monitor --check ", []string{"dns", "http", "https", "ping", "script", "tcp", "udp"}},
	{"lvsctl -E -t ", []string{"192.0.2.1:80", "192.0.2.2:443", "[2001:db8::1]:80"}},
	{"ipvsadm -d -t 192.0.2.1:80 -r ", []string{"198.51.100.7:80", "198.51.100.8:80"}},
	{"ipvsadm -A -t 192.0.2.9:80 -s w", []string{"wlc", "wrr"}},
	{"ipvsadm -a -t 192.0.2.1:80 -r 198.51.100.9 --tun-type ", []string{"gre", "gue", "ipip"}},
	{"lvsctl completion ", []string{"bash", "fish", "zsh"}},
}

// TestFishCompletion asks fish itself (complete -C) for candidates.
func TestFishCompletion(t *testing.T) {
	fish := requireShell(t, "fish", "fish")
	dir := t.TempDir()
	script := filepath.Join(dir, "lvsctl.fish")
	if err := os.WriteFile(script, generated(t, "fish"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := listingBin(t, dir)
	for _, tt := range shellCases {
		t.Run(tt.line, func(t *testing.T) {
			cmd := exec.Command(fish, "--no-config", "-c", "source "+script+"; complete -C "+bashQuote(tt.line))
			cmd.Env = append(os.Environ(), "PATH="+bin+":/usr/bin:/bin")
			got := fishCandidates(t, cmd)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// zshDriver runs an interactive zsh on a pseudo-terminal (zsh/zpty) with
// the completion system loaded from the directory $1, types the line $2
// and ^D (list the choices), and prints what the terminal showed, up to
// a marker. It types only once the prompt after READY is out: zle has
// the terminal then, and before it the terminal's own line editing would
// take ^D.
const zshDriver = `zmodload zsh/zpty || exit 3
zpty z 'zsh -f -i'
zpty -w z "PS1='%% ' RPS1='' LISTMAX=100000; fpath=($1 \$fpath); autoload -Uz compinit; compinit -u -D; zstyle ':completion:*' verbose no; zstyle ':completion:*' list-prompt ''; print -r R''EADY"
zpty -r z out '*READY*% *' || exit 4
zpty -n -w z "$2"$'\x04'
zpty -n -w z $'\x15print -r E\'\'ND\r'
zpty -r z out '*END*' || exit 5
print -r -- "$out"
zpty -d z
`

// zshListing returns the words zsh listed below line in a zshDriver
// transcript, sorted.
func zshListing(transcript, line string) []string {
	esc := regexp.MustCompile("\x1b\\[[0-9;?]*[A-Za-z]")
	// Below the listing zle moves the cursor up (ESC [ A) and draws the
	// line again: a line of its own here.
	transcript = strings.ReplaceAll(transcript, "\x1b[A", "\n")
	var lines []string
	for _, l := range strings.Split(esc.ReplaceAllString(transcript, ""), "\n") {
		var b []rune
		for _, r := range l {
			switch {
			case r == '\b':
				if len(b) > 0 {
					b = b[:len(b)-1]
				}
			case r == '\r':
			default:
				b = append(b, r)
			}
		}
		lines = append(lines, string(b))
	}
	want := strings.TrimSpace(line)
	var got []string
	for i, l := range lines {
		if !strings.HasSuffix(strings.TrimRight(l, " "), want) {
			continue
		}
		for _, l := range lines[i+1:] {
			if strings.Contains(l, want) || strings.Contains(l, "print -r") {
				break
			}
			got = append(got, strings.Fields(l)...)
		}
		break
	}
	sort.Strings(got)
	return got
}

// TestZshCompletion types lines into an interactive zsh with the
// completion system and the generated _lvsctl loaded, and reads what it
// lists.
func TestZshCompletion(t *testing.T) {
	zsh := requireShell(t, "zsh", "zsh")
	dir := t.TempDir()
	fn := filepath.Join(dir, "functions")
	if err := os.Mkdir(fn, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fn, "_lvsctl"), generated(t, "zsh"), 0o644); err != nil {
		t.Fatal(err)
	}
	driver := filepath.Join(dir, "drive.zsh")
	if err := os.WriteFile(driver, []byte(zshDriver), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := listingBin(t, dir)
	for _, tt := range shellCases {
		t.Run(tt.line, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, zsh, "-f", driver, fn, tt.line)
			cmd.Env = append(os.Environ(), "PATH="+bin+":/usr/bin:/bin", "HOME="+dir, "TERM=xterm")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("zsh: %v\n%q", err, out)
			}
			if diff := cmp.Diff(tt.want, zshListing(string(out), tt.line)); diff != "" {
				t.Errorf("(-want +got):\n%s\ntranscript %q", diff, out)
			}
		})
	}
}

func TestCompletionCommand(t *testing.T) {
	for _, sh := range compShells {
		r := run(t, nil, "", "lvsctl", "completion", sh)
		if r.code != 0 || r.err != "" {
			t.Fatalf("completion %s: %+v", sh, r)
		}
		if r.out != string(generated(t, sh)) {
			t.Errorf("lvsctl completion %s differs from the generator's output", sh)
		}
	}
	if r := run(t, nil, "", "lvsctl", "completion", "tcsh"); r.code != ExitUsage {
		t.Errorf("completion tcsh: exit %d, want %d", r.code, ExitUsage)
	}
}

// fishCandidates runs a fish command ending in "complete -C LINE" and
// returns the candidates it prints, sorted, without their descriptions.
func fishCandidates(t *testing.T, cmd *exec.Cmd) []string {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("fish: %v\n%s", err, out)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			got = append(got, strings.SplitN(l, "\t", 2)[0])
		}
	}
	sort.Strings(got)
	return got
}
