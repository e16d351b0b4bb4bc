package ipvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"net/netip"
	"sync"
	"testing"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/genetlink/genltest"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// testFamily is the IPVS family the fake controller reports.
var testFamily = genetlink.Family{ID: 0x23, Version: familyVersion, Name: familyName}

// errNoReply is what a receive on the fake gets when the client waits for
// an answer the kernel would never send (a bug that would hang for real).
var errNoReply = errors.New("fake kernel: receive with no reply pending")

// fakeKernel is a netlink.Socket that answers each request through a
// genltest.Func the way the kernel's generic netlink does: a reply or an
// ACK is one datagram, each part of a dump is a datagram of its own ending
// with NLMSG_DONE, and every failure is an NLMSG_ERROR datagram echoing the
// request. Unlike genltest.Dial it accepts many requests per sendmsg, which
// ExecBatch needs. The Func answers with genetlink messages, or with a
// unix.Errno or genltest.Error for a refusal.
type fakeKernel struct {
	t  testing.TB
	fn genltest.Func

	mu        sync.Mutex
	queue     [][]netlink.Message // datagrams waiting to be received
	sends     [][]netlink.Message // every sendmsg, as sent
	intrDumps int                 // this many next dumps carry NLM_F_DUMP_INTR
	extAck    string              // extended-ACK text added to errors
}

// newFakeClient returns a client on a fake kernel serving fn, with the
// IPVS family registered.
func newFakeClient(t testing.TB, fn genltest.Func) (*Client, *fakeKernel) {
	t.Helper()
	k := &fakeKernel{t: t, fn: genltest.ServeFamily(testFamily, fn)}
	c, err := newClient(netlink.NewConn(k, 1), Options{})
	if err != nil {
		t.Fatalf("newClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, k
}

func (k *fakeKernel) Close() error { return nil }

func (k *fakeKernel) Send(m netlink.Message) error {
	return k.SendMessages([]netlink.Message{m})
}

func (k *fakeKernel) SendMessages(ms []netlink.Message) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.sends = append(k.sends, append([]netlink.Message(nil), ms...))
	for _, m := range ms {
		k.handle(m)
	}
	return nil
}

// requests returns every request sent so far, control requests excluded.
func (k *fakeKernel) requests() []netlink.Message {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []netlink.Message
	for _, s := range k.sends {
		for _, m := range s {
			if m.Header.Type != unix.GENL_ID_CTRL {
				out = append(out, m)
			}
		}
	}
	return out
}

func (k *fakeKernel) handle(req netlink.Message) {
	var gm genetlink.Message
	if err := gm.UnmarshalBinary(req.Data); err != nil {
		k.queue = append(k.queue, []netlink.Message{k.errorMessage(req, unix.EINVAL)})
		return
	}
	replies, err := k.fn(gm, req)
	if err != nil {
		errno, ok := fakeErrno(err)
		if !ok {
			k.t.Errorf("fake kernel: %v", err)
			errno = unix.EINVAL
		}
		k.queue = append(k.queue, []netlink.Message{k.errorMessage(req, errno)})
		return
	}
	hdr := netlink.Header{Type: req.Header.Type, Sequence: req.Header.Sequence, PID: req.Header.PID}
	if req.Header.Flags&netlink.Dump != 0 {
		hdr.Flags = netlink.Multi
		if k.intrDumps > 0 {
			k.intrDumps--
			hdr.Flags |= netlink.DumpInterrupted
		}
		for _, r := range replies {
			k.queue = append(k.queue, []netlink.Message{{Header: hdr, Data: mustMarshal(k.t, r)}})
		}
		done := hdr
		done.Type = netlink.Done
		k.queue = append(k.queue, []netlink.Message{{Header: done, Data: make([]byte, 4)}})
		return
	}
	if len(replies) > 0 {
		var dgram []netlink.Message
		for _, r := range replies {
			dgram = append(dgram, netlink.Message{Header: hdr, Data: mustMarshal(k.t, r)})
		}
		k.queue = append(k.queue, dgram)
	}
	if req.Header.Flags&netlink.Acknowledge != 0 {
		ack := netlink.Message{
			Header: netlink.Header{Type: netlink.Error, Sequence: req.Header.Sequence, PID: req.Header.PID},
			Data:   append(make([]byte, 4), headerBytes(req.Header)...),
		}
		k.queue = append(k.queue, []netlink.Message{ack})
	}
}

// errorMessage is the kernel's NLMSG_ERROR for req: the negative errno, the
// echoed request and, with an extended ACK text, NLMSGERR_ATTR_MSG.
func (k *fakeKernel) errorMessage(req netlink.Message, errno unix.Errno) netlink.Message {
	data := binary.NativeEndian.AppendUint32(nil, uint32(-int32(errno)))
	data = append(data, headerBytes(req.Header)...)
	data = append(data, req.Data...)
	h := netlink.Header{Type: netlink.Error, Sequence: req.Header.Sequence, PID: req.Header.PID}
	if k.extAck != "" {
		h.Flags |= netlink.AcknowledgeTLVs
		b, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: 1, Data: append([]byte(k.extAck), 0)}})
		if err != nil {
			k.t.Fatal(err)
		}
		data = append(data, b...)
	}
	return netlink.Message{Header: h, Data: data}
}

