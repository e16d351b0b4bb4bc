// Package ipvstest provides Kernel, an in-memory IPVS table with the
// method set of *ipvs.Client, for testing code that drives IPVS without
// root or a kernel module.
//
// Kernel enforces the invariants net/netfilter/ipvs/ip_vs_ctl.c and
// ip_vs_sync.c enforce in Linux 6.1 (Debian 12) and answers with the errors
// the real client returns for them: the same *ipvs.Error{Cmd, Errno} for a
// kernel refusal, the same ipvs.ErrInvalid-wrapped error for a request the
// client refuses to send, net.ErrClosed after Close and the context's error
// for a cancelled context. Where the kernel and this package differ, the
// documentation of the method says so.
package ipvstest

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lvsctl/lvsctl/lvs"
	"github.com/lvsctl/lvsctl/lvs/ipvs"
)

// Values of the simulated kernel.
const (
	// Version is IP_VS_VERSION_CODE: 1.2.1.
	Version = 0x010201
	// ConnTableSize is the connection hash table size of the default
	// CONFIG_IP_VS_TAB_BITS=12.
	ConnTableSize = 4096
	// hz is Debian's CONFIG_HZ. The kernel keeps timeouts in jiffies, and
	// the limits of IPVS_CMD_SET_CONFIG depend on it.
	hz = 250
	// maxTimeout is INT_MAX / HZ, the largest timeout ip_vs_set_timeout
	// accepts, in seconds.
	maxTimeout = (1<<31 - 1) / hz

	// Limits the client checks before sending (include/uapi/linux/ip_vs.h).
	schedNameMaxLen = 16 // IP_VS_SCHEDNAME_MAXLEN
	peNameMaxLen    = 16 // IP_VS_PENAME_MAXLEN
	ifNameMaxLen    = 16 // IP_VS_IFNAME_MAXLEN
)

// DefaultTimeouts are the kernel's initial timeouts: tcp_timeouts
// [IP_VS_TCP_S_ESTABLISHED] and [IP_VS_TCP_S_FIN_WAIT], udp_timeouts
// [IP_VS_UDP_S_NORMAL].
var DefaultTimeouts = lvs.Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}

// Schedulers61 are the schedulers Debian 12's kernel can load on demand
// (ip_vs_*.ko of Linux 6.1), plus "none" (no scheduler, allowed by
// ip_vs_add_service). "twos" came with Linux 6.2.
func Schedulers61() []string {
	return []string{"dh", "fo", "lblc", "lblcr", "lc", "mh", "nq", "ovf", "rr", "sed", "sh", "wlc", "wrr"}
}

// PersistenceEngines61 are the persistence engines of Linux 6.1
// (ip_vs_pe_sip.ko).
func PersistenceEngines61() []string { return []string{"sip"} }

// Kernel is an in-memory IPVS table. The zero value is not usable; call New.
// It is safe for concurrent use.
type Kernel struct {
	// Verbs gives the single-operation methods (AddService, ...) over Exec.
	lvs.Verbs

	mu     sync.Mutex
	closed bool

	services []*service // in creation order
	timeouts lvs.Timeouts
	master   *lvs.SyncDaemon
	backup   *lvs.SyncDaemon
	// mixedDests counts destinations whose family differs from their
	// service's (ipvs->mixed_address_family_dests): the sync daemon refuses
	// to start while there are any.
	mixedDests int

	schedulers map[string]bool
	pes        map[string]bool
	ifaces     map[string]int // name -> MTU; nil: every name exists, MTU 1500
	conns      []lvs.Connection
}

type service struct {
	svc   lvs.Service        // normalised; Flags without FlagHashed
	dests []*lvs.Destination // newest first, as list_add_rcu leaves them
}

// New returns an empty table with the kernel's defaults: the Linux 6.1
// schedulers and persistence engines, the default timeouts, no sync
// daemon, and every network interface name accepted (see SetInterface).
func New() *Kernel {
	k := &Kernel{timeouts: DefaultTimeouts}
	k.Verbs = lvs.VerbsOf(k)
	k.SetSchedulers(Schedulers61()...)
	k.SetPersistenceEngines(PersistenceEngines61()...)
	return k
}

// SetSchedulers replaces the set of scheduler names the kernel "can load".
func (k *Kernel) SetSchedulers(names ...string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.schedulers = make(map[string]bool, len(names))
	for _, n := range names {
		k.schedulers[n] = true
	}
}

// SetPersistenceEngines replaces the set of persistence-engine names.
func (k *Kernel) SetPersistenceEngines(names ...string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.pes = make(map[string]bool, len(names))
	for _, n := range names {
		k.pes[n] = true
	}
}

