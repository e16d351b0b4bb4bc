package ipvs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/lvsctl/lvsctl/lvs"
)

// Options configure Open. The zero value opens the socket in the calling
// thread's network namespace.
type Options struct {
	// NetNS, when non-empty, is the path of a network namespace (e.g.
	// /var/run/netns/NAME or /proc/PID/ns/net) the client's socket is
	// opened in; the rest of the process stays where it is. IPVS state is
	// per network namespace, so every command then applies to that
	// namespace's tables.
	NetNS string
}

// Client is a connection to the kernel's IPVS generic-netlink family. It
// is safe for concurrent use: requests take turns on its one socket.
type Client struct {
	// Verbs gives the single-operation methods (AddService, ...) over Exec.
	lvs.Verbs

	opts Options

	// dial opens a new socket; nil for a client built on a given
	// connection (tests), which then cannot recover a broken socket.
	dial func() (*netlink.Conn, error)

	mu     sync.Mutex
	conn   *netlink.Conn // nil once closed
	family uint16        // generic-netlink family ID of "IPVS"
	broken bool          // a request was interrupted: replies may be pending
	// batchMsgs bounds the requests in one sendmsg so the kernel's
	// answers to them fit in the socket's receive buffer.
	batchMsgs int
}

// Open connects to the kernel's IPVS family. It never loads modules: when
// the family is not registered, it fails with an error matching
// lvs.ErrIPVSUnavailable.
func Open(opts Options) (*Client, error) {
	c := &Client{opts: opts}
	c.Verbs = lvs.VerbsOf(c)
	c.dial = func() (*netlink.Conn, error) { return dialNetlink(opts.NetNS) }
	conn, err := c.dial()
	if err != nil {
		return nil, err
	}
	if err := c.attach(conn); err != nil {
		return nil, err
	}
	return c, nil
}

// newClient builds a client on an existing connection; tests use it with
// fake sockets.
func newClient(conn *netlink.Conn, opts Options) (*Client, error) {
	c := &Client{opts: opts}
	c.Verbs = lvs.VerbsOf(c)
	if err := c.attach(conn); err != nil {
		return nil, err
	}
	return c, nil
}

// dialNetlink opens a NETLINK_GENERIC socket, in the network namespace at
// nsPath when it is set. The netlink package enters the namespace on a
// locked OS thread of its own and restores it, so no goroutine of the
// caller changes namespace.
func dialNetlink(nsPath string) (*netlink.Conn, error) {
	// A fixed receive buffer saves the MSG_PEEK recvmsg the netlink
	// package otherwise makes before every datagram to size it, and a
	// large read lets the kernel fill dump datagrams up to its 32 KiB cap
	// (netlink_recvmsg records the largest read in max_recvmsg_len,
	// netlink_dump sizes its skbs by it) instead of one page: a 5,000-
	// service GET_SERVICE dump then takes a tenth of the datagrams, each
	// of which restarts the kernel's walk of the service table, and ten
	// destinations fit in one. No reply is larger than the buffer.
	cfg := &netlink.Config{MessageBufferSize: recvBufferSize}
	if nsPath != "" {
		f, err := os.Open(nsPath)
		if err != nil {
			return nil, fmt.Errorf("open network namespace: %w", err)
		}
		defer f.Close()
		cfg.NetNS = int(f.Fd())
	}
	conn, err := netlink.Dial(unix.NETLINK_GENERIC, cfg)
	if err != nil {
		if nsPath != "" {
			return nil, fmt.Errorf("open generic netlink socket in %s: %w", nsPath, err)
		}
		return nil, fmt.Errorf("open generic netlink socket: %w", err)
	}
	return conn, nil
}

// recvBufferSize is the size of the client's receive buffer: twice the
// largest dump datagram the kernel builds (SKB_WITH_OVERHEAD(32768)).
const recvBufferSize = 64 << 10

// attach resolves the IPVS family on conn and makes conn the client's
// socket. It closes conn on failure.
func (c *Client) attach(conn *netlink.Conn) error {
	fam, err := genetlink.NewConn(conn).GetFamily(familyName)
	if err != nil {
		conn.Close()
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("generic netlink family %q: %w", familyName, lvs.ErrIPVSUnavailable)
		}
		return fmt.Errorf("resolve generic netlink family %q: %w", familyName, err)
	}
	// Extended ACKs carry the kernel's reason for attribute-policy
	// failures. The receive buffer is enlarged (SO_RCVBUFFORCE as root) so
	// batches can be larger; both are best effort. NETLINK_CAP_ACK stays
	// off: the netlink package cannot find the extended-ACK text of a
	// capped error.
	_ = conn.SetOption(netlink.ExtendedAcknowledge, true)
	_ = conn.SetReadBuffer(4 << 20)
	c.batchMsgs = batchLimit(conn)
	c.conn, c.family, c.broken = conn, fam.ID, false
	return nil
}

// Close releases the socket. Requests in flight fail; later ones report
// net.ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	return err
}

// ready returns the socket to use, replacing one left unusable by an
// interrupted request. It is called with c.mu held.
func (c *Client) ready() (*netlink.Conn, error) {
	if c.conn == nil {
		return nil, net.ErrClosed
	}
	if !c.broken {
		return c.conn, nil
	}
	if c.dial == nil {
		return nil, errors.New("socket left unusable by an interrupted request")
	}
	c.conn.Close()
	conn, err := c.dial()
	if err != nil {
		return nil, err
	}
	if err := c.attach(conn); err != nil {
		return nil, err
	}
	return c.conn, nil
}

