package check

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Every test here talks to servers on loopback only (127.0.0.0/8, ::1).

var (
	lo4 = netip.MustParseAddr("127.0.0.1")
	lo6 = netip.MustParseAddr("::1")
)

func haveIPv6(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	l.Close()
}

// checkWithin runs c against target with a deadline d and returns the
// result and how long it took.
//
// A checker that can also run on the Scheduler's event loop is run there
// too, and the two verdicts must agree: the same OK, the same sentinel
// errors and errno, the same detail, and the same error text but for
// port numbers.
func checkWithin(t *testing.T, c Checker, target Target, d time.Duration) (Result, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	r := c.Check(ctx, target)
	took := time.Since(start)
	if lc, ok := c.(loopChecker); ok && lc.onLoop(target) {
		lr, ltook := checkOnLoop(t, lc, target, d)
		sameVerdict(t, r, lr)
		took = max(took, ltook)
	}
	return r, took
}

// checkOnLoop runs one check of c on a loop of its own, aborted after d
// as the Scheduler's deadline would.
func checkOnLoop(t *testing.T, c loopChecker, target Target, d time.Duration) (Result, time.Duration) {
	t.Helper()
	l := newLoop()
	if err := l.start(); err != nil {
		t.Fatal(err)
	}
	defer l.close()
	results := make(chan Result, 1)
	var task loopTask
	start := time.Now()
	l.post(func() { task = c.startOn(l, target, nil, func(r Result) { results <- r }) })
	deadline := l.AfterFunc(d, func() { task.abort() })
	defer deadline.Stop()
	select {
	case r := <-results:
		return r, time.Since(start)
	case <-time.After(d + 5*time.Second):
		t.Fatalf("the check on the loop did not end %v after its deadline", 5*time.Second)
	}
	return Result{}, 0
}

var portNumber = regexp.MustCompile(`:[0-9]+`)

// sameVerdict fails the test if a check's result on the loop differs
// from Check's.
func sameVerdict(t *testing.T, check, onLoop Result) {
	t.Helper()
	if check.OK != onLoop.OK || check.Detail != onLoop.Detail {
		t.Errorf("on the loop: OK %v, detail %q (err %v); Check: OK %v, detail %q (err %v)",
			onLoop.OK, onLoop.Detail, onLoop.Err, check.OK, check.Detail, check.Err)
	}
	for _, e := range []error{ErrTimeout, ErrUnexpectedStatus, ErrDigestMismatch, syscall.ECONNREFUSED, os.ErrDeadlineExceeded} {
		if errors.Is(check.Err, e) != errors.Is(onLoop.Err, e) {
			t.Errorf("errors.Is(%v): on the loop %v (%v), Check %v (%v)", e, errors.Is(onLoop.Err, e), onLoop.Err, errors.Is(check.Err, e), check.Err)
		}
	}
	if check.Err != nil && onLoop.Err != nil {
		a, b := portNumber.ReplaceAllString(check.Err.Error(), ":N"), portNumber.ReplaceAllString(onLoop.Err.Error(), ":N")
		if a != b {
			t.Errorf("error on the loop:\n\t%s\nCheck's:\n\t%s", b, a)
		}
	}
	if onLoop.Latency <= 0 {
		t.Errorf("latency on the loop %v", onLoop.Latency)
	}
}

func targetOf(t *testing.T, addr string) Target {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return Target{Addr: ap.Addr(), Port: ap.Port()}
}