// SetInterface declares a network interface and its MTU for the sync
// daemon. Until it is first called every name exists with MTU 1500; after,
// only the declared ones do and others fail with ENODEV as
// start_sync_thread's __dev_get_by_name does.
func (k *Kernel) SetInterface(name string, mtu int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ifaces == nil {
		k.ifaces = map[string]int{}
	}
	k.ifaces[name] = mtu
}

// SetConnections sets what Connections returns.
func (k *Kernel) SetConnections(conns []lvs.Connection) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.conns = slices.Clone(conns)
}

// SetServiceStats sets the counters of a service, as traffic would.
func (k *Kernel) SetServiceStats(key lvs.ServiceKey, st lvs.Stats) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	nk, err := normKey(key)
	if err != nil {
		return err
	}
	s := k.find(nk)
	if s == nil {
		return &ipvs.Error{Cmd: ipvs.CmdGetService, Errno: unix.ESRCH}
	}
	s.svc.Stats = st
	return nil
}

// SetDestinationCounters sets the connection counters and statistics of a
// destination (identified by d's family, address and port) to d's
// ActiveConns, InactiveConns, PersistentConns and Stats.
func (k *Kernel) SetDestinationCounters(key lvs.ServiceKey, d lvs.Destination) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	nk, err := normKey(key)
	if err != nil {
		return err
	}
	s := k.find(nk)
	if s == nil {
		return &ipvs.Error{Cmd: ipvs.CmdGetService, Errno: unix.ESRCH}
	}
	nd, err := normDest(d, false)
	if err != nil {
		return err
	}
	i := s.findDest(nd)
	if i < 0 {
		return &ipvs.Error{Cmd: ipvs.CmdSetDest, Errno: unix.ENOENT}
	}
	x := s.dests[i]
	x.ActiveConns, x.InactiveConns, x.PersistentConns, x.Stats = d.ActiveConns, d.InactiveConns, d.PersistentConns, d.Stats
	return nil
}

// Close makes later calls fail with net.ErrClosed, like the client's.
func (k *Kernel) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.closed = true
	return nil
}

// begin takes the lock and checks the state every request checks first.
// On success the caller must unlock.
func (k *Kernel) begin(ctx context.Context, cmd ipvs.Cmd) error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return fmt.Errorf("%s: %w", cmd, net.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		k.mu.Unlock()
		return fmt.Errorf("%s: %w", cmd, err)
	}
	return nil
}

// Info reports IPVS 1.2.1 with a 4096-entry connection table.
func (k *Kernel) Info(ctx context.Context) (lvs.Info, error) {
	if err := k.begin(ctx, ipvs.CmdGetInfo); err != nil {
		return lvs.Info{}, err
	}
	defer k.mu.Unlock()
	return lvs.Info{Version: Version, ConnTableSize: ConnTableSize}, nil
}

// Services lists the services as an IPVS_CMD_GET_SERVICE dump would: every
// address service, then every firewall-mark service (the kernel walks
// ip_vs_svc_table, then ip_vs_svc_fwm_table). Within each group the kernel
// follows its hash buckets; this fake uses creation order. Callers must not
// depend on either order. Flags include lvs.FlagHashed, as the kernel's do.
func (k *Kernel) Services(ctx context.Context) ([]lvs.Service, error) {
	if err := k.begin(ctx, ipvs.CmdGetService); err != nil {
		return nil, err
	}
	defer k.mu.Unlock()
	out := []lvs.Service{}
	for _, fwm := range []bool{false, true} {
		for _, s := range k.services {
			if (s.svc.FWMark != 0) == fwm {
				out = append(out, s.listed())
			}
		}
	}
	return out, nil
}

// Service reads one service; a missing one is
// &ipvs.Error{Cmd: ipvs.CmdGetService, Errno: ESRCH}.
func (k *Kernel) Service(ctx context.Context, key lvs.ServiceKey) (lvs.Service, error) {
	if err := k.begin(ctx, ipvs.CmdGetService); err != nil {
		return lvs.Service{}, err
	}
	defer k.mu.Unlock()
	nk, err := normKey(key)
	if err != nil {
		return lvs.Service{}, fmt.Errorf("%s: %w", ipvs.CmdGetService, err)
	}
	s := k.find(nk)
	if s == nil {
		return lvs.Service{}, &ipvs.Error{Cmd: ipvs.CmdGetService, Errno: unix.ESRCH}
	}
	return s.listed(), nil
}

