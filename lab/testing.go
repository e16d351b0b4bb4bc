package lab

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvInVM is set to "1" in the environment of everything run in the VM.
const EnvInVM = "LVSCTL_LAB"

// InVM reports whether this process runs inside the lab VM.
func InVM() bool { return os.Getenv(EnvInVM) == "1" }

// RequireVM skips the test unless it runs inside the lab VM. Tests meant
// for the real kernel start with it and are run by RunTests from a host
// test of the same package.
func RequireVM(t testing.TB) {
	t.Helper()
	if !InVM() {
		t.Skip("needs the lab VM's kernel; runs through lab.RunTests")
	}
}

// Require skips the test when the lab cannot run here: under -short, or
// with qemu or root missing (Available says which). With CI=true in the
// environment a missing lab fails the test instead, so CI cannot pass by
// skipping. Inside the VM it skips: there is no lab within the lab.
func Require(t testing.TB) {
	t.Helper()
	if InVM() {
		t.Skip("already inside the lab VM")
	}
	if testing.Short() {
		t.Skip("lab test: skipped under -short (it boots a VM)")
	}
	if err := Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("lab needed under CI=true: %v", err)
		}
		t.Skipf("lab unavailable: %v", err)
	}
}

// TestOptions configure RunTestsWith. The zero value runs every test of
// the package in a VM with one CPU and 512 MiB.
type TestOptions struct {
	// Run is the -test.run pattern for the guest, e.g. "^TestVM".
	Run string
	// Tags are build tags for the test binary; "" means the tags this
	// test binary was built with.
	Tags string
	// Args are more arguments for the guest test binary (-test.bench=...).
	Args []string
	// Files, Env, Modules, CPUs and Memory are as in Options.
	Files   map[string]string
	Env     map[string]string
	Modules []string
	CPUs    int
	Memory  int
}

// RunTests builds the calling package's test binary (static, CGO_ENABLED=0,
// the same build tags), boots one VM, runs the tests matching pattern
// there with -test.v, logs their output as it comes, and fails t for each
// guest test that failed, with that test's output. It calls Require first.
// Inside the VM it skips, so the calling test does not recurse.
//
// Typical use, with the real-kernel tests starting with RequireVM:
//
//	func TestLab(t *testing.T) { lab.RunTests(t, "^TestVM") }
//	func TestVMAddService(t *testing.T) { lab.RequireVM(t); ... }
func RunTests(t *testing.T, pattern string) {
	t.Helper()
	RunTestsWith(t, TestOptions{Run: pattern})
}

// RunTestsWith is RunTests with options.
func RunTestsWith(t *testing.T, opt TestOptions) {
	t.Helper()
	Require(t)
	ctx := t.Context()
	var guestTimeout time.Duration
	if dl, ok := t.Deadline(); ok {
		// Leave time to report before the host test binary's own timeout.
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-10*time.Second))
		defer cancel()
		guestTimeout = time.Until(dl) - 20*time.Second
	}
	tags := opt.Tags
	if tags == "" {
		tags = buildTags()
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "pkg.test")
	start := time.Now()
	if err := buildTestBinary(ctx, bin, tags); err != nil {
		t.Fatalf("lab: %v", err)
	}
	t.Logf("lab: built the test binary in %v", time.Since(start).Round(time.Millisecond))

	files := map[string]string{bin: "/lab/pkg/pkg.test"}
	for h, g := range opt.Files {
		files[h] = g
	}
	// Tests open testdata/ relative to their package directory; the guest
	// runs them from a copy of it.
	if err := addTree("testdata", "/lab/pkg/testdata", files); err != nil {
		t.Fatalf("lab: %v", err)
	}
	args := []string{"-test.v", "-test.count=1", "-test.run", opt.Run}
	if guestTimeout > 0 {
		args = append(args, "-test.timeout", guestTimeout.Round(time.Second).String())
	}
	args = append(args, opt.Args...)
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = shellQuote(a)
	}
	script := "cd /lab/pkg || exit 125\nexec ./pkg.test " + strings.Join(quoted, " ") + "\n"

	var parse goTestOutput
	logw := &lineLogger{t: t, prefix: "vm: ", sink: &parse}
	res, err := Run(ctx, Options{
		Script: script, Files: files, Env: opt.Env, Modules: opt.Modules,
		CPUs: opt.CPUs, Memory: opt.Memory,
		Stdout: logw, Stderr: logw,
	})
	logw.Flush()
	if err != nil {
		t.Fatalf("lab: %v\nconsole:\n%s", err, lastBytes(res.Console, 4000))
	}
	t.Logf("lab: booted in %v, guest tests ran %v", res.BootDuration.Round(time.Millisecond),
		(res.Duration - res.BootDuration).Round(time.Millisecond))
	failed := parse.failures()
	for _, f := range failed {
		t.Errorf("guest test %s failed:\n%s", f.name, f.output)
	}
	switch {
	case res.ExitCode != 0 && len(failed) == 0:
		t.Errorf("guest test binary exited %d without a failing test (panic or timeout?):\n%s",
			res.ExitCode, lastBytes(append(res.Stdout, res.Stderr...), 8000))
	case res.ExitCode == 0 && parse.ran == 0:
		t.Errorf("guest ran no test matching %q", opt.Run)
	}
}