// httpServer serves h on addr (loopback) until the test ends.
func httpServer(t *testing.T, network, addr string, h http.Handler, tlsCfg *tls.Config) Target {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	if tlsCfg != nil {
		l = tls.NewListener(l, tlsCfg)
	}
	srv := &http.Server{Handler: h, ErrorLog: nil}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = srv.Close()
		wg.Wait()
	})
	return targetOf(t, l.Addr().String())
}

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T, network, addr string) Target {
	t.Helper()
	if strings.HasPrefix(network, "udp") {
		c, err := net.ListenPacket(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return targetOf(t, c.LocalAddr().String())
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return targetOf(t, l.Addr().String())
}

func TestHTTP(t *testing.T) {
	noLeaks(t)
	const body = "hello from the real server\n"
	sum := md5.Sum([]byte(body))
	digest := hex.EncodeToString(sum[:])
	var mu sync.Mutex
	var hosts, agents, remotes []string
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hosts, agents, remotes = append(hosts, r.Host), append(agents, r.UserAgent()), append(remotes, r.RemoteAddr)
		mu.Unlock()
		io.WriteString(w, body)
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	srv4 := httpServer(t, "tcp4", "127.0.0.1:0", mux, nil)
	closed := freePort(t, "tcp4", "127.0.0.1:0")

	tests := []struct {
		name    string
		c       HTTP
		target  Target
		wantOK  bool
		wantErr error
	}{
		{name: "default url", c: HTTP{}, target: srv4, wantOK: true},
		{name: "digest", c: HTTP{URLs: []URL{{Path: "/", Digest: digest}}}, target: srv4, wantOK: true},
		{name: "digest upper case", c: HTTP{URLs: []URL{{Path: "/", Digest: strings.ToUpper(digest)}}}, target: srv4, wantOK: true},
		{name: "digest mismatch", c: HTTP{URLs: []URL{{Path: "/", Digest: strings.Repeat("0", 32)}}}, target: srv4, wantErr: ErrDigestMismatch},
		{name: "503 not in 200-299", c: HTTP{URLs: []URL{{Path: "/fail"}}}, target: srv4, wantErr: ErrUnexpectedStatus},
		{name: "503 expected", c: HTTP{URLs: []URL{{Path: "/fail", Status: []StatusRange{{200, 200}, {500, 599}}}}}, target: srv4, wantOK: true},
		{name: "404", c: HTTP{URLs: []URL{{Path: "/missing/../nope", Status: []StatusRange{{200, 200}}}}}, target: srv4, wantErr: ErrUnexpectedStatus},
		{name: "all urls must pass", c: HTTP{URLs: []URL{{Path: "/"}, {Path: "/fail"}}}, target: srv4, wantErr: ErrUnexpectedStatus},
		{name: "connect_port", c: HTTP{Conn: Conn{ConnectPort: srv4.Port}}, target: Target{Addr: lo4, Port: closed.Port}, wantOK: true},
		{name: "connect_ip", c: HTTP{Conn: Conn{ConnectIP: lo4}}, target: Target{Addr: netip.MustParseAddr("127.0.0.9"), Port: srv4.Port}, wantOK: true},
		{name: "refused", c: HTTP{}, target: closed, wantErr: syscall.ECONNREFUSED},
		{name: "timeout", c: HTTP{URLs: []URL{{Path: "/hang"}}}, target: srv4, wantErr: ErrTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, took := checkWithin(t, tt.c, tt.target, 300*time.Millisecond)
			if r.OK != tt.wantOK || (tt.wantErr != nil && !errors.Is(r.Err, tt.wantErr)) {
				t.Fatalf("Check = OK %v, err %v (detail %q); want OK %v, err %v", r.OK, r.Err, r.Detail, tt.wantOK, tt.wantErr)
			}
			if r.OK && r.Err != nil {
				t.Fatalf("OK result with error %v", r.Err)
			}
			if took > 2*time.Second {
				t.Fatalf("check took %v, past its 300ms deadline", took)
			}
			if r.Latency <= 0 {
				t.Fatalf("latency %v", r.Latency)
			}
		})
	}

	t.Run("headers and bindto", func(t *testing.T) {
		mu.Lock()
		hosts, agents, remotes = nil, nil, nil
		mu.Unlock()
		c := HTTP{VirtualHost: "www.example.com", Conn: Conn{BindTo: netip.MustParseAddr("127.0.0.2")},
			URLs: []URL{{Path: "/"}, {Path: "/x", VirtualHost: "other.example.com"}}}
		r, _ := checkWithin(t, c, srv4, time.Second)
		if !r.OK {
			t.Fatalf("Check: %v", r.Err)
		}
		mu.Lock()
		defer mu.Unlock()
		if want := []string{"www.example.com", "other.example.com"}; strings.Join(hosts, ",") != strings.Join(want, ",") {
			t.Errorf("Host headers %q, want %q", hosts, want)
		}
		for _, a := range agents {
			if a != "KeepAliveClient" {
				t.Errorf("User-Agent %q", a)
			}
		}
		for _, ra := range remotes {
			if !strings.HasPrefix(ra, "127.0.0.2:") {
				t.Errorf("request came from %s, want 127.0.0.2 (bindto)", ra)
			}
		}
	})

	t.Run("ipv6", func(t *testing.T) {
		haveIPv6(t)
		srv6 := httpServer(t, "tcp6", "[::1]:0", mux, nil)
		r, _ := checkWithin(t, HTTP{URLs: []URL{{Path: "/", Digest: digest}}}, srv6, time.Second)
		if !r.OK {
			t.Fatalf("Check [::1]: %v", r.Err)
		}
	})
}

// selfSigned makes a certificate for the test server, as an operator's
// real server would have one that the checker does not verify.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "real.example.com"},
		DNSNames:     []string{"real.example.com"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestHTTPS(t *testing.T) {
	noLeaks(t)
	cert := selfSigned(t)
	var mu sync.Mutex
	var snis []string
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			mu.Lock()
			snis = append(snis, h.ServerName)
			mu.Unlock()
			return nil, nil
		},
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			http.Error(w, "not TLS", http.StatusBadRequest)
			return
		}
		io.WriteString(w, "secure\n")
	})
	srv := httpServer(t, "tcp4", "127.0.0.1:0", h, cfg)
	plain := httpServer(t, "tcp4", "127.0.0.1:0", h, nil)

	for _, tt := range []struct {
		name     string
		c        HTTP
		target   Target
		wantOK   bool
		wantSNIs []string
	}{
		{name: "no sni", c: NewHTTPS(HTTP{VirtualHost: "www.example.com"}, false), target: srv, wantOK: true, wantSNIs: []string{""}},
		{name: "sni from virtualhost", c: NewHTTPS(HTTP{VirtualHost: "www.example.com"}, true), target: srv, wantOK: true, wantSNIs: []string{"www.example.com"}},
		{name: "sni per url", c: NewHTTPS(HTTP{VirtualHost: "a.example.com", URLs: []URL{{Path: "/"}, {Path: "/", VirtualHost: "b.example.com"}}}, true), target: srv, wantOK: true, wantSNIs: []string{"a.example.com", "b.example.com"}},
		{name: "server without TLS", c: NewHTTPS(HTTP{}, false), target: plain, wantOK: false},
		{name: "plain HTTP to a TLS server", c: HTTP{}, target: srv, wantOK: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			snis = nil
			mu.Unlock()
			r, _ := checkWithin(t, tt.c, tt.target, time.Second)
			if r.OK != tt.wantOK {
				t.Fatalf("Check = OK %v, err %v; want OK %v", r.OK, r.Err, tt.wantOK)
			}
			mu.Lock()
			defer mu.Unlock()
			if tt.wantSNIs != nil && strings.Join(snis, ",") != strings.Join(tt.wantSNIs, ",") {
				t.Fatalf("server names sent %q, want %q", snis, tt.wantSNIs)
			}
		})
	}
}

