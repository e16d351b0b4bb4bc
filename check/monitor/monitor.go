package monitor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lvsctl/lvsctl/check"
	"github.com/lvsctl/lvsctl/internal/clock"
	"github.com/lvsctl/lvsctl/lvs"
	"github.com/lvsctl/lvsctl/lvs/ipvsadm"
	"github.com/lvsctl/lvsctl/lvs/reconcile"
)

// Kernel is what the monitor needs of IPVS: *ipvs.Client and
// *ipvstest.Kernel both are.
type Kernel interface {
	Services(ctx context.Context) ([]lvs.Service, error)
	Destinations(ctx context.Context, k lvs.ServiceKey) ([]lvs.Destination, error)
	ExecBatch(ctx context.Context, ops []lvs.Op) ([]error, error)
}

// Options configure a Monitor. Kernel is required; the zero value of every
// other field is usable.
type Options struct {
	Kernel Kernel
	// Clock drives the checks and the retry of failed kernel operations;
	// nil: the real clock.
	Clock clock.Clock
	// Logger receives the structured log: decisions, kernel operations,
	// warnings; nil: discarded.
	Logger *slog.Logger
	// ClassicLog receives the classic health-check log lines, one per real
	// server leaving or returning ("2026-11-26 10:00:00,192.0.2.7 is
	// gone."); nil: none.
	ClassicLog io.Writer
	// DryRun checks and decides, logs the operations it would perform,
	// and applies them to an in-memory copy of the table read at start,
	// never to the kernel.
	DryRun bool
	// Run runs a notify_up, notify_down, quorum_up or quorum_down command
	// to completion; nil: exec without a shell, bounded by ScriptTimeout.
	Run func(ctx context.Context, argv []string) error
	// ScriptTimeout bounds each notify or quorum command; zero: 60 s.
	ScriptTimeout time.Duration
	// MaxConcurrent bounds the checks in flight (check.Options); zero:
	// the scheduler's default.
	MaxConcurrent int
	// BatchWindow lets transitions that fall close together be applied in
	// one batch of kernel operations (check.Options.BatchWindow).
	BatchWindow time.Duration
	// Rand spreads the first checks (check.Options.Rand); nil: random.
	Rand func() float64
	// Metrics, when set, receives check results, transitions and kernel
	// operations.
	Metrics *Metrics
}

// ErrNotStarted is returned by calls that need a started Monitor.
var ErrNotStarted = errors.New("monitor not started")

// Monitor is the health-check daemon: it runs the checks of a Config,
// decides each service's real servers with check.Decide, and applies the
// difference to the kernel through lvs/reconcile, touching only the
// services and real servers its configuration names.
type Monitor struct {
	o     Options
	clk   clock.Clock
	log   *slog.Logger
	sched *check.Scheduler

	mu      sync.Mutex
	cfg     *Config
	started bool
	kernel  Kernel // o.Kernel, or the in-memory copy of a dry run
	ctx     context.Context
	refs    map[string]jobRef
	states  map[lvs.ServiceKey]check.ServiceState
	// stale are services and destinations of a previous configuration
	// that a reload dropped: the next apply removes them.
	staleSvcs  map[lvs.ServiceKey]bool
	staleDests map[lvs.ServiceKey]map[check.DestKey]bool
	// created and added are what this monitor put in the kernel (and the
	// kernel did not have at start): what Cleanup removes.
	created map[lvs.ServiceKey]bool
	added   map[lvs.ServiceKey]map[check.DestKey]bool
	// inTable is each service's table after the last apply, for Status.
	inTable map[lvs.ServiceKey]map[check.DestKey]lvs.Destination
	retry   clock.Timer
	failed  bool
	since   time.Time

	scripts sync.WaitGroup
	running atomic.Int64 // commands not yet returned, for WaitIdle
}

type jobRef struct {
	block string
	rs    check.DestKey
	kind  check.Kind
}

