package lvs

import "errors"

// Sentinel errors shared by the kernel client and its fakes. The kernel
// layer's errors also match the os.Err* values for the same errno, so both
// errors.Is(err, ErrServiceExists) and errors.Is(err, os.ErrExist) hold.
var (
	// ErrIPVSUnavailable: the kernel has no IPVS generic-netlink family
	// (module not loaded, or no IPVS support at all).
	ErrIPVSUnavailable = errors.New("IPVS is not available in this kernel")
	// ErrServiceExists: a service with the same key is already defined.
	ErrServiceExists = errors.New("service already exists")
	// ErrNoSuchService: no service has the given key.
	ErrNoSuchService = errors.New("no such service")
	// ErrDestinationExists: the service already has this destination.
	ErrDestinationExists = errors.New("destination already exists")
	// ErrNoSuchDestination: the service has no such destination.
	ErrNoSuchDestination = errors.New("no such destination")
	// ErrNoSuchScheduler: the scheduler or persistence engine is unknown.
	ErrNoSuchScheduler = errors.New("scheduler or persistence engine not found")
	// ErrDaemonRunning: a sync daemon in that role is already running.
	ErrDaemonRunning = errors.New("sync daemon already running")
	// ErrNoDaemon: no sync daemon in that role is running.
	ErrNoDaemon = errors.New("no sync daemon running")
)
