package fwmark

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/coreos/go-iptables/iptables"
	"golang.org/x/sys/unix"

	"github.com/lvsctl/lvsctl/lvs"
)

// Tables is the part of iptables a Manager uses, for one address family.
// *iptables.IPTables from coreos/go-iptables has this method set; the
// fwmarktest package has an in-memory one. Rule specifications are
// argument lists as iptables takes them (no shell quoting); List returns
// the lines of `iptables -t TABLE -S CHAIN`.
type Tables interface {
	ChainExists(table, chain string) (bool, error)
	NewChain(table, chain string) error
	ClearAndDeleteChain(table, chain string) error
	Exists(table, chain string, rulespec ...string) (bool, error)
	Insert(table, chain string, pos int, rulespec ...string) error
	Append(table, chain string, rulespec ...string) error
	Delete(table, chain string, rulespec ...string) error
	List(table, chain string) ([]string, error)
}

var _ Tables = (*iptables.IPTables)(nil)

// openIPTables returns go-iptables for family: iptables for IPv4,
// ip6tables for IPv6, run in the network namespace at nsPath when it is
// set.
func openIPTables(family lvs.Family, nsPath string) (Tables, error) {
	proto := iptables.ProtocolIPv4
	if family == lvs.IPv6 {
		proto = iptables.ProtocolIPv6
	}
	var ipt *iptables.IPTables
	open := func() error {
		var err error
		ipt, err = iptables.New(iptables.IPFamily(proto))
		return err
	}
	if err := inNetNS(nsPath, open); err != nil {
		return nil, fmt.Errorf("iptables for %s: %w", family, err)
	}
	if nsPath == "" {
		return ipt, nil
	}
	return &netnsTables{ipt: ipt, path: nsPath}, nil
}

// inNetNS runs f with the calling goroutine's view of the network in the
// namespace at path ("" runs f directly). The programs f starts inherit
// the namespace: a child process takes the one of the OS thread that forks
// it. f runs on a goroutine locked to a thread that is never unlocked, so
// the Go runtime ends that thread instead of reusing it in the wrong
// namespace.
func inNetNS(path string, f func() error) error {
	if path == "" {
		return f()
	}
	ns, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open network namespace: %w", err)
	}
	defer ns.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter network namespace %s: %w", path, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// netnsTables runs every iptables command in a network namespace.
type netnsTables struct {
	ipt  *iptables.IPTables
	path string
}

func (n *netnsTables) ChainExists(table, chain string) (ok bool, err error) {
	err = inNetNS(n.path, func() (e error) { ok, e = n.ipt.ChainExists(table, chain); return })
	return ok, err
}

func (n *netnsTables) NewChain(table, chain string) error {
	return inNetNS(n.path, func() error { return n.ipt.NewChain(table, chain) })
}

func (n *netnsTables) ClearAndDeleteChain(table, chain string) error {
	return inNetNS(n.path, func() error { return n.ipt.ClearAndDeleteChain(table, chain) })
}

func (n *netnsTables) Exists(table, chain string, spec ...string) (ok bool, err error) {
	err = inNetNS(n.path, func() (e error) { ok, e = n.ipt.Exists(table, chain, spec...); return })
	return ok, err
}

func (n *netnsTables) Insert(table, chain string, pos int, spec ...string) error {
	return inNetNS(n.path, func() error { return n.ipt.Insert(table, chain, pos, spec...) })
}

func (n *netnsTables) Append(table, chain string, spec ...string) error {
	return inNetNS(n.path, func() error { return n.ipt.Append(table, chain, spec...) })
}

func (n *netnsTables) Delete(table, chain string, spec ...string) error {
	return inNetNS(n.path, func() error { return n.ipt.Delete(table, chain, spec...) })
}

func (n *netnsTables) List(table, chain string) (lines []string, err error) {
	err = inNetNS(n.path, func() (e error) { lines, e = n.ipt.List(table, chain); return })
	return lines, err
}

// DefaultLockPath is the lock file that serialises lvsctl's changes to its
// chains. /run is a tmpfs, so a stale lock file cannot outlive a reboot;
// the lock itself (flock) dies with the process that holds it.
const DefaultLockPath = "/run/lvsctl/fwmark.lock"

// lock takes the exclusive lock on path, waiting until ctx is done. The
// returned function releases it.
func lock(ctx context.Context, path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing releases the flock
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
