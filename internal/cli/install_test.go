package cli

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// installedFiles lists the files and links under root: "path" for a
// file, "path -> target" for a link.
func installedFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			rel += " -> " + target
		}
		out = append(out, "/"+rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func makeTarget(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("make", append([]string{"-C", repoRoot, "--no-print-directory"}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestInstall installs into a temporary DESTDIR, checks the exact file
// list and the units, and uninstalls again.
func TestInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary: skipped under -short")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	var pages []string
	for _, p := range wantPages {
		sec := p[strings.LastIndexByte(p, '.')+1:]
		pages = append(pages, "/usr/local/share/man/man"+sec+"/"+p)
	}
	base := append([]string{
		"/usr/local/sbin/lvsctl",
		"/usr/local/share/bash-completion/completions/lvsctl",
		"/usr/local/share/bash-completion/completions/ipvsadm -> lvsctl",
		"/usr/local/share/zsh/vendor-completions/_lvsctl",
		"/usr/local/share/fish/vendor_completions.d/lvsctl.fish",
		"/usr/local/share/fish/vendor_completions.d/ipvsadm.fish -> lvsctl.fish",
		"/usr/local/lib/systemd/system/lvsctl-vrrp.service",
		"/usr/local/lib/systemd/system/lvsctl-monitor.service",
	}, pages...)
	links := []string{
		"/usr/local/sbin/ipvsadm -> lvsctl",
		"/usr/local/sbin/ipvsadm-save -> lvsctl",
		"/usr/local/sbin/ipvsadm-restore -> lvsctl",
	}
	sorted := func(s ...[]string) []string {
		var all []string
		for _, x := range s {
			all = append(all, x...)
		}
		sort.Strings(all)
		return all
	}
	for _, tt := range []struct {
		name string
		args []string
		want []string
	}{
		{"plain", nil, sorted(base)},
		{"compat links", []string{"COMPAT_LINKS=1"}, sorted(base, links)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dest := t.TempDir()
			args := append([]string{"DESTDIR=" + dest, "PREFIX=/usr/local"}, tt.args...)
			if out, err := makeTarget(t, append([]string{"install"}, args...)...); err != nil {
				t.Fatalf("make install: %v\n%s", err, out)
			}
			if diff := cmp.Diff(tt.want, installedFiles(t, dest)); diff != "" {
				t.Errorf("installed files (-want +got):\n%s", diff)
			}
			unit, err := os.ReadFile(filepath.Join(dest, "usr/local/lib/systemd/system/lvsctl-vrrp.service"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(unit), "\nExecStart=/usr/local/sbin/lvsctl vrrp run -f ${LVSCTL_CONFIG} $LVSCTL_OPTS\n") {
				t.Errorf("lvsctl-vrrp.service: ExecStart not set to the installed binary:\n%s", unit)
			}
			// The installed binary runs, also as ipvsadm.
			if out, err := exec.Command(filepath.Join(dest, "usr/local/sbin/lvsctl"), "version").CombinedOutput(); err != nil {
				t.Errorf("installed lvsctl version: %v\n%s", err, out)
			}
			fishAutoloadsIpvsadm(t, filepath.Join(dest, "usr/local/share/fish/vendor_completions.d"))
			if out, err := makeTarget(t, append([]string{"uninstall"}, args...)...); err != nil {
				t.Fatalf("make uninstall: %v\n%s", err, out)
			}
			if left := installedFiles(t, dest); len(left) > 0 {
				t.Errorf("left after uninstall: %q", left)
			}
		})
	}

	t.Run("never replaces a real ipvsadm", func(t *testing.T) {
		dest := t.TempDir()
		real := filepath.Join(dest, "usr/local/sbin/ipvsadm")
		comp := filepath.Join(dest, "usr/local/share/bash-completion/completions/ipvsadm")
		for _, p := range []string{real, comp} {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("real\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		args := []string{"DESTDIR=" + dest, "PREFIX=/usr/local", "COMPAT_LINKS=1"}
		out, err := makeTarget(t, append([]string{"install"}, args...)...)
		if err == nil || !strings.Contains(out, "exists and is not a link; not replacing it") {
			t.Errorf("make install over a real ipvsadm: %v\n%s", err, out)
		}
		if out, err := makeTarget(t, append([]string{"uninstall"}, args...)...); err != nil {
			t.Fatalf("make uninstall: %v\n%s", err, out)
		}
		want := []string{"/usr/local/sbin/ipvsadm", "/usr/local/share/bash-completion/completions/ipvsadm"}
		if diff := cmp.Diff(want, installedFiles(t, dest)); diff != "" {
			t.Errorf("after install and uninstall (-want +got):\n%s", diff)
		}
	})
}

// fishAutoloadsIpvsadm: a fresh fish with the installed completions on
// its path completes ipvsadm without lvsctl having been completed first.
func fishAutoloadsIpvsadm(t *testing.T, dir string) {
	t.Helper()
	fish, err := exec.LookPath("fish")
	if err != nil {
		t.Log("fish not installed: its autoloading of ipvsadm.fish is not checked")
		return
	}
	line := "ipvsadm -A -t 192.0.2.9:80 -s w"
	got := fishCandidates(t, exec.Command(fish, "--no-config", "-c", "set -p fish_complete_path "+dir+"; complete -C "+bashQuote(line)))
	if diff := cmp.Diff([]string{"wlc", "wrr"}, got); diff != "" {
		t.Errorf("fish: complete -C %q (-want +got):\n%s", line, diff)
	}
}

// TestSystemdUnits runs systemd-analyze verify on the units as installed,
// pointing at a real binary, with the man pages their Documentation=
// names on MANPATH.
func TestSystemdUnits(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" && os.Geteuid() == 0 {
			analyze = aptInstall(t, "systemd-analyze", "systemd")
		} else {
			t.Skip("systemd-analyze not installed (apt-get install systemd)")
		}
	}
	if _, err := exec.LookPath("man"); err != nil {
		t.Skip("man not installed: systemd-analyze verify checks Documentation= with it")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "sbin")
	mandir := filepath.Join(dir, "man")
	for _, d := range []string{bin, filepath.Join(mandir, "man8"), filepath.Join(mandir, "man5")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Any executable will do: verify only checks that it is one.
	if err := os.WriteFile(filepath.Join(bin, "lvsctl"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range wantPages {
		data, err := os.ReadFile(filepath.Join(repoRoot, "man", p))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mandir, "man"+p[len(p)-1:], p), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []string{"lvsctl-vrrp.service", "lvsctl-monitor.service"} {
		t.Run(u, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(repoRoot, "dist", "systemd", u))
			if err != nil {
				t.Fatal(err)
			}
			text := string(src)
			for _, want := range []string{
				"ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure",
				"CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW", "AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW",
				"ProtectSystem=strict", "ReadWritePaths=/run/lvsctl", "Environment=LVSCTL_CONFIG=/etc/keepalived/keepalived.conf",
			} {
				if !strings.Contains(text, "\n"+want+"\n") {
					t.Errorf("%s lacks %q", u, want)
				}
			}
			p := filepath.Join(dir, u)
			if err := os.WriteFile(p, []byte(strings.ReplaceAll(text, "@SBINDIR@", bin)), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(analyze, "verify", p)
			cmd.Env = append(os.Environ(), "MANPATH="+mandir, "SYSTEMD_LOG_LEVEL=notice")
			if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
				t.Errorf("systemd-analyze verify %s: %v\n%s", u, err, out)
			}
		})
	}
}
