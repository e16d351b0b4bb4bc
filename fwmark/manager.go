package fwmark

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/lvsctl/lvsctl/lvs"
)

// ErrNoSuchRule: a rule to delete is not in our chains.
var ErrNoSuchRule = errors.New("no such firewall-mark rule")

// Options configure New. The zero value runs iptables and ip6tables in the
// process's own network namespace and locks DefaultLockPath.
type Options struct {
	// NetNS, when non-empty, is the path of a network namespace
	// (/var/run/netns/NAME, /proc/PID/ns/net) whose tables to change.
	NetNS string
	// LockPath is the lock file; "" means DefaultLockPath.
	LockPath string
	// Tables, when set, replaces go-iptables: it returns the tables of a
	// family (tests pass fwmarktest fakes).
	Tables func(lvs.Family) (Tables, error)
}

// Manager adds, deletes and lists lvsctl's mark rules. It is safe for
// concurrent use, also across processes (see DefaultLockPath).
type Manager struct {
	opts Options

	mu     sync.Mutex
	tables map[lvs.Family]Tables
}

// New returns a Manager. The iptables programs are looked up on first use
// of each family, so IPv4 rules work on a host without ip6tables.
func New(opts Options) *Manager {
	if opts.LockPath == "" {
		opts.LockPath = DefaultLockPath
	}
	if opts.Tables == nil {
		ns := opts.NetNS
		opts.Tables = func(f lvs.Family) (Tables, error) { return openIPTables(f, ns) }
	}
	return &Manager{opts: opts, tables: map[lvs.Family]Tables{}}
}

func (m *Manager) familyTables(f lvs.Family) (Tables, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.tables[f]; ok {
		return t, nil
	}
	t, err := m.opts.Tables(f)
	if err != nil {
		return nil, err
	}
	m.tables[f] = t
	return t, nil
}

// applied is one rule a call added, so that it can be taken back.
type applied struct {
	family lvs.Family
	chain  string
	spec   []string
}

// Change records what Add added (rules that were already there are not
// in it), for Undo.
type Change struct{ added []applied }

// Added is how many iptables rules the change added.
func (c Change) Added() int { return len(c.added) }

// Add installs rules. A rule already present is left as it is, so adding
// twice leaves one rule. Chains and jump rules are created as needed. On
// failure, what this call added is removed again.
func (m *Manager) Add(ctx context.Context, rules ...Rule) (Change, error) {
	for _, r := range rules {
		if err := r.validate(); err != nil {
			return Change{}, err
		}
	}
	unlock, err := lock(ctx, m.opts.LockPath)
	if err != nil {
		return Change{}, err
	}
	defer unlock()

	var ch Change
	fail := func(err error) (Change, error) {
		if uerr := m.undo(ctx, ch); uerr != nil {
			err = fmt.Errorf("%w (undoing the partial change also failed: %v)", err, uerr)
		}
		return Change{}, err
	}
	for _, r := range rules {
		t, err := m.familyTables(r.Family())
		if err != nil {
			return fail(fmt.Errorf("add %s: %w", r, err))
		}
		chains := []string{Chain}
		if r.Local {
			chains = append(chains, LocalChain)
		}
		for _, chain := range chains {
			if err := ensureChain(t, chain); err != nil {
				return fail(fmt.Errorf("add %s: %w", r, err))
			}
			for _, spec := range r.specs() {
				if err := ctx.Err(); err != nil {
					return fail(fmt.Errorf("add %s: %w", r, err))
				}
				ok, err := t.Exists(table, chain, spec...)
				if err != nil {
					return fail(fmt.Errorf("add %s: %w", r, err))
				}
				if ok {
					continue
				}
				if err := t.Append(table, chain, spec...); err != nil {
					return fail(fmt.Errorf("add %s: %w", r, err))
				}
				ch.added = append(ch.added, applied{r.Family(), chain, spec})
			}
		}
	}
	return ch, nil
}

// ensureChain creates chain and its jump rule when missing. The jump goes
// first in the built-in chain, so that an earlier ACCEPT in mangle cannot
// hide our rules.
func ensureChain(t Tables, chain string) error {
	ok, err := t.ChainExists(table, chain)
	if err != nil {
		return err
	}
	if !ok {
		if err := t.NewChain(table, chain); err != nil {
			return err
		}
	}
	builtin := builtinOf(chain)
	ok, err = t.Exists(table, builtin, jumpSpec(chain)...)
	if err != nil || ok {
		return err
	}
	return t.Insert(table, builtin, 1, jumpSpec(chain)...)
}

func builtinOf(chain string) string {
	for _, h := range hooks {
		if h.chain == chain {
			return h.builtin
		}
	}
	return ""
}

// Undo removes what an Add recorded in ch, and our chains if that leaves
// them empty.
func (m *Manager) Undo(ctx context.Context, ch Change) error {
	unlock, err := lock(ctx, m.opts.LockPath)
	if err != nil {
		return err
	}
	defer unlock()
	return m.undo(ctx, ch)
}

func (m *Manager) undo(ctx context.Context, ch Change) error {
	var errs []error
	families := map[lvs.Family]bool{}
	for _, a := range slices.Backward(ch.added) {
		families[a.family] = true
		t, err := m.familyTables(a.family)
		if err == nil {
			err = t.Delete(table, a.chain, a.spec...)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("undo rule in %s: %w", a.chain, err))
		}
	}
	for f := range families {
		if t, err := m.familyTables(f); err == nil {
			errs = append(errs, pruneChains(t))
		}
	}
	return errors.Join(errs...)
}

