package check

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// loopChecker is a Checker that can also run on the Scheduler's event
// loop, without a goroutine: its sockets are non-blocking, registered with
// the loop, and moved on by their epoll events. Check remains the way to
// run it anywhere else, and the two give the same verdicts and errors.
type loopChecker interface {
	Checker
	// onLoop reports whether a check of t can run on the loop; when not
	// (TLS, a body digest, a source address, a zoned address), the
	// Scheduler runs Check in a goroutine.
	onLoop(t Target) bool
	// startOn begins a check of t on l's goroutine. done is called once,
	// on l's goroutine, possibly before startOn returns; until then abort
	// on the returned task ends the check with ErrTimeout. prev is the
	// task of the job's previous check, finished, or nil: a checker may
	// reuse it rather than allocate.
	startOn(l *loop, t Target, prev loopTask, done func(Result)) loopTask
}

// loopTask is a check in flight on the loop.
type loopTask interface {
	// abort closes the check's socket and reports it timed out (or,
	// when its verdict is already in and it only waits for the server to
	// close, that verdict); on the loop's goroutine, before done has been
	// called.
	abort()
}

var (
	_ loopChecker = HTTP{}
	_ loopChecker = TCP{}
)

// sockState is where a check's connection is.
type sockState uint8

const (
	stConnecting sockState = iota
	stSending
	stReading
	stDraining // the verdict is in; waiting for the server to close
	stDone
)

// sock is one non-blocking TCP connection of a check on the loop.
type sock struct {
	l     *loop
	fd    int
	slot  int32 // -1 until watched
	dst   netip.AddrPort
	state sockState
	v6    bool
	// ended: the server closed its end after the response, and close
	// keeps the socket for another check (see drain).
	ended bool
}

// dial opens a non-blocking socket to dst and starts connecting; watch
// then registers it with the loop, and the connection's outcome arrives
// as events.
func (s *sock) dial(l *loop, dst netip.AddrPort) error {
	s.l, s.dst, s.state, s.fd, s.slot, s.ended = l, dst, stConnecting, -1, -1, false
	s.v6 = !dst.Addr().Unmap().Is4()
	if slot, fd, ok := l.reuse(s.v6); ok {
		s.fd, s.slot = fd, slot
	} else {
		family := unix.AF_INET
		if s.v6 {
			family = unix.AF_INET6
		}
		fd, err := rawSocket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return s.dialError(os.NewSyscallError("socket", err))
		}
		s.fd = fd
		l.opened++
	}
	switch err := ignoringEINTR(func() error { return rawConnect(s.fd, dst) }); err {
	case nil, unix.EINPROGRESS:
	default:
		s.close()
		return s.dialError(os.NewSyscallError("connect", err))
	}
	return nil
}

// watch registers the socket with the loop for events, for h; a reused
// socket is registered already.
func (s *sock) watch(h ioHandler, events uint32) error {
	if s.slot >= 0 {
		s.l.attach(s.slot, h, events)
		return nil
	}
	slot, err := s.l.register(s.fd, h, events)
	if err != nil {
		return s.dialError(os.NewSyscallError("epoll_ctl", err))
	}
	s.slot = slot
	return nil
}

// readOnly stops EPOLLOUT events, once the request is sent: the ACKs of
// the request would otherwise wake the loop for nothing. (modify makes
// no system call when the events are already these.)
func (s *sock) readOnly() {
	if s.slot >= 0 {
		s.l.modify(s.slot, s.fd, unix.EPOLLIN|unix.EPOLLRDHUP)
	}
}

// connected tells, on the first event of a connecting socket, whether the
// connection was made, and if not why.
func (s *sock) connected(events uint32) error {
	if events&(unix.EPOLLERR|unix.EPOLLHUP) == 0 && events&unix.EPOLLOUT != 0 {
		return nil
	}
	errno, err := rawGetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	switch {
	case err != nil:
		return s.dialError(os.NewSyscallError("getsockopt", err))
	case errno != 0:
		return s.dialError(os.NewSyscallError("connect", unix.Errno(errno)))
	case events&unix.EPOLLOUT != 0:
		return nil
	}
	return s.dialError(os.NewSyscallError("connect", unix.ECONNRESET))
}

// close releases the socket, or keeps it for another check when the
// server ended the connection; it may be called more than once.
func (s *sock) close() {
	switch {
	case s.slot >= 0 && s.ended && rawDisconnect(s.fd) == nil:
		s.l.recycle(s.slot, s.v6)
	case s.slot >= 0:
		s.l.release(s.slot)
	case s.fd >= 0:
		rawClose(s.fd)
	}
	s.fd, s.slot, s.ended = -1, -1, false
	s.state = stDone
}

