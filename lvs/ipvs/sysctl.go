package ipvs

import (
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultSysctlRoot is the sysctl tree of the calling thread's network
// namespace. The IPVS knobs are per network namespace: to read another
// namespace's, enter it (or mount its /proc/sys elsewhere) and point
// NewSysctls at that tree.
const DefaultSysctlRoot = "/proc/sys"

// sysctlSubdir is where ip_vs registers its table ("net/ipv4/vs" in
// ip_vs_control_net_init_sysctl).
const sysctlSubdir = "net/ipv4/vs"

var (
	// ErrUnknownSysctl: the name is not an IPVS sysctl of any kernel this
	// package knows.
	ErrUnknownSysctl = errors.New("unknown IPVS sysctl")
	// ErrSysctlValue: the value is not of the sysctl's form (checked before
	// writing, so the kernel's terse EINVAL is not the only hint).
	ErrSysctlValue = errors.New("invalid IPVS sysctl value")
)

// sysctlKind is the form of a knob's value, from its proc_handler.
type sysctlKind int

const (
	kindInt     sysctlKind = iota // proc_dointvec and friends: one int
	kindSeconds                   // proc_dointvec_jiffies: one int, seconds
	kindULong                     // proc_doulongvec_minmax: one unsigned long
	kindPair                      // proc_do_sync_threshold: two ints
	kindCPUList                   // ipvs_proc_est_cpulist: a cpulist such as "0-3,8"
)

// sysctlSpec describes one knob. min/max bound int values where the kernel
// itself rejects others with EINVAL (hasRange).
type sysctlSpec struct {
	name     string
	kind     sysctlKind
	hasRange bool
	min, max int64
}

// ipvsSysctls lists /proc/sys/net/ipv4/vs/ as Linux 6.1 (Debian 12) has it
// (vs_vars in net/netfilter/ipvs/ip_vs_ctl.c), plus knobs other kernels or
// modules add: debug_level (CONFIG_IP_VS_DEBUG), est_cpulist and est_nice
// (Linux 6.2 and later), lblc_expiration and lblcr_expiration (registered
// by the ip_vs_lblc and ip_vs_lblcr scheduler modules once loaded). Sorted
// by name. A function rather than a package variable, so nothing shared can
// be modified.
func ipvsSysctls() []sysctlSpec {
	return []sysctlSpec{
		{name: "am_droprate", kind: kindInt},
		{name: "amemthresh", kind: kindInt},
		{name: "backup_only", kind: kindInt},
		{name: "cache_bypass", kind: kindInt},
		{name: "conn_reuse_mode", kind: kindInt},
		{name: "conntrack", kind: kindInt}, // CONFIG_IP_VS_NFCT, set in Debian
		{name: "debug_level", kind: kindInt},
		// proc_do_defense_mode: 0..3 (EINVAL otherwise).
		{name: "drop_entry", kind: kindInt, hasRange: true, min: 0, max: 3},
		{name: "drop_packet", kind: kindInt, hasRange: true, min: 0, max: 3},
		{name: "est_cpulist", kind: kindCPUList},
		// ipvs_proc_est_nice: MIN_NICE..MAX_NICE.
		{name: "est_nice", kind: kindInt, hasRange: true, min: -20, max: 19},
		{name: "expire_nodest_conn", kind: kindInt},
		{name: "expire_quiescent_template", kind: kindInt},
		{name: "ignore_tunneled", kind: kindInt},
		{name: "lblc_expiration", kind: kindSeconds},
		{name: "lblcr_expiration", kind: kindSeconds},
		{name: "nat_icmp_send", kind: kindInt},
		{name: "pmtu_disc", kind: kindInt},
		{name: "run_estimation", kind: kindInt},
		{name: "schedule_icmp", kind: kindInt},
		{name: "secure_tcp", kind: kindInt, hasRange: true, min: 0, max: 3},
		{name: "sloppy_sctp", kind: kindInt},
		{name: "sloppy_tcp", kind: kindInt},
		{name: "snat_reroute", kind: kindInt},
		{name: "sync_persist_mode", kind: kindInt},
		// proc_do_sync_ports: a power of two, at least 1.
		{name: "sync_ports", kind: kindInt, hasRange: true, min: 1, max: 1 << 30},
		{name: "sync_qlen_max", kind: kindULong},
		{name: "sync_refresh_period", kind: kindSeconds},
		// proc_dointvec_minmax with SYSCTL_ZERO..SYSCTL_THREE.
		{name: "sync_retries", kind: kindInt, hasRange: true, min: 0, max: 3},
		{name: "sync_sock_size", kind: kindInt},
		{name: "sync_threshold", kind: kindPair},
		// proc_dointvec_minmax with SYSCTL_ZERO..SYSCTL_ONE.
		{name: "sync_version", kind: kindInt, hasRange: true, min: 0, max: 1},
	}
}

func lookupSysctl(name string) (sysctlSpec, bool) {
	for _, s := range ipvsSysctls() {
		if s.name == name {
			return s, true
		}
	}
	return sysctlSpec{}, false
}

// SysctlNames returns every IPVS sysctl name this package accepts, sorted.
// A given kernel has a subset of them; List reports which.
func SysctlNames() []string {
	specs := ipvsSysctls()
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.name
	}
	return names
}

// Sysctl is one IPVS knob and its current value, as the kernel prints it
// without the trailing newline (sync_threshold is two tab-separated ints).
type Sysctl struct {
	Name  string
	Value string
}