func TestTCP(t *testing.T) {
	noLeaks(t)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	up := targetOf(t, l.Addr().String())
	closed := freePort(t, "tcp4", "127.0.0.1:0")

	if r, _ := checkWithin(t, TCP{}, up, time.Second); !r.OK {
		t.Errorf("listening port: %v", r.Err)
	}
	if r, _ := checkWithin(t, TCP{}, closed, time.Second); r.OK || !errors.Is(r.Err, syscall.ECONNREFUSED) {
		t.Errorf("closed port: OK %v, err %v; want ECONNREFUSED", r.OK, r.Err)
	}
	if r, _ := checkWithin(t, TCP{Conn: Conn{ConnectPort: up.Port}}, closed, time.Second); !r.OK {
		t.Errorf("connect_port: %v", r.Err)
	}
	if r, _ := checkWithin(t, TCP{Conn: Conn{BindTo: netip.MustParseAddr("127.0.0.3")}}, up, time.Second); !r.OK {
		t.Errorf("bindto: %v", r.Err)
	}
	t.Run("ipv6", func(t *testing.T) {
		haveIPv6(t)
		l6, err := net.Listen("tcp6", "[::1]:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l6.Close()
		if r, _ := checkWithin(t, TCP{}, targetOf(t, l6.Addr().String()), time.Second); !r.OK {
			t.Errorf("[::1]: %v", r.Err)
		}
		if r, _ := checkWithin(t, TCP{}, freePort(t, "tcp6", "[::1]:0"), time.Second); r.OK {
			t.Error("closed [::1] port reported up")
		}
	})
}

// udpServer answers each datagram with reply(datagram); a nil reply
// stays silent.
func udpServer(t *testing.T, network, addr string, reply func([]byte) []byte) Target {
	t.Helper()
	c, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			if out := reply(append([]byte(nil), buf[:n]...)); out != nil {
				_, _ = c.WriteTo(out, from)
			}
		}
	}()
	t.Cleanup(func() { c.Close(); wg.Wait() })
	return targetOf(t, c.LocalAddr().String())
}

