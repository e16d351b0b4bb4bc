package check

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lvsctl/lvsctl/internal/clock"
)

// loop is the Scheduler's clock and I/O engine on the real clock: one
// goroutine that sleeps in epoll_wait(2) until the earliest timer or a
// socket of a check in flight is ready, and runs what is due. It is how
// keepalived's checker works, and for the same reason: a check that is a
// handful of system calls should cost little more than them. With a
// goroutine and runtime timers per check, the runtime's scheduling (thread
// wake-ups, spinning, a poller registration and deadline timers per
// socket) cost more than the check's own system calls, twice as much
// again under emulation.
//
// Timers (AfterFunc) and posted functions run on the loop's goroutine, one
// at a time, and must not block. Sockets are registered and served there
// too; checkers that can run this way implement loopChecker.
type loop struct {
	mu       sync.Mutex
	timers   timerHeap
	ops      []func()
	sleeping bool      // the loop is in, or about to enter, epoll_wait
	wakeAt   time.Time // when that wait ends by itself; zero: never
	woken    bool      // an eventfd write for this wait was made
	started  bool
	closed   bool
	epfd     int
	evfd     int
	done     chan struct{}

	// The loop's goroutine alone uses these.
	handles []ioSlot
	free    []int32
	batch   uint32     // counts the epoll waits: which batch of events is being handled
	idle    [2][]int32 // slots of idle sockets for reuse: [0] IPv4, [1] IPv6
	opened  int        // sockets opened, reused ones not counted
	buf     [4096]byte // read buffer of every check: they run one at a time
}

// ioHandler is a registered socket's owner; ready is called on the loop's
// goroutine with the epoll events.
type ioHandler interface {
	ready(events uint32)
}

type ioSlot struct {
	gen    int32
	fd     int // -1 when free; an idle socket has a descriptor and no handler
	h      ioHandler
	events uint32 // as registered, without EPOLLET
	// attached is the batch in which an idle socket was given to h: an
	// event of that batch was read before, and belongs to the socket's
	// previous connection.
	attached uint32
}

// evfdSlot marks the eventfd in epoll's data.
const evfdSlot = -1

var (
	_ clock.Clock = (*loop)(nil)
	_ clock.Timer = (*loopTimer)(nil)
)

func newLoop() *loop { return &loop{epfd: -1, evfd: -1} }

// start opens the epoll and eventfd descriptors and runs the loop's
// goroutine until close.
func (l *loop) start() error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("check loop: %w", os.NewSyscallError("epoll_create1", err))
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return fmt.Errorf("check loop: %w", os.NewSyscallError("eventfd", err))
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: evfdSlot}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return fmt.Errorf("check loop: %w", os.NewSyscallError("epoll_ctl", err))
	}
	l.mu.Lock()
	l.epfd, l.evfd, l.started = epfd, evfd, true
	l.done = make(chan struct{})
	l.mu.Unlock()
	go l.run()
	return nil
}

// close stops the loop's goroutine, waits for it, and closes every
// descriptor it still holds. Timers and posted functions not yet run are
// dropped.
func (l *loop) close() {
	l.mu.Lock()
	if !l.started || l.closed {
		l.closed = true
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.mu.Unlock()
	l.wake()
	<-l.done
}

func (l *loop) run() {
	defer close(l.done)
	events := make([]unix.EpollEvent, 128)
	var ops []func()
	var fire []*loopTimer
	yielded := time.Now()
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			l.shutdown()
			return
		}
		ops, l.ops = l.ops, ops[:0]
		now := time.Now()
		if now.Sub(yielded) >= yieldEvery {
			l.mu.Unlock()
			runtime.Gosched()
			yielded = now
			l.mu.Lock()
		}
		deadlines := false
		for len(l.timers) > 0 && !l.timers[0].when.After(now) {
			t := l.timers.remove(0)
			fire = append(fire, t)
			deadlines = deadlines || t.afterIO
		}
		if len(ops) > 0 || len(fire) > 0 {
			l.mu.Unlock()
			for i, f := range ops {
				f()
				ops[i] = nil
			}
			if deadlines {
				// An answer that came in time counts, however late
				// the loop is in reading it.
				if n, err := rawEpollWait(l.epfd, events, 0); err == nil && n > 0 {
					l.batch++
					l.dispatch(events[:n])
				}
			}
			for i, t := range fire {
				t.f()
				fire[i] = nil
			}
			fire = fire[:0]
			continue
		}
		l.wakeAt = time.Time{}
		if len(l.timers) > 0 {
			l.wakeAt = l.timers[0].when
		}
		l.sleeping, l.woken = true, false
		wakeAt := l.wakeAt
		l.mu.Unlock()

		n := l.wait(events, wakeAt)
		l.batch++

		l.mu.Lock()
		l.sleeping = false
		l.mu.Unlock()
		l.dispatch(events[:n])
	}
}

