package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDecomment(t *testing.T) {
	tests := []struct {
		in, want string
		cont     bool
	}{
		{"  router_id x  ", "router_id x", false},
		{"router_id x # comment", "router_id x", false},
		{"router_id x ! comment", "router_id x", false},
		{"#whole line", "", false},
		{`notify "/bin/x # not a comment" # comment`, `notify "/bin/x # not a comment"`, false},
		{`weight 1 \# literal`, "weight 1 # literal", false},
		{`notify "a \# b"`, `notify "a \# b"`, false},
		{`$X= a \`, "$X= a", true},
		{"router_id x\t", "router_id x", false},
	}
	for _, tc := range tests {
		got, cont, err := decomment(tc.in)
		if err != nil || got != tc.want || cont != tc.cont {
			t.Errorf("decomment(%q) = %q, %v, %v; want %q, %v", tc.in, got, cont, err, tc.want, tc.cont)
		}
	}
	if _, _, err := decomment(`router_id "abc`); err == nil {
		t.Errorf("unterminated quote accepted")
	}
}

func TestSplitWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"a b\tc", []string{"a", "b", "c"}},
		{`path "/a b"`, []string{"path", "/a b"}},
		{`abc"def ghi"`, []string{"abc", "def ghi"}},
		{`x ''`, []string{"x", "''"}},
		{`x ""`, []string{"x", ""}},
	}
	for _, tc := range tests {
		got, _, err := splitWords(tc.in)
		if err != nil {
			t.Errorf("splitWords(%q): %v", tc.in, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("splitWords(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestSplitScriptWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`/bin/x a b`, []string{"/bin/x", "a", "b"}},
		{`/bin/x 'a b' "c d"`, []string{"/bin/x", "a b", "c d"}},
		{`/bin/x a' 'b`, []string{"/bin/x", "a b"}},
		{`/bin/x \"q\" \\ \'`, []string{"/bin/x", `"q"`, `\`, `'`}},
		{`x \t\n\x41\101\cA\E`, []string{"x", "\t\nAA\x01\x1b"}},
		{`x "it's"`, []string{"x", "it's"}},
		{`x a\ b`, []string{"x", "a b"}},
	}
	for _, tc := range tests {
		got, err := splitScriptWords(tc.in)
		if err != nil {
			t.Errorf("splitScriptWords(%q): %v", tc.in, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("splitScriptWords(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
	for _, bad := range []string{`x 'a`, `x "a`, `x \`} {
		if _, err := splitScriptWords(bad); err == nil {
			t.Errorf("splitScriptWords(%q) accepted", bad)
		}
	}
}

func TestExpandBraces(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"a.conf", []string{"a.conf"}},
		{"{a,b}.conf", []string{"a.conf", "b.conf"}},
		{"x/{,cat,dog}/y", []string{"x//y", "x/cat/y", "x/dog/y"}},
		{"{foo/{,cat,dog},bar}", []string{"foo/", "foo/cat", "foo/dog", "bar"}},
		{"{a,b}{1,2}", []string{"a1", "a2", "b1", "b2"}},
		{"{unbalanced", []string{"{unbalanced"}},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, expandBraces(tc.in, 100)); diff != "" {
			t.Errorf("expandBraces(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
	if got := expandBraces(strings.Repeat("{a,b}", 20), maxBraceExpand); got != nil {
		t.Errorf("2^20 expansions not refused: %d", len(got))
	}
}

// routerID parses text as a whole file and returns global_defs router_id.
func routerID(t *testing.T, text string, opts Options) string {
	t.Helper()
	cfg, _, err := parseString(t, map[string]string{"k.conf": text}, opts)
	if err != nil {
		t.Fatalf("%q: %v", text, err)
	}
	return cfg.Global.RouterID
}

func TestConditionalsAndDefinitions(t *testing.T) {
	tests := []struct {
		name, text, id, want string
	}{
		{"match", "global_defs {\n@a router_id A\n@b router_id B\n}\n", "a", "A"},
		{"other", "global_defs {\n@a router_id A\n@b router_id B\n}\n", "b", "B"},
		{"no id", "global_defs {\n router_id none\n@a router_id A\n}\n", "", "none"},
		{"negated", "global_defs {\n@^a router_id notA\n}\n", "b", "notA"},
		{"negated match", "global_defs {\n router_id x\n@^a router_id notA\n}\n", "a", "x"},
		{"definition", "$R=r1\nglobal_defs {\n router_id $R\n}\n", "", "r1"},
		{"braces", "$R=r\nglobal_defs {\n router_id ${R}2\n}\n", "", "r2"},
		{"not followed by blank", "$R=r\nglobal_defs {\n router_id $Rx\n}\n", "", "$Rx"},
		{"undefined kept", "$R=r\nglobal_defs {\n router_id $UNDEF\n}\n", "", "$UNDEF"},
		{"late binding", "$A=x${B}\n$B=1\nglobal_defs {\n router_id ${A}\n}\n", "", "x1"},
		{"redefined", "$A=1\n$A=2\nglobal_defs {\n router_id $A\n}\n", "", "2"},
		{"conditional definition", "@a $R=ra\n@^a $R=rb\nglobal_defs {\n router_id $R\n}\n", "a", "ra"},
		{"definition to conditional", "$IF_A=@a\nglobal_defs {\n router_id x\n $IF_A router_id ya\n}\n", "a", "ya"},
		{"instance", "global_defs {\n router_id ${_INSTANCE}\n}\n", "node7", "node7"},
		{"pwd", "global_defs {\n router_id ${_PWD}\n}\n", "", "."},
		{"hash", "global_defs {\n router_id a${_HASH}b\n}\n", "", "a#b"},
		{"multi-line", "$G=global_defs { \\\n router_id ml \\\n}\n\n$G\n", "", "ml"},
		{"one-line block", "global_defs { router_id one }\n", "", "one"},
		{"brace on next line", "global_defs\n{\n router_id next\n}\n", "", "next"},
		{"closing on same line", "global_defs {\n router_id same }\n", "", "same"},
		{"include in block", "global_defs {\n include missing.conf\n router_id inb\n}\n", "", "inb"},
		{"crlf", "global_defs {\r\n router_id crlf\r\n}\r\n", "", "crlf"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := routerID(t, tc.text, Options{ConfigID: tc.id}); got != tc.want {
				t.Errorf("router_id = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestParseFileOS reads real files: relative includes resolve against the
// including file's directory, absolute ones as they are, and messages name
// absolute paths.
func TestParseFileOS(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("etc/keepalived.conf", "include conf.d/*.conf\ninclude "+filepath.Join(dir, "abs.inc")+"\n")
	write("etc/conf.d/a.conf", "include ../more/b.inc\n")
	write("etc/more/b.inc", "global_defs {\n router_id from-b\n}\n")
	write("abs.inc", "global_defs {\n bogus_keyword\n}\n")
	write("etc/conf.d/script.conf", "x\n")
	if err := os.Chmod(filepath.Join(dir, "etc/conf.d/script.conf"), 0o755); err != nil {
		t.Fatal(err)
	}

	cfg, warns, err := ParseFile(filepath.Join(dir, "etc/keepalived.conf"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Global.RouterID != "from-b" {
		t.Errorf("router_id = %q", cfg.Global.RouterID)
	}
	wantFiles := []string{
		filepath.Join(dir, "etc/keepalived.conf"),
		filepath.Join(dir, "etc/conf.d/a.conf"),
		filepath.Join(dir, "etc/more/b.inc"),
		filepath.Join(dir, "abs.inc"),
	}
	if diff := cmp.Diff(wantFiles, cfg.Files); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	wantWarns := []Warning{
		{File: filepath.Join(dir, "etc/keepalived.conf"), Line: 1, Msg: "include " + filepath.Join(dir, "etc/conf.d/script.conf") + ": not a regular non-executable file; skipped, as keepalived does"},
		{File: filepath.Join(dir, "abs.inc"), Line: 2, Msg: `unknown keyword "bogus_keyword" in global_defs; ignored`},
	}
	if diff := cmp.Diff(wantWarns, warns); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}

	if _, _, err := ParseFile(filepath.Join(dir, "nope.conf"), Options{}); err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("missing file: %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestParseReader(t *testing.T) {
	fsys := fstest.MapFS{"etc/ka/inc.conf": {Data: []byte("global_defs {\n router_id inc\n}\n")}}
	cfg, _, err := Parse("etc/ka/main.conf", strings.NewReader("include inc.conf\n"), Options{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Global.RouterID != "inc" {
		t.Errorf("router_id = %q", cfg.Global.RouterID)
	}
}

func TestInheritance(t *testing.T) {
	text := `virtual_server 192.0.2.1 80 {
	protocol TCP
	lb_algo rr
	lb_kind NAT
	delay_loop 10
	connect_timeout 7
	retry 4
	inhibit_on_failure
	virtualhost vs.example
	real_server 192.0.2.2 8080 {
		delay_before_retry 2.5
		virtualhost rs.example
		HTTP_GET {
			url { path / }
			retry 9
		}
		DNS_CHECK {
		}
	}
	real_server 192.0.2.3 80 {
		inhibit_on_failure off
		MISC_CHECK {
			misc_path /bin/true
			warmup 0
		}
		TCP_CHECK {
			delay_loop 0.25
		}
	}
}
`
	cfg, _, err := parseString(t, map[string]string{"k.conf": text}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	type timing struct {
		Type                        CheckerType
		ConnectTimeout, DBR, Warmup time.Duration
		DelayLoop                   time.Duration
		Retry                       int
		Port                        uint16
		Vhost                       string
	}
	var got []timing
	for _, rs := range cfg.VirtualServers[0].RealServers {
		for _, ck := range rs.Checkers {
			tm := timing{Type: ck.Type, ConnectTimeout: ck.ConnectTimeout, DBR: ck.DelayBeforeRetry,
				Warmup: ck.Warmup, DelayLoop: ck.DelayLoop, Retry: ck.Retry, Port: ck.ConnectPort}
			if ck.HTTP != nil {
				tm.Vhost = ck.HTTP.Virtualhost
			}
			got = append(got, tm)
		}
	}
	s := time.Second
	// retry 4 comes from the virtual server except where the checker
	// overrides it; delay_before_retry 2.5 from the first real server; the
	// second gets keepalived's per-type default (1 s for MISC and TCP).
	want := []timing{
		{HTTPGet, 7 * s, 2500 * time.Millisecond, 10 * s, 10 * s, 9, 8080, "rs.example"},
		{DNSCheck, 7 * s, 2500 * time.Millisecond, 10 * s, 10 * s, 4, 8080, ""},
		{MiscCheck, 7 * s, s, 0, 10 * s, 4, 80, ""},
		{TCPCheck, 7 * s, s, 250 * time.Millisecond, 250 * time.Millisecond, 4, 80, ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("checker timing (-want +got):\n%s", diff)
	}
	rs := cfg.VirtualServers[0].RealServers
	if !rs[0].InhibitOnFailure || rs[1].InhibitOnFailure {
		t.Errorf("inhibit_on_failure: %v %v, want true false", rs[0].InhibitOnFailure, rs[1].InhibitOnFailure)
	}
	if cfg.VirtualServers[0].RealServers[1].Checkers[0].Misc.Timeout != 10*s {
		t.Errorf("misc_timeout default is not delay_loop")
	}
}
