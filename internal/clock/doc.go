// Package clock abstracts time so that timer-driven code (the VRRP state
// machine's runner, the health-check scheduler) can be tested without
// sleeping: production code takes a Clock, tests pass a *Fake and move it
// forward with Advance, which fires due timers in deadline order.
//
// It touches nothing of the kernel.
package clock
