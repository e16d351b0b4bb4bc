package check

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// UDP is keepalived's UDP_CHECK: send one datagram to the target and wait
// until the check's deadline. The check fails when an ICMP error comes back
// (port, host or network unreachable, reported on the connected socket
// because IP_RECVERR/IPV6_RECVERR is set), and otherwise succeeds, unless a
// reply is required, in which case no reply is a failure and a reply must
// match. keepalived 2.2's check_udp.c and layer4.c udp_socket_state are the
// reference: a read timeout is success unless require_reply is set.
//
// A UDP check therefore lasts its whole deadline when the server stays
// silent; give it a connect_timeout long enough for an unreachable host's
// ARP to time out (keepalived suggests at least 4 s) yet shorter than the
// check interval.
type UDP struct {
	Conn
	// Payload is sent as the datagram; nil: 16 random bytes.
	Payload []byte
	// RequireReply makes a reply necessary for success.
	RequireReply bool
	// Reply, when set, is compared with the reply over the shorter of the
	// two lengths; bits set in ReplyMask (same length as Reply, or nil)
	// are not compared, as keepalived's X nibbles.
	Reply     []byte
	ReplyMask []byte
	// MinReplyLen and MaxReplyLen bound a required reply's length;
	// MaxReplyLen zero means keepalived's default, 255.
	MinReplyLen int
	MaxReplyLen int
}

var _ Checker = UDP{}

// Check sends the payload and waits for an ICMP error, a reply or the end
// of ctx.
func (c UDP) Check(ctx context.Context, t Target) Result {
	start := time.Now()
	dst := c.remote(t)
	d := c.dialer("udp")
	d.Control = setRecvErr
	conn, err := d.DialContext(ctx, "udp", hostPort(dst))
	if err != nil {
		return fail(ctx, start, fmt.Errorf("UDP socket to %s: %w", dst, err))
	}
	defer conn.Close()
	stop := bindConn(ctx, conn)
	defer stop()

	payload := c.Payload
	if payload == nil {
		payload = make([]byte, 16)
		_, _ = rand.Read(payload)
	}
	if _, err := conn.Write(payload); err != nil {
		return fail(ctx, start, fmt.Errorf("send to %s: %w", dst, err))
	}
	maxLen := c.MaxReplyLen
	if maxLen <= 0 {
		maxLen = 255
	}
	buf := make([]byte, maxLen+1)
	n, err := conn.Read(buf)
	lat := time.Since(start)
	switch {
	case err != nil && (ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded)):
		// The deadline passed without an ICMP error: success, unless a
		// reply was required.
		if c.RequireReply {
			return Result{Err: fmt.Errorf("%s: %w", dst, ErrNoReply), Latency: lat}
		}
		return Result{OK: true, Latency: lat, Detail: "no ICMP error"}
	case err != nil:
		return Result{Err: fmt.Errorf("%s: %w", dst, err), Latency: lat}
	}
	if c.RequireReply {
		if err := c.matchReply(buf[:n], maxLen); err != nil {
			return Result{Err: fmt.Errorf("%s: %w", dst, err), Latency: lat}
		}
	}
	return Result{OK: true, Latency: lat, Detail: fmt.Sprintf("%d-byte reply", n)}
}

// matchReply applies require_reply: the length bounds, then the bytes
// common to the reply and the expected data, masked.
func (c UDP) matchReply(got []byte, maxLen int) error {
	if len(got) < c.MinReplyLen || len(got) > maxLen {
		return fmt.Errorf("%w: %d bytes, want %d to %d", ErrReplyMismatch, len(got), c.MinReplyLen, maxLen)
	}
	n := min(len(got), len(c.Reply))
	for i := range n {
		var mask byte
		if i < len(c.ReplyMask) {
			mask = c.ReplyMask[i]
		}
		if (got[i]^c.Reply[i])&^mask != 0 {
			return fmt.Errorf("%w: byte %d is %#02x, want %#02x", ErrReplyMismatch, i, got[i], c.Reply[i])
		}
	}
	return nil
}

// setRecvErr asks the kernel to report every ICMP error on the socket
// (IP_RECVERR, IPV6_RECVERR), not only port and protocol unreachable, so
// that a host or network unreachable fails the check before its deadline.
func setRecvErr(network, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		if strings.HasSuffix(network, "6") {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVERR, 1)
		} else {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_RECVERR, 1)
		}
	})
	return errors.Join(err, serr)
}

// ErrBadHex reports a malformed hex string.
var ErrBadHex = errors.New("invalid hex string")

// ParseHex reads keepalived's free-form hex strings (UDP_CHECK payload and
// require_reply): whitespace separates groups, each group is read two
// digits to a byte from the left, and an odd last digit is a byte of its
// own, so "Ab12f 3 456" is AB 12 0F 03 45 06. An X or x digit matches
// anything: its four bits are set in mask and zero in data. mask is nil
// when there is no X.
func ParseHex(s string) (data, mask []byte, err error) {
	var hasMask bool
	for _, group := range strings.Fields(s) {
		for i := 0; i < len(group); i += 2 {
			pair := group[i:min(i+2, len(group))]
			var b, m byte
			for _, ch := range []byte(pair) {
				v, x, ok := hexDigit(ch)
				if !ok {
					return nil, nil, fmt.Errorf("%w: %q at %q", ErrBadHex, ch, group)
				}
				b, m = b<<4|v, m<<4|x
			}
			data = append(data, b)
			mask = append(mask, m)
			hasMask = hasMask || m != 0
		}
	}
	if len(data) == 0 {
		return nil, nil, fmt.Errorf("%w: empty", ErrBadHex)
	}
	if !hasMask {
		mask = nil
	}
	return data, mask, nil
}

func hexDigit(ch byte) (v, mask byte, ok bool) {
	switch {
	case ch >= '0' && ch <= '9':
		return ch - '0', 0, true
	case ch >= 'a' && ch <= 'f':
		return ch - 'a' + 10, 0, true
	case ch >= 'A' && ch <= 'F':
		return ch - 'A' + 10, 0, true
	case ch == 'x' || ch == 'X':
		return 0, 0xf, true
	}
	return 0, 0, false
}
