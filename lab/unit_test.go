package lab

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// cpioEntry is one member of a newc archive as the kernel would see it.
type cpioEntry struct {
	Name         string
	Mode         uint32
	Data         string
	Major, Minor uint32
}

// readCPIO parses newc archives (several may follow each other, as in a
// concatenated initramfs) and checks the alignment rules the kernel needs.
func readCPIO(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	off := 0
	for off < len(b) {
		if b[off] == 0 {
			off++
			continue
		}
		if off%4 != 0 {
			t.Fatalf("header at %d not 4-aligned", off)
		}
		if off+110 > len(b) || string(b[off:off+6]) != "070701" {
			t.Fatalf("bad magic at %d: %q", off, b[off:min(off+6, len(b))])
		}
		field := func(i int) uint32 {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("field %d at %d: %v", i, off, err)
			}
			return uint32(v)
		}
		mode, size, major, minor, nameLen := field(1), field(6), field(9), field(10), field(11)
		nameStart := off + 110
		name := string(b[nameStart : nameStart+int(nameLen)-1])
		if b[nameStart+int(nameLen)-1] != 0 {
			t.Fatalf("%s: name not NUL-terminated", name)
		}
		dataStart := (nameStart + int(nameLen) + 3) &^ 3
		data := string(b[dataStart : dataStart+int(size)])
		off = (dataStart + int(size) + 3) &^ 3
		if name == "TRAILER!!!" {
			continue
		}
		out = append(out, cpioEntry{Name: name, Mode: mode, Data: data, Major: major, Minor: minor})
	}
	return out
}

