package ipvsadm

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// Resolver is the name service ipvsadm uses: host names to IPv4 addresses
// and back (gethostbyname, gethostbyaddr), and service names to ports and
// back (getservbyname, getservbyport). Tests inject a map-backed one.
type Resolver interface {
	// LookupHost returns the first IPv4 address of a host name.
	LookupHost(ctx context.Context, name string) (netip.Addr, bool)
	// LookupAddr returns the canonical name of an address.
	LookupAddr(ctx context.Context, addr netip.Addr) (string, bool)
	// LookupService returns the port of a service name for proto ("tcp",
	// "udp", "sctp").
	LookupService(name, proto string) (uint16, bool)
	// LookupPort returns the service name of a port for proto.
	LookupPort(port uint16, proto string) (string, bool)
}

// numericResolver knows no names.
type numericResolver struct{}

func (numericResolver) LookupHost(context.Context, string) (netip.Addr, bool) {
	return netip.Addr{}, false
}
func (numericResolver) LookupAddr(context.Context, netip.Addr) (string, bool) { return "", false }
func (numericResolver) LookupService(string, string) (uint16, bool)           { return 0, false }
func (numericResolver) LookupPort(uint16, string) (string, bool)              { return "", false }

// SystemResolver resolves as the C library does with "hosts: files dns":
// /etc/hosts first, then DNS; services come from /etc/services.
type SystemResolver struct {
	// HostsFile and ServicesFile default to /etc/hosts and /etc/services.
	HostsFile    string
	ServicesFile string
	// Timeout bounds each DNS query; zero means 5 s.
	Timeout time.Duration
	// FilesOnly skips DNS (tests must not query it).
	FilesOnly bool

	services []serviceEntry
	loaded   bool
}

type serviceEntry struct {
	name    string
	aliases []string
	port    uint16
	proto   string
}

func (r *SystemResolver) hostsFile() string {
	if r.HostsFile != "" {
		return r.HostsFile
	}
	return "/etc/hosts"
}

// hosts reads the hosts file: address, canonical name, aliases.
func (r *SystemResolver) hosts() [][]string {
	f, err := os.Open(r.hostsFile())
	if err != nil {
		return nil
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if fields := strings.Fields(line); len(fields) >= 2 {
			out = append(out, fields)
		}
	}
	return out
}

// LookupHost implements Resolver.
func (r *SystemResolver) LookupHost(ctx context.Context, name string) (netip.Addr, bool) {
	if name == "" {
		return netip.Addr{}, false
	}
	for _, h := range r.hosts() {
		ip, err := netip.ParseAddr(h[0])
		if err != nil || !ip.Is4() {
			continue
		}
		for _, n := range h[1:] {
			if strings.EqualFold(n, name) {
				return ip, true
			}
		}
	}
	if r.FilesOnly {
		return netip.Addr{}, false
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", name)
	if err != nil || len(ips) == 0 {
		return netip.Addr{}, false
	}
	return ips[0].Unmap(), true
}

// LookupAddr implements Resolver.
func (r *SystemResolver) LookupAddr(ctx context.Context, addr netip.Addr) (string, bool) {
	for _, h := range r.hosts() {
		if ip, err := netip.ParseAddr(h[0]); err == nil && ip == addr {
			return h[1], true
		}
	}
	if r.FilesOnly {
		return "", false
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	names, err := net.DefaultResolver.LookupAddr(ctx, addr.String())
	if err != nil || len(names) == 0 {
		return "", false
	}
	return strings.TrimSuffix(names[0], "."), true
}

func (r *SystemResolver) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return 5 * time.Second
}

func (r *SystemResolver) load() []serviceEntry {
	if r.loaded {
		return r.services
	}
	r.loaded = true
	path := r.ServicesFile
	if path == "" {
		path = "/etc/services"
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		portStr, proto, ok := strings.Cut(fields[1], "/")
		if !ok {
			continue
		}
		port, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil {
			continue
		}
		r.services = append(r.services, serviceEntry{name: fields[0], aliases: fields[2:], port: uint16(port), proto: proto})
	}
	return r.services
}

// LookupService implements Resolver.
func (r *SystemResolver) LookupService(name, proto string) (uint16, bool) {
	for _, s := range r.load() {
		if s.proto != proto {
			continue
		}
		if s.name == name {
			return s.port, true
		}
		for _, a := range s.aliases {
			if a == name {
				return s.port, true
			}
		}
	}
	return 0, false
}

// LookupPort implements Resolver.
func (r *SystemResolver) LookupPort(port uint16, proto string) (string, bool) {
	for _, s := range r.load() {
		if s.proto == proto && s.port == port {
			return s.name, true
		}
	}
	return "", false
}