// Destinations lists a service's destinations newest first: NEW_DEST puts
// a destination at the head of svc->destinations (list_add_rcu) and the
// GET_DEST dump walks the list from the head. A missing service is
// &ipvs.Error{Cmd: ipvs.CmdGetService, Errno: ESRCH}, as the client reports.
func (k *Kernel) Destinations(ctx context.Context, key lvs.ServiceKey) ([]lvs.Destination, error) {
	if err := k.begin(ctx, ipvs.CmdGetDest); err != nil {
		return nil, err
	}
	defer k.mu.Unlock()
	nk, err := normKey(key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ipvs.CmdGetDest, err)
	}
	s := k.find(nk)
	if s == nil {
		return nil, &ipvs.Error{Cmd: ipvs.CmdGetService, Errno: unix.ESRCH}
	}
	out := make([]lvs.Destination, 0, len(s.dests))
	for _, d := range s.dests {
		out = append(out, *d)
	}
	return out, nil
}

// Timeouts reads the TCP, TCP FIN and UDP timeouts.
func (k *Kernel) Timeouts(ctx context.Context) (lvs.Timeouts, error) {
	if err := k.begin(ctx, ipvs.CmdGetConfig); err != nil {
		return lvs.Timeouts{}, err
	}
	defer k.mu.Unlock()
	return k.timeouts, nil
}

// SyncDaemons lists the running sync daemons, master first, with the
// defaults the kernel filled in.
func (k *Kernel) SyncDaemons(ctx context.Context) ([]lvs.SyncDaemon, error) {
	if err := k.begin(ctx, ipvs.CmdGetDaemon); err != nil {
		return nil, err
	}
	defer k.mu.Unlock()
	out := []lvs.SyncDaemon{}
	for _, d := range []*lvs.SyncDaemon{k.master, k.backup} {
		if d != nil {
			out = append(out, *d)
		}
	}
	return out, nil
}

// Connections returns what SetConnections set (an empty slice by default).
func (k *Kernel) Connections(ctx context.Context) ([]lvs.Connection, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil, fmt.Errorf("read %s: %w", ipvs.ConnPath, net.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", ipvs.ConnPath, err)
	}
	out := make([]lvs.Connection, len(k.conns))
	copy(out, k.conns)
	return out, nil
}

// Exec performs one operation.
func (k *Kernel) Exec(ctx context.Context, op lvs.Op) error {
	cmd, err := opCmd(op)
	if err != nil {
		return fmt.Errorf("%s: %w", op.Kind, err)
	}
	if err := check(op); err != nil {
		return fmt.Errorf("%s: %w", op.Kind, err)
	}
	if err := k.begin(ctx, cmd); err != nil {
		return err
	}
	defer k.mu.Unlock()
	return k.apply(cmd, op)
}

// ExecBatch performs ops in order, each independently of the others, as
// the kernel does for the requests of one batch: a failure does not stop
// the ops after it. It returns one error per op. A closed Kernel or a done
// context fails every op, with the batch error, like the client's.
func (k *Kernel) ExecBatch(ctx context.Context, ops []lvs.Op) ([]error, error) {
	errs := make([]error, len(ops))
	cmds := make([]ipvs.Cmd, len(ops))
	var todo []int
	for i, op := range ops {
		cmd, err := opCmd(op)
		if err == nil {
			err = check(op)
		}
		if err != nil {
			errs[i] = fmt.Errorf("%s: %w", op.Kind, err)
			continue
		}
		cmds[i] = cmd
		todo = append(todo, i)
	}
	if len(todo) == 0 {
		return errs, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	var cause error
	switch {
	case k.closed:
		cause = fmt.Errorf("batch: %w", net.ErrClosed)
	case ctx.Err() != nil:
		cause = fmt.Errorf("batch: %w", ctx.Err())
	}
	if cause != nil {
		for _, i := range todo {
			errs[i] = fmt.Errorf("%s: outcome unknown: %w", ops[i].Kind, cause)
		}
		return errs, cause
	}
	for _, i := range todo {
		errs[i] = k.apply(cmds[i], ops[i])
	}
	return errs, nil
}

// listed is the service as a listing reports it: the kernel sets
// IP_VS_SVC_F_HASHED on every service in its table, and a firewall-mark
// service carries no protocol, address or port.
func (s *service) listed() lvs.Service {
	out := s.svc
	out.Flags |= lvs.FlagHashed
	return out
}

// findDest is ip_vs_lookup_dest: family, address and port must all match.
func (s *service) findDest(d lvs.Destination) int {
	for i, x := range s.dests {
		if x.Family == d.Family && x.Address == d.Address && x.Port == d.Port {
			return i
		}
	}
	return -1
}

// find is __ip_vs_svc_fwm_find or __ip_vs_service_find on a normalised key.
func (k *Kernel) find(key lvs.ServiceKey) *service {
	for _, s := range k.services {
		if s.svc.Key() == key {
			return s
		}
	}
	return nil
}
