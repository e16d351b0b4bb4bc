package check

import (
	"errors"
	"fmt"
	"time"
)

// Params are the timing rules of one check, keepalived's per-checker
// options. Defaults returns keepalived 2.2's values for a checker; the zero
// value is not valid (Interval and Timeout must be positive).
type Params struct {
	// Interval is delay_loop: the time from the start of one check to the
	// start of the next, while nothing fails.
	Interval time.Duration
	// Timeout is the hard deadline of one check: connect_timeout for the
	// network checkers, misc_timeout for scripts.
	Timeout time.Duration
	// Retry is keepalived's retry (formerly nb_get_retry): how many more
	// checks, DelayBeforeRetry apart, fail before an up server is declared
	// down. A server goes down after Retry+1 consecutive failures; in
	// rise/fall terms, fall = Retry+1.
	Retry int
	// DelayBeforeRetry is the delay before each retry, from the start of
	// the failed check.
	DelayBeforeRetry time.Duration
	// Warmup bounds the random delay before the first check; zero starts
	// at once. keepalived's default is the interval, which spreads the
	// checks over it.
	Warmup time.Duration
	// Alpha starts the target down: it must pass a check before it is up.
	// Without it the target starts up and must fail Retry+1 times.
	Alpha bool
	// Rise is how many consecutive successes bring a down target up.
	// keepalived has no such option for real servers (one success is
	// enough), so zero means 1; more is an lvsctl extension for flapping
	// servers.
	Rise int
}

// Kind names a checker type as keepalived.conf does.
type Kind string

// Checker kinds.
const (
	KindHTTP   Kind = "HTTP_GET"
	KindHTTPS  Kind = "SSL_GET"
	KindTCP    Kind = "TCP_CHECK"
	KindUDP    Kind = "UDP_CHECK"
	KindDNS    Kind = "DNS_CHECK"
	KindICMP   Kind = "PING_CHECK"
	KindScript Kind = "MISC_CHECK"
)

// KindOf returns the keepalived name of a checker of this package, and ""
// for another checker.
func KindOf(c Checker) Kind {
	switch c := c.(type) {
	case HTTP:
		if c.TLS != nil {
			return KindHTTPS
		}
		return KindHTTP
	case TCP:
		return KindTCP
	case UDP:
		return KindUDP
	case DNS:
		return KindDNS
	case ICMP:
		return KindICMP
	case Script:
		return KindScript
	}
	return ""
}

// Defaults returns keepalived 2.2's defaults for a checker of this kind
// with the given delay_loop (keepalived's default delay_loop is 60 s), as
// keepalived.conf(5) documents them: connect_timeout 5 s; retry 1, except
// DNS_CHECK 3 and MISC_CHECK 0; delay_before_retry 3 s for HTTP_GET and
// SSL_GET, delay_loop for DNS_CHECK and 1 s otherwise; warmup up to
// delay_loop; misc_timeout defaults to delay_loop.
func Defaults(kind Kind, interval time.Duration) Params {
	if interval <= 0 {
		interval = 60 * time.Second
	}
	p := Params{
		Interval:         interval,
		Timeout:          5 * time.Second,
		Retry:            1,
		DelayBeforeRetry: time.Second,
		Warmup:           interval,
	}
	switch kind {
	case KindHTTP, KindHTTPS:
		p.DelayBeforeRetry = 3 * time.Second
	case KindDNS:
		p.Retry = 3
		p.DelayBeforeRetry = interval
	case KindScript:
		p.Retry = 0
		p.Timeout = interval
	}
	return p
}

// ErrInvalidJob is returned for a job the Scheduler cannot run.
var ErrInvalidJob = errors.New("invalid check job")

func (p Params) validate() error {
	switch {
	case p.Interval <= 0:
		return fmt.Errorf("%w: interval %v is not positive", ErrInvalidJob, p.Interval)
	case p.Timeout <= 0:
		return fmt.Errorf("%w: timeout %v is not positive", ErrInvalidJob, p.Timeout)
	case p.Retry < 0:
		return fmt.Errorf("%w: retry %d is negative", ErrInvalidJob, p.Retry)
	case p.DelayBeforeRetry < 0 || p.Warmup < 0:
		return fmt.Errorf("%w: negative delay", ErrInvalidJob)
	case p.Rise < 0:
		return fmt.Errorf("%w: rise %d is negative", ErrInvalidJob, p.Rise)
	}
	return nil
}
