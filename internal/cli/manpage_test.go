package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lvsctl/lvsctl/lvs/ipvs/ipvstest"
)

// repoRoot is the module root, seen from this package's directory.
const repoRoot = "../.."

// generatedFiles renders everything this package checks in outside
// itself: the completion scripts and the manual pages, by repository path.
func generatedFiles(t *testing.T) map[string][]byte {
	t.Helper()
	app := newApp(Stdio{})
	out := map[string][]byte{}
	for sh, name := range map[string]string{"bash": "lvsctl.bash", "zsh": "_lvsctl", "fish": "lvsctl.fish"} {
		var buf bytes.Buffer
		if err := writeCompletion(&buf, sh, app); err != nil {
			t.Fatal(err)
		}
		out["completions/"+name] = buf.Bytes()
	}
	root := os.DirFS(repoRoot)
	src := os.DirFS(filepath.Join(repoRoot, "man", "src"))
	pages, err := ManPages(src, root, app)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range pages {
		out["man/"+name] = data
	}
	return out
}

// TestGenerated fails when completions/ or man/ is stale. Regenerate with
//
//	go test ./internal/cli -run TestGenerated -update
//
// (or make completions man).
func TestGenerated(t *testing.T) {
	files := generatedFiles(t)
	for _, name := range sortedKeys(files) {
		path := filepath.Join(repoRoot, name)
		if updating() {
			if err := os.WriteFile(path, files[name], 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v (run: go test ./internal/cli -run TestGenerated -update)", name, err)
			continue
		}
		if !bytes.Equal(got, files[name]) {
			t.Errorf("%s is stale (run: go test ./internal/cli -run TestGenerated -update):\n%s",
				name, cmp.Diff(string(got), string(files[name])))
		}
	}
	// Nothing generated is left over from a page or script that is gone.
	for _, dir := range []string{"man", "completions"} {
		ents, err := os.ReadDir(filepath.Join(repoRoot, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.IsDir() {
				continue
			}
			if _, ok := files[dir+"/"+e.Name()]; !ok {
				t.Errorf("%s/%s is not generated any more; remove it", dir, e.Name())
			}
		}
	}
}

// wantPages are the manual pages issue 7 asks for.
var wantPages = []string{"lvsctl.8", "lvsctl-apply.8", "lvsctl-fwmark.8", "lvsctl-monitor.8",
	"lvsctl-realserver.8", "lvsctl-vrrp.8", "lvsctl.conf.5"}

func TestManContent(t *testing.T) {
	files := generatedFiles(t)
	for _, p := range wantPages {
		page := string(files["man/"+p])
		if page == "" {
			t.Errorf("no page %s", p)
			continue
		}
		for _, sec := range []string{`.SH "NAME"`, `.SH "SYNOPSIS"`, `.SH "DESCRIPTION"`, `.SH "EXIT STATUS"`, `.SH "EXAMPLES"`, `.SH "SEE ALSO"`} {
			if !strings.Contains(page, "\n"+sec+"\n") {
				t.Errorf("%s lacks %s", p, sec)
			}
		}
	}
	// Every ipvsadm option is explained in lvsctl(8).
	main := string(files["man/lvsctl.8"])
	for _, o := range ipvsadmGrammar {
		for _, n := range o.Names() {
			if !strings.Contains(main, `\fB`+escapeRoff(n)+`\fR`) {
				t.Errorf("lvsctl.8 does not explain %s", n)
			}
		}
	}
	for _, s := range schedulerNames {
		if !strings.Contains(main, `\fB`+s+`\fR`) {
			t.Errorf("lvsctl.8 does not explain scheduler %s", s)
		}
	}
	// The subcommand pages list every flag of their commands.
	app := newApp(Stdio{})
	for _, c := range app.Commands {
		page := string(files["man/lvsctl-"+c.Name+".8"])
		if page == "" {
			if c.Name != "version" && c.Name != "completion" {
				t.Errorf("no page lvsctl-%s.8", c.Name)
			}
			continue
		}
		cmds := append(c.Subcommands, c)
		for _, sc := range cmds {
			for _, f := range sc.Flags {
				n := dashed(f.Names()[0])
				if !strings.Contains(page, `\fB`+escapeRoff(n)+`\fR`) {
					t.Errorf("lvsctl-%s.8 lacks %s of %s", c.Name, n, sc.Name)
				}
			}
		}
	}
	// lvsctl.conf(5) lists the directives of internal/config/doc.go.
	conf := string(files["man/lvsctl.conf.5"])
	for _, d := range []string{"virtual_router_id", "sorry_server", "HTTP_GET", "persistence_timeout", "vrrp_sync_group", "lvs_sync_daemon"} {
		if !strings.Contains(conf, `\fB`+escapeRoff(d)) {
			t.Errorf("lvsctl.conf.5 lacks directive %s", d)
		}
	}
}

// TestManLint runs groff and mandoc over every page: neither may say
// anything.
func TestManLint(t *testing.T) {
	files := generatedFiles(t)
	dir := t.TempDir()
	var pages []string
	for name, data := range files {
		if !strings.HasPrefix(name, "man/") {
			continue
		}
		p := filepath.Join(dir, strings.TrimPrefix(name, "man/"))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		pages = append(pages, p)
	}
	t.Run("groff", func(t *testing.T) {
		groff := requireShell(t, "groff", "groff")
		for _, p := range pages {
			cmd := exec.Command(groff, "-man", "-ww", "-z", p)
			cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
			if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
				t.Errorf("groff -man -ww -z %s: %v\n%s", filepath.Base(p), err, out)
			}
		}
	})
	t.Run("mandoc", func(t *testing.T) {
		mandoc := requireShell(t, "mandoc", "mandoc")
		for _, p := range pages {
			out, err := exec.Command(mandoc, "-Tlint", "-W", "all", p).CombinedOutput()
			if err != nil || len(out) > 0 {
				t.Errorf("mandoc -Tlint %s: %v\n%s", filepath.Base(p), err, out)
			}
		}
	})
	t.Run("man", func(t *testing.T) {
		man := requireShell(t, "man", "man-db")
		for _, p := range pages {
			cmd := exec.Command(man, "-l", p)
			cmd.Env = append(os.Environ(), "MANPAGER=cat", "PAGER=cat", "MANWIDTH=80", "LC_ALL=C.UTF-8")
			out, err := cmd.Output()
			if err != nil || len(out) < 500 {
				t.Errorf("man -l %s: %v, %d bytes", filepath.Base(p), err, len(out))
			}
		}
	})
}

func TestMarkdownToRoff(t *testing.T) {
	tests := []struct{ name, md, want string }{
		{"heading and paragraph", "# Name\n\nfoo - bar\nbaz\n", ".SH \"NAME\"\nfoo \\- bar baz\n"},
		{"two paragraphs", "a\n\nb\n", "a\n.PP\nb\n"},
		{"inline", "`-A` and **bold** *it* \\*x\n", "\\fB\\-A\\fR and \\fBbold\\fR \\fIit\\fR *x\n"},
		{"nested", "**-p** [*T*]\n", "\\fB\\-p\\fR [\\fIT\\fR]\n"},
		{"tagged", "**-n**\n:   numeric\n    output\n", ".TP\n\\fB\\-n\\fR\nnumeric output\n"},
		{"literal", "```\n.dot\n-x \\y\n```\n", ".RS 4\n.nf\n\\&.dot\n\\-x \\ey\n.fi\n.RE\n"},
		{"bullets", "- one\n  more\n- two\n", ".IP \\(bu 2\none more\n.IP \\(bu 2\ntwo\n"},
		{"table", "| f | t | m |\n|---|---|---|\n| `a` | n | x |\n", ".TP\n\\fBa\\fR\n(n) x\n"},
		{"leading dot", ".hidden\n", "\\&.hidden\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := markdownToRoff(&b, tt.md); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDirectiveList(t *testing.T) {
	block, items, ok := directiveList("vrrp_script NAME: script, interval (1 s, whole seconds), weight W [reverse] (0, -253..253), and init_fail.")
	if !ok {
		t.Fatal("not a directive list")
	}
	want := []string{"**script**", "**interval** (1 s, whole seconds)", "**weight** W [reverse] (0, -253..253)", "**init_fail**"}
	if block != "vrrp_script NAME" || !cmp.Equal(items, want) {
		t.Errorf("got %q %q", block, items)
	}
	if _, _, ok := directiveList("Everything else keepalived knows is read and warned about."); ok {
		t.Error("prose taken for a directive list")
	}
}

// TestGrammarMatchesParser checks every spelling in the completion's
// ipvsadm table against the real parser: none may be an unknown option.
func TestGrammarMatchesParser(t *testing.T) {
	k := ipvstest.New()
	// Options after the first are checked against the table.
	if r := run(t, k, "", "ipvsadm", "-L", "--no-such-option"); !strings.Contains(r.err, "unknown option") {
		t.Fatalf("an unknown option is not reported as such: %+v", r)
	}
	for _, o := range ipvsadmGrammar {
		for _, n := range o.Names() {
			prog := "ipvsadm"
			if o.LvsctlOnly {
				prog = "lvsctl"
			}
			if r := run(t, k, "", prog, "-L", n); strings.Contains(r.err, "unknown option") {
				t.Errorf("%s %s: %s", prog, n, r.err)
			}
		}
	}
	if r := run(t, k, "", "ipvsadm", "-L", "--json"); !strings.Contains(r.err, "unknown option") {
		t.Errorf("--json accepted as ipvsadm: %+v", r)
	}
}