// New returns a Monitor for cfg; Start runs it.
func New(cfg *Config, o Options) (*Monitor, error) {
	if o.Kernel == nil {
		return nil, errors.New("monitor: no kernel")
	}
	m := &Monitor{
		o: o, clk: o.Clock, log: o.Logger, cfg: cfg, kernel: o.Kernel,
		states:     make(map[lvs.ServiceKey]check.ServiceState),
		staleSvcs:  make(map[lvs.ServiceKey]bool),
		staleDests: make(map[lvs.ServiceKey]map[check.DestKey]bool),
		created:    make(map[lvs.ServiceKey]bool),
		added:      make(map[lvs.ServiceKey]map[check.DestKey]bool),
		inTable:    make(map[lvs.ServiceKey]map[check.DestKey]lvs.Destination),
	}
	if m.clk == nil {
		m.clk = clock.Real{}
	}
	if m.log == nil {
		m.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if m.o.ScriptTimeout <= 0 {
		m.o.ScriptTimeout = time.Minute
	}
	m.sched = check.NewScheduler(check.Options{
		Clock: m.clk, MaxConcurrent: o.MaxConcurrent, BatchWindow: o.BatchWindow, Rand: o.Rand,
		Logger: m.log, Notify: m.notify,
	})
	return m, nil
}

// Start reads the kernel's table once and adopts it: a real server the
// kernel holds with its weight starts up and stays, one it lacks starts
// down and comes in after passing a check (check.Adopt); a service it
// lacks is created, and there the configuration's alpha decides. Then the
// first decision is applied and the checks start. The Monitor runs until
// ctx ends; Wait returns after that, with the table left as it is.
func (m *Monitor) Start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started {
		return check.ErrRunning
	}
	current, err := m.readAll(ctx)
	if err != nil {
		return fmt.Errorf("monitor: read the IPVS table: %w", err)
	}
	if m.o.DryRun {
		m.kernel = newSimTable(current)
	}
	if t := m.cfg.Timeouts; t != (lvs.Timeouts{}) {
		m.exec(ctx, []lvs.Op{{Kind: lvs.SetTimeouts, Timeouts: t}})
	}
	jobs, refs, initial := m.jobs(m.cfg, current, nil)
	if err := m.sched.Update(jobs); err != nil {
		return fmt.Errorf("monitor: %w", err)
	}
	m.refs = refs
	m.seedStates(m.cfg, initial)
	m.ctx = ctx
	m.started = true
	m.since = m.clk.Now()
	n := 0
	for _, b := range m.cfg.Blocks {
		n += len(b.Services)
	}
	m.log.Info("monitor starting", "config", m.cfg.Source, "services", n, "checks", len(jobs), "dry_run", m.o.DryRun)
	m.applyLocked()
	return m.sched.Start(ctx)
}

// Wait returns when a started Monitor has stopped: the checks ended and
// the notify commands they triggered returned.
func (m *Monitor) Wait() {
	m.sched.Wait()
	m.mu.Lock()
	if m.retry != nil {
		m.retry.Stop()
	}
	m.started = false
	cfg := m.cfg
	for _, b := range cfg.Blocks {
		for _, vs := range b.Services {
			for _, e := range check.Shutdown(vs, m.states[vs.Key()]) {
				m.eventLocked(b, e, m.clk.Now())
			}
		}
	}
	m.mu.Unlock()
	m.scripts.Wait()
}

