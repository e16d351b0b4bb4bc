package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Script is keepalived's MISC_CHECK: run a program (without a shell) and
// judge its exit status. Status 0 is success. With Dynamic (misc_dynamic),
// a status from 2 to 255 is also success and asks for weight status-2, as
// keepalived 2.2's check_misc.c does; status 1, any other status without
// Dynamic, and death by a signal are failures.
//
// The program runs in a process group of its own. When the check's context
// ends (its misc_timeout) the group gets SIGTERM, and SIGKILL KillGrace
// later, as keepalived does; a killed program is a failure.
type Script struct {
	// Argv is the program and its arguments; Argv[0] is looked up in PATH
	// when it has no slash. keepalived's misc_path string is split into
	// words by the configuration layer.
	Argv []string
	// Dynamic is misc_dynamic.
	Dynamic bool
	// Env is the environment; nil: the monitor's own.
	Env []string
	// KillGrace is the time between SIGTERM and SIGKILL; zero: 2 s, as
	// keepalived.
	KillGrace time.Duration
}

var _ Checker = Script{}

// maxScriptOutput bounds what is kept of a script's output for Detail.
const maxScriptOutput = 512

// Check runs the program to completion or until ctx ends.
func (c Script) Check(ctx context.Context, _ Target) Result {
	start := time.Now()
	if len(c.Argv) == 0 {
		return Result{Err: fmt.Errorf("%w: no program", ErrScriptFailed)}
	}
	grace := c.KillGrace
	if grace <= 0 {
		grace = 2 * time.Second
	}
	cmd := exec.Command(c.Argv[0], c.Argv[1:]...)
	cmd.Env = c.Env
	out := &limitedBuffer{max: maxScriptOutput}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// WaitDelay bounds how long Wait waits for the output pipes after the
	// program exits (a daemonised grandchild may hold them) and, with the
	// watcher below, how long a program that ignores SIGTERM lives on.
	cmd.WaitDelay = grace
	if err := cmd.Start(); err != nil {
		return Result{Err: fmt.Errorf("%w: start %s: %w", ErrScriptFailed, c.Argv[0], err), Latency: time.Since(start)}
	}
	pgid := cmd.Process.Pid
	killed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		case <-killed:
		}
	})
	err := cmd.Wait()
	// Whatever the program left behind in its group goes with it, before
	// the group's id can be reused.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	close(killed)
	stop()
	lat := time.Since(start)
	detail := firstLine(out.String())

	var ee *exec.ExitError
	switch {
	case err == nil:
		return Result{OK: true, Latency: lat, Detail: detail}
	case errors.As(err, &ee) && ee.Exited():
		code := ee.ExitCode()
		if c.Dynamic && code >= 2 && code <= 255 {
			return Result{OK: true, Latency: lat, Detail: detail, Weight: int32(code - 2), WeightSet: true}
		}
		return Result{Err: fmt.Errorf("%w: %s exited with status %d", ErrScriptFailed, c.Argv[0], code), Latency: lat, Detail: detail}
	case ctx.Err() != nil:
		return Result{Err: fmt.Errorf("%w: %w: %s killed: %w", ErrTimeout, ErrScriptFailed, c.Argv[0], err), Latency: lat, Detail: detail}
	default:
		return Result{Err: fmt.Errorf("%w: %s: %w", ErrScriptFailed, c.Argv[0], err), Latency: lat, Detail: detail}
	}
}

// limitedBuffer keeps the first max bytes written to it and discards the
// rest, so a chatty script cannot grow the monitor.
type limitedBuffer struct {
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string { return b.buf.String() }

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
