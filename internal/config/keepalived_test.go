package config

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// notForKeepalived are testdata files that are meant to draw warnings
// (keepalived --config-test rightly complains about them).
var notForKeepalived = []string{"warnings.conf"}

// keepalivedCheck runs keepalived --config-test on file in a fresh
// network namespace with eth0..eth3, or skips the test when it cannot.
func keepalivedCheck(t *testing.T, file string) (string, error) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs keepalived; skipped under -short")
	}
	ka, err := exec.LookPath("keepalived")
	if err != nil {
		t.Skip("keepalived not installed")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare not installed")
	}
	script := "ip link add eth0 type veth peer name eth1 && " +
		"ip link add eth2 type veth peer name eth3 && " +
		"exec " + ka + " --config-test --config-id main --use-file " + file + " --log-console --dont-fork"
	out, err := exec.Command("unshare", "--net", "sh", "-c", script).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestKeepalivedAccepts runs keepalived 2.2's own --config-test on every
// valid testdata configuration, so that what lvsctl calls valid is valid
// for keepalived too. keepalived checks that interfaces exist, so each
// run is in a fresh network namespace holding eth0..eth3 (veth pairs);
// that needs root and unshare, and the test skips without them.
func TestKeepalivedAccepts(t *testing.T) {
	confs, _ := filepath.Glob("testdata/*.conf")
	for _, path := range confs {
		name := filepath.Base(path)
		if slices.Contains(notForKeepalived, name) {
			continue
		}
		t.Run(name, func(t *testing.T) {
			if _, _, err := ParseFile(name, testOptions()); err != nil {
				t.Fatalf("lvsctl rejects it: %v", err)
			}
			abs, _ := filepath.Abs(path)
			if out, err := keepalivedCheck(t, abs); err != nil {
				t.Errorf("keepalived --config-test rejects %s: %v\n%s", name, err, out)
			}
		})
	}
}

// TestKeepalivedRejects is the other direction: what lvsctl refuses,
// keepalived's --config-test refuses too, except the cases marked
// keepalivedAccepts (there lvsctl is stricter on purpose).
func TestKeepalivedRejects(t *testing.T) {
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, text := range tc.files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out, err := keepalivedCheck(t, filepath.Join(dir, "k.conf"))
			switch {
			case err == nil && !tc.keepalivedAccepts:
				t.Errorf("keepalived accepts what lvsctl refuses with %q:\n%s", tc.want, out)
			case err != nil && tc.keepalivedAccepts:
				t.Errorf("keepalived refuses it too (%v); drop keepalivedAccepts:\n%s", err, out)
			}
		})
	}
}
