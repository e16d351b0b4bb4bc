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

// TestKeepalivedAccepts runs keepalived 2.2's own --config-test on every
// valid testdata configuration, so that what lvsctl calls valid is valid
// for keepalived too. keepalived checks that interfaces exist, so each
// run is in a fresh network namespace holding eth0..eth3 (veth pairs);
// that needs root and unshare, and the test skips without them.
func TestKeepalivedAccepts(t *testing.T) {
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
			script := "ip link add eth0 type veth peer name eth1 && " +
				"ip link add eth2 type veth peer name eth3 && " +
				"exec " + ka + " --config-test --config-id main --use-file " + abs + " --log-console --dont-fork"
			out, err := exec.Command("unshare", "--net", "sh", "-c", script).CombinedOutput()
			if err != nil {
				t.Errorf("keepalived --config-test rejects %s: %v\n%s", name, err, strings.TrimSpace(string(out)))
			}
		})
	}
}
