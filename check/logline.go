package check

import (
	"net/netip"
	"time"
)

// LogLine formats the line the classic director's health-check loop
// appends to its log when a real server leaves or returns:
//
//	2026-11-26 10:00:00,192.0.2.7 is gone.
//	2026-11-26 10:05:00,192.0.2.7 is back.
//
// The time is local, as `date '+%F %T'` prints it. There is no trailing
// newline.
func LogLine(t time.Time, addr netip.Addr, up bool) string {
	what := " is gone."
	if up {
		what = " is back."
	}
	return t.Local().Format(time.DateTime) + "," + addr.String() + what
}

// LogLineFor formats the LogLine of a real-server event, and "" for any
// other kind of event.
func LogLineFor(t time.Time, e PolicyEvent) string {
	switch e.Kind {
	case RealServerUp:
		return LogLine(t, e.Dest.Address, true)
	case RealServerDown:
		return LogLine(t, e.Dest.Address, false)
	}
	return ""
}