// WaitIdle returns when no check runs and every decision has been
// applied; tests on a fake clock call it after each Advance.
func (m *Monitor) WaitIdle(ctx context.Context) error {
	for {
		if err := m.sched.WaitIdle(ctx); err != nil {
			return err
		}
		if m.running.Load() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// readAll lists every service of the kernel with its destinations.
func (m *Monitor) readAll(ctx context.Context) (map[lvs.ServiceKey]reconcile.Service, error) {
	table, err := reconcile.Read(ctx, m.kernel)
	if err != nil {
		return nil, err
	}
	out := make(map[lvs.ServiceKey]reconcile.Service, len(table))
	for _, s := range table {
		out[s.Key()] = s
	}
	return out, nil
}

// jobs builds the scheduler's jobs for cfg. A job whose ID is in keep
// (a reload) keeps its state in the scheduler; the others start from the
// kernel's table (check.Adopt) when it holds their service, else from
// their alpha. initial is the health each real server starts with.
func (m *Monitor) jobs(cfg *Config, current map[lvs.ServiceKey]reconcile.Service, keep map[string]jobRef) ([]check.Job, map[string]jobRef, map[string]map[check.DestKey]bool) {
	var jobs []check.Job
	refs := make(map[string]jobRef)
	initial := make(map[string]map[check.DestKey]bool)
	for _, b := range cfg.Blocks {
		// A real server of a group starts up only if every service of the
		// group that the kernel has holds it.
		startUp := make(map[check.DestKey]bool)
		adopted := false
		for _, vs := range b.Services {
			cur, ok := current[vs.Key()]
			if !ok {
				continue
			}
			up, _ := check.Adopt(vs, &cur)
			for k, v := range up {
				if !adopted {
					startUp[k] = v
				} else {
					startUp[k] = startUp[k] && v
				}
			}
			adopted = true
		}
		init := make(map[check.DestKey]bool)
		initial[b.Name] = init
		for _, rs := range b.RealServers {
			up := true
			for i, c := range rs.Checks {
				id := jobID(b, rs, i, c)
				refs[id] = jobRef{block: b.Name, rs: rs.Key, kind: c.Kind}
				p := c.Params
				if _, kept := keep[id]; !kept && adopted {
					p.Alpha = !startUp[rs.Key]
				}
				up = up && !p.Alpha
				jobs = append(jobs, check.Job{ID: id, Target: c.Target, Checker: c.Checker, Params: p, Observe: m.observer(b, rs, c)})
			}
			init[rs.Key] = up
		}
	}
	return jobs, refs, initial
}

// seedStates makes the services of cfg that have a decision state know
// the real servers that are new to them, with their initial health, so a
// reload reports no transition for them.
func (m *Monitor) seedStates(cfg *Config, initial map[string]map[check.DestKey]bool) {
	for _, b := range cfg.Blocks {
		for _, vs := range b.Services {
			st, ok := m.states[vs.Key()]
			if !ok || !st.Started {
				continue
			}
			alive := make(map[check.DestKey]bool, len(vs.RealServers))
			for _, rs := range vs.RealServers {
				k := check.KeyOf(rs.Destination)
				if v, had := st.Alive[k]; had {
					alive[k] = v
				} else {
					alive[k] = initial[b.Name][k]
				}
			}
			st.Alive = alive
			m.states[vs.Key()] = st
		}
	}
}

// Reload replaces the configuration and applies only the difference:
// checks whose ID is kept (same block, real server, position and kind)
// keep their state, so an unchanged real server is neither removed nor
// re-added and a changed weight is edited in place; real servers and
// services the new configuration drops are removed; new real servers
// start from the kernel's table as at Start.
func (m *Monitor) Reload(ctx context.Context, cfg *Config) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.started {
		return ErrNotStarted
	}
	current, err := m.readAll(ctx)
	if err != nil {
		return fmt.Errorf("monitor: reload: read the IPVS table: %w", err)
	}
	jobs, refs, initial := m.jobs(cfg, current, m.refs)
	if err := m.sched.Update(jobs); err != nil {
		return fmt.Errorf("monitor: reload: %w", err)
	}
	// What the old configuration managed and the new one does not is
	// stale: removed at the next apply.
	newKeys := make(map[lvs.ServiceKey]*check.VirtualService)
	for _, b := range cfg.Blocks {
		for i := range b.Services {
			newKeys[b.Services[i].Key()] = &b.Services[i]
		}
	}
	for _, b := range m.cfg.Blocks {
		for _, vs := range b.Services {
			k := vs.Key()
			nvs, kept := newKeys[k]
			if !kept {
				m.staleSvcs[k] = true
				delete(m.states, k)
				continue
			}
			keepDest := make(map[check.DestKey]bool)
			for _, d := range managedDests(*nvs) {
				keepDest[d] = true
			}
			for _, d := range managedDests(vs) {
				if !keepDest[d] {
					if m.staleDests[k] == nil {
						m.staleDests[k] = make(map[check.DestKey]bool)
					}
					m.staleDests[k][d] = true
				}
			}
		}
	}
	for k := range newKeys {
		delete(m.staleSvcs, k)
	}
	if mt := m.o.Metrics; mt != nil {
		mt.forget(m.cfg, cfg, m.refs, refs)
	}
	m.cfg, m.refs = cfg, refs
	m.seedStates(cfg, initial)
	m.log.Info("configuration reloaded", "config", cfg.Source, "checks", len(jobs))
	m.applyLocked()
	return nil
}

// managedDests are the destinations of a service the monitor may remove:
// its real servers and its sorry server.
func managedDests(vs check.VirtualService) []check.DestKey {
	out := make([]check.DestKey, 0, len(vs.RealServers)+1)
	for _, rs := range vs.RealServers {
		out = append(out, check.KeyOf(rs.Destination))
	}
	if vs.Sorry != nil {
		out = append(out, check.KeyOf(vs.Sorry.Destination))
	}
	return out
}

// notify is the scheduler's Notify: every batch of transitions leads to
// one decision over all services.
func (m *Monitor) notify(evs []check.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range evs {
		r, ok := m.refs[e.ID]
		if !ok {
			continue
		}
		m.log.Debug("check transition", "service", r.block, "server", r.rs.String(), "check", string(r.kind),
			"up", e.Up, "detail", e.Result.Detail, "err", errString(e.Result.Err))
	}
	if m.started {
		m.applyLocked()
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// health folds the scheduler's job states into each block's real-server
// health. A real server without checks is always up, as in keepalived.
func (m *Monitor) health() map[string]map[check.DestKey]check.Health {
	byRS := make(map[string]map[check.DestKey][]check.Status)
	for _, st := range m.sched.Status() {
		r, ok := m.refs[st.ID]
		if !ok {
			continue
		}
		if byRS[r.block] == nil {
			byRS[r.block] = make(map[check.DestKey][]check.Status)
		}
		byRS[r.block][r.rs] = append(byRS[r.block][r.rs], st)
	}
	out := make(map[string]map[check.DestKey]check.Health, len(m.cfg.Blocks))
	for _, b := range m.cfg.Blocks {
		h := make(map[check.DestKey]check.Health, len(b.RealServers))
		for _, rs := range b.RealServers {
			if len(rs.Checks) == 0 {
				h[rs.Key] = check.Health{Up: true}
				continue
			}
			h[rs.Key] = check.Combine(byRS[b.Name][rs.Key])
		}
		out[b.Name] = h
	}
	return out
}

// applyLocked decides every service, reports the events, and makes the
// kernel match the decisions for what the monitor manages.
func (m *Monitor) applyLocked() {
	ctx := m.ctx
	if ctx == nil || ctx.Err() != nil {
		return
	}
	now := m.clk.Now()
	health := m.health()
	var desired []reconcile.Service
	managed := make(map[lvs.ServiceKey]map[check.DestKey]bool)
	lines := make(map[string]bool)
	for _, b := range m.cfg.Blocks {
		for _, vs := range b.Services {
			k := vs.Key()
			d := check.Decide(vs, health[b.Name], m.states[k])
			m.states[k] = d.State
			desired = append(desired, d.Desired)
			md := make(map[check.DestKey]bool)
			for _, dk := range managedDests(vs) {
				md[dk] = true
			}
			managed[k] = md
			for _, e := range d.Events {
				if l := check.LogLineFor(now, e); l != "" {
					// A group's services share their real servers: one
					// line per real server and change.
					if lines[l] {
						m.eventLocked(b, e, now, true)
						continue
					}
					lines[l] = true
				}
				m.eventLocked(b, e, now)
			}
			if m.o.Metrics != nil {
				m.o.Metrics.service(b.Name, vs, d, health[b.Name])
			}
		}
	}
	for k, ds := range m.staleDests {
		if managed[k] == nil {
			continue
		}
		for d := range ds {
			managed[k][d] = true
		}
	}

	current, err := m.readManaged(ctx, managed)
	if err != nil {
		m.log.Error("read the IPVS table", "err", err)
		m.armRetry()
		return
	}
	ops, err := reconcile.Plan(desired, current, reconcile.Options{Prune: true})
	if err != nil {
		m.log.Error("plan", "err", err)
		return
	}
	failed := m.exec(ctx, ops)
	if !failed {
		clear(m.staleSvcs)
		clear(m.staleDests)
	}
	m.recordTable(desired)
	if failed {
		m.armRetry()
	}
}

// readManaged lists the services the monitor manages (the configured ones
// and those a reload dropped) with their managed destinations only, so that
// Plan with Prune never touches anything else in the table.
func (m *Monitor) readManaged(ctx context.Context, managed map[lvs.ServiceKey]map[check.DestKey]bool) ([]reconcile.Service, error) {
	svcs, err := m.kernel.Services(ctx)
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	var out []reconcile.Service
	for _, s := range svcs {
		k := s.Key()
		md, ours := managed[k]
		if !ours && !m.staleSvcs[k] {
			continue
		}
		dests, err := m.kernel.Destinations(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("list destinations of %s: %w", s, err)
		}
		rs := reconcile.Service{Service: s}
		for _, d := range dests {
			if !ours || md[check.KeyOf(d)] {
				rs.Destinations = append(rs.Destinations, d)
			}
		}
		out = append(out, rs)
	}
	return out, nil
}

// exec performs ops in one batch (or, in a dry run, on the in-memory
// copy), logs each, and records what the monitor added. It reports whether
// any op failed.
func (m *Monitor) exec(ctx context.Context, ops []lvs.Op) (failed bool) {
	if len(ops) == 0 {
		return false
	}
	errs, batchErr := m.kernel.ExecBatch(ctx, ops)
	for i, op := range ops {
		var err error
		if i < len(errs) {
			err = errs[i]
		} else {
			err = batchErr
		}
		rule := opText(op)
		if m.o.Metrics != nil {
			m.o.Metrics.op(op.Kind, err)
		}
		if err != nil {
			failed = true
			m.log.Error("ipvs", "op", op.Kind.String(), "rule", rule, "dry_run", m.o.DryRun, "err", err)
			continue
		}
		m.log.Info("ipvs", "op", op.Kind.String(), "rule", rule, "dry_run", m.o.DryRun)
		k := op.Service.Key()
		switch op.Kind {
		case lvs.AddService:
			m.created[k] = true
		case lvs.DeleteService:
			delete(m.created, k)
			delete(m.added, k)
		case lvs.AddDestination:
			if m.added[k] == nil {
				m.added[k] = make(map[check.DestKey]bool)
			}
			m.added[k][check.KeyOf(op.Destination)] = true
		case lvs.DeleteDestination:
			delete(m.added[k], check.KeyOf(op.Destination))
		}
	}
	return failed
}

func opText(op lvs.Op) string {
	if op.Kind == lvs.SetTimeouts {
		t := op.Timeouts
		return fmt.Sprintf("--set %d %d %d", int(t.TCP.Seconds()), int(t.TCPFin.Seconds()), int(t.UDP.Seconds()))
	}
	return ipvsadm.OpRule(op)
}

// armRetry applies again a little later after a kernel failure, so a
// transient error does not leave the table wrong until the next
// transition.
func (m *Monitor) armRetry() {
	if m.retry != nil {
		return
	}
	d := min(m.cfg.shortestInterval(), 5*time.Second)
	m.retry = m.clk.AfterFunc(d, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.retry = nil
		if m.started {
			m.applyLocked()
		}
	})
}

func (m *Monitor) recordTable(desired []reconcile.Service) {
	clear(m.inTable)
	for _, s := range desired {
		t := make(map[check.DestKey]lvs.Destination, len(s.Destinations))
		for _, d := range s.Destinations {
			t[check.KeyOf(d)] = d
		}
		m.inTable[s.Key()] = t
	}
}

// eventLocked logs a policy event, writes its classic line and starts
// its command. quiet skips the classic line and the command (a group's
// second service reporting the same real server).
func (m *Monitor) eventLocked(b *Block, e check.PolicyEvent, now time.Time, quiet ...bool) {
	attrs := []any{"service", e.Service.String(), "block", b.Name}
	if e.Dest.Address.IsValid() {
		attrs = append(attrs, "server", check.KeyOf(e.Dest).String())
	}
	if e.Kind == check.QuorumUp || e.Kind == check.QuorumDown {
		attrs = append(attrs, "weight_sum", e.WeightSum, "threshold", e.Threshold)
	}
	if e.Initial {
		attrs = append(attrs, "initial", true)
	}
	m.log.Info(e.Kind.String(), attrs...)
	if m.o.Metrics != nil {
		m.o.Metrics.event(b.Name, e)
	}
	if len(quiet) > 0 && quiet[0] {
		return
	}
	if l := check.LogLineFor(now, e); l != "" && m.o.ClassicLog != nil {
		if _, err := io.WriteString(m.o.ClassicLog, l+"\n"); err != nil {
			m.log.Error("write the log", "err", err)
		}
	}
	var argv []string
	switch e.Kind {
	case check.RealServerUp, check.RealServerDown:
		for _, rs := range b.RealServers {
			if rs.Key == check.KeyOf(e.Dest) {
				argv = rs.NotifyUp
				if e.Kind == check.RealServerDown {
					argv = rs.NotifyDown
				}
			}
		}
	case check.QuorumUp:
		argv = b.QuorumUp
	case check.QuorumDown:
		argv = b.QuorumDown
	}
	if len(argv) > 0 {
		m.runScript(e.Kind.String(), argv)
	}
}

// runScript starts a notify or quorum command in the background, as
// keepalived does, without a shell.
func (m *Monitor) runScript(what string, argv []string) {
	m.scripts.Add(1)
	m.running.Add(1)
	go func() {
		defer m.scripts.Done()
		defer m.running.Add(-1)
		ctx, cancel := context.WithTimeout(context.Background(), m.o.ScriptTimeout)
		defer cancel()
		run := m.o.Run
		if run == nil {
			run = execScript
		}
		if err := run(ctx, argv); err != nil {
			m.log.Warn("command failed", "event", what, "argv", argv, "err", err)
			return
		}
		m.log.Debug("command ran", "event", what, "argv", argv)
	}()
}

func execScript(ctx context.Context, argv []string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil && len(out) > 0 {
		if len(out) > 200 {
			out = out[:200]
		}
		return fmt.Errorf("%w: %s", err, out)
	}
	return err
}

// Cleanup removes what this monitor added to the kernel: the services it
// created and, in the services it found, the real servers and sorry
// servers it added. Real servers that were there when it started stay.
// Call it after the Monitor has stopped.
func (m *Monitor) Cleanup(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	svcs, err := m.kernel.Services(ctx)
	if err != nil {
		return fmt.Errorf("monitor: cleanup: %w", err)
	}
	var ops []lvs.Op
	for _, s := range svcs {
		k := s.Key()
		if m.created[k] {
			ops = append(ops, lvs.Op{Kind: lvs.DeleteService, Service: k.Service()})
			continue
		}
		if len(m.added[k]) == 0 {
			continue
		}
		dests, err := m.kernel.Destinations(ctx, k)
		if err != nil {
			return fmt.Errorf("monitor: cleanup: %w", err)
		}
		for _, d := range dests {
			if m.added[k][check.KeyOf(d)] {
				ops = append(ops, lvs.Op{Kind: lvs.DeleteDestination, Service: k.Service(), Destination: lvs.Destination{Family: d.Family, Address: d.Address, Port: d.Port}})
			}
		}
	}
	slices.SortStableFunc(ops, func(a, b lvs.Op) int { return cmp.Compare(a.Kind, b.Kind) })
	if m.exec(ctx, ops) {
		return errors.New("monitor: cleanup: some operations failed")
	}
	return nil
}
