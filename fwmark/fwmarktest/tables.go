// Package fwmarktest provides Tables, an in-memory iptables with the
// method set fwmark.Tables needs, for testing code that manages mark rules
// without root.
//
// It enforces what iptables enforces for those calls: a chain must exist
// before rules go in, NewChain fails for an existing chain, a jump needs an
// existing target chain, Delete fails for a missing rule, and a chain that
// is still jumped to cannot be deleted. Rules compare as argument lists,
// exactly: unlike iptables, it does not normalise "-d 192.0.2.1" into
// "-d 192.0.2.1/32", so callers must pass the form iptables -S prints.
package fwmarktest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// ErrNotExist is the error for a missing chain or rule (go-iptables says
// IsNotExist for these).
var ErrNotExist = errors.New("No chain/target/match by that name")

// builtinChains are the chains of each table, in iptables-save order.
var builtinChains = map[string][]string{
	"mangle": {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"},
	"filter": {"INPUT", "FORWARD", "OUTPUT"},
	"nat":    {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
	"raw":    {"PREROUTING", "OUTPUT"},
}

// builtinTargets are targets that are not chains.
var builtinTargets = map[string]bool{
	"ACCEPT": true, "DROP": true, "RETURN": true, "MARK": true, "CONNMARK": true, "LOG": true,
}

// Call is one method call, for tests that inject failures.
type Call struct {
	Op    string // ChainExists, NewChain, ClearAndDeleteChain, Exists, Insert, Append, Delete, List
	Table string
	Chain string
	Spec  []string
}

// Tables is an in-memory iptables for one address family. The zero value
// is not usable; call New. It is safe for concurrent use.
type Tables struct {
	mu     sync.Mutex
	tables map[string]*table

	// Fail, when set, is called before every method; a non-nil error is
	// returned instead of performing the call.
	Fail func(Call) error
	// Calls counts the calls by Op.
	Calls map[string]int
}

type table struct {
	order  []string // chain names: built-ins, then user chains as created
	chains map[string][][]string
}

// New returns tables holding only the built-in chains, all empty.
func New() *Tables {
	t := &Tables{tables: map[string]*table{}, Calls: map[string]int{}}
	for name, chains := range builtinChains {
		tb := &table{chains: map[string][][]string{}}
		for _, c := range chains {
			tb.order = append(tb.order, c)
			tb.chains[c] = nil
		}
		t.tables[name] = tb
	}
	return t
}

func (t *Tables) begin(c Call) (*table, error) {
	t.mu.Lock()
	t.Calls[c.Op]++
	if t.Fail != nil {
		if err := t.Fail(c); err != nil {
			return nil, err
		}
	}
	tb := t.tables[c.Table]
	if tb == nil {
		return nil, fmt.Errorf("table %q does not exist", c.Table)
	}
	return tb, nil
}

func isBuiltin(tableName, chain string) bool {
	return slices.Contains(builtinChains[tableName], chain)
}

// checkTarget refuses a jump to a chain that does not exist.
func (tb *table) checkTarget(spec []string) error {
	for i, w := range spec {
		if (w == "-j" || w == "--jump" || w == "-g") && i+1 < len(spec) {
			target := spec[i+1]
			if _, ok := tb.chains[target]; !ok && !builtinTargets[target] {
				return fmt.Errorf("chain %q does not exist", target)
			}
		}
	}
	return nil
}

func (tb *table) find(chain string, spec []string) int {
	return slices.IndexFunc(tb.chains[chain], func(r []string) bool { return slices.Equal(r, spec) })
}

// ChainExists reports whether chain is in table.
func (t *Tables) ChainExists(tableName, chain string) (bool, error) {
	defer t.mu.Unlock()
	tb, err := t.begin(Call{Op: "ChainExists", Table: tableName, Chain: chain})
	if err != nil {
		return false, err
	}
	_, ok := tb.chains[chain]
	return ok, nil
}

// NewChain creates an empty user chain.
func (t *Tables) NewChain(tableName, chain string) error {
	defer t.mu.Unlock()
	tb, err := t.begin(Call{Op: "NewChain", Table: tableName, Chain: chain})
	if err != nil {
		return err
	}
	if _, ok := tb.chains[chain]; ok {
		return fmt.Errorf("chain %s: Chain already exists", chain)
	}
	tb.order = append(tb.order, chain)
	tb.chains[chain] = nil
	return nil
}

// ClearAndDeleteChain empties and deletes a user chain; a missing chain is
// not an error (as in go-iptables).
func (t *Tables) ClearAndDeleteChain(tableName, chain string) error {
	defer t.mu.Unlock()
	tb, err := t.begin(Call{Op: "ClearAndDeleteChain", Table: tableName, Chain: chain})
	if err != nil {
		return err
	}
	if _, ok := tb.chains[chain]; !ok {
		return nil
	}
	if isBuiltin(tableName, chain) {
		return fmt.Errorf("chain %s is built in", chain)
	}
	for other, rules := range tb.chains {
		for _, r := range rules {
			if i := slices.Index(r, "-j"); i >= 0 && i+1 < len(r) && r[i+1] == chain {
				return fmt.Errorf("delete chain %s: Too many links (jumped to from %s)", chain, other)
			}
		}
	}
	delete(tb.chains, chain)
	tb.order = slices.DeleteFunc(tb.order, func(c string) bool { return c == chain })
	return nil
}

// Exists reports whether chain holds spec exactly.
func (t *Tables) Exists(tableName, chain string, spec ...string) (bool, error) {
	defer t.mu.Unlock()
	tb, err := t.begin(Call{Op: "Exists", Table: tableName, Chain: chain, Spec: spec})
	if err != nil {
		return false, err
	}
	if err := tb.checkTarget(spec); err != nil {
		return false, err
	}
	if _, ok := tb.chains[chain]; !ok {
		return false, nil
	}
	return tb.find(chain, spec) >= 0, nil
}

// Insert puts spec at 1-based position pos of chain.
func (t *Tables) Insert(tableName, chain string, pos int, spec ...string) error {
	defer t.mu.Unlock()
	tb, err := t.begin(Call{Op: "Insert", Table: tableName, Chain: chain, Spec: spec})
	if err != nil {
		return err
	}
	rules, ok := tb.chains[chain]
	if !ok {
		return fmt.Errorf("insert into %s: %w", chain, ErrNotExist)
	}
	if err := tb.checkTarget(spec); err != nil {
		return err
	}
	if pos < 1 || pos > len(rules)+1 {
		return fmt.Errorf("insert into %s: Index of insertion too big", chain)
	}
	tb.chains[chain] = slices.Insert(rules, pos-1, slices.Clone(spec))
	return nil
}

// Append adds spec at the end of chain.
func (t *Tables) Append(tableName, chain string, spec ...string) error {
	defer t.mu.Unlock()
	tb, err := t.begin(Call{Op: "Append", Table: tableName, Chain: chain, Spec: spec})
	if err != nil {
		return err
	}
	if _, ok := tb.chains[chain]; !ok {
		return fmt.Errorf("append to %s: %w", chain, ErrNotExist)
	}
	if err := tb.checkTarget(spec); err != nil {
		return err
	}
	tb.chains[chain] = append(tb.chains[chain], slices.Clone(spec))
	return nil
}

// Delete removes the first rule of chain equal to spec.
func (t *Tables) Delete(tableName, chain string, spec ...string) error {
	defer t.mu.Unlock()
	tb, err := t.begin(Call{Op: "Delete", Table: tableName, Chain: chain, Spec: spec})
	if err != nil {
		return err
	}
	i := tb.find(chain, spec)
	if i < 0 {
		return fmt.Errorf("delete from %s: Bad rule (does a matching rule exist in that chain?): %w", chain, ErrNotExist)
	}
	tb.chains[chain] = slices.Delete(tb.chains[chain], i, i+1)
	return nil
}

// List returns chain as `iptables -S CHAIN` prints it.
func (t *Tables) List(tableName, chain string) ([]string, error) {
	defer t.mu.Unlock()
	tb, err := t.begin(Call{Op: "List", Table: tableName, Chain: chain})
	if err != nil {
		return nil, err
	}
	rules, ok := tb.chains[chain]
	if !ok {
		return nil, fmt.Errorf("list %s: %w", chain, ErrNotExist)
	}
	var out []string
	if isBuiltin(tableName, chain) {
		out = append(out, "-P "+chain+" ACCEPT")
	} else {
		out = append(out, "-N "+chain)
	}
	for _, r := range rules {
		out = append(out, ruleLine(chain, r))
	}
	return out, nil
}

// Save returns the table as the lines of `iptables-save -t TABLE` that
// matter for comparisons: ":CHAIN" for each user chain, then every "-A"
// line, chain by chain (built-ins first).
func (t *Tables) Save(tableName string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	tb := t.tables[tableName]
	var decl, rules []string
	for _, c := range tb.order {
		if !isBuiltin(tableName, c) {
			decl = append(decl, ":"+c)
		}
		for _, r := range tb.chains[c] {
			rules = append(rules, ruleLine(c, r))
		}
	}
	return append(decl, rules...)
}

func ruleLine(chain string, spec []string) string {
	words := []string{"-A", chain}
	for _, w := range spec {
		words = append(words, quote(w))
	}
	return strings.Join(words, " ")
}

// quote writes a word as iptables-save does (xtables_save_string): in
// double quotes, with \ and " escaped, when it holds anything but
// letters, digits and a few punctuation marks.
func quote(w string) string {
	if w != "" && !strings.ContainsAny(w, " \t\"\\'") {
		return w
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(w) + `"`
}
