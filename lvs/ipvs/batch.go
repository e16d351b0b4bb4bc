package ipvs

import (
	"context"
	"fmt"

	"github.com/mdlayher/netlink"

	"github.com/lvsctl/lvsctl/lvs"
)

// maxBatchBytes bounds one sendmsg of a batch. The kernel refuses a
// datagram larger than the socket's send buffer (212992 bytes by default);
// 64 KiB keeps far from that and still carries hundreds of requests.
const maxBatchBytes = 64 << 10

// ExecBatch performs ops in order over the one socket, packing many
// requests into each sendmsg and asking for a positive ACK only on the last
// request of each packet: the kernel handles the requests of a packet one
// after the other and answers every failure with an NLMSG_ERROR carrying
// the request's sequence number, so the ACK of the last one proves the
// whole packet done and the errors before it say which requests failed.
//
// A failed op does not stop the ones after it. The result has one entry
// per op: nil for success, an *Error for a refusal by the kernel, an error
// matching ErrInvalid for an op that could not be encoded (and was not
// sent). The second result reports a failure of the socket or the context;
// the ops whose outcome it leaves unknown carry it too.
func (c *Client) ExecBatch(ctx context.Context, ops []lvs.Op) ([]error, error) {
	errs := make([]error, len(ops))
	reqs := make([]request, len(ops))
	var todo []int // indexes of the ops to send, in order
	for i, op := range ops {
		r, err := encodeOp(op)
		if err != nil {
			errs[i] = fmt.Errorf("%s: %w", op.Kind, err)
			continue
		}
		reqs[i] = r
		todo = append(todo, i)
	}
	if len(todo) == 0 {
		return errs, nil
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	fail := func(from int, cause error) ([]error, error) {
		for _, i := range todo[from:] {
			if errs[i] == nil {
				errs[i] = fmt.Errorf("%s: outcome unknown: %w", ops[i].Kind, cause)
			}
		}
		return errs, cause
	}
	conn, err := c.ready()
	if err != nil {
		return fail(0, fmt.Errorf("batch: %w", err))
	}
	disarm, err := arm(ctx, conn)
	if err != nil {
		return fail(0, fmt.Errorf("batch: %w", err))
	}
	defer disarm()

	for start := 0; start < len(todo); {
		if err := ctx.Err(); err != nil {
			return fail(start, fmt.Errorf("batch: %w", err))
		}
		// Pack requests up to the message and byte limits.
		var (
			msgs []netlink.Message
			size int
		)
		end := start
		for end < len(todo) && end-start < c.batchMsgs {
			r := reqs[todo[end]]
			m := c.message(r.cmd, 0, r.attrs)
			n := nlmsgAlign(16 + len(m.Data)) // struct nlmsghdr + payload
			if end > start && size+n > maxBatchBytes {
				break
			}
			msgs = append(msgs, m)
			size += n
			end++
		}
		msgs[len(msgs)-1].Header.Flags |= netlink.Acknowledge

		sent, err := conn.SendMessages(msgs)
		if err != nil {
			return fail(start, c.transportError(ctx, reqs[todo[start]].cmd, err))
		}
		seqs := make(map[uint32]int, len(sent)) // sequence number -> op index
		for j, m := range sent {
			seqs[m.Header.Sequence] = todo[start+j]
		}
		last := sent[len(sent)-1].Header.Sequence
		for done := false; !done; {
			replies, err := conn.Receive()
			if err != nil {
				errno, msg, seq, ok := kernelError(err)
				if !ok {
					return fail(start, c.transportError(ctx, reqs[todo[start]].cmd, err))
				}
				i, mine := seqs[seq]
				if !mine {
					continue // the answer to an earlier, abandoned request
				}
				errs[i] = &Error{Cmd: reqs[i].cmd, Errno: errno, Message: msg}
				done = seq == last
				continue
			}
			for _, m := range replies {
				if m.Header.Type == netlink.Error && m.Header.Sequence == last {
					done = true
				}
			}
		}
		start = end
	}
	return errs, nil
}

func nlmsgAlign(n int) int { return (n + 3) &^ 3 }
