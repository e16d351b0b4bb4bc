package check

import (
	"context"
	"fmt"
	"time"
)

// TCP is keepalived's TCP_CHECK: the check succeeds when a TCP connection
// to the target (or Conn's connect_ip/connect_port) is established, and the
// connection is closed at once.
type TCP struct {
	Conn
}

var _ Checker = TCP{}

// Check connects and closes.
func (c TCP) Check(ctx context.Context, t Target) Result {
	start := time.Now()
	dst := c.remote(t)
	conn, stop, err := c.dialTCP(ctx, dst)
	if err != nil {
		return fail(ctx, start, fmt.Errorf("connect %s: %w", dst, err))
	}
	lat := time.Since(start)
	stop()
	_ = conn.Close()
	return Result{OK: true, Latency: lat, Detail: "connected"}
}
