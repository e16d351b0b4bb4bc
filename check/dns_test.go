package check

import (
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// dnsServer is a DNS responder on loopback UDP written for the test: for
// each query it first sends a datagram with the wrong ID and a copy of the
// query (QR clear), which the checker must skip, then the reply with the
// configured rcode and no answers. It records the questions it saw.
type dnsServer struct {
	mu        sync.Mutex
	rcode     int
	questions []string // "name TYPE"
	flags     []uint16
}

func (d *dnsServer) serve(t *testing.T, network, addr string) Target {
	t.Helper()
	c, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 512)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			q := append([]byte(nil), buf[:n]...)
			if len(q) < 12 {
				continue
			}
			name, qtype, ok := readQuestion(q[12:])
			d.mu.Lock()
			if ok {
				d.questions = append(d.questions, name+" "+qtype)
			}
			d.flags = append(d.flags, binary.BigEndian.Uint16(q[2:]))
			rcode := d.rcode
			d.mu.Unlock()

			wrongID := append([]byte(nil), q...)
			wrongID[0] ^= 0xff
			wrongID[2] |= 0x80
			_, _ = c.WriteTo(wrongID, from)
			_, _ = c.WriteTo(q, from) // QR clear: a query, not a reply
			reply := append([]byte(nil), q...)
			// QR, the query's opcode and RD, RA, the rcode (RFC 1035 §4.1.1).
			binary.BigEndian.PutUint16(reply[2:], 0x8000|binary.BigEndian.Uint16(q[2:])&0x7900|0x0080|uint16(rcode))
			_, _ = c.WriteTo(reply, from)
		}
	}()
	t.Cleanup(func() { c.Close(); wg.Wait() })
	return targetOf(t, c.LocalAddr().String())
}

// readQuestion decodes the name and type of a question section.
func readQuestion(b []byte) (name, qtype string, ok bool) {
	var labels []string
	for len(b) > 0 && b[0] != 0 {
		n := int(b[0])
		if len(b) < 1+n {
			return "", "", false
		}
		labels = append(labels, string(b[1:1+n]))
		b = b[1+n:]
	}
	if len(b) < 5 {
		return "", "", false
	}
	t := binary.BigEndian.Uint16(b[1:])
	if class := binary.BigEndian.Uint16(b[3:]); class != 1 {
		return "", "", false
	}
	for k, v := range dnsTypes {
		if v == t {
			qtype = k
		}
	}
	return strings.Join(labels, ".") + ".", qtype, true
}

func TestDNS(t *testing.T) {
	noLeaks(t)
	ok := &dnsServer{}
	okT := ok.serve(t, "udp4", "127.0.0.1:0")
	nx := &dnsServer{rcode: 3}
	nxT := nx.serve(t, "udp4", "127.0.0.1:0")
	silent := udpServer(t, "udp4", "127.0.0.1:0", func([]byte) []byte { return nil })
	closed := freePort(t, "udp4", "127.0.0.1:0")

	tests := []struct {
		name    string
		c       DNS
		target  Target
		wantOK  bool
		wantErr error
		wantQ   string
	}{
		{name: "defaults: SOA of the root", c: DNS{}, target: okT, wantOK: true, wantQ: ". SOA"},
		{name: "A record", c: DNS{Type: 1, Name: "www.example.com"}, target: okT, wantOK: true, wantQ: "www.example.com. A"},
		{name: "trailing dot", c: DNS{Type: 28, Name: "example.com."}, target: okT, wantOK: true, wantQ: "example.com. AAAA"},
		{name: "NXDOMAIN", c: DNS{Type: 1, Name: "nope.example.com"}, target: nxT, wantErr: ErrRcode},
		{name: "no reply", c: DNS{}, target: silent, wantErr: ErrTimeout},
		{name: "closed port", c: DNS{}, target: closed},
		{name: "empty label", c: DNS{Name: "a..b"}, target: okT, wantErr: ErrBadName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok.mu.Lock()
			ok.questions = nil
			ok.mu.Unlock()
			r, took := checkWithin(t, tt.c, tt.target, 300*time.Millisecond)
			if r.OK != tt.wantOK || (tt.wantErr != nil && !errors.Is(r.Err, tt.wantErr)) {
				t.Fatalf("Check = OK %v, err %v; want OK %v, err %v", r.OK, r.Err, tt.wantOK, tt.wantErr)
			}
			if took > time.Second {
				t.Fatalf("took %v", took)
			}
			if tt.wantQ != "" {
				ok.mu.Lock()
				defer ok.mu.Unlock()
				if len(ok.questions) != 1 || ok.questions[0] != tt.wantQ {
					t.Fatalf("server saw %q, want [%q]", ok.questions, tt.wantQ)
				}
				if f := ok.flags[len(ok.flags)-1]; f != 0x0100 {
					t.Fatalf("query flags %#04x, want RD only", f)
				}
			}
		})
	}
	t.Run("ipv6", func(t *testing.T) {
		haveIPv6(t)
		s6 := &dnsServer{}
		if r, _ := checkWithin(t, DNS{Type: 2, Name: "example.org"}, s6.serve(t, "udp6", "[::1]:0"), time.Second); !r.OK {
			t.Fatalf("[::1]: %v", r.Err)
		}
	})
}

func TestDNSType(t *testing.T) {
	for name, want := range map[string]uint16{"a": 1, "NS": 2, "cname": 5, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28, "RRSIG": 46, "DNSKEY": 48} {
		if got, ok := DNSType(name); !ok || got != want {
			t.Errorf("DNSType(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
	if _, ok := DNSType("PTR"); ok {
		t.Error("PTR accepted; keepalived's DNS_CHECK does not know it")
	}
}