// buildTags returns the -tags this binary was built with.
func buildTags() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == "-tags" {
			return s.Value
		}
	}
	return ""
}

// buildTestBinary compiles the package in the working directory (go test
// runs a package's tests there) as a static test binary.
func buildTestBinary(ctx context.Context, out, tags string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	args := []string{"test", "-c", "-o", out}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	args = append(args, ".")
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}

// addTree maps every regular file under host dir to the same place under
// guest, if dir exists.
func addTree(dir, guest string, files map[string]string) error {
	if _, err := os.Stat(dir); err != nil {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		files[abs] = guest + "/" + filepath.ToSlash(rel)
		return nil
	})
}

// lineLogger sends whole lines to t.Log (so they stream under go test -v)
// and to sink.
type lineLogger struct {
	mu     sync.Mutex
	t      testing.TB
	prefix string
	sink   io.Writer
	buf    []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

func (l *lineLogger) emit(line []byte) {
	l.t.Log(l.prefix + string(line))
	l.sink.Write(append(line, '\n'))
}

// Flush emits a last line without a newline.
func (l *lineLogger) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(l.buf)
		l.buf = nil
	}
}

// goTestOutput follows `go test -v` output and attributes each line to the
// test that printed it, using the "=== RUN", "=== NAME", "=== CONT" and
// "=== PAUSE" markers the testing package writes when output switches
// between tests.
type goTestOutput struct {
	mu      sync.Mutex
	current string
	out     map[string]*bytes.Buffer
	failed  []string
	ran     int
	partial []byte
}

var (
	marker   = regexp.MustCompile(`^=== (RUN|NAME|CONT|PAUSE)\s+(\S+)`)
	result   = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (\S+)`)
	testFail = regexp.MustCompile(`^(FAIL|ok|PASS)\b`)
)

type guestFailure struct{ name, output string }

func (g *goTestOutput) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.out == nil {
		g.out = map[string]*bytes.Buffer{}
	}
	g.partial = append(g.partial, p...)
	for {
		i := bytes.IndexByte(g.partial, '\n')
		if i < 0 {
			break
		}
		g.line(string(g.partial[:i]))
		g.partial = g.partial[i+1:]
	}
	return len(p), nil
}

func (g *goTestOutput) line(s string) {
	if m := marker.FindStringSubmatch(s); m != nil {
		g.current = m[2]
		if m[1] == "RUN" {
			g.ran++
		}
		return
	}
	if m := result.FindStringSubmatch(s); m != nil {
		if m[1] == "FAIL" {
			g.failed = append(g.failed, m[2])
		}
		return
	}
	if testFail.MatchString(s) || g.current == "" {
		return
	}
	b := g.out[g.current]
	if b == nil {
		b = &bytes.Buffer{}
		g.out[g.current] = b
	}
	b.WriteString(s + "\n")
}

// failures lists the failed tests, innermost first as go test reports
// them, each with its output (and its subtests' output for a parent).
func (g *goTestOutput) failures() []guestFailure {
	g.mu.Lock()
	defer g.mu.Unlock()
	var fs []guestFailure
	for _, name := range g.failed {
		// A parent failing only because a subtest failed has nothing of
		// its own to say; its subtests were reported already.
		out := ""
		if b := g.out[name]; b != nil {
			out = b.String()
		}
		hasFailedChild := false
		for _, other := range g.failed {
			if strings.HasPrefix(other, name+"/") {
				hasFailedChild = true
			}
		}
		if hasFailedChild && strings.TrimSpace(out) == "" {
			continue
		}
		fs = append(fs, guestFailure{name: name, output: out})
	}
	return fs
}
