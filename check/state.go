package check

import "time"

// health is the pure per-job state machine: results in, the next delay and
// whether the up/down state changed out. It follows keepalived 2.2's
// checker epilogue (check_udp.c udp_epilog, check_tcp.c tcp_epilog):
//
//   - a success resets the retry counter and, on a down target, counts
//     towards Rise (1 in keepalived), the next check a full interval later;
//   - a failure of an up target, or of one never checked yet, is retried
//     after DelayBeforeRetry until Retry retries have failed too, and then
//     the target goes down;
//   - a failure of a down target just waits for the next interval.
type health struct {
	up      bool
	hasRun  bool      // a check has completed
	retryIt int       // failed retries so far in the current run of failures
	rises   int       // consecutive successes while down
	since   time.Time // when up last changed (or the job started)
}

func newHealth(p Params, now time.Time) health {
	return health{up: !p.Alpha, since: now}
}

// observe applies one result at now and returns whether up changed and the
// delay until the next check.
func (h *health) observe(p Params, ok bool, now time.Time) (changed bool, next time.Duration) {
	defer func() { h.hasRun = true }()
	if ok {
		h.retryIt = 0
		if !h.up {
			h.rises++
			if h.rises >= max(p.Rise, 1) {
				h.up, h.rises, h.since = true, 0, now
				return true, p.Interval
			}
		}
		return false, p.Interval
	}
	h.rises = 0
	if (h.up || !h.hasRun) && h.retryIt >= p.Retry {
		h.retryIt = 0
		if h.up {
			h.up, h.since = false, now
			return true, p.Interval
		}
		return false, p.Interval
	}
	if h.up {
		h.retryIt++
		return false, p.DelayBeforeRetry
	}
	return false, p.Interval
}