func TestUDP(t *testing.T) {
	noLeaks(t)
	var mu sync.Mutex
	var got [][]byte
	silent := udpServer(t, "udp4", "127.0.0.1:0", func(b []byte) []byte {
		mu.Lock()
		got = append(got, b)
		mu.Unlock()
		return nil
	})
	echo := udpServer(t, "udp4", "127.0.0.1:0", func(b []byte) []byte { return b })
	pong := udpServer(t, "udp4", "127.0.0.1:0", func([]byte) []byte { return []byte("PONG\x01\x02") })
	closed := freePort(t, "udp4", "127.0.0.1:0")
	const wait = 300 * time.Millisecond

	tests := []struct {
		name     string
		c        UDP
		target   Target
		wantOK   bool
		wantErr  error
		wantFast bool // verdict well before the deadline
	}{
		{name: "silent server is up", c: UDP{Payload: []byte("ping")}, target: silent, wantOK: true},
		{name: "closed port is down", c: UDP{}, target: closed, wantErr: syscall.ECONNREFUSED, wantFast: true},
		{name: "connect_port to a closed port", c: UDP{Conn: Conn{ConnectPort: closed.Port}}, target: silent, wantErr: syscall.ECONNREFUSED, wantFast: true},
		{name: "require_reply answered", c: UDP{RequireReply: true}, target: echo, wantOK: true, wantFast: true},
		{name: "require_reply unanswered", c: UDP{RequireReply: true}, target: silent, wantErr: ErrNoReply},
		{name: "require_reply data", c: UDP{RequireReply: true, Reply: []byte("PONG")}, target: pong, wantOK: true, wantFast: true},
		{name: "require_reply data mismatch", c: UDP{RequireReply: true, Reply: []byte("PING")}, target: pong, wantErr: ErrReplyMismatch, wantFast: true},
		{name: "require_reply masked", c: UDP{RequireReply: true, Reply: []byte("P\x00NG\x01"), ReplyMask: []byte{0, 0xff, 0, 0, 0x0f}}, target: pong, wantOK: true, wantFast: true},
		{name: "reply too short", c: UDP{RequireReply: true, MinReplyLen: 10}, target: pong, wantErr: ErrReplyMismatch, wantFast: true},
		{name: "reply too long", c: UDP{RequireReply: true, MaxReplyLen: 3}, target: pong, wantErr: ErrReplyMismatch, wantFast: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, took := checkWithin(t, tt.c, tt.target, wait)
			if r.OK != tt.wantOK || (tt.wantErr != nil && !errors.Is(r.Err, tt.wantErr)) {
				t.Fatalf("Check = OK %v, err %v; want OK %v, err %v", r.OK, r.Err, tt.wantOK, tt.wantErr)
			}
			if tt.wantFast && took > wait/2 {
				t.Fatalf("took %v; the verdict should not wait for the %v deadline", took, wait)
			}
			if took > wait+time.Second {
				t.Fatalf("took %v, past the deadline", took)
			}
		})
	}
	mu.Lock()
	if len(got) == 0 || string(got[0]) != "ping" {
		t.Errorf("silent server received %q, want the payload first", got)
	}
	if len(got) > 1 && len(got[1]) != 16 {
		t.Errorf("default payload is %d bytes, want 16 random ones", len(got[1]))
	}
	mu.Unlock()

	t.Run("ipv6", func(t *testing.T) {
		haveIPv6(t)
		silent6 := udpServer(t, "udp6", "[::1]:0", func([]byte) []byte { return nil })
		if r, _ := checkWithin(t, UDP{}, silent6, wait); !r.OK {
			t.Errorf("silent [::1] server: %v", r.Err)
		}
		if r, took := checkWithin(t, UDP{}, freePort(t, "udp6", "[::1]:0"), wait); r.OK || took > wait/2 {
			t.Errorf("closed [::1] port: OK %v after %v; want a fast failure", r.OK, took)
		}
	})
}

