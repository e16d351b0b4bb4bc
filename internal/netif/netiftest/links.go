// Package netiftest provides Links, an in-memory netif.Links, and a
// sysctl tree in a directory, for testing real-server preparation without
// root.
package netiftest

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Links is an in-memory set of links and addresses. lo exists from the
// start; tunl0 and ip6tnl0 appear on EnsureLink as their modules' fallback
// devices do. It is safe for concurrent use.
type Links struct {
	mu    sync.Mutex
	links map[string][]netip.Prefix
	up    map[string]bool
}

// New returns links with lo only, down (as in a new network namespace).
func New() *Links {
	return &Links{links: map[string][]netip.Prefix{"lo": nil}, up: map[string]bool{}}
}

// EnsureLink implements netif.Links.
func (l *Links) EnsureLink(name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.links[name]; !ok {
		if name != "tunl0" && name != "ip6tnl0" {
			return fmt.Errorf("link %s: Link not found", name)
		}
		l.links[name] = nil
	}
	l.up[name] = true
	return nil
}

// Up reports whether a link is up.
func (l *Links) Up(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.up[name]
}

// Addrs implements netif.Links.
func (l *Links) Addrs(link string) ([]netip.Prefix, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.links[link]), nil
}

// AddAddr implements netif.Links.
func (l *Links) AddAddr(link string, p netip.Prefix) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	addrs, ok := l.links[link]
	if !ok {
		return fmt.Errorf("link %s: Link not found", link)
	}
	if !slices.Contains(addrs, p) {
		l.links[link] = append(addrs, p)
	}
	return nil
}

// DelAddr implements netif.Links.
func (l *Links) DelAddr(link string, p netip.Prefix) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.links[link] = slices.DeleteFunc(l.links[link], func(q netip.Prefix) bool { return q == p })
	return nil
}

// SysctlTree makes a sysctl tree in a temporary directory with the
// settings real-server preparation reads, at the given values (dotted
// names), and returns its root.
func SysctlTree(t testing.TB, values map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, v := range values {
		p := filepath.Join(root, filepath.FromSlash(strings.ReplaceAll(name, ".", "/")))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// DefaultSysctls are a fresh namespace's values (Debian sets rp_filter=2
// through systemd; the kernel default is 0).
func DefaultSysctls() map[string]string {
	m := map[string]string{}
	for _, dev := range []string{"all", "lo", "tunl0"} {
		m["net.ipv4.conf."+dev+".arp_ignore"] = "0"
		m["net.ipv4.conf."+dev+".arp_announce"] = "0"
		m["net.ipv4.conf."+dev+".rp_filter"] = "2"
	}
	return m
}