// dispatch hands a batch of epoll events to their sockets' owners.
func (l *loop) dispatch(events []unix.EpollEvent) {
	for _, ev := range events {
		if ev.Fd == evfdSlot {
			var b [8]byte
			_, _ = rawRead(l.evfd, b[:])
			continue
		}
		if int(ev.Fd) >= len(l.handles) {
			continue
		}
		s := &l.handles[ev.Fd]
		if s.h == nil || s.gen != ev.Pad || s.attached == l.batch {
			continue // released or reused earlier in this batch
		}
		s.h.ready(ev.Events)
	}
}

// wait returns the events of the loop's sockets, or none when until
// comes first.
//
// A wait of up to rawWaitMax is a raw epoll_wait (see rawsys.go) that
// keeps the goroutine's P: while checks follow each other closely this
// is the cheapest wait there is, and the runtime's monitor thread sees a
// running goroutine (which yields every yieldEvery) rather than a system
// call to take its P from. A longer wait is an ordinary system call, so
// that the runtime can give the P to the program's other goroutines and
// an idle loop costs nothing. (Parking in the runtime's poller instead,
// the epoll descriptor registered there as a socket is, would wake the
// poller's thread for every socket event while the loop is busy.)
func (l *loop) wait(events []unix.EpollEvent, until time.Time) int {
	ms := -1
	if !until.IsZero() {
		// Rounded up: a timer never fires early.
		d := time.Until(until)
		ms = max(int((d+time.Millisecond-1)/time.Millisecond), 0)
		if d <= rawWaitMax {
			n, err := rawEpollWait(l.epfd, events, ms)
			if err != nil {
				return 0 // EINTR: a signal, often the runtime's preemption
			}
			return n
		}
	}
	n, err := unix.EpollWait(l.epfd, events, ms)
	if err != nil {
		return 0
	}
	return n
}

// rawWaitMax is the longest wait made holding the P. An ordinary system
// call that lasts through the runtime's 10 ms preemption tick has its P
// taken away, and the monitor thread then drops back to 20 µs ticks for
// a while: waits up to 50 ms (20 checks a second and more) stay raw, and
// the monitor ticks every 10 ms.
const rawWaitMax = 50 * time.Millisecond

// yieldEvery: a loop that holds its P through raw waits yields it this
// often, so that the runtime's monitor does not preempt it with a signal
// (which it does to a goroutine that has run for 10 ms without being
// rescheduled), and so that the program's other goroutines run.
const yieldEvery = 5 * time.Millisecond

// shutdown closes what the loop holds; on the loop's goroutine.
func (l *loop) shutdown() {
	for i := range l.handles {
		if s := &l.handles[i]; s.fd >= 0 {
			unix.Close(s.fd)
			s.h, s.fd = nil, -1
		}
	}
	l.idle = [2][]int32{}
	unix.Close(l.evfd)
	unix.Close(l.epfd)
}

// wake interrupts epoll_wait.
func (l *loop) wake() {
	one := [8]byte{1}
	_, _ = rawWrite(l.evfd, one[:])
}

// post runs f on the loop's goroutine, after what is running now; posted
// functions run in order.
func (l *loop) post(f func()) {
	l.mu.Lock()
	l.ops = append(l.ops, f)
	w := l.sleeping && !l.woken
	if w {
		l.woken = true
	}
	l.mu.Unlock()
	if w {
		l.wake()
	}
}

// register adds fd to the loop with the given epoll events, edge-triggered,
// and returns its slot; on the loop's goroutine. The owner closes fd with
// release.
func (l *loop) register(fd int, h ioHandler, events uint32) (int32, error) {
	var slot int32
	if n := len(l.free); n > 0 {
		slot = l.free[n-1]
		l.free = l.free[:n-1]
	} else {
		slot = int32(len(l.handles))
		l.handles = append(l.handles, ioSlot{})
	}
	s := &l.handles[slot]
	s.gen++
	ev := unix.EpollEvent{Events: events | unix.EPOLLET, Fd: slot, Pad: s.gen}
	if err := rawEpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		l.free = append(l.free, slot)
		return 0, err
	}
	s.fd, s.h, s.events = fd, h, events
	return slot, nil
}

// modify changes the epoll events of a registered descriptor; on the
// loop's goroutine. A failure leaves the old events, which the handlers
// tolerate.
func (l *loop) modify(slot int32, fd int, events uint32) {
	s := &l.handles[slot]
	if s.events == events {
		return
	}
	ev := unix.EpollEvent{Events: events | unix.EPOLLET, Fd: slot, Pad: s.gen}
	if rawEpollCtl(l.epfd, unix.EPOLL_CTL_MOD, fd, &ev) == nil {
		s.events = events
	}
}

// reuse takes an idle socket of the family, still registered and without
// a handler until attach. ok is false when there is none.
func (l *loop) reuse(v6 bool) (slot int32, fd int, ok bool) {
	f := family(v6)
	idle := l.idle[f]
	n := len(idle)
	if n == 0 {
		return -1, -1, false
	}
	slot = idle[n-1]
	l.idle[f] = idle[:n-1]
	return slot, l.handles[slot].fd, true
}