// Sysctls reads and writes the IPVS sysctls (/proc/sys/net/ipv4/vs/*) below
// a sysctl root. The zero value uses DefaultSysctlRoot.
type Sysctls struct {
	root string
}

// NewSysctls returns access to the IPVS sysctls below root, a directory laid
// out like /proc/sys ("" means DefaultSysctlRoot). Tests pass a temporary
// directory holding net/ipv4/vs/NAME files.
func NewSysctls(root string) Sysctls { return Sysctls{root: root} }

// Dir is the directory holding the knobs.
func (s Sysctls) Dir() string {
	root := s.root
	if root == "" {
		root = DefaultSysctlRoot
	}
	return filepath.Join(root, sysctlSubdir)
}

func (s Sysctls) path(name string) (string, sysctlSpec, error) {
	spec, ok := lookupSysctl(name)
	if !ok {
		return "", spec, fmt.Errorf("sysctl net.ipv4.vs.%s: %w", name, ErrUnknownSysctl)
	}
	return filepath.Join(s.Dir(), name), spec, nil
}

// Get returns the value of the named knob, without its trailing newline. A
// knob this kernel lacks (or IPVS not loaded) gives an error matching
// os.ErrNotExist.
func (s Sysctls) Get(name string) (string, error) {
	p, _, err := s.path(name)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("sysctl net.ipv4.vs.%s: %w", name, err)
	}
	return strings.TrimRight(string(b), "\n"), nil
}

// GetInt returns the value of a knob holding one integer.
func (s Sysctls) GetInt(name string) (int64, error) {
	v, err := s.Get(name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("sysctl net.ipv4.vs.%s: value %q is not an integer: %w", name, v, ErrSysctlValue)
	}
	return n, nil
}

// Set writes value to the named knob after checking it has the knob's form
// (and range, where the kernel would refuse it). The file must exist: like
// /proc/sys, nothing is created.
func (s Sysctls) Set(name, value string) error {
	p, spec, err := s.path(name)
	if err != nil {
		return err
	}
	if err := checkSysctlValue(spec, value); err != nil {
		return fmt.Errorf("sysctl net.ipv4.vs.%s: %w", name, err)
	}
	// One write of the whole value: proc_sys_call_handler parses each
	// write separately. No O_CREATE: a missing knob is an error, as in /proc.
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("sysctl net.ipv4.vs.%s: %w", name, err)
	}
	_, werr := f.Write([]byte(value + "\n"))
	cerr := f.Close()
	if werr != nil {
		return fmt.Errorf("sysctl net.ipv4.vs.%s: write %q: %w", name, value, werr)
	}
	if cerr != nil {
		return fmt.Errorf("sysctl net.ipv4.vs.%s: %w", name, cerr)
	}
	return nil
}

// SetInt writes an integer to a knob holding one integer.
func (s Sysctls) SetInt(name string, v int64) error {
	return s.Set(name, strconv.FormatInt(v, 10))
}

// List returns the knobs present below the root, sorted by name, with their
// values. Entries of the directory this package does not know are left
// out. If the directory itself is missing (IPVS not loaded in this network
// namespace) the error matches os.ErrNotExist.
func (s Sysctls) List() ([]Sysctl, error) {
	if _, err := os.Stat(s.Dir()); err != nil {
		return nil, fmt.Errorf("IPVS sysctls: %w", err)
	}
	out := []Sysctl{}
	for _, spec := range ipvsSysctls() {
		v, err := s.Get(spec.name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, Sysctl{Name: spec.name, Value: v})
	}
	return out, nil
}

func checkSysctlValue(spec sysctlSpec, value string) error {
	if strings.ContainsAny(value, "\n\x00") {
		return fmt.Errorf("%w: %q holds a newline or NUL", ErrSysctlValue, value)
	}
	v := strings.TrimSpace(value)
	switch spec.kind {
	case kindInt, kindSeconds:
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return fmt.Errorf("%w: %q is not a 32-bit integer", ErrSysctlValue, value)
		}
		if spec.hasRange && (n < spec.min || n > spec.max) {
			return fmt.Errorf("%w: %d is outside %d..%d", ErrSysctlValue, n, spec.min, spec.max)
		}
		if spec.name == "sync_ports" && bits.OnesCount64(uint64(n)) != 1 {
			return fmt.Errorf("%w: %d is not a power of two", ErrSysctlValue, n)
		}
	case kindULong:
		if _, err := strconv.ParseUint(v, 10, 64); err != nil {
			return fmt.Errorf("%w: %q is not an unsigned integer", ErrSysctlValue, value)
		}
	case kindPair:
		// proc_do_sync_threshold: "threshold period", both >= 0, and
		// threshold < period unless period is 0.
		f := strings.Fields(v)
		if len(f) != 2 {
			return fmt.Errorf("%w: %q is not two integers", ErrSysctlValue, value)
		}
		var n [2]int64
		for i := range f {
			x, err := strconv.ParseInt(f[i], 10, 32)
			if err != nil || x < 0 {
				return fmt.Errorf("%w: %q is not two non-negative integers", ErrSysctlValue, value)
			}
			n[i] = x
		}
		if n[1] != 0 && n[0] >= n[1] {
			return fmt.Errorf("%w: threshold %d must be below period %d", ErrSysctlValue, n[0], n[1])
		}
	case kindCPUList:
		if v == "" || strings.Trim(v, "0123456789,-:/") != "" {
			return fmt.Errorf("%w: %q is not a CPU list", ErrSysctlValue, value)
		}
	}
	return nil
}