func TestCPIOWriter(t *testing.T) {
	var buf bytes.Buffer
	c := newCPIOWriter(&buf)
	steps := []error{
		c.File("/a/b/file", 0o755, []byte("hello")),
		c.File("a/b/other", 0o644, []byte("12345678")),
		c.Symlink("/bin/sh", "/usr/bin/dash"),
		c.CharDev("/dev/console", 0o600, 5, 1),
		c.Dir("/tmp", 0o1777),
		c.Close(),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	got := readCPIO(t, buf.Bytes())
	want := []cpioEntry{
		{Name: "a", Mode: 0o40755},
		{Name: "a/b", Mode: 0o40755},
		{Name: "a/b/file", Mode: 0o100755, Data: "hello"},
		{Name: "a/b/other", Mode: 0o100644, Data: "12345678"},
		{Name: "bin", Mode: 0o40755},
		{Name: "bin/sh", Mode: 0o120777, Data: "/usr/bin/dash"},
		{Name: "dev", Mode: 0o40755},
		{Name: "dev/console", Mode: 0o20600, Major: 5, Minor: 1},
		{Name: "tmp", Mode: 0o40777},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("archive (-want +got):\n%s", d)
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive length %d not a multiple of 4", buf.Len())
	}
}

func TestCPIOBadNames(t *testing.T) {
	for _, name := range []string{"", "/", "..", "a\x00b"} {
		c := newCPIOWriter(&bytes.Buffer{})
		if err := c.File(name, 0o644, nil); !errors.Is(err, errCPIOName) {
			t.Errorf("File(%q) = %v, want errCPIOName", name, err)
		}
	}
}

const sampleModulesDep = `kernel/net/netfilter/ipvs/ip_vs.ko: kernel/net/netfilter/nf_conntrack.ko kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko kernel/lib/libcrc32c.ko
kernel/net/netfilter/ipvs/ip_vs_rr.ko: kernel/net/netfilter/ipvs/ip_vs.ko kernel/net/netfilter/nf_conntrack.ko kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko kernel/lib/libcrc32c.ko
kernel/net/netfilter/nf_conntrack.ko: kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko kernel/lib/libcrc32c.ko
kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko:
kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko:
kernel/lib/libcrc32c.ko:
kernel/crypto/crc32c_generic.ko:
kernel/drivers/net/dummy.ko:
`

func TestResolveModules(t *testing.T) {
	deps, err := parseModulesDep(strings.NewReader(sampleModulesDep))
	if err != nil {
		t.Fatal(err)
	}
	builtin, err := parseBuiltin(strings.NewReader("kernel/net/ipv4/ip_tunnel.ko\nkernel/crypto/crc32c-intel.ko\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		want        []moduleSpec
		files, miss []string
		err         error
	}{
		{
			name: "closure",
			want: []moduleSpec{{Name: "ip_vs_rr"}},
			files: []string{
				"kernel/lib/libcrc32c.ko", "kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko",
				"kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko", "kernel/net/netfilter/ipvs/ip_vs.ko",
				"kernel/net/netfilter/ipvs/ip_vs_rr.ko", "kernel/net/netfilter/nf_conntrack.ko",
			},
		},
		{
			name:  "dashes and builtins",
			want:  []moduleSpec{{Name: "crc32c-generic"}, {Name: "crc32c_intel"}, {Name: "ip_tunnel"}},
			files: []string{"kernel/crypto/crc32c_generic.ko"},
		},
		{
			name:  "optional missing",
			want:  []moduleSpec{{Name: "dummy"}, {Name: "ip_vs_twos", Optional: true}},
			files: []string{"kernel/drivers/net/dummy.ko"},
			miss:  []string{"ip_vs_twos"},
		},
		{
			name: "required missing",
			want: []moduleSpec{{Name: "ip_vs_twos"}},
			err:  ErrNoModule,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, miss, err := resolveModules(deps, builtin, tt.want)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if d := cmp.Diff(tt.files, files); d != "" {
				t.Errorf("files (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.miss, miss); d != "" {
				t.Errorf("missing (-want +got):\n%s", d)
			}
		})
	}
}

func TestImageModulesUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range imageModules {
		if seen[moduleName(m.Name)] {
			t.Errorf("module %s listed twice", m.Name)
		}
		seen[moduleName(m.Name)] = true
	}
	for _, need := range []string{"ip_vs", "crc32c_generic", "ip_vs_mh", "xt_mark", "iptable_mangle", "veth", "nft_compat"} {
		if !seen[need] {
			t.Errorf("module %s not in the image list", need)
		}
	}
}

func TestParseAptDepends(t *testing.T) {
	tests := []struct {
		out, want string
		ok        bool
	}{
		{"linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n", "linux-image-6.1.0-56-amd64", true},
		{"linux-image-amd64\n  Depends: <linux-image-6.1.0-9-amd64>\n  Recommends: firmware\n", "linux-image-6.1.0-9-amd64", true},
		{"linux-image-amd64\n  Depends: initramfs-tools\n", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := parseAptDepends([]byte(tt.out))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseAptDepends(%q) = %q, %v; want %q, ok=%v", tt.out, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrNoKernel) {
			t.Errorf("error %v is not ErrNoKernel", err)
		}
	}
	if got := kernelRelease("linux-image-6.1.0-56-amd64"); got != "6.1.0-56-amd64" {
		t.Errorf("kernelRelease = %q", got)
	}
}

// fakeBzImage lays out a boot-protocol header around a gzip payload the
// way the kernel build does: payload then its uncompressed size.
func fakeBzImage(t *testing.T, payload []byte) []byte {
	t.Helper()
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(payload)
	zw.Close()
	z.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(payload))))
	const setupSects = 3
	img := make([]byte, (setupSects+1)*512+100)
	img[0x1f1] = setupSects
	copy(img[0x202:], "HdrS")
	binary.LittleEndian.PutUint32(img[0x248:], 100)
	binary.LittleEndian.PutUint32(img[0x24c:], uint32(z.Len()))
	return append(img, z.Bytes()...)
}

