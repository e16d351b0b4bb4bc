package ipvs

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/lvsctl/lvsctl/lvs"
)

// Cmd is an IPVS generic-netlink command (IPVS_CMD_*).
type Cmd uint8

// The IPVS commands, from include/uapi/linux/ip_vs.h.
const (
	CmdUnspec     Cmd = iota // IPVS_CMD_UNSPEC
	CmdNewService            // IPVS_CMD_NEW_SERVICE
	CmdSetService            // IPVS_CMD_SET_SERVICE
	CmdDelService            // IPVS_CMD_DEL_SERVICE
	CmdGetService            // IPVS_CMD_GET_SERVICE
	CmdNewDest               // IPVS_CMD_NEW_DEST
	CmdSetDest               // IPVS_CMD_SET_DEST
	CmdDelDest               // IPVS_CMD_DEL_DEST
	CmdGetDest               // IPVS_CMD_GET_DEST
	CmdNewDaemon             // IPVS_CMD_NEW_DAEMON
	CmdDelDaemon             // IPVS_CMD_DEL_DAEMON
	CmdGetDaemon             // IPVS_CMD_GET_DAEMON
	CmdSetConfig             // IPVS_CMD_SET_CONFIG
	CmdGetConfig             // IPVS_CMD_GET_CONFIG
	CmdSetInfo               // IPVS_CMD_SET_INFO
	CmdGetInfo               // IPVS_CMD_GET_INFO
	CmdZero                  // IPVS_CMD_ZERO
	CmdFlush                 // IPVS_CMD_FLUSH
)

var cmdNames = [...]string{
	"IPVS_CMD_UNSPEC", "IPVS_CMD_NEW_SERVICE", "IPVS_CMD_SET_SERVICE", "IPVS_CMD_DEL_SERVICE",
	"IPVS_CMD_GET_SERVICE", "IPVS_CMD_NEW_DEST", "IPVS_CMD_SET_DEST", "IPVS_CMD_DEL_DEST",
	"IPVS_CMD_GET_DEST", "IPVS_CMD_NEW_DAEMON", "IPVS_CMD_DEL_DAEMON", "IPVS_CMD_GET_DAEMON",
	"IPVS_CMD_SET_CONFIG", "IPVS_CMD_GET_CONFIG", "IPVS_CMD_SET_INFO", "IPVS_CMD_GET_INFO",
	"IPVS_CMD_ZERO", "IPVS_CMD_FLUSH",
}

func (c Cmd) String() string {
	if int(c) < len(cmdNames) {
		return cmdNames[c]
	}
	return fmt.Sprintf("IPVS_CMD_%d", uint8(c))
}

// Error is an IPVS request the kernel refused. It keeps the command and the
// errno because the meaning of an errno depends on the command (ESRCH is "no
// such service" for SET_SERVICE but "service not defined" for NEW_DEST), and
// ipvsadm-compatible messages are chosen from both.
type Error struct {
	Cmd     Cmd
	Errno   unix.Errno
	Message string // the kernel's extended-ack text, when it sent one
}

func (e *Error) Error() string {
	msg := e.Errno.Error()
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return fmt.Sprintf("%s: %s", e.Cmd, msg)
}

// Unwrap returns the errno, so errors.Is(err, unix.EEXIST) holds.
func (e *Error) Unwrap() error { return e.Errno }

// Is maps the (command, errno) pair to the lvs sentinels and to the os
// errors a caller would expect.
func (e *Error) Is(target error) bool {
	switch target {
	case os.ErrNotExist:
		return e.Errno == unix.ENOENT || e.Errno == unix.ESRCH
	case os.ErrExist:
		return e.Errno == unix.EEXIST
	case os.ErrPermission:
		return e.Errno == unix.EPERM || e.Errno == unix.EACCES
	}
	var want error
	switch e.Cmd {
	case CmdNewService:
		switch e.Errno {
		case unix.EEXIST:
			want = lvs.ErrServiceExists
		case unix.ENOENT:
			want = lvs.ErrNoSuchScheduler
		}
	case CmdSetService:
		switch e.Errno {
		case unix.ESRCH:
			want = lvs.ErrNoSuchService
		case unix.ENOENT:
			want = lvs.ErrNoSuchScheduler
		}
	case CmdDelService, CmdZero, CmdGetService:
		if e.Errno == unix.ESRCH {
			want = lvs.ErrNoSuchService
		}
	case CmdNewDest:
		switch e.Errno {
		case unix.ESRCH:
			want = lvs.ErrNoSuchService
		case unix.EEXIST:
			want = lvs.ErrDestinationExists
		}
	case CmdSetDest, CmdDelDest:
		switch e.Errno {
		case unix.ESRCH:
			want = lvs.ErrNoSuchService
		case unix.ENOENT:
			want = lvs.ErrNoSuchDestination
		}
	case CmdNewDaemon:
		if e.Errno == unix.EEXIST {
			want = lvs.ErrDaemonRunning
		}
	case CmdDelDaemon:
		if e.Errno == unix.ESRCH {
			want = lvs.ErrNoDaemon
		}
	}
	return want != nil && errors.Is(want, target)
}