// dialError reads as net.Dialer's.
func (s *sock) dialError(err error) error {
	return &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(s.dst), Err: err}
}

// ioError reads as a *net.TCPConn's read or write error.
func (s *sock) ioError(op string, err error) error {
	oe := &net.OpError{Op: op, Net: "tcp", Addr: net.TCPAddrFromAddrPort(s.dst), Err: err}
	if errno, ok := err.(unix.Errno); ok {
		oe.Err = os.NewSyscallError(op, errno)
	}
	if s.fd >= 0 {
		oe.Source = localTCPAddr(s.fd)
	}
	return oe
}

// timedOut is the error of a check aborted at its deadline, worded for
// the step it was in.
func (s *sock) timedOut() error {
	if s.state == stConnecting {
		return s.dialError(os.ErrDeadlineExceeded)
	}
	op := "read"
	if s.state == stSending {
		op = "write"
	}
	return s.ioError(op, os.ErrDeadlineExceeded)
}

// onLoop: TCP_CHECK runs on the loop unless it binds a source or dials a
// zoned address.
func (c TCP) onLoop(t Target) bool { return c.Conn.onLoop(t) }

func (c Conn) onLoop(t Target) bool {
	dst := c.remote(t)
	return !c.BindTo.IsValid() && c.BindPort == 0 && dst.Addr().IsValid() && dst.Addr().Zone() == ""
}

type tcpTask struct {
	sock
	start time.Time
	done  func(Result)
}

func (c TCP) startOn(l *loop, t Target, prev loopTask, done func(Result)) loopTask {
	k, ok := prev.(*tcpTask)
	if !ok {
		k = new(tcpTask)
	}
	*k = tcpTask{start: time.Now(), done: done}
	dst := c.remote(t)
	if err := k.dial(l, dst); err != nil {
		k.finish(fmt.Errorf("connect %s: %w", dst, err))
		return k
	}
	if err := k.watch(k, unix.EPOLLOUT); err != nil {
		k.finish(fmt.Errorf("connect %s: %w", dst, err))
	}
	return k
}

func (k *tcpTask) ready(events uint32) {
	if err := k.connected(events); err != nil {
		k.finish(fmt.Errorf("connect %s: %w", k.dst, err))
		return
	}
	k.finish(nil)
}

func (k *tcpTask) abort() {
	k.finish(fmt.Errorf("%w: connect %s: %w", ErrTimeout, k.dst, k.timedOut()))
}

func (k *tcpTask) finish(err error) {
	if k.state == stDone {
		return
	}
	k.close()
	if err != nil {
		k.done(Result{Err: err, Latency: time.Since(k.start)})
		return
	}
	k.done(Result{OK: true, Latency: time.Since(k.start), Detail: "connected"})
}

// onLoop: HTTP_GET runs on the loop when it needs only status codes: TLS
// and body digests run in a goroutine through Check.
func (c HTTP) onLoop(t Target) bool {
	if c.TLS != nil || !c.Conn.onLoop(t) {
		return false
	}
	for _, u := range c.URLs {
		if u.Digest != "" {
			return false
		}
	}
	return true
}

// httpTask is an HTTP_GET on the loop: each URL in turn on a connection of
// its own, as Check does.
type httpTask struct {
	sock
	c     HTTP
	t     Target
	urls  []URL
	i     int
	start time.Time
	done  func(Result)
	sent  int
	line  []byte // the status line so far, when it spans reads
	prep  []urlPrep
	u     *urlPrep // URL i's
	// eagerSkip counts down the checks that do not send their request
	// before the connection's event (see next).
	eagerSkip int
	// verdict waits in stDraining for the server's end of the
	// connection; drained counts what was discarded meanwhile.
	verdict Result
	drained int
}

var defaultURLs = []URL{{Path: "/"}}

// urlPrep is what a URL's checks repeat: the request, and the words of
// the last status seen. A job's task keeps it from check to check.
type urlPrep struct {
	path, vhost string // the inputs, as configured
	dst         netip.AddrPort
	req         []byte
	what        string // "GET /path"
	code        int
	detail      string // "/path: 200 OK" for code
}

func (c HTTP) startOn(l *loop, t Target, prev loopTask, done func(Result)) loopTask {
	k, ok := prev.(*httpTask)
	if !ok {
		k = new(httpTask)
	}
	*k = httpTask{c: c, t: t, urls: c.URLs, start: time.Now(), done: done, line: k.line[:0], prep: k.prep, eagerSkip: k.eagerSkip}
	if len(k.urls) == 0 {
		k.urls = defaultURLs
	}
	k.next(l)
	return k
}

