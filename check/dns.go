package check

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DNS is keepalived's DNS_CHECK: one query over UDP, with recursion
// desired, and success when a reply with the query's ID, the QR bit and
// rcode NOERROR comes back. The answer section is not looked at: an empty
// NOERROR answer is a healthy server. Datagrams that are not a reply to the
// query (wrong ID, QR clear, shorter than a header) are skipped, as
// keepalived 2.2's check_dns.c does, until the deadline.
type DNS struct {
	Conn
	// Type is the query type (RFC 1035 §3.2.2 numbers, see DNSType);
	// zero: SOA, keepalived's default.
	Type uint16
	// Name is the name queried; empty: "." (the root), keepalived's default.
	Name string
}

var _ Checker = DNS{}

// DNS query types keepalived's DNS_CHECK accepts.
var dnsTypes = map[string]uint16{
	"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16,
	"AAAA": 28, "RRSIG": 46, "DNSKEY": 48,
}

// DNSType returns the number of a query type name (A, NS, CNAME, SOA, MX,
// TXT, AAAA, RRSIG, DNSKEY; any case), and false for another name.
func DNSType(name string) (uint16, bool) {
	t, ok := dnsTypes[strings.ToUpper(name)]
	return t, ok
}

// ErrBadName reports a DNS name that cannot be encoded.
var ErrBadName = errors.New("invalid DNS name")

// Check sends the query and waits for its reply.
func (c DNS) Check(ctx context.Context, t Target) Result {
	start := time.Now()
	dst := c.remote(t)
	var idb [2]byte
	_, _ = rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])
	q, err := dnsQuery(id, c.Name, c.Type)
	if err != nil {
		return fail(ctx, start, err)
	}
	conn, err := c.dialer("udp").DialContext(ctx, "udp", hostPort(dst))
	if err != nil {
		return fail(ctx, start, fmt.Errorf("DNS socket to %s: %w", dst, err))
	}
	defer conn.Close()
	stop := bindConn(ctx, conn)
	defer stop()
	if _, err := conn.Write(q); err != nil {
		return fail(ctx, start, fmt.Errorf("send query to %s: %w", dst, err))
	}
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return fail(ctx, start, fmt.Errorf("read reply from %s: %w", dst, err))
		}
		rcode, ok := dnsReply(id, buf[:n])
		if !ok {
			continue
		}
		lat := time.Since(start)
		if rcode != 0 {
			return Result{Err: fmt.Errorf("%s: %w %d (%s)", dst, ErrRcode, rcode, rcodeName(rcode)), Latency: lat, Detail: rcodeName(rcode)}
		}
		return Result{OK: true, Latency: lat, Detail: "NOERROR"}
	}
}

// dnsQuery encodes a query (RFC 1035 §4.1): a header with RD set and one
// question of class IN.
func dnsQuery(id uint16, name string, qtype uint16) ([]byte, error) {
	if qtype == 0 {
		qtype = dnsTypes["SOA"]
	}
	b := make([]byte, 12, 12+len(name)+6)
	binary.BigEndian.PutUint16(b[0:], id)
	binary.BigEndian.PutUint16(b[2:], 1<<8) // RD (RFC 1035 §4.1.1)
	binary.BigEndian.PutUint16(b[4:], 1)    // QDCOUNT
	name = strings.TrimSuffix(name, ".")
	if name != "" {
		for _, label := range strings.Split(name, ".") {
			if len(label) == 0 || len(label) > 63 {
				return nil, fmt.Errorf("%w: %q", ErrBadName, name)
			}
			b = append(b, byte(len(label)))
			b = append(b, label...)
		}
	}
	b = append(b, 0)
	if len(b)-12 > 255 { // RFC 1035 §2.3.4: names are at most 255 octets
		return nil, fmt.Errorf("%w: %q is too long", ErrBadName, name)
	}
	b = binary.BigEndian.AppendUint16(b, qtype)
	b = binary.BigEndian.AppendUint16(b, 1) // QCLASS IN
	return b, nil
}

// dnsReply reads a datagram's header: ok is false unless it is a reply
// (QR set) to the query with this id; rcode is its RCODE.
func dnsReply(id uint16, b []byte) (rcode int, ok bool) {
	if len(b) < 12 || binary.BigEndian.Uint16(b) != id {
		return 0, false
	}
	flags := binary.BigEndian.Uint16(b[2:])
	if flags&(1<<15) == 0 {
		return 0, false
	}
	return int(flags & 0xf), true
}

func rcodeName(rcode int) string {
	// RFC 1035 §4.1.1 and RFC 2136 §2.2.
	names := [...]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"}
	if rcode < len(names) {
		return names[rcode]
	}
	return fmt.Sprintf("RCODE%d", rcode)
}