func TestExtractVmlinux(t *testing.T) {
	elf := append([]byte("\x7fELF"), bytes.Repeat([]byte("kernel"), 1000)...)
	got, err := extractVmlinux(context.Background(), fakeBzImage(t, elf))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, elf) {
		t.Errorf("got %d bytes, want the %d-byte ELF", len(got), len(elf))
	}
	if _, err := extractVmlinux(context.Background(), fakeBzImage(t, []byte("not an elf"))); err == nil {
		t.Error("a non-ELF payload was accepted")
	}
	if _, err := extractVmlinux(context.Background(), make([]byte, 4096)); err == nil {
		t.Error("a file without HdrS was accepted")
	}
}

func TestRunArchive(t *testing.T) {
	host := t.TempDir() + "/tool"
	if err := os.WriteFile(host, []byte("#!/bin/sh\n"), 0o750); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		opt     Options
		env     string
		modules string
		err     bool
	}{
		{
			name:    "defaults",
			opt:     Options{Script: "true"},
			env:     "export LVSCTL_LAB=1\n",
			modules: "crc32c_generic\nip_vs\n",
		},
		{
			name:    "env quoted, no modules",
			opt:     Options{Env: map[string]string{"B": "it's", "A": "x y"}, Modules: []string{}},
			env:     "export LVSCTL_LAB=1\nexport A='x y'\nexport B='it'\\''s'\n",
			modules: "",
		},
		{name: "bad env name", opt: Options{Env: map[string]string{"A-B": "1"}}, err: true},
		{name: "bad module", opt: Options{Modules: []string{"a\nb"}}, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := runArchive(&buf, tt.opt)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if err != nil {
				return
			}
			files := map[string]string{}
			for _, e := range readCPIO(t, buf.Bytes()) {
				files[e.Name] = e.Data
			}
			if d := cmp.Diff(tt.env, files["lab/env"]); d != "" {
				t.Errorf("env (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.modules, files["lab/modules"]); d != "" {
				t.Errorf("modules (-want +got):\n%s", d)
			}
		})
	}
	var buf bytes.Buffer
	opt := Options{
		Script:   "echo hi",
		Files:    map[string]string{host: "/usr/local/bin/tool"},
		FileData: map[string][]byte{"/etc/extra.conf": []byte("x")},
	}
	if err := runArchive(&buf, opt); err != nil {
		t.Fatal(err)
	}
	got := map[string]cpioEntry{}
	for _, e := range readCPIO(t, buf.Bytes()) {
		got[e.Name] = e
	}
	if e := got["usr/local/bin/tool"]; e.Mode != 0o100750 || e.Data != "#!/bin/sh\n" {
		t.Errorf("copied file = %+v", e)
	}
	if e := got["lab/script"]; e.Data != "echo hi" || e.Mode != 0o100755 {
		t.Errorf("script = %+v", e)
	}
	if e := got["etc/extra.conf"]; e.Data != "x" {
		t.Errorf("file data = %+v", e)
	}
	opt.Files = map[string]string{"/nonexistent/file": "/x"}
	if err := runArchive(&bytes.Buffer{}, opt); err == nil {
		t.Error("a missing host file was accepted")
	}
}

func TestElfLibs(t *testing.T) {
	// elfLibs reads the host's files: check it on a program every Debian
	// has, when present.
	const dash = "/usr/bin/dash"
	if _, err := os.Stat(dash); err != nil {
		t.Skip("no dash on this host")
	}
	libs, err := elfLibs([]string{dash, "/nonexistent-script-is-error"})
	if err == nil {
		t.Errorf("elfLibs of a missing file: no error (libs %v)", libs)
	}
	libs, err = elfLibs([]string{dash})
	if err != nil {
		t.Fatal(err)
	}
	var hasLibc, hasLoader bool
	for _, l := range libs {
		hasLibc = hasLibc || strings.HasSuffix(l, "/libc.so.6")
		hasLoader = hasLoader || strings.HasPrefix(l, "/lib64/ld-linux")
	}
	if !hasLibc || !hasLoader {
		t.Errorf("elfLibs(dash) = %v, want libc and the loader", libs)
	}
}