// pruneChains removes our chains that hold no rule, with their jumps.
func pruneChains(t Tables) error {
	for _, h := range hooks {
		ok, err := t.ChainExists(table, h.chain)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		lines, err := t.List(table, h.chain)
		if err != nil {
			return err
		}
		if len(ruleLines(lines)) > 0 {
			continue
		}
		if err := removeChain(t, h.builtin, h.chain); err != nil {
			return err
		}
	}
	return nil
}

// removeChain deletes every jump from builtin to chain, then the chain.
// Without the chain there is no jump either: iptables refuses a rule whose
// target does not exist.
func removeChain(t Tables, builtin, chain string) error {
	if ok, err := t.ChainExists(table, chain); err != nil || !ok {
		return err
	}
	for {
		ok, err := t.Exists(table, builtin, jumpSpec(chain)...)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if err := t.Delete(table, builtin, jumpSpec(chain)...); err != nil {
			return err
		}
	}
	return t.ClearAndDeleteChain(table, chain)
}

// ruleLines keeps the "-A" lines of a listing.
func ruleLines(lines []string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, "-A ") {
			out = append(out, l)
		}
	}
	return out
}

// Del removes rules from both of our chains (a rule added with Local is in
// both). Rules that are present are removed even when others are missing;
// the missing ones are reported with an error matching ErrNoSuchRule. A
// chain left empty is removed with its jump rule.
func (m *Manager) Del(ctx context.Context, rules ...Rule) error {
	for _, r := range rules {
		if err := r.validate(); err != nil {
			return err
		}
	}
	unlock, err := lock(ctx, m.opts.LockPath)
	if err != nil {
		return err
	}
	defer unlock()

	var errs []error
	touched := map[lvs.Family]Tables{}
	for _, r := range rules {
		t, err := m.familyTables(r.Family())
		if err != nil {
			errs = append(errs, fmt.Errorf("delete %s: %w", r, err))
			continue
		}
		touched[r.Family()] = t
		found := false
		for _, h := range hooks {
			ok, err := t.ChainExists(table, h.chain)
			if err != nil {
				errs = append(errs, fmt.Errorf("delete %s: %w", r, err))
				continue
			}
			if !ok {
				continue
			}
			for _, spec := range r.specs() {
				ok, err := t.Exists(table, h.chain, spec...)
				if err == nil && ok {
					err = t.Delete(table, h.chain, spec...)
					found = true
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("delete %s: %w", r, err))
				}
			}
		}
		if !found {
			errs = append(errs, fmt.Errorf("delete %s: %w", r, ErrNoSuchRule))
		}
	}
	for _, t := range touched {
		if err := pruneChains(t); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Entry is a rule found in our chains.
type Entry struct {
	Rule
	// Chains names the chains the rule is in: Chain, LocalChain or both.
	Chains []string
}

// Listing is what List found.
type Listing struct {
	Entries []Entry
	// Foreign are lines in our chains that lvsctl did not write (a rule
	// added by hand); they are shown, and removed by Flush.
	Foreign []string
}

// List returns the rules in our chains, IPv4 first. A rule in both chains
// is one entry with Local set. A family whose iptables program is missing
// is skipped.
func (m *Manager) List(ctx context.Context) (Listing, error) {
	var out Listing
	for _, f := range []lvs.Family{lvs.IPv4, lvs.IPv6} {
		if err := ctx.Err(); err != nil {
			return Listing{}, err
		}
		t, err := m.familyTables(f)
		if err != nil {
			continue
		}
		for _, h := range hooks {
			ok, err := t.ChainExists(table, h.chain)
			if err != nil {
				return Listing{}, fmt.Errorf("list %s %s: %w", f, h.chain, err)
			}
			if !ok {
				continue
			}
			lines, err := t.List(table, h.chain)
			if err != nil {
				return Listing{}, fmt.Errorf("list %s %s: %w", f, h.chain, err)
			}
			for _, l := range ruleLines(lines) {
				_, r, err := ParseRule(l)
				if err != nil {
					out.Foreign = append(out.Foreign, l)
					continue
				}
				out.add(r, h.chain)
			}
		}
	}
	return out, nil
}

func (l *Listing) add(r Rule, chain string) {
	for i := range l.Entries {
		e := &l.Entries[i]
		if e.VIP == r.VIP && e.Proto == r.Proto && e.Mark == r.Mark && slices.Equal(e.Ports, r.Ports) {
			e.Chains = append(e.Chains, chain)
			e.Local = e.Local || chain == LocalChain
			return
		}
	}
	r.Local = chain == LocalChain
	l.Entries = append(l.Entries, Entry{Rule: r, Chains: []string{chain}})
}

// Flush removes our chains, every rule in them and the jump rules to
// them, for both families, and returns how many rules were in the chains.
// Nothing else in the mangle table is touched. A family whose iptables
// program is missing is skipped.
func (m *Manager) Flush(ctx context.Context) (int, error) {
	unlock, err := lock(ctx, m.opts.LockPath)
	if err != nil {
		return 0, err
	}
	defer unlock()
	n := 0
	for _, f := range []lvs.Family{lvs.IPv4, lvs.IPv6} {
		t, err := m.familyTables(f)
		if err != nil {
			continue
		}
		for _, h := range hooks {
			ok, err := t.ChainExists(table, h.chain)
			if err != nil {
				return n, fmt.Errorf("flush %s %s: %w", f, h.chain, err)
			}
			if !ok {
				continue
			}
			lines, err := t.List(table, h.chain)
			if err != nil {
				return n, fmt.Errorf("flush %s %s: %w", f, h.chain, err)
			}
			n += len(ruleLines(lines))
			if err := removeChain(t, h.builtin, h.chain); err != nil {
				return n, fmt.Errorf("flush %s %s: %w", f, h.chain, err)
			}
		}
	}
	return n, nil
}
