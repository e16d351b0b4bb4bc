package vrrp

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// sleepPrecise blocks the calling thread for d in clock_nanosleep against
// an absolute CLOCK_MONOTONIC deadline, so the signals the runtime sends
// (SIGURG for preemption) interrupt it without moving the deadline. The
// thread's timer slack (50 µs by default) is set to 1 µs first.
func sleepPrecise(d time.Duration) {
	var now unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &now); err != nil {
		time.Sleep(d)
		return
	}
	until := unix.NsecToTimespec(now.Nano() + d.Nanoseconds())
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	for {
		err := unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &until, nil)
		if err != unix.EINTR {
			return
		}
	}
}
