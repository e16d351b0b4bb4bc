package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"
)

// Checker checks one target once. Check returns when it has a verdict or
// when ctx is done, whichever comes first; it must not leave anything
// running behind it (goroutines, sockets, processes).
type Checker interface {
	Check(ctx context.Context, target Target) Result
}

// Target is what a check is aimed at: a real server's address and port.
// Checkers that need no port (ICMP, script) ignore Port.
type Target struct {
	Addr netip.Addr
	Port uint16
}

// AddrPort returns the target as a netip.AddrPort.
func (t Target) AddrPort() netip.AddrPort { return netip.AddrPortFrom(t.Addr, t.Port) }

func (t Target) String() string {
	if t.Port == 0 {
		return t.Addr.String()
	}
	return t.AddrPort().String()
}

// Result is the verdict of one check.
type Result struct {
	OK bool
	// Err says why the check failed; nil when OK.
	Err error
	// Latency is how long the check took. The Scheduler fills it from its
	// clock when a checker leaves it zero.
	Latency time.Duration
	// Detail is a short human-readable note: the HTTP status line, the DNS
	// rcode, a script's first line of output.
	Detail string
	// Weight is the weight a misc_dynamic script asked for (its exit status
	// minus 2); meaningful only when WeightSet.
	Weight    int32
	WeightSet bool
}

// Sentinel errors of failed checks, for errors.Is.
var (
	// ErrTimeout: the check did not finish before its deadline.
	ErrTimeout = errors.New("check timed out")
	// ErrUnexpectedStatus: an HTTP status code outside the expected set.
	ErrUnexpectedStatus = errors.New("unexpected HTTP status")
	// ErrDigestMismatch: the MD5 of an HTTP body differs from the digest.
	ErrDigestMismatch = errors.New("body digest mismatch")
	// ErrReplyMismatch: a UDP reply outside the expected length or content.
	ErrReplyMismatch = errors.New("reply does not match")
	// ErrNoReply: a reply was required and none came.
	ErrNoReply = errors.New("no reply")
	// ErrRcode: a DNS reply with an rcode other than NOERROR.
	ErrRcode = errors.New("DNS error rcode")
	// ErrScriptFailed: a MISC_CHECK program exited with a failure status
	// or was killed.
	ErrScriptFailed = errors.New("script failed")
)

// fail builds a failed Result, turning a context error into ErrTimeout so
// callers can test one sentinel whatever layer noticed the deadline.
func fail(ctx context.Context, start time.Time, err error) Result {
	if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return Result{Err: err, Latency: time.Since(start)}
}

// Conn holds keepalived's generic connection options (connect_ip,
// connect_port, bindto, bind_port). The zero value connects to the target
// from an address and port the kernel picks.
type Conn struct {
	// ConnectIP replaces the target's address; zero: the target's.
	ConnectIP netip.Addr
	// ConnectPort replaces the target's port; zero: the target's.
	ConnectPort uint16
	// BindTo is the source address of the check; zero: the kernel's choice.
	BindTo netip.Addr
	// BindPort is the source port; zero: an ephemeral port.
	BindPort uint16
}

// remote returns where a check of t connects to.
func (c Conn) remote(t Target) netip.AddrPort {
	addr, port := t.Addr, t.Port
	if c.ConnectIP.IsValid() {
		addr = c.ConnectIP
	}
	if c.ConnectPort != 0 {
		port = c.ConnectPort
	}
	return netip.AddrPortFrom(addr, port)
}

// dialer returns a net.Dialer bound to the source address and port, if any.
// network is "tcp" or "udp".
func (c Conn) dialer(network string) *net.Dialer {
	d := &net.Dialer{}
	if c.BindTo.IsValid() || c.BindPort != 0 {
		ap := netip.AddrPortFrom(c.BindTo, c.BindPort)
		if network == "udp" {
			d.LocalAddr = net.UDPAddrFromAddrPort(ap)
		} else {
			d.LocalAddr = net.TCPAddrFromAddrPort(ap)
		}
	}
	return d
}

// bindConn makes a blocking read or write on conn return when ctx is done,
// by moving conn's deadline into the past. The returned stop releases the
// hook; call it before closing conn.
func bindConn(ctx context.Context, conn interface{ SetDeadline(time.Time) error }) (stop func() bool) {
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	return context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
}

// hostPort formats an address and port for a URL or a dial string.
func hostPort(ap netip.AddrPort) string {
	return net.JoinHostPort(ap.Addr().String(), strconv.Itoa(int(ap.Port())))
}
