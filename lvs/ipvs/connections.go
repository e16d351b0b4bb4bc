package ipvs

import (
	"context"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/lvsctl/lvsctl/lvs"
)

// connPath is the kernel's connection table as seen from the reading
// thread's network namespace. thread-self rather than self: a namespace
// entered on a locked OS thread applies to that thread only.
const connPath = "/proc/thread-self/net/ip_vs_conn"

// Connections reads the connection table and the persistence templates
// (/proc/net/ip_vs_conn) of the client's network namespace.
func (c *Client) Connections(ctx context.Context) ([]lvs.Connection, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var conns []lvs.Connection
	err := inNetNS(c.opts.NetNS, func() error {
		f, err := os.Open(connPath)
		if err != nil {
			return fmt.Errorf("read connection table: %w", err)
		}
		defer f.Close()
		conns, err = ReadConnections(f)
		return err
	})
	return conns, err
}

// inNetNS runs fn with the calling goroutine's OS thread in the network
// namespace at path (in the current one when path is empty). The thread is
// locked for the duration and returned to its namespace after; if that
// fails the thread stays locked, so the Go runtime retires it rather than
// reuse a thread in the wrong namespace.
func inNetNS(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	target, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open network namespace: %w", err)
	}
	defer target.Close()

	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open current network namespace: %w", err)
	}
	defer orig.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter network namespace %s: %w", path, err)
	}
	ferr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: it dies with this goroutine.
		return fmt.Errorf("return from network namespace %s: %w", path, err)
	}
	runtime.UnlockOSThread()
	return ferr
}