// next connects for URL i.
func (k *httpTask) next(l *loop) {
	u := k.urls[k.i]
	vhost := u.VirtualHost
	if vhost == "" {
		vhost = k.c.VirtualHost
	}
	dst := k.c.remote(k.t)
	if len(k.prep) <= k.i {
		k.prep = append(k.prep, urlPrep{})
	}
	p := &k.prep[k.i]
	if p.req == nil || p.path != u.Path || p.vhost != vhost || p.dst != dst {
		path, host := u.Path, vhost
		if path == "" {
			path = "/"
		}
		if host == "" {
			host = hostPort(dst)
		}
		*p = urlPrep{path: u.Path, vhost: vhost, dst: dst, req: request(path, host), what: "GET " + path}
	}
	k.u = p
	k.sent, k.line = 0, k.line[:0]
	if err := k.dial(l, dst); err != nil {
		k.fail(fmt.Errorf("%s: connect %s: %w", p.what, dst, err), "")
		return
	}
	events := uint32(unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP)
	if k.eagerSkip > 0 {
		k.eagerSkip--
	} else {
		// Over loopback or a veth pair the handshake is done before
		// connect returns: the request can go at once, and the socket
		// be watched for the response alone, saving the wake-ups for
		// the connection's event and the request's ACK. When it cannot
		// (EAGAIN: still connecting, as over a real network) the next
		// checks of this job wait for the connection's event, and try
		// again later.
		switch n, err := rawWrite(k.fd, p.req); err {
		case nil:
			k.sent, k.state = n, stSending
			if n == len(p.req) {
				k.state, events = stReading, unix.EPOLLIN|unix.EPOLLRDHUP
			}
		case unix.EAGAIN:
			k.eagerSkip = eagerRetry
		default:
			// The connection failed; write took its error from the
			// socket.
			k.fail(fmt.Errorf("%s: connect %s: %w", p.what, dst, k.dialError(os.NewSyscallError("connect", err))), "")
			return
		}
	}
	if err := k.watch(k, events); err != nil {
		k.fail(fmt.Errorf("%s: connect %s: %w", p.what, dst, err), "")
	}
}

// eagerRetry is how many checks of a job wait for the connection's event
// after an eager request found the connection still being made.
const eagerRetry = 16

func (k *httpTask) ready(events uint32) {
	switch k.state {
	case stConnecting:
		if err := k.connected(events); err != nil {
			k.fail(fmt.Errorf("%s: connect %s: %w", k.u.what, k.dst, err), "")
			return
		}
		k.state = stSending
		k.send()
	case stSending:
		if events&unix.EPOLLOUT != 0 || events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			k.send()
		}
	case stReading:
		k.receive()
	case stDraining:
		k.drain()
	}
}

// send writes what is left of the request.
func (k *httpTask) send() {
	for k.sent < len(k.u.req) {
		n, err := rawWrite(k.fd, k.u.req[k.sent:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return // the next EPOLLOUT edge goes on
		case err != nil:
			k.fail(fmt.Errorf("%s: send to %s: %w", k.u.what, k.dst, k.ioError("write", err)), "")
			return
		}
		k.sent += n
	}
	k.state = stReading
	k.readOnly()
	// The response's arrival is an EPOLLIN edge still to come.
}

// receive reads until the status line is complete, then decides.
func (k *httpTask) receive() {
	buf := k.l.buf[:]
	for {
		n, err := rawRead(k.fd, buf)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return // wait for more
		case err != nil:
			k.fail(fmt.Errorf("%s: read response from %s: %w", k.u.what, k.dst, k.ioError("read", err)), "")
			return
		case n == 0:
			// net/http's word for a response that ends early, even
			// before its first byte.
			k.fail(fmt.Errorf("%s: read response from %s: %w", k.u.what, k.dst, io.ErrUnexpectedEOF), "")
			return
		}
		data := buf[:n]
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			var line []byte
			if len(k.line) == 0 {
				line = data[:i]
			} else {
				line = append(k.line, data[:i]...)
			}
			k.status(line)
			if k.state == stDraining {
				k.drain()
			}
			return
		}
		if len(k.line)+n > maxStatusLine {
			k.fail(fmt.Errorf("%s: read response from %s: status line longer than %d bytes", k.u.what, k.dst, maxStatusLine), "")
			return
		}
		k.line = append(k.line, data...)
	}
}

// maxStatusLine bounds the status line as net/http bounds a header line.
const maxStatusLine = 4096

