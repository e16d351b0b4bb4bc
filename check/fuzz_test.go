package check

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The -update flag may also be registered by other test files of this
// package; register it only once.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite generated files in testdata")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// fuzzSeeds are the inputs each fuzz target starts from; TestFuzzSeeds
// writes them to testdata/fuzz/<target>/ under -update.
func fuzzSeeds() map[string][][]any {
	q, _ := dnsQuery(0x1234, "www.example.com", 1)
	reply := append([]byte(nil), q...)
	reply[2] |= 0x80
	nx := append([]byte(nil), reply...)
	nx[3] |= 3
	return map[string][][]any{
		"FuzzParseHex": {{"Ab12f 3 456 546443123"}, {"xX 0f"}, {""}, {"zz"}},
		"FuzzDNSReply": {{q}, {reply}, {nx}, {[]byte{0x12}}},
		"FuzzDNSQuery": {{"www.example.com", uint16(1)}, {".", uint16(6)}, {"a..b", uint16(28)}, {strings.Repeat("a", 64), uint16(16)}},
		"FuzzParseEcho": {
			{echoRequest(false, 1, 2, []byte("abc")), false},
			{append([]byte{icmp6EchoReply, 0, 0, 0}, 0, 1, 0, 2, 'x'), true},
			{[]byte{3, 3, 0, 0, 0, 0, 0, 0}, false},
			{[]byte{0}, true},
		},
	}
}

func addSeeds(f *testing.F) {
	for _, args := range fuzzSeeds()[f.Name()] {
		f.Add(args...)
	}
}

// TestFuzzSeeds writes the seed corpus files under -update and otherwise
// checks that they are there.
func TestFuzzSeeds(t *testing.T) {
	for name, seeds := range fuzzSeeds() {
		dir := filepath.Join("testdata", "fuzz", name)
		for i, args := range seeds {
			var b strings.Builder
			b.WriteString("go test fuzz v1\n")
			for _, a := range args {
				switch a := a.(type) {
				case []byte:
					fmt.Fprintf(&b, "[]byte(%q)\n", a)
				case string:
					fmt.Fprintf(&b, "string(%q)\n", a)
				case uint16:
					fmt.Fprintf(&b, "uint16(%d)\n", a)
				case bool:
					fmt.Fprintf(&b, "bool(%v)\n", a)
				}
			}
			p := filepath.Join(dir, fmt.Sprintf("seed-%d", i))
			if updating() {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(p)
			if err != nil || string(got) != b.String() {
				t.Errorf("%s is missing or stale (err %v); run go test -run TestFuzzSeeds -update", p, err)
			}
		}
	}
}

func FuzzParseHex(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		data, mask, err := ParseHex(s)
		if err != nil {
			return
		}
		if len(data) == 0 || (mask != nil && len(mask) != len(data)) {
			t.Fatalf("ParseHex(%q) = %x, %x", s, data, mask)
		}
		for i := range mask {
			if data[i]&mask[i] != 0 {
				t.Fatalf("ParseHex(%q): masked bits set in data", s)
			}
		}
		if mask == nil {
			again, m2, err := ParseHex(hex.EncodeToString(data))
			if err != nil || m2 != nil || !bytes.Equal(again, data) {
				t.Fatalf("round trip of %x: %x, %x, %v", data, again, m2, err)
			}
		}
	})
}

func FuzzDNSReply(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 2 {
			return
		}
		id := binary.BigEndian.Uint16(b)
		rcode, ok := dnsReply(id, b)
		if ok && (len(b) < 12 || b[2]&0x80 == 0 || rcode != int(b[3]&0xf)) {
			t.Fatalf("dnsReply(%x) = %d, %v", b, rcode, ok)
		}
		if _, ok := dnsReply(id+1, b); ok {
			t.Fatalf("dnsReply accepted the wrong ID for %x", b)
		}
	})
}

func FuzzDNSQuery(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, name string, qtype uint16) {
		q, err := dnsQuery(7, name, qtype)
		if err != nil {
			return
		}
		got, _, ok := readQuestion(q[12:])
		if want := strings.TrimSuffix(name, ".") + "."; !ok || got != want {
			t.Fatalf("dnsQuery(%q) = %x: question reads back as %q, %v", name, q, got, ok)
		}
		if len(q)-12-4 > 255 {
			t.Fatalf("dnsQuery(%q): name of %d octets", name, len(q)-16)
		}
	})
}

func FuzzParseEcho(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte, v6 bool) {
		e, ok := parseEcho(v6, b)
		if !ok {
			return
		}
		again := echoRequest(v6, e.id, e.seq, e.payload)
		if !bytes.Equal(again[4:], b[4:]) {
			t.Fatalf("parseEcho(%x) = %+v, re-encoded %x", b, e, again)
		}
	})
}
