package monitor

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/lvsctl/lvsctl/check"
	"github.com/lvsctl/lvsctl/lvs"
	"github.com/lvsctl/lvsctl/lvs/reconcile"
)

// simTable is the in-memory table of a dry run: a copy of the kernel's
// table at start that the monitor's operations change instead of the
// kernel, so that each decision is planned against what the previous ones
// would have left.
type simTable struct {
	mu   sync.Mutex
	svcs map[lvs.ServiceKey]*reconcile.Service
}

func newSimTable(current map[lvs.ServiceKey]reconcile.Service) *simTable {
	t := &simTable{svcs: make(map[lvs.ServiceKey]*reconcile.Service, len(current))}
	for k, s := range current {
		s.Destinations = slices.Clone(s.Destinations)
		t.svcs[k] = &s
	}
	return t
}

func (t *simTable) Services(context.Context) ([]lvs.Service, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]lvs.Service, 0, len(t.svcs))
	for _, s := range t.svcs {
		out = append(out, s.Service)
	}
	slices.SortFunc(out, func(a, b lvs.Service) int { return reconcile.CompareKeys(a.Key(), b.Key()) })
	return out, nil
}

func (t *simTable) Destinations(_ context.Context, k lvs.ServiceKey) ([]lvs.Destination, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.svcs[k]
	if !ok {
		return nil, fmt.Errorf("%s: %w", k, lvs.ErrNoSuchService)
	}
	return slices.Clone(s.Destinations), nil
}

func (t *simTable) ExecBatch(_ context.Context, ops []lvs.Op) ([]error, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	errs := make([]error, len(ops))
	for i, op := range ops {
		errs[i] = t.apply(op)
	}
	return errs, nil
}

func (t *simTable) apply(op lvs.Op) error {
	k := op.Service.Key()
	s := t.svcs[k]
	find := func() int {
		return slices.IndexFunc(s.Destinations, func(d lvs.Destination) bool {
			return check.KeyOf(d) == check.KeyOf(op.Destination)
		})
	}
	switch op.Kind {
	case lvs.AddService:
		if s != nil {
			return fmt.Errorf("%s: %w", k, lvs.ErrServiceExists)
		}
		t.svcs[k] = &reconcile.Service{Service: op.Service}
		return nil
	case lvs.SetTimeouts:
		return nil
	}
	if s == nil {
		return fmt.Errorf("%s: %w", k, lvs.ErrNoSuchService)
	}
	switch op.Kind {
	case lvs.EditService:
		s.Service = op.Service
	case lvs.DeleteService:
		delete(t.svcs, k)
	case lvs.AddDestination:
		if find() >= 0 {
			return fmt.Errorf("%s %s: %w", k, op.Destination, lvs.ErrDestinationExists)
		}
		s.Destinations = append(s.Destinations, op.Destination)
	case lvs.EditDestination, lvs.DeleteDestination:
		i := find()
		if i < 0 {
			return fmt.Errorf("%s %s: %w", k, op.Destination, lvs.ErrNoSuchDestination)
		}
		if op.Kind == lvs.EditDestination {
			s.Destinations[i] = op.Destination
		} else {
			s.Destinations = slices.Delete(s.Destinations, i, i+1)
		}
	default:
		return fmt.Errorf("%s: not simulated", op.Kind)
	}
	return nil
}