// status judges the status line (without its "\n").
func (k *httpTask) status(line []byte) {
	code, err := parseStatusLine(bytes.TrimSuffix(line, []byte("\r")))
	if err != nil {
		k.fail(fmt.Errorf("%s: read response from %s: %w", k.u.what, k.dst, err), "")
		return
	}
	u, p := k.urls[k.i], k.u
	if p.detail == "" || p.code != code {
		path := u.Path
		if path == "" {
			path = "/"
		}
		p.code, p.detail = code, path+": "+strconv.Itoa(code)+" "+http.StatusText(code)
	}
	detail := p.detail
	k.verdict = Result{OK: true, Detail: detail, Latency: time.Since(k.start)}
	if !statusOK(u.Status, code) {
		k.verdict = Result{Err: fmt.Errorf("%s: %w %d", k.u.what, ErrUnexpectedStatus, code), Detail: detail, Latency: k.verdict.Latency}
	}
	k.state, k.drained = stDraining, 0
}

// drainLimit bounds what is read past the status line.
const drainLimit = 64 << 10

// drain reads the rest of the response, unused, until the server closes
// its end: the request is HTTP/1.0, so a server closes after responding.
// The check then ends the connection with a reset, which the server's
// kernel takes for its closed socket, the server program having done with
// it: no TIME_WAIT on either side, and one packet fewer (the server's
// ACK of a FIN); 5 % less CPU per check in the lab bench. A director
// that checks a thousand servers a second and closed first would hold
// some sixty thousand connections in TIME_WAIT, and every connect would
// search past them for a free port. The reset is a disconnect
// (rawDisconnect), and the socket, still registered with epoll, serves a
// later check: no socket to create, register and close per check. A
// server that does not close is closed on at the check's deadline or past
// drainLimit bytes, the verdict unchanged.
func (k *httpTask) drain() {
	buf := k.l.buf[:]
	for k.drained <= drainLimit {
		n, err := rawRead(k.fd, buf)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return
		case err == nil && n == 0:
			k.ended = true
			k.decided()
			return
		case err != nil:
			k.decided()
			return
		}
		k.drained += n
	}
	k.decided()
}

// decided acts on the verdict: the next URL, or the result.
func (k *httpTask) decided() {
	v := k.verdict
	k.verdict = Result{}
	if !v.OK {
		k.report(v)
		return
	}
	k.close()
	k.i++
	if k.i < len(k.urls) {
		k.next(k.l)
		return
	}
	k.report(v)
}

func (k *httpTask) abort() {
	if k.done == nil {
		return
	}
	if k.state == stDraining {
		k.decided()
		if k.done == nil {
			return
		}
	}
	var step string
	switch k.state {
	case stConnecting:
		step = "connect " + k.dst.String()
	case stSending:
		step = "send to " + k.dst.String()
	default:
		step = "read response from " + k.dst.String()
	}
	k.fail(fmt.Errorf("%w: %s: %s: %w", ErrTimeout, k.u.what, step, k.timedOut()), "")
}

func (k *httpTask) fail(err error, detail string) {
	k.report(Result{Err: err, Detail: detail})
}

// report closes the connection and delivers the verdict, once.
func (k *httpTask) report(r Result) {
	k.close()
	if done := k.done; done != nil {
		k.done = nil
		if r.Latency == 0 {
			r.Latency = time.Since(k.start)
		}
		done(r)
	}
}

// parseStatusLine reads an HTTP/1.x status line as net/http's
// ReadResponse does, with its error texts.
func parseStatusLine(line []byte) (int, error) {
	proto, status, ok := bytes.Cut(line, []byte(" "))
	if !ok {
		return 0, fmt.Errorf("malformed HTTP response %q", line)
	}
	code, _, _ := bytes.Cut(bytes.TrimLeft(status, " "), []byte(" "))
	if len(code) != 3 {
		return 0, fmt.Errorf("malformed HTTP status code %q", code)
	}
	// strconv.Atoi's reading, as net/http's: a sign, then digits.
	digits, neg := code, false
	if digits[0] == '+' || digits[0] == '-' {
		digits, neg = digits[1:], digits[0] == '-'
	}
	n := 0
	for _, c := range digits {
		if c < '0' || c > '9' {
			n = -1
			break
		}
		n = n*10 + int(c-'0')
	}
	if n > 0 && neg {
		n = -n
	}
	if n < 0 {
		return 0, fmt.Errorf("malformed HTTP status code %q", code)
	}
	if !bytes.Equal(proto, []byte("HTTP/1.1")) && !bytes.Equal(proto, []byte("HTTP/1.0")) {
		if _, _, ok := http.ParseHTTPVersion(string(proto)); !ok {
			return 0, fmt.Errorf("malformed HTTP version %q", proto)
		}
	}
	return n, nil
}
