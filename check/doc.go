// Package check is the health-check layer of `lvsctl monitor`: checkers
// (HTTP, HTTPS, TCP, UDP, DNS, ICMP echo, script) behind one interface, the
// Scheduler that runs them per real server with keepalived's timing
// semantics, and the pure Policy that turns real-server health into the
// desired destinations of each virtual service (sorry server, quorum with
// hysteresis, inhibit_on_failure, adoption of what the kernel already has).
//
// Each checker lives in a file of its own and implements
// Check(ctx, Target) Result. A checker never outlives its context: the
// Scheduler gives every check a deadline from the injected clock and cancels
// it there, and every checker ties its sockets and processes to the context,
// so no check (and no goroutine) runs past its deadline.
//
// The package touches no IPVS state. The checkers open ordinary sockets
// (TCP, UDP, an ICMP datagram "ping" socket or a raw ICMP socket) and start
// processes; the desired tables that Policy computes are applied by the
// caller through lvs/reconcile.
package check
