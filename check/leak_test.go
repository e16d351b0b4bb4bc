package check

import (
	"runtime"
	"testing"
	"time"
)

// noLeaks fails the test if it ends with more goroutines than it started
// with. Goroutines take a moment to exit after the code that ended them
// returns, so the count is polled (on the real clock) for up to 5 s. Tests
// that use it must not run in parallel.
func noLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, n, buf)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}