// attach gives a registered socket's events to h, watched for events;
// on the loop's goroutine.
func (l *loop) attach(slot int32, h ioHandler, events uint32) {
	s := &l.handles[slot]
	s.h, s.attached = h, l.batch
	l.modify(slot, s.fd, events)
}

// recycle keeps a registered socket, disconnected, for a later check of
// the family; on the loop's goroutine. The socket must be unconnected
// (see rawDisconnect); beyond maxIdle of its family it is closed.
func (l *loop) recycle(slot int32, v6 bool) {
	f := family(v6)
	if len(l.idle[f]) >= maxIdle {
		l.release(slot)
		return
	}
	l.handles[slot].h = nil
	l.idle[f] = append(l.idle[f], slot)
}

func family(v6 bool) int {
	if v6 {
		return 1
	}
	return 0
}

// maxIdle bounds the idle sockets kept per family: as many as checks
// that were in flight at once, up to the Scheduler's default bound on
// them. A thousand checks a second under load have a hundred in flight
// at times; a smaller pool would close sockets after such a peak only to
// open them again at the next.
const maxIdle = 1024

// release closes a registered descriptor (which also removes it from
// epoll) and frees its slot; on the loop's goroutine.
func (l *loop) release(slot int32) {
	s := &l.handles[slot]
	if s.fd < 0 {
		return
	}
	rawClose(s.fd)
	s.h, s.fd = nil, -1
	s.gen++
	l.free = append(l.free, slot)
}

// Now returns the wall clock.
func (l *loop) Now() time.Time { return time.Now() }

// Since returns the time elapsed since t.
func (l *loop) Since(t time.Time) time.Duration { return time.Since(t) }

// AfterFunc calls f on the loop's goroutine after d.
func (l *loop) AfterFunc(d time.Duration, f func()) clock.Timer {
	t := &loopTimer{l: l, f: f, i: -1}
	t.Reset(d)
	return t
}

// deadline is AfterFunc for a check's deadline: when it falls due, the
// events of the loop's sockets that are ready by then are handled first,
// so that a loop running late (a starved CPU, a burst of work) does not
// fail a check whose answer came in time.
func (l *loop) deadline(d time.Duration, f func()) clock.Timer {
	t := &loopTimer{l: l, f: f, i: -1, afterIO: true}
	t.Reset(d)
	return t
}

// NewTimer returns a timer that sends the time on its channel after d.
func (l *loop) NewTimer(d time.Duration) clock.Timer {
	c := make(chan time.Time, 1)
	t := &loopTimer{l: l, c: c, i: -1}
	t.f = func() {
		select {
		case c <- time.Now():
		default:
		}
	}
	t.Reset(d)
	return t
}

// loopTimer is a timer of the loop's heap.
type loopTimer struct {
	l       *loop
	when    time.Time
	f       func()
	c       chan time.Time
	i       int  // index in the heap; -1 when not pending
	afterIO bool // see deadline
}

func (t *loopTimer) C() <-chan time.Time { return t.c }

// Stop removes the timer from the heap. As with time.Timer, a timer that
// has just fired may still have its function run after Stop returns false.
func (t *loopTimer) Stop() bool {
	l := t.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.i < 0 {
		return false
	}
	l.timers.remove(t.i)
	return true
}

// Reset makes the timer fire after d from now.
func (t *loopTimer) Reset(d time.Duration) bool {
	l := t.l
	when := time.Now().Add(max(d, 0))
	l.mu.Lock()
	active := t.i >= 0
	t.when = when
	if active {
		l.timers.fix(t.i)
	} else {
		l.timers.push(t)
	}
	w := l.sleeping && !l.woken && (l.wakeAt.IsZero() || when.Before(l.wakeAt))
	if w {
		l.woken = true
	}
	l.mu.Unlock()
	if w {
		l.wake()
	}
	return active
}

// timerHeap orders pending timers by deadline: a binary heap kept by
// hand, each timer knowing its index, for the loop's thousands of
// operations a second.
type timerHeap []*loopTimer

func (h *timerHeap) push(t *loopTimer) {
	t.i = len(*h)
	*h = append(*h, t)
	h.up(t.i)
}

// remove takes the timer at index i out of the heap.
func (h *timerHeap) remove(i int) *loopTimer {
	old := *h
	n := len(old) - 1
	t := old[i]
	if i != n {
		old[i] = old[n]
		old[i].i = i
	}
	old[n] = nil
	*h = old[:n]
	if i != n {
		h.fix(i)
	}
	t.i = -1
	return t
}

// fix restores the order after the timer at index i changed.
func (h timerHeap) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h timerHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h[i].when.Before(h[p].when) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

// down sifts the timer at i toward the leaves and reports whether it
// moved.
func (h timerHeap) down(i int) bool {
	start, n := i, len(h)
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && h[r].when.Before(h[c].when) {
			c = r
		}
		if !h[c].when.Before(h[i].when) {
			break
		}
		h.swap(i, c)
		i = c
	}
	return i > start
}

func (h timerHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].i, h[j].i = i, j
}
