package lab

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
)

// ErrNoModule reports a required module that the kernel package does not ship.
var ErrNoModule = errors.New("module not in kernel package")

// moduleSpec names a kernel module the image carries. Optional modules are
// skipped when the kernel package lacks them (ip_vs_twos only exists from
// Linux 6.7 on); a missing required module fails the prepare step.
type moduleSpec struct {
	Name     string
	Optional bool
}

// imageModules are the modules copied into the image with everything they
// depend on. To add one, add a line: dependencies are resolved from
// modules.dep, so only the module itself needs naming.
var imageModules = []moduleSpec{
	// IPVS needs the crc32c transform through libcrc32c; crc32c_generic must
	// be loaded first or ip_vs fails to initialise (see init.sh).
	{Name: "crc32c_generic"}, {Name: "libcrc32c"},
	{Name: "ip_vs"},
	{Name: "ip_vs_rr"}, {Name: "ip_vs_wrr"}, {Name: "ip_vs_lc"}, {Name: "ip_vs_wlc"},
	{Name: "ip_vs_lblc"}, {Name: "ip_vs_lblcr"}, {Name: "ip_vs_dh"}, {Name: "ip_vs_sh"},
	{Name: "ip_vs_sed"}, {Name: "ip_vs_nq"}, {Name: "ip_vs_fo"}, {Name: "ip_vs_ovf"},
	{Name: "ip_vs_mh"}, {Name: "ip_vs_twos", Optional: true},
	{Name: "ip_vs_ftp", Optional: true}, {Name: "ip_vs_pe_sip", Optional: true},
	{Name: "nf_conntrack"}, {Name: "nf_nat"}, {Name: "nf_defrag_ipv4"}, {Name: "nf_defrag_ipv6"},
	// iptables through the nf_tables back end (Debian's default iptables-nft)
	// and the legacy tables, with the matches and targets fwmark rules use.
	{Name: "nf_tables"}, {Name: "nft_compat"}, {Name: "nft_chain_nat"}, {Name: "nft_ct", Optional: true},
	{Name: "nft_masq", Optional: true}, {Name: "nft_nat", Optional: true},
	{Name: "nfnetlink"}, {Name: "x_tables"},
	{Name: "xt_mark"}, {Name: "xt_multiport"}, {Name: "xt_comment"}, {Name: "xt_conntrack"},
	{Name: "xt_MASQUERADE"}, {Name: "xt_ipvs", Optional: true}, {Name: "xt_tcpudp", Optional: true},
	{Name: "xt_addrtype"}, {Name: "xt_nat", Optional: true},
	{Name: "ipt_REJECT", Optional: true}, {Name: "ip6t_REJECT", Optional: true},
	{Name: "ip_tables"}, {Name: "iptable_mangle"}, {Name: "iptable_filter"}, {Name: "iptable_nat"},
	{Name: "ip6_tables"}, {Name: "ip6table_mangle"}, {Name: "ip6table_filter"}, {Name: "ip6table_nat"},
	// Links and qdiscs for topologies inside the VM; tunnels for the IPVS
	// tunnel forwarding types (ipip, gue, gre).
	{Name: "veth"}, {Name: "bridge"}, {Name: "dummy"}, {Name: "sch_netem"},
	{Name: "ipip"}, {Name: "ip6_tunnel"}, {Name: "sit"}, {Name: "fou"}, {Name: "fou6", Optional: true},
	{Name: "ip_gre"}, {Name: "ip6_gre"},
	// virtio-serial carries the script's output (see run.go).
	{Name: "virtio_pci"}, {Name: "virtio_console"},
}

// moduleName normalises a module file or name the way modprobe does:
// no directory, no .ko suffix (compressed or not), dashes as underscores.
func moduleName(p string) string {
	b := path.Base(p)
	if i := strings.Index(b, ".ko"); i >= 0 {
		b = b[:i]
	}
	return strings.ReplaceAll(b, "-", "_")
}

// moduleDeps is modules.dep: module name -> its file (relative to the
// module directory) and the files it depends on.
type moduleDeps map[string]moduleDep

type moduleDep struct {
	File string
	Deps []string
}

// parseModulesDep reads depmod's modules.dep ("file: dep dep ...").
func parseModulesDep(r io.Reader) (moduleDeps, error) {
	deps := moduleDeps{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		file, rest, ok := strings.Cut(text, ":")
		if !ok {
			return nil, fmt.Errorf("modules.dep line %d: no colon", line)
		}
		name := moduleName(file)
		if name == "" {
			return nil, fmt.Errorf("modules.dep line %d: no module name in %q", line, file)
		}
		deps[name] = moduleDep{File: file, Deps: strings.Fields(rest)}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read modules.dep: %w", err)
	}
	return deps, nil
}

// resolveModules returns the files of the wanted modules and of everything
// they depend on, sorted, and the optional modules that were not found.
// Built-in modules (listed in builtin) need no file and are skipped.
func resolveModules(deps moduleDeps, builtin map[string]bool, want []moduleSpec) (files, missing []string, err error) {
	seen := map[string]bool{}
	var add func(file string)
	add = func(file string) {
		if seen[file] {
			return
		}
		seen[file] = true
		for _, d := range deps[moduleName(file)].Deps {
			add(d)
		}
	}
	for _, m := range want {
		name := moduleName(m.Name)
		d, ok := deps[name]
		switch {
		case ok:
			add(d.File)
		case builtin[name]:
		case m.Optional:
			missing = append(missing, m.Name)
		default:
			return nil, nil, fmt.Errorf("%s: %w", m.Name, ErrNoModule)
		}
	}
	for f := range seen {
		files = append(files, f)
	}
	sort.Strings(files)
	return files, missing, nil
}

// parseBuiltin reads modules.builtin (one "kernel/.../name.ko" a line).
func parseBuiltin(r io.Reader) (map[string]bool, error) {
	b := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			b[moduleName(t)] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read modules.builtin: %w", err)
	}
	return b, nil
}
