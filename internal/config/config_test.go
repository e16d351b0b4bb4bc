package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// testOptions are the options the golden files are made with: the
// testdata directory as file system, config id "main".
func testOptions() Options {
	return Options{FS: os.DirFS("testdata"), ConfigID: "main"}
}

// render is what a golden file holds: the typed configuration, then the
// warnings, or the error.
func render(cfg *Config, warns []Warning, err error) string {
	var b strings.Builder
	if err != nil {
		b.WriteString("error:\n" + err.Error() + "\n")
	}
	if cfg != nil {
		b.WriteString(dump(cfg))
	}
	if len(warns) > 0 {
		b.WriteString("warnings:\n")
		for _, w := range warns {
			b.WriteString("  " + w.String() + "\n")
		}
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	confs, err := filepath.Glob("testdata/*.conf")
	if err != nil || len(confs) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, path := range confs {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			cfg, warns, err := ParseFile(name, testOptions())
			got := render(cfg, warns, err)
			golden := strings.TrimSuffix(path, ".conf") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", golden, diff)
			}
		})
	}
}

// TestGoldenValid makes sure the goldens of the sample configurations hold
// no error: they double as examples of valid files.
func TestGoldenValid(t *testing.T) {
	confs, _ := filepath.Glob("testdata/*.conf")
	for _, path := range confs {
		name := filepath.Base(path)
		if _, _, err := ParseFile(name, testOptions()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func parseString(t *testing.T, files map[string]string, opts Options) (*Config, []Warning, error) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, text := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(text), Mode: 0o644}
	}
	opts.FS = fsys
	return ParseFile("k.conf", opts)
}

