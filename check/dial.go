package check

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// dialTCP connects to dst for one check, its reads and writes bound to ctx
// (see bindConn); call stop before closing the connection.
//
// Without a source address or port to bind, and to an address without a
// zone, it opens the socket itself: net.Dialer spends seven more system
// calls on every connection (SO_KEEPALIVE and its three timers,
// TCP_NODELAY, getsockname, getpeername; and IPV6_V6ONLY for IPv6) that a
// check closed within the second does not need, and under emulation a
// system call costs as much as the rest of a check. Its errors read as
// net.Dialer's.
func (c Conn) dialTCP(ctx context.Context, dst netip.AddrPort) (conn net.Conn, stop func() bool, err error) {
	if c.BindTo.IsValid() || c.BindPort != 0 || !dst.Addr().IsValid() || dst.Addr().Zone() != "" {
		conn, err := c.dialer("tcp").DialContext(ctx, "tcp", hostPort(dst))
		if err != nil {
			return nil, nil, err
		}
		return conn, bindConn(ctx, conn), nil
	}
	raddr := net.TCPAddrFromAddrPort(dst)
	dialErr := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Addr: raddr, Err: err} }
	if err := ctx.Err(); err != nil {
		return nil, nil, dialErr(ctxError(err))
	}
	// A v4-mapped address is dialled over IPv4, as net.Dialer does.
	addr := dst.Addr().Unmap()
	family := syscall.AF_INET6
	var sa syscall.Sockaddr
	if addr.Is4() {
		family = syscall.AF_INET
		sa = &syscall.SockaddrInet4{Port: int(dst.Port()), Addr: addr.As4()}
	} else {
		sa = &syscall.SockaddrInet6{Port: int(dst.Port()), Addr: addr.As16()}
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, dialErr(os.NewSyscallError("socket", err))
	}
	connected := false
	switch err := ignoringEINTR(func() error { return syscall.Connect(fd, sa) }); err {
	case syscall.EINPROGRESS, syscall.EALREADY:
	case nil, syscall.EISCONN:
		connected = true
	default:
		syscall.Close(fd)
		return nil, nil, dialErr(os.NewSyscallError("connect", err))
	}
	// A non-blocking descriptor makes a File that waits in the runtime's
	// poller, as a net.Conn does.
	f := os.NewFile(uintptr(fd), "tcp")
	tc := &tcpConn{f: f, remote: dst, raddr: raddr}
	stop = bindConn(ctx, f)
	if !connected {
		err = tc.waitConnect(sa)
	}
	if err == nil && ctx.Err() != nil {
		// As net.Dialer: a connection made as ctx ended is not used, its
		// deadline already poisoned.
		err = ctx.Err()
	}
	if err != nil {
		stop()
		f.Close()
		if cerr := ctx.Err(); cerr != nil {
			err = ctxError(cerr)
		}
		return nil, nil, dialErr(err)
	}
	return tc, stop, nil
}

// waitConnect waits for a non-blocking connect to sa to finish and
// returns its outcome. It asks by calling connect again, which on Linux
// fails with EALREADY while the handshake runs, succeeds (or EISCONN) once
// it is done, and returns the connection's error when it failed: the
// runtime's poller may report the socket writable before the wait starts
// (the edge is then lost) or spuriously, and the question settles both.
func (c *tcpConn) waitConnect(sa syscall.Sockaddr) error {
	rc, err := c.f.SyscallConn()
	if err != nil {
		return err
	}
	var cerr error
	err = rc.Write(func(fd uintptr) bool {
		switch err := syscall.Connect(int(fd), sa); err {
		case syscall.EALREADY, syscall.EINPROGRESS, syscall.EINTR:
			return false // wait for writability
		case nil, syscall.EISCONN:
		default:
			cerr = os.NewSyscallError("connect", err)
		}
		return true
	})
	if err != nil {
		return unwrapPath(err)
	}
	return cerr
}

// ctxError is how net.Dialer reports the end of its context.
func ctxError(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return errCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return os.ErrDeadlineExceeded
	}
	return err
}

// errCanceled reads as the net package's error for a cancelled dial.
var errCanceled = canceledError{}

type canceledError struct{}

func (canceledError) Error() string        { return "operation was canceled" }
func (canceledError) Is(target error) bool { return target == context.Canceled }

func ignoringEINTR(f func() error) error {
	for {
		if err := f(); err != syscall.EINTR {
			return err
		}
	}
}

// unwrapPath strips the *os.PathError a File wraps its errors in.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// tcpConn is a connected TCP socket as a net.Conn whose errors read as
// a *net.TCPConn's.
type tcpConn struct {
	f      *os.File
	remote netip.AddrPort
	raddr  *net.TCPAddr
}

var _ net.Conn = (*tcpConn)(nil)

func (c *tcpConn) Read(b []byte) (int, error) {
	n, err := c.f.Read(b)
	if err != nil && err != io.EOF {
		err = c.opError("read", err)
	}
	return n, err
}

func (c *tcpConn) Write(b []byte) (int, error) {
	n, err := c.f.Write(b)
	if err != nil {
		err = c.opError("write", err)
	}
	return n, err
}

func (c *tcpConn) Close() error {
	if err := c.f.Close(); err != nil {
		return c.opError("close", err)
	}
	return nil
}

// LocalAddr asks the kernel: only errors and TLS use it.
func (c *tcpConn) LocalAddr() net.Addr {
	rc, err := c.f.SyscallConn()
	if err != nil {
		return nil
	}
	var a net.Addr
	rc.Control(func(fd uintptr) { a = localTCPAddr(int(fd)) })
	return a
}

// localTCPAddr is a TCP socket's local address, nil when the kernel does
// not say.
func localTCPAddr(fd int) net.Addr {
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return nil
	}
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]).To16(), Port: sa.Port}
	case *syscall.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]), Port: sa.Port}
	}
	return nil
}

func (c *tcpConn) RemoteAddr() net.Addr               { return c.raddr }
func (c *tcpConn) SetDeadline(t time.Time) error      { return c.f.SetDeadline(t) }
func (c *tcpConn) SetReadDeadline(t time.Time) error  { return c.f.SetReadDeadline(t) }
func (c *tcpConn) SetWriteDeadline(t time.Time) error { return c.f.SetWriteDeadline(t) }

// opError wraps a File's error as net.TCPConn does: the system call's
// name, the addresses, and net's words for a closed connection.
func (c *tcpConn) opError(op string, err error) error {
	err = unwrapPath(err)
	var errno syscall.Errno
	switch {
	case errors.Is(err, os.ErrClosed):
		err = net.ErrClosed
	case errors.As(err, &errno):
		err = os.NewSyscallError(op, errno)
	}
	oe := &net.OpError{Op: op, Net: "tcp", Addr: c.raddr, Err: err}
	if op != "close" {
		oe.Source = c.LocalAddr()
	}
	return oe
}
