package check

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeScript writes an executable shell script into a temporary directory.
func writeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "check.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestScript(t *testing.T) {
	noLeaks(t)
	exit := writeScript(t, `echo "status $1"; exit "$1"`)
	args := writeScript(t, `printf '%s|' "$@"`)
	tests := []struct {
		name       string
		c          Script
		wantOK     bool
		wantErr    error
		wantWeight int32
		wantSet    bool
		wantDetail string
	}{
		{name: "exit 0", c: Script{Argv: []string{exit, "0"}}, wantOK: true, wantDetail: "status 0"},
		{name: "exit 1", c: Script{Argv: []string{exit, "1"}}, wantErr: ErrScriptFailed, wantDetail: "status 1"},
		{name: "exit 7", c: Script{Argv: []string{exit, "7"}}, wantErr: ErrScriptFailed},
		{name: "dynamic exit 0 keeps the weight", c: Script{Argv: []string{exit, "0"}, Dynamic: true}, wantOK: true},
		{name: "dynamic exit 1 fails", c: Script{Argv: []string{exit, "1"}, Dynamic: true}, wantErr: ErrScriptFailed},
		{name: "dynamic exit 2 is weight 0", c: Script{Argv: []string{exit, "2"}, Dynamic: true}, wantOK: true, wantSet: true},
		{name: "dynamic exit 12 is weight 10", c: Script{Argv: []string{exit, "12"}, Dynamic: true}, wantOK: true, wantWeight: 10, wantSet: true},
		{name: "dynamic exit 255 is weight 253", c: Script{Argv: []string{exit, "255"}, Dynamic: true}, wantOK: true, wantWeight: 253, wantSet: true},
		{name: "no shell: arguments verbatim", c: Script{Argv: []string{args, "a b", "$HOME", ";exit 1"}}, wantOK: true, wantDetail: "a b|$HOME|;exit 1|"},
		{name: "missing program", c: Script{Argv: []string{filepath.Join(t.TempDir(), "nope")}}, wantErr: ErrScriptFailed},
		{name: "no program", c: Script{}, wantErr: ErrScriptFailed},
		{name: "environment", c: Script{Argv: []string{"/bin/sh", "-c", `echo "$LVS_TEST"`}, Env: []string{"LVS_TEST=from env"}}, wantOK: true, wantDetail: "from env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := checkWithin(t, tt.c, Target{Addr: lo4}, 5*time.Second)
			if r.OK != tt.wantOK || (tt.wantErr != nil && !errors.Is(r.Err, tt.wantErr)) {
				t.Fatalf("Check = OK %v, err %v; want OK %v, err %v", r.OK, r.Err, tt.wantOK, tt.wantErr)
			}
			if r.Weight != tt.wantWeight || r.WeightSet != tt.wantSet {
				t.Fatalf("weight %d (set %v), want %d (set %v)", r.Weight, r.WeightSet, tt.wantWeight, tt.wantSet)
			}
			if tt.wantDetail != "" && r.Detail != tt.wantDetail {
				t.Fatalf("detail %q, want %q", r.Detail, tt.wantDetail)
			}
		})
	}
}

// TestScriptTimeout checks misc_timeout: SIGTERM to the process group at
// the deadline, SIGKILL KillGrace later, children included, a failure.
func TestScriptTimeout(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	for _, tt := range []struct {
		name    string
		body    string
		grace   time.Duration
		maxTook time.Duration
	}{
		{name: "sleeps", body: `sleep 30 & echo $! > ` + pidFile + `; wait`, grace: 5 * time.Second, maxTook: 3 * time.Second},
		{name: "ignores SIGTERM", body: `trap '' TERM; sleep 30 & echo $! > ` + pidFile + `; while :; do wait; done`, grace: 300 * time.Millisecond, maxTook: 3 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(pidFile)
			c := Script{Argv: []string{writeScript(t, tt.body)}, KillGrace: tt.grace}
			r, took := checkWithin(t, c, Target{}, 300*time.Millisecond)
			if r.OK || !errors.Is(r.Err, ErrTimeout) || !errors.Is(r.Err, ErrScriptFailed) {
				t.Fatalf("Check = OK %v, err %v; want a timeout failure", r.OK, r.Err)
			}
			if took > tt.maxTook {
				t.Fatalf("took %v", took)
			}
			b, err := os.ReadFile(pidFile)
			if err != nil {
				t.Fatal(err)
			}
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			// The background child must be gone (or a zombie of init's).
			deadline := time.Now().Add(2 * time.Second)
			for alive(pid) {
				if time.Now().After(deadline) {
					t.Fatalf("child %d of the script still runs", pid)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}