// errorCases are configurations lvsctl refuses, with the whole error
// text. keepalivedAccepts marks those keepalived 2.2.7 --config-test lets
// through, where lvsctl is deliberately stricter.
var errorCases = []struct {
	name              string
	files             map[string]string
	want              string
	keepalivedAccepts bool
}{
	{"unbalanced close", map[string]string{"k.conf": "global_defs {\n}\n}\n"}, "k.conf:3: unexpected '}'", false},
	{"missing close", map[string]string{"k.conf": "global_defs {\n router_id x\n"}, "k.conf:1: missing '}' for the block opened here", false},
	{"stray open", map[string]string{"k.conf": "{\n}\n"}, "k.conf:1: unexpected '{'", false},
	{"unterminated quote", map[string]string{"k.conf": "global_defs {\n router_id \"abc\n}\n"}, "k.conf:2: unterminated quote in \"router_id \\\"abc\"", false},
	{"missing value", map[string]string{"k.conf": "global_defs {\n router_id\n}\n"}, "k.conf:2: router_id is missing its value", false},
	{"block needed", map[string]string{"k.conf": "global_defs\n"}, "k.conf:1: global_defs needs a '{' block", true},
	{"no block wanted", map[string]string{"k.conf": "global_defs {\n router_id x {\n }\n}\n"}, "k.conf:2: router_id does not take a '{' block", false},
	{"vrid range", map[string]string{"k.conf": vrrp("virtual_router_id 256")}, "k.conf:4: virtual_router_id: 256 outside range [1, 255]", false},
	{"vrid missing", map[string]string{"k.conf": "vrrp_instance V {\n interface eth0\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n"}, "k.conf:1: vrrp_instance V: virtual_router_id must be set, 1 to 255", false},
	{"priority range", map[string]string{"k.conf": vrrp("priority 0")}, "k.conf:4: priority: 0 outside range [1, 255]", false},
	{"priority not number", map[string]string{"k.conf": vrrp("priority high")}, "k.conf:4: priority: invalid number \"high\"", false},
	{"advert_int zero", map[string]string{"k.conf": vrrp("advert_int 0")}, "k.conf:4: advert_int: 0 seconds outside range [0.01, 8.64e+07]", false},
	{"advert_int v2 fraction", map[string]string{"k.conf": vrrp("advert_int 0.5")}, "k.conf:1: vrrp_instance V: advert_int 500ms is not whole seconds, which VRRPv2 needs", false},
	{"bad state", map[string]string{"k.conf": vrrp("state master")}, "k.conf:4: state: \"master\" is neither MASTER nor BACKUP", false},
	{"bad vip", map[string]string{"k.conf": vrrp("virtual_ipaddress {\n 192.0.2.300/24\n }")}, "k.conf:5: invalid address/prefix \"192.0.2.300/24\"", false},
	{"bad vip option", map[string]string{"k.conf": vrrp("virtual_ipaddress {\n 192.0.2.3/24 devv eth0\n }")}, "k.conf:5: 192.0.2.3/24: unknown option \"devv\"", false},
	{"mixed families", map[string]string{"k.conf": vrrp("version 3\n virtual_ipaddress {\n 2001:db8::1\n }")}, "k.conf:1: vrrp_instance V: virtual_ipaddress mixes IPv4 and IPv6; put one family in virtual_ipaddress_excluded", false},
	{"auth type", map[string]string{"k.conf": vrrp("authentication {\n auth_type MD5\n }")}, "k.conf:5: auth_type: \"MD5\" is neither PASS nor AH", false},
	{"unknown track script", map[string]string{"k.conf": vrrp("track_script {\n nope\n }")}, "k.conf:1: vrrp_instance V: track_script nope is not a vrrp_script", false},
	{"track weight range", map[string]string{"k.conf": "vrrp_script s {\n script /bin/true\n}\n" + vrrp("track_script {\n s weight 300\n }")}, "k.conf:8: s: 300 outside range [-253, 253]", false},
	{"script missing", map[string]string{"k.conf": "vrrp_script s {\n interval 2\n}\n"}, "k.conf:1: vrrp_script s has no script", false},
	{"sync group member", map[string]string{"k.conf": "vrrp_sync_group G {\n group {\n VI_X\n }\n}\n"}, "k.conf:1: vrrp_sync_group G: no vrrp_instance VI_X", false},
	{"duplicate instance", map[string]string{"k.conf": vrrp("") + vrrp("")}, "k.conf:9: vrrp_instance V defined twice\nk.conf:9: vrrp_instance V: virtual_router_id 1 already used by V on eth0", false},
	{"vs bad port", map[string]string{"k.conf": "virtual_server 192.0.2.1 99999 {\n}\n"}, "k.conf:1: virtual_server: 99999 outside range [0, 65535]", false},
	{"vs bad kind", map[string]string{"k.conf": "virtual_server 192.0.2.1 80 {\n lb_kind FOO\n}\n"}, "k.conf:2: lb_kind: \"FOO\" is not one of NAT, DR, TUN", false},
	{"vs bad protocol", map[string]string{"k.conf": "virtual_server 192.0.2.1 80 {\n protocol ICMP\n}\n"}, "k.conf:2: protocol: \"ICMP\" is not one of TCP, UDP, SCTP", false},
	{"vs bad timer", map[string]string{"k.conf": "virtual_server 192.0.2.1 80 {\n delay_loop soon\n}\n"}, "k.conf:2: delay_loop: invalid time \"soon\" (seconds)", false},
	{"vs bad granularity", map[string]string{"k.conf": "virtual_server 192.0.2.1 80 {\n persistence_granularity 255.0.255.0\n}\n"}, "k.conf:2: persistence_granularity: 255.0.255.0 is not a contiguous netmask", false},
	{"vs unknown group", map[string]string{"k.conf": "virtual_server group G {\n}\n"}, "k.conf:1: virtual_server group G: no virtual_server_group of that name", true},
	{"vs twice", map[string]string{"k.conf": "virtual_server 192.0.2.1 80 {\n}\nvirtual_server 192.0.2.1 80 {\n}\n"}, "k.conf:3: virtual_server 192.0.2.1 80 defined twice", false},
	{"rs family", map[string]string{"k.conf": "virtual_server 192.0.2.1 80 {\n real_server 2001:db8::1 80 {\n }\n}\n"}, "k.conf:2: real_server 2001:db8::1 is not of the virtual server's family and not tunnelled", false},
	{"rs twice", map[string]string{"k.conf": "virtual_server 192.0.2.1 80 {\n real_server 192.0.2.2 80 {\n }\n real_server 192.0.2.2 80 {\n }\n}\n"}, "k.conf:4: real_server 192.0.2.2:80 repeated in virtual_server 192.0.2.1 80", false},
	{"rs weight", map[string]string{"k.conf": "virtual_server 192.0.2.1 80 {\n real_server 192.0.2.2 80 {\n weight -1\n }\n}\n"}, "k.conf:3: weight: -1 outside range [0, 65535]", false},
	{"http no url", map[string]string{"k.conf": "virtual_server 192.0.2.1 80 {\n real_server 192.0.2.2 80 {\n HTTP_GET {\n }\n }\n}\n"}, "k.conf:3: HTTP_GET has no url { }", false},
	{"url no path", map[string]string{"k.conf": "virtual_server 192.0.2.1 80 {\n real_server 192.0.2.2 80 {\n HTTP_GET {\n url {\n status_code 200\n }\n }\n }\n}\n"}, "k.conf:4: url has no path", false},
	{"status code", map[string]string{"k.conf": "virtual_server 192.0.2.1 80 {\n real_server 192.0.2.2 80 {\n HTTP_GET {\n url {\n path /\n status_code 299-200\n }\n }\n }\n}\n"}, "k.conf:6: status_code: invalid code or range \"299-200\" (100-599)", false},
	{"digest", map[string]string{"k.conf": "virtual_server 192.0.2.1 80 {\n real_server 192.0.2.2 80 {\n HTTP_GET {\n url {\n path /\n digest xyz\n }\n }\n }\n}\n"}, "k.conf:6: digest: \"xyz\" is not an MD5 in hex", false},
	{"misc no path", map[string]string{"k.conf": "virtual_server 192.0.2.1 80 {\n real_server 192.0.2.2 80 {\n MISC_CHECK {\n misc_timeout 3\n }\n }\n}\n"}, "k.conf:3: MISC_CHECK has no misc_path", false},
	{"misc bad quote", map[string]string{"k.conf": "virtual_server 192.0.2.1 80 {\n real_server 192.0.2.2 80 {\n MISC_CHECK {\n misc_path \"/bin/x 'a\"\n }\n }\n}\n"}, "k.conf:4: misc_path: cannot split command \"/bin/x 'a\"", false},
	{"dns type", map[string]string{"k.conf": "virtual_server 192.0.2.1 53 {\n real_server 192.0.2.2 53 {\n DNS_CHECK {\n type PTR\n }\n }\n}\n"}, "k.conf:4: type: \"PTR\" is not one of A, NS, CNAME, SOA, MX, TXT, AAAA", false},
	{"vsg range", map[string]string{"k.conf": "virtual_server_group G {\n 192.0.2.10-5 80\n}\n"}, "k.conf:2: invalid address or range \"192.0.2.10-5\"", false},
	{"error in include", map[string]string{"k.conf": "include inc/a.conf\n", "inc/a.conf": "global_defs {\n vrrp_version 4\n}\n"}, "inc/a.conf:2: vrrp_version: 4 outside range [2, 3]", false},
	{"include loop", map[string]string{"k.conf": "include a.conf\n", "a.conf": "include b.conf\n", "b.conf": "include a.conf\n"}, "b.conf:1: include loop: k.conf -> a.conf -> b.conf includes a.conf again", true},
	{"include self", map[string]string{"k.conf": "include k.conf\n"}, "k.conf:1: include loop: k.conf includes k.conf again", true},
	{"includea no match", map[string]string{"k.conf": "includea nothing/*.conf\n"}, "k.conf:1: includea nothing/*.conf: no file matches", false},
	{"include args", map[string]string{"k.conf": "include a b\n"}, "k.conf:1: include takes exactly one file name or pattern", true},
	{"recursive definition", map[string]string{"k.conf": "$A=$A x\nglobal_defs {\n router_id $A\n}\n"}, "k.conf:3: parameter substitution does not end (recursive definition of A?)", true},
	{"lvs_sync_daemon instance", map[string]string{"k.conf": "global_defs {\n lvs_sync_daemon eth0 inst VI_9\n}\n"}, "k.conf: lvs_sync_daemon: no vrrp_instance VI_9", true},
	{"bool", map[string]string{"k.conf": "global_defs {\n vrrp_min_garp maybe\n}\n"}, "k.conf:2: vrrp_min_garp: \"maybe\" is not one of on|off|true|false|yes|no", false},
}

func TestErrors(t *testing.T) {
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := parseString(t, tc.files, Options{})
			if err == nil {
				t.Fatalf("no error; config:\n%s", dump(cfg))
			}
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("error %v does not wrap ErrSyntax", err)
			}
			if cfg != nil {
				t.Errorf("a config came back with the error")
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// vrrp wraps instance lines in a minimal valid instance starting at line 1
// (the extra lines start at line 4).
func vrrp(extra string) string {
	return "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n " + extra + "\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n"
}
