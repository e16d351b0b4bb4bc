package check

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// HTTP is keepalived's HTTP_GET (and, with TLS set, SSL_GET): for each URL a
// fresh connection, one GET, and a verdict on the status code and, when a
// digest is configured, on the MD5 of the body. All URLs must pass.
//
// The request is HTTP/1.0 with the User-Agent keepalived sends
// ("KeepAliveClient"), so real servers that filter health checks out of
// their logs by that name keep doing so, and the body arrives unchunked as
// keepalived's genhash hashes it.
type HTTP struct {
	Conn
	// URLs to fetch; none means one GET of "/" expecting 200-299.
	URLs []URL
	// VirtualHost is the Host header (and, with TLS.SNI, the server name)
	// for URLs without one of their own; empty: the connect address.
	VirtualHost string
	// TLS, when non-nil, makes this SSL_GET.
	TLS *TLS
}

// URL is one url block of HTTP_GET or SSL_GET.
type URL struct {
	Path string // request path; empty: "/"
	// Status lists the accepted status codes; empty: 200-299.
	Status []StatusRange
	// Digest is the expected MD5 of the body in hex, as keepalived's
	// genhash prints it; empty: the body is not read.
	Digest string
	// VirtualHost overrides HTTP.VirtualHost for this URL.
	VirtualHost string
}

// StatusRange is an inclusive range of HTTP status codes; Lo == Hi for one.
type StatusRange struct{ Lo, Hi int }

var _ Checker = HTTP{}

// Check fetches every URL in turn and fails on the first that does not pass.
func (c HTTP) Check(ctx context.Context, t Target) Result {
	start := time.Now()
	urls := c.URLs
	if len(urls) == 0 {
		urls = []URL{{Path: "/"}}
	}
	var detail string
	for _, u := range urls {
		d, err := c.get(ctx, t, u)
		if err != nil {
			r := fail(ctx, start, err)
			r.Detail = d
			return r
		}
		detail = d
	}
	return Result{OK: true, Latency: time.Since(start), Detail: detail}
}

// get performs one GET and returns the status line as detail.
func (c HTTP) get(ctx context.Context, t Target, u URL) (string, error) {
	dst := c.remote(t)
	path := u.Path
	if path == "" {
		path = "/"
	}
	host := u.VirtualHost
	if host == "" {
		host = c.VirtualHost
	}
	what := "GET " + path
	conn, stop, err := c.dialTCP(ctx, dst)
	if err != nil {
		return "", fmt.Errorf("%s: connect %s: %w", what, dst, err)
	}
	defer conn.Close()
	defer stop()

	if c.TLS != nil {
		tc, err := c.TLS.handshake(ctx, conn, host)
		if err != nil {
			return "", fmt.Errorf("%s: TLS handshake with %s: %w", what, dst, err)
		}
		conn = tc
	}

	if host == "" {
		host = hostPort(dst)
	}
	if _, err := conn.Write(request(path, host)); err != nil {
		return "", fmt.Errorf("%s: send to %s: %w", what, dst, err)
	}
	rb := readers.Get().(*readBuffers)
	rb.br.Reset(conn)
	defer func() {
		rb.br.Reset(nil)
		readers.Put(rb)
	}()
	resp, err := http.ReadResponse(rb.br, nil)
	if err != nil {
		return "", fmt.Errorf("%s: read response from %s: %w", what, dst, err)
	}
	defer resp.Body.Close()
	detail := path + ": " + strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode)
	if !statusOK(u.Status, resp.StatusCode) {
		return detail, fmt.Errorf("%s: %w %d", what, ErrUnexpectedStatus, resp.StatusCode)
	}
	if u.Digest == "" {
		return detail, nil
	}
	h := md5.New()
	if _, err := io.CopyBuffer(h, resp.Body, rb.body[:]); err != nil {
		return detail, fmt.Errorf("%s: read body from %s: %w", what, dst, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if !strings.EqualFold(got, u.Digest) {
		return detail + ", digest " + got, fmt.Errorf("%s: %w: got %s, want %s", what, ErrDigestMismatch, got, strings.ToLower(u.Digest))
	}
	return detail, nil
}

// request is the GET keepalived sends.
func request(path, host string) []byte {
	const ua = "User-Agent: KeepAliveClient\r\nHost: "
	b := make([]byte, 0, len("GET ")+len(path)+len(" HTTP/1.0\r\n")+len(ua)+len(host)+len("\r\n\r\n"))
	b = append(b, "GET "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.0\r\n"...)
	b = append(b, ua...)
	b = append(b, host...)
	return append(b, "\r\n\r\n"...)
}

// readBuffers are a check's response reader and the buffer its body's
// digest is computed through.
type readBuffers struct {
	br   *bufio.Reader
	body [4096]byte
}

// readers holds the buffers of finished checks for the next ones: a check
// would otherwise allocate 4 KiB, and 32 KiB more for a digest, for its few
// hundred bytes of response. The pool holds no state between checks.
var readers = sync.Pool{New: func() any { return &readBuffers{br: bufio.NewReader(nil)} }}

// statusOK applies keepalived's status_code rule: the listed codes and
// ranges, or 200-299 when none are listed.
func statusOK(rs []StatusRange, code int) bool {
	if len(rs) == 0 {
		return code >= 200 && code <= 299
	}
	for _, r := range rs {
		if code >= r.Lo && code <= r.Hi {
			return true
		}
	}
	return false
}