func TestGoTestOutput(t *testing.T) {
	const out = `=== RUN   TestA
--- PASS: TestA (0.00s)
=== RUN   TestB
    b_test.go:10: first
=== RUN   TestB/sub
    b_test.go:12: sub broke
--- FAIL: TestB/sub (0.00s)
=== NAME  TestB
    b_test.go:14: after
--- FAIL: TestB (0.01s)
=== RUN   TestC
=== RUN   TestC/x
    c_test.go:3: x broke
    --- FAIL: TestC/x (0.00s)
--- FAIL: TestC (0.00s)
FAIL
`
	var g goTestOutput
	fmt.Fprint(&g, out)
	want := []guestFailure{
		{name: "TestB/sub", output: "    b_test.go:12: sub broke\n"},
		{name: "TestB", output: "    b_test.go:10: first\n    b_test.go:14: after\n"},
		{name: "TestC/x", output: "    c_test.go:3: x broke\n"},
	}
	if d := cmp.Diff(want, g.failures(), cmp.AllowUnexported(guestFailure{})); d != "" {
		t.Errorf("failures (-want +got):\n%s", d)
	}
	if g.ran != 5 {
		t.Errorf("ran = %d, want 5", g.ran)
	}
}

func TestKernelCmdline(t *testing.T) {
	got := kernelCmdline([]string{"ipv6.disable=1"})
	for _, want := range []string{"console=ttyS0", "panic=-1", "rdinit=/init", "ipv6.disable=1"} {
		if !strings.Contains(got, want) {
			t.Errorf("cmdline %q lacks %q", got, want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"":      "''",
		"a b":   "'a b'",
		"it's":  `'it'\''s'`,
		"$HOME": "'$HOME'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestPlanImage resolves the image's programs on this host (without
// building anything) and checks the rules the guest depends on: real
// programs win over busybox applets, /bin/sh is dash, libraries and the
// loader come along.
func TestPlanImage(t *testing.T) {
	for _, b := range imageBinaries {
		if _, err := lookHost(b.Name); err != nil && !b.Optional {
			t.Skipf("host lacks %s (package %s); the prepare step installs it", b.Name, b.Package)
		}
	}
	if _, err := lookHost("busybox"); err != nil {
		t.Skip("host lacks busybox")
	}
	plan, err := planImage(context.Background(), imageBinaries)
	if err != nil {
		t.Fatal(err)
	}
	byGuest := map[string]imageFile{}
	for _, f := range plan.Files {
		byGuest[f.Guest] = f
	}
	ipPath, _ := lookHost("ip")
	if f, ok := byGuest[ipPath]; !ok || f.Link != "" {
		t.Errorf("%s is %+v, want the real iproute2 program", ipPath, f)
	}
	for guest, f := range byGuest {
		if strings.HasSuffix(guest, "/ip") && f.Link != "" {
			t.Errorf("busybox ip applet at %s would shadow iproute2", guest)
		}
	}
	if f := byGuest["/bin/sh"]; !strings.HasSuffix(f.Link, "/dash") {
		t.Errorf("/bin/sh is %+v, want a link to dash", f)
	}
	if f := byGuest["/sbin/modprobe"]; !strings.HasSuffix(f.Link, "/busybox") {
		t.Errorf("/sbin/modprobe is %+v, want busybox", f)
	}
	var loader, libc, xtMark bool
	for g := range byGuest {
		loader = loader || strings.HasPrefix(g, "/lib64/ld-linux")
		libc = libc || strings.HasSuffix(g, "/libc.so.6")
		xtMark = xtMark || strings.HasSuffix(g, "/xtables/libxt_mark.so")
	}
	if !loader || !libc || !xtMark {
		t.Errorf("plan lacks the loader (%v), libc (%v) or libxt_mark.so (%v)", loader, libc, xtMark)
	}
	var fp bytes.Buffer
	if err := plan.fingerprint(&fp); err != nil {
		t.Fatal(err)
	}
}