// arm applies ctx to the socket: its deadline, and its cancellation as an
// immediate deadline. The returned function undoes both; it must run
// before the socket is used for another request.
func arm(ctx context.Context, conn *netlink.Conn) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dl, hasDL := ctx.Deadline()
	if hasDL {
		_ = conn.SetDeadline(dl)
	}
	if ctx.Done() == nil {
		return func() {}, nil
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		_ = conn.SetDeadline(time.Unix(1, 0))
	})
	return func() {
		if !stop() {
			<-fired
			_ = conn.SetDeadline(time.Time{})
		} else if hasDL {
			_ = conn.SetDeadline(time.Time{})
		}
	}, nil
}

// transportError wraps a failure of the socket itself. When the context
// caused it, the context's error is what the caller sees.
func (c *Client) transportError(ctx context.Context, cmd Cmd, err error) error {
	c.broken = true
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%s: %w", cmd, cerr)
	}
	return fmt.Errorf("%s: %w", cmd, err)
}

// kernelError picks the errno, extended-ACK text and sequence number out of
// a netlink error message; ok is false when err is not one (a failure of
// the socket itself).
func kernelError(err error) (errno unix.Errno, msg string, seq uint32, ok bool) {
	var oe *netlink.OpError
	if !errors.As(err, &oe) || oe.Sequence == 0 || !errors.As(oe.Err, &errno) {
		return 0, "", 0, false
	}
	return errno, oe.Message, oe.Sequence, true
}

// message builds the netlink message of an IPVS command.
func (c *Client) message(cmd Cmd, flags netlink.HeaderFlags, attrs []byte) netlink.Message {
	data := make([]byte, 4, 4+len(attrs))
	data[0], data[1] = byte(cmd), familyVersion // struct genlmsghdr {cmd, version, reserved}
	data = append(data, attrs...)
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(c.family), Flags: netlink.Request | flags},
		Data:   data,
	}
}

// do sends one request and returns the attribute payloads of its replies.
// A dump (flags with netlink.Dump) returns every part; a request with
// netlink.Acknowledge returns none on success. A dump the kernel marks as
// interrupted (NLM_F_DUMP_INTR: the table changed under it) is retried.
func (c *Client) do(ctx context.Context, cmd Cmd, flags netlink.HeaderFlags, attrs []byte) ([][]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	const maxDumpTries = 10
	for try := 1; ; try++ {
		replies, intr, err := c.roundTrip(ctx, cmd, flags, attrs)
		if err != nil {
			return nil, err
		}
		if !intr {
			return replies, nil
		}
		if try == maxDumpTries {
			return nil, fmt.Errorf("%s: dump interrupted %d times by concurrent changes: %w", cmd, try, unix.EINTR)
		}
	}
}

// roundTrip performs one request with c.mu held.
func (c *Client) roundTrip(ctx context.Context, cmd Cmd, flags netlink.HeaderFlags, attrs []byte) (replies [][]byte, intr bool, err error) {
	conn, err := c.ready()
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", cmd, err)
	}
	disarm, err := arm(ctx, conn)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", cmd, err)
	}
	defer disarm()

	req, err := conn.Send(c.message(cmd, flags, attrs))
	if err != nil {
		return nil, false, c.transportError(ctx, cmd, err)
	}
	for {
		msgs, err := conn.Receive()
		if err != nil {
			errno, msg, seq, ok := kernelError(err)
			switch {
			case !ok:
				return nil, false, c.transportError(ctx, cmd, err)
			case seq != req.Header.Sequence:
				continue // the answer to an earlier, abandoned request
			}
			return nil, false, &Error{Cmd: cmd, Errno: errno, Message: msg}
		}
		if len(msgs) == 0 && flags&netlink.Dump != 0 {
			return replies, intr, nil // an empty dump: only NLMSG_DONE came
		}
		var mine bool
		for _, m := range msgs {
			if m.Header.Sequence != req.Header.Sequence {
				continue
			}
			mine = true
			if m.Header.Flags&netlink.DumpInterrupted != 0 {
				intr = true
			}
			switch m.Header.Type {
			case netlink.Error, netlink.Done, netlink.Noop, netlink.Overrun:
				continue // the positive ACK, or dump framing
			}
			if len(m.Data) < 4 {
				return nil, false, fmt.Errorf("%s: %w: short generic netlink message", cmd, errMalformed)
			}
			replies = append(replies, m.Data[4:])
		}
		if mine {
			// netlink.Conn.Receive gathers every part of a multi-part
			// reply up to NLMSG_DONE, and a single reply or ACK is one
			// datagram, so the answer is complete.
			return replies, intr, nil
		}
	}
}

// batchLimit is how many requests go in one sendmsg. Every failed request
// costs an NLMSG_ERROR in the receive buffer (about 1.5 KiB of skb with
// the echoed request); when the buffer is full the kernel drops errors
// and reports ENOBUFS, so a batch must fit even if every request fails.
func batchLimit(conn *netlink.Conn) int {
	n := 128 // fits the default 208 KiB receive buffer
	if rb, err := conn.ReadBuffer(); err == nil && rb/2048 > n {
		n = rb / 2048
	}
	return min(n, 1024)
}
