// Package check is the health-check layer of `lvsctl monitor`: checkers
// (HTTP, HTTPS, TCP, UDP, DNS, ICMP echo, script) behind one interface, the
// Scheduler that runs them per real server with keepalived's timing
// semantics, and the pure Policy (Decide) that turns real-server health
// into the desired destinations of each virtual service: sorry server,
// quorum with hysteresis, inhibit_on_failure, and adoption of what the
// kernel already has so that a restart changes nothing.
//
// Each checker lives in a file of its own and implements
// Check(ctx, Target) Result. A checker never outlives its context: the
// Scheduler gives every check a deadline from the injected clock and
// cancels it there, and every checker ties its sockets and processes to the
// context, so no check (and no goroutine) runs past its deadline.
//
// On the real clock the Scheduler runs on an event loop of its own: one
// goroutine that waits in epoll_wait(2) for the earliest timer and for the
// sockets of the checks in flight, as keepalived's checker does. HTTP_GET
// (without TLS or a digest) and TCP_CHECK run on it with no goroutine of
// their own, a check being a handful of non-blocking system calls moved on
// by epoll events; the other checkers run Check in a goroutine. An HTTP_GET
// on the loop reads the response until the server closes, as keepalived
// does, then resets the connection, so that neither side keeps it in
// TIME_WAIT; the verdict is taken from the status line. The reset is a
// disconnect, and the loop keeps the socket for a later check. A check's
// deadline falls after the socket events ready by then are handled, so a
// loop that runs late fails no check whose answer came in time. The
// loop's checks and Check give the same verdicts and the same errors; the
// tests hold both to it. Scheduler.OnLoopOnly tells a program whether all
// its checks run on the loop (lvsctl monitor then runs on one CPU).
//
// The reference is keepalived 2.2 (keepalived.conf(5) of 2.2.7, its
// check_*.c and ipwrapper.c). Where this package differs, it does so on
// purpose:
//
//   - Real servers have no rise/fall in keepalived: an up server goes down
//     after retry+1 consecutive failures, delay_before_retry apart, and a
//     down server comes up on one success. Params.Retry is that; Rise is
//     an extension that defaults to keepalived's 1.
//   - The next check is timed from the start of the previous one (as
//     keepalived's MISC_CHECK does; its network checkers count from the
//     end), so a slow check does not make the schedule drift.
//   - The first checks are spread over the warmup by stratified sampling,
//     not uniformly at random, so that they do not bunch.
//   - A check's connect_timeout is one deadline for the whole check (all of
//     an HTTP_GET's URLs included), not a timeout per I/O step.
//   - UDP_CHECK applies min_reply_length and max_reply_length whenever a
//     reply is required, as keepalived.conf(5) says (keepalived's code only
//     when reply data is given).
//   - PING_CHECK never widens net.ipv4.ping_group_range; it falls back to a
//     raw socket instead.
//   - Adopt starts each real server from the kernel's table at start-up;
//     keepalived starts from alpha alone.
//
// The package touches no IPVS state. The checkers open ordinary sockets
// (TCP, UDP, an ICMP datagram "ping" socket or a raw ICMP socket) and start
// processes; the desired tables Decide computes are applied by the caller
// through lvs/reconcile.
package check
