package check

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The loop's system calls on its non-blocking sockets, made without
// telling the runtime (syscall.RawSyscall). A system call made the usual
// way puts the goroutine's P in the syscall state, and when the call
// lasts more than one tick of the runtime's monitor thread (20 µs; a
// connect over loopback or veth does the whole handshake inline and
// takes longer, many times longer under emulation) the monitor hands the
// P to another thread: a thread wake-up, and the monitor back to 20 µs
// ticks, for every check. None of these calls can block: the sockets
// are non-blocking, none lingers on close, and the epoll wait made this
// way has a short timeout (see loop.wait).

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func rawSocket(family, typ, proto int) (int, error) {
	fd, _, e := unix.RawSyscall(unix.SYS_SOCKET, uintptr(family), uintptr(typ), uintptr(proto))
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

// rawConnect starts connecting fd to dst (IPv4, IPv6 or v4-mapped,
// without a zone).
func rawConnect(fd int, dst netip.AddrPort) error {
	addr := dst.Addr().Unmap()
	if addr.Is4() {
		sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: addr.As4()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], dst.Port())
		_, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
		return errnoErr(e)
	}
	sa := unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: addr.As16()}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], dst.Port())
	_, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
	return errnoErr(e)
}

func rawRead(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawWrite(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawClose(fd int) error {
	_, _, e := unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
	return errnoErr(e)
}

func rawEpollCtl(epfd, op, fd int, ev *unix.EpollEvent) error {
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	return errnoErr(e)
}

// rawEpollWait is epoll_pwait(2) without a signal mask, which every
// architecture has.
func rawEpollWait(epfd int, events []unix.EpollEvent, msec int) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(msec), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawGetsockoptInt(fd, level, opt int) (int, error) {
	var v int32
	l := uint32(unsafe.Sizeof(v))
	_, _, e := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return 0, e
	}
	return int(v), nil
}

// rawDisconnect dissolves fd's connection, with a reset when it is
// established or the peer has closed, and leaves the socket unconnected
// and unbound, to connect again (connect(2) with AF_UNSPEC); the error
// the reset leaves pending on the socket is read off, so that the next
// connection does not report it.
func rawDisconnect(fd int) error {
	sa := unix.RawSockaddrInet6{Family: unix.AF_UNSPEC}
	if _, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa)); e != 0 {
		return e
	}
	_, err := rawGetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	return err
}
