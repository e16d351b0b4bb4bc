package lvs

import "context"

// Executor performs one operation on an IPVS table: the kernel client in
// lvs/ipvs and its in-memory fake both are.
type Executor interface {
	Exec(ctx context.Context, op Op) error
}

// Verbs gives an Executor one method per operation. The kernel client and
// the fake embed it, so the single-operation API is written once and the
// two cannot drift apart.
type Verbs struct{ exec Executor }

// VerbsOf returns the single-operation methods of e.
func VerbsOf(e Executor) Verbs { return Verbs{exec: e} }

// AddService creates a virtual service (IPVS_CMD_NEW_SERVICE).
func (v Verbs) AddService(ctx context.Context, s Service) error {
	return v.exec.Exec(ctx, Op{Kind: AddService, Service: s})
}

// UpdateService changes the scheduler, flags, timeout, netmask and
// persistence engine of a service (IPVS_CMD_SET_SERVICE).
func (v Verbs) UpdateService(ctx context.Context, s Service) error {
	return v.exec.Exec(ctx, Op{Kind: EditService, Service: s})
}

// DeleteService removes a service and its destinations
// (IPVS_CMD_DEL_SERVICE).
func (v Verbs) DeleteService(ctx context.Context, k ServiceKey) error {
	return v.exec.Exec(ctx, Op{Kind: DeleteService, Service: k.Service()})
}

// AddDestination adds a real server to a service (IPVS_CMD_NEW_DEST).
func (v Verbs) AddDestination(ctx context.Context, k ServiceKey, d Destination) error {
	return v.exec.Exec(ctx, Op{Kind: AddDestination, Service: k.Service(), Destination: d})
}

// UpdateDestination changes a real server's forwarding method, weight,
// thresholds and tunnel settings (IPVS_CMD_SET_DEST).
func (v Verbs) UpdateDestination(ctx context.Context, k ServiceKey, d Destination) error {
	return v.exec.Exec(ctx, Op{Kind: EditDestination, Service: k.Service(), Destination: d})
}

// DeleteDestination removes a real server from a service
// (IPVS_CMD_DEL_DEST).
func (v Verbs) DeleteDestination(ctx context.Context, k ServiceKey, d Destination) error {
	return v.exec.Exec(ctx, Op{Kind: DeleteDestination, Service: k.Service(), Destination: d})
}

// Flush removes every service (IPVS_CMD_FLUSH).
func (v Verbs) Flush(ctx context.Context) error {
	return v.exec.Exec(ctx, Op{Kind: Flush})
}

// Zero clears the counters of every service and destination
// (IPVS_CMD_ZERO without a service).
func (v Verbs) Zero(ctx context.Context) error {
	return v.exec.Exec(ctx, Op{Kind: Zero, AllServices: true})
}

// ZeroService clears the counters of one service and its destinations.
func (v Verbs) ZeroService(ctx context.Context, k ServiceKey) error {
	return v.exec.Exec(ctx, Op{Kind: Zero, Service: k.Service()})
}

// SetTimeouts sets the TCP, TCP FIN and UDP timeouts; zero fields stay as
// they are (IPVS_CMD_SET_CONFIG).
func (v Verbs) SetTimeouts(ctx context.Context, t Timeouts) error {
	return v.exec.Exec(ctx, Op{Kind: SetTimeouts, Timeouts: t})
}

// StartSyncDaemon starts a master or backup sync daemon
// (IPVS_CMD_NEW_DAEMON).
func (v Verbs) StartSyncDaemon(ctx context.Context, d SyncDaemon) error {
	return v.exec.Exec(ctx, Op{Kind: StartDaemon, Daemon: d})
}

// StopSyncDaemon stops the sync daemon in the given role
// (IPVS_CMD_DEL_DAEMON).
func (v Verbs) StopSyncDaemon(ctx context.Context, state SyncState) error {
	return v.exec.Exec(ctx, Op{Kind: StopDaemon, Daemon: SyncDaemon{State: state}})
}