func TestParseHex(t *testing.T) {
	tests := []struct {
		in         string
		data, mask string // hex
		err        bool
	}{
		{in: "Ab12f 3 456 546443123", data: "ab120f034506546443 1203"},
		{in: "00", data: "00"},
		{in: "1x", data: "10", mask: "0f"},
		{in: "XX 5", data: "0005", mask: "ff00"},
		{in: "", err: true},
		{in: "   ", err: true},
		{in: "12g4", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			data, mask, err := ParseHex(tt.in)
			if tt.err {
				if !errors.Is(err, ErrBadHex) {
					t.Fatalf("ParseHex(%q) err = %v, want ErrBadHex", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := hex.EncodeToString(data), strings.ReplaceAll(tt.data, " ", ""); got != want {
				t.Errorf("data %s, want %s", got, want)
			}
			if got := hex.EncodeToString(mask); got != tt.mask {
				t.Errorf("mask %q, want %q", got, tt.mask)
			}
		})
	}
}

// TestHTTPResponses runs HTTP_GET against hand-written responses, each
// through Check and on the loop (see checkWithin): status lines split
// across writes, malformed ones, early ends, and a server that keeps the
// connection open after its response.
func TestHTTPResponses(t *testing.T) {
	noLeaks(t)
	tests := []struct {
		name    string
		writes  []string
		close   bool
		wantOK  bool
		wantErr string
	}{
		{name: "one write", writes: []string{"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n"}, close: true, wantOK: true},
		{name: "status line split", writes: []string{"HTTP/1.1 2", "04 No", " Content\r\n\r\n"}, close: true, wantOK: true},
		{name: "bare LF", writes: []string{"HTTP/1.1 200 OK\n\n"}, close: true, wantOK: true},
		{name: "kept open", writes: []string{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}, wantOK: true},
		{name: "kept open, 500", writes: []string{"HTTP/1.1 500 Internal Server Error\r\n\r\n"}, wantErr: "unexpected HTTP status 500"},
		{name: "bad code", writes: []string{"HTTP/1.1 2x0 OK\r\n\r\n"}, close: true, wantErr: `malformed HTTP status code "2x0"`},
		{name: "bad version", writes: []string{"HTTX/1.1 200 OK\r\n\r\n"}, close: true, wantErr: `malformed HTTP version "HTTX/1.1"`},
		{name: "no space", writes: []string{"garbage\r\n\r\n"}, close: true, wantErr: `malformed HTTP response "garbage"`},
		{name: "nothing", close: true, wantErr: "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			defer wg.Wait()
			defer ln.Close()
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						defer c.Close()
						_, _ = bufioDiscardHeader(c)
						for _, w := range tt.writes {
							_, _ = io.WriteString(c, w)
							time.Sleep(20 * time.Millisecond)
						}
						if !tt.close {
							_, _ = io.Copy(io.Discard, c) // until the checker closes
						}
					}()
				}
			}()
			r, _ := checkWithin(t, HTTP{}, targetOf(t, ln.Addr().String()), 500*time.Millisecond)
			if r.OK != tt.wantOK {
				t.Fatalf("OK %v (err %v), want %v", r.OK, r.Err, tt.wantOK)
			}
			if tt.wantErr != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), tt.wantErr)) {
				t.Fatalf("err %v, want one saying %q", r.Err, tt.wantErr)
			}
		})
	}
}

// bufioDiscardHeader reads a request up to its blank line.
func bufioDiscardHeader(c net.Conn) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for !strings.HasSuffix(b.String(), "\r\n\r\n") {
		if _, err := c.Read(buf); err != nil {
			return b.String(), err
		}
		b.WriteByte(buf[0])
	}
	return b.String(), nil
}