func (k *fakeKernel) Receive() ([]netlink.Message, error) {
	var out []netlink.Message
	for m, err := range k.ReceiveIter() {
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// ReceiveIter yields one datagram, like one recvmsg.
func (k *fakeKernel) ReceiveIter() iter.Seq2[netlink.Message, error] {
	return func(yield func(netlink.Message, error) bool) {
		k.mu.Lock()
		if len(k.queue) == 0 {
			k.mu.Unlock()
			yield(netlink.Message{}, errNoReply)
			return
		}
		dgram := k.queue[0]
		k.queue = k.queue[1:]
		k.mu.Unlock()
		for _, m := range dgram {
			if !yield(m, nil) {
				return
			}
		}
	}
}

// fakeErrno accepts a unix.Errno or a genltest.Error.
func fakeErrno(err error) (unix.Errno, bool) {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno, true
	}
	var n int
	if _, serr := fmt.Sscanf(err.Error(), "genltest errno: %d", &n); serr == nil {
		return unix.Errno(n), true
	}
	return 0, false
}

func headerBytes(h netlink.Header) []byte {
	b := binary.NativeEndian.AppendUint32(nil, h.Length)
	b = binary.NativeEndian.AppendUint16(b, uint16(h.Type))
	b = binary.NativeEndian.AppendUint16(b, uint16(h.Flags))
	b = binary.NativeEndian.AppendUint32(b, h.Sequence)
	return binary.NativeEndian.AppendUint32(b, h.PID)
}

func mustMarshal(t testing.TB, m genetlink.Message) []byte {
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatalf("marshal reply: %v", err)
	}
	return b
}

// Attribute builders for fixtures. Multi-byte integers that the kernel
// keeps in host order go through ne16/ne32/ne64; network-order fields are
// written out byte by byte in the fixtures themselves.
func ne16(v uint16) []byte { return binary.NativeEndian.AppendUint16(nil, v) }
func ne32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
func ne64(v uint64) []byte { return binary.NativeEndian.AppendUint64(nil, v) }

func attr(typ uint16, data []byte) netlink.Attribute {
	return netlink.Attribute{Type: typ, Data: data}
}

func nest(t testing.TB, typ uint16, attrs ...netlink.Attribute) netlink.Attribute {
	t.Helper()
	return netlink.Attribute{Type: typ | netlink.Nested, Data: marshalAttrs(t, attrs...)}
}

func marshalAttrs(t testing.TB, attrs ...netlink.Attribute) []byte {
	t.Helper()
	b, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		t.Fatalf("marshal attributes: %v", err)
	}
	return b
}

// inet is a union nf_inet_addr holding addr.
func inet(addr string) []byte {
	a := netip.MustParseAddr(addr)
	b := make([]byte, 16)
	if a.Is4() {
		v := a.As4()
		copy(b, v[:])
	} else {
		v := a.As16()
		copy(b, v[:])
	}
	return b
}

func cstr(s string) []byte { return append([]byte(s), 0) }

// reply is a generic netlink message of the IPVS family.
func reply(cmd Cmd, attrs []byte) genetlink.Message {
	return genetlink.Message{Header: genetlink.Header{Command: uint8(cmd), Version: familyVersion}, Data: attrs}
}
