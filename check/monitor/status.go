package monitor

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/lvsctl/lvsctl/internal/statussock"

	"github.com/lvsctl/lvsctl/check"
	"github.com/lvsctl/lvsctl/lvs"
)

// Status is what `lvsctl monitor status` shows, and the JSON the status
// socket sends. Version 1; fields are only ever added.
type Status struct {
	Version  int             `json:"version"`
	Config   string          `json:"config"`
	DryRun   bool            `json:"dry_run,omitempty"`
	Started  time.Time       `json:"started"`
	Services []ServiceStatus `json:"services"`
}

// ServiceStatus is one IPVS service of the monitor.
type ServiceStatus struct {
	// Service is "TCP 192.0.2.10:80", "UDP [2001:db8::1]:53" or "FWM 5".
	Service   string `json:"service"`
	Block     string `json:"virtual_server"`
	Scheduler string `json:"scheduler"`
	QuorumUp  bool   `json:"quorum_up"`
	// Sorry is the sorry server, when configured.
	Sorry       *SorryStatus       `json:"sorry_server,omitempty"`
	RealServers []RealServerStatus `json:"real_servers"`
}

// SorryStatus is a service's sorry server.
type SorryStatus struct {
	Server string `json:"server"`
	Active bool   `json:"active"`
}

// RealServerStatus is one real server of a service.
type RealServerStatus struct {
	Server string `json:"server"`
	// Weight is the configured weight; InTable and TableWeight say whether
	// the monitor keeps it in the kernel's table and with what weight.
	Weight      int32 `json:"weight"`
	InTable     bool  `json:"in_table"`
	TableWeight int32 `json:"table_weight"`
	// State is "up" or "down"; Since when it is so, absent when it has
	// not changed since the monitor started.
	State  string        `json:"state"`
	Since  *time.Time    `json:"since,omitempty"`
	Checks []CheckStatus `json:"checks"`
}

// CheckStatus is one checker of a real server.
type CheckStatus struct {
	Kind  string     `json:"kind"`
	State string     `json:"state"`
	Since *time.Time `json:"since,omitempty"`
	// Checked is false until the first check has completed; the fields
	// below are then empty.
	Checked bool       `json:"checked"`
	OK      bool       `json:"ok"`
	Result  string     `json:"result,omitempty"`
	Latency float64    `json:"latency_seconds"`
	At      *time.Time `json:"at,omitempty"`
}

// serviceName names a service as the status and the metrics do.
func serviceName(k lvs.ServiceKey) string {
	if k.FWMark != 0 {
		s := fmt.Sprintf("FWM %d", k.FWMark)
		if k.Family == lvs.IPv6 {
			s += " IPv6"
		}
		return s
	}
	return k.Protocol.String() + " " + netip.AddrPortFrom(k.Address, k.Port).String()
}

// Status returns the monitor's view of every service it runs.
func (m *Monitor) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := Status{Version: 1, Config: m.cfg.Source, DryRun: m.o.DryRun, Started: m.since.UTC(), Services: []ServiceStatus{}}
	byRS := make(map[string]map[check.DestKey][]check.Status)
	for _, js := range m.sched.Status() {
		r, ok := m.refs[js.ID]
		if !ok {
			continue
		}
		if byRS[r.block] == nil {
			byRS[r.block] = make(map[check.DestKey][]check.Status)
		}
		js.Kind = r.kind
		byRS[r.block][r.rs] = append(byRS[r.block][r.rs], js)
	}
	for _, b := range m.cfg.Blocks {
		for _, vs := range b.Services {
			k := vs.Key()
			state := m.states[k]
			table := m.inTable[k]
			ss := ServiceStatus{Service: serviceName(k), Block: b.Name, Scheduler: vs.Scheduler, QuorumUp: state.QuorumUp,
				RealServers: []RealServerStatus{}}
			if vs.Sorry != nil {
				ss.Sorry = &SorryStatus{Server: check.KeyOf(vs.Sorry.Destination).String(), Active: state.Started && !state.QuorumUp}
			}
			for _, rs := range vs.RealServers {
				dk := check.KeyOf(rs.Destination)
				jobs := byRS[b.Name][dk]
				rst := RealServerStatus{Server: dk.String(), Weight: rs.Weight, State: "up", Checks: []CheckStatus{}}
				if d, in := table[dk]; in {
					rst.InTable, rst.TableWeight = true, d.Weight
				}
				h := check.Health{Up: true}
				if len(jobs) > 0 {
					h = check.Combine(jobs)
				}
				if !h.Up {
					rst.State = "down"
				}
				rst.Since = rsSince(jobs, h.Up, m.since)
				for _, j := range jobs {
					rst.Checks = append(rst.Checks, checkStatus(j, m.since))
				}
				ss.RealServers = append(ss.RealServers, rst)
			}
			st.Services = append(st.Services, ss)
		}
	}
	return st
}

// rsSince is when a real server entered its state: for an up server the
// last of its checks to come up, for a down one the first to go down.
// Nothing when that was at start.
func rsSince(jobs []check.Status, up bool, start time.Time) *time.Time {
	var t time.Time
	for _, j := range jobs {
		if j.Up != up {
			continue
		}
		if t.IsZero() || (up && j.Since.After(t)) || (!up && j.Since.Before(t)) {
			t = j.Since
		}
	}
	if t.IsZero() || !t.After(start) {
		return nil
	}
	t = t.UTC()
	return &t
}

func checkStatus(j check.Status, start time.Time) CheckStatus {
	cs := CheckStatus{Kind: string(j.Kind), State: "up", Checked: j.Checked}
	if !j.Up {
		cs.State = "down"
	}
	if j.Since.After(start) {
		t := j.Since.UTC()
		cs.Since = &t
	}
	if j.Checked {
		cs.OK = j.Last.OK
		cs.Latency = j.Last.Latency.Seconds()
		at := j.LastAt.UTC()
		cs.At = &at
		switch {
		case j.Last.OK && j.Last.Detail != "":
			cs.Result = j.Last.Detail
		case j.Last.OK:
			cs.Result = "ok"
		case j.Last.Err != nil:
			cs.Result = j.Last.Err.Error()
		default:
			cs.Result = "failed"
		}
	}
	return cs
}

// ServeStatus answers each connection to the unix socket at path with the
// monitor's Status in JSON, until ctx ends or the returned stop is called
// (which also removes the socket). It refuses to take over the socket of a
// monitor that still answers.
func ServeStatus(ctx context.Context, path string, m *Monitor, log *slog.Logger) (stop func(), err error) {
	return statussock.Serve(ctx, path, func(context.Context) (any, error) { return m.Status(), nil }, log)
}

// ErrNoMonitor is returned by ReadStatus when nothing answers on the
// socket.
var ErrNoMonitor = statussock.ErrNotRunning

// ReadStatus asks the monitor listening on the unix socket at path for its
// Status.
func ReadStatus(ctx context.Context, path string) (Status, error) {
	var st Status
	err := statussock.Read(ctx, path, "monitor", &st)
	return st, err
}
