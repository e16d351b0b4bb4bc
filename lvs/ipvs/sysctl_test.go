package ipvs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeSysctlTree builds root/net/ipv4/vs with the given files.
func fakeSysctlTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "net", "ipv4", "vs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// debian61 holds the knobs and defaults of a fresh Linux 6.1 namespace.
var debian61 = map[string]string{
	"am_droprate": "10\n", "amemthresh": "1024\n", "backup_only": "0\n", "cache_bypass": "0\n",
	"conn_reuse_mode": "1\n", "conntrack": "0\n", "drop_entry": "0\n", "drop_packet": "0\n",
	"expire_nodest_conn": "0\n", "expire_quiescent_template": "0\n", "ignore_tunneled": "0\n",
	"nat_icmp_send": "0\n", "pmtu_disc": "1\n", "run_estimation": "1\n", "schedule_icmp": "0\n",
	"secure_tcp": "0\n", "sloppy_sctp": "0\n", "sloppy_tcp": "0\n", "snat_reroute": "1\n",
	"sync_persist_mode": "0\n", "sync_ports": "1\n", "sync_qlen_max": "61724\n",
	"sync_refresh_period": "0\n", "sync_retries": "0\n", "sync_sock_size": "0\n",
	"sync_threshold": "3\t50\n", "sync_version": "1\n",
}

func TestSysctlNames(t *testing.T) {
	names := SysctlNames()
	if !sort.StringsAreSorted(names) {
		t.Errorf("SysctlNames not sorted: %v", names)
	}
	for name := range debian61 {
		if _, ok := lookupSysctl(name); !ok {
			t.Errorf("6.1 knob %s unknown", name)
		}
	}
	if len(names) != len(debian61)+5 {
		t.Errorf("%d names, want the %d of 6.1 plus debug_level, est_cpulist, est_nice, lblc(r)_expiration",
			len(names), len(debian61))
	}
}

func TestSysctlsGet(t *testing.T) {
	s := NewSysctls(fakeSysctlTree(t, debian61))
	tests := []struct {
		name    string
		want    string
		wantErr error
	}{
		{name: "amemthresh", want: "1024"},
		{name: "sync_threshold", want: "3\t50"},
		{name: "est_nice", wantErr: fs.ErrNotExist}, // 6.2 and later only
		{name: "no_such_knob", wantErr: ErrUnknownSysctl},
		{name: "../../../etc/passwd", wantErr: ErrUnknownSysctl},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Get(tt.name)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Get(%q) error = %v, want %v", tt.name, err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "net.ipv4.vs.") {
				t.Errorf("error %q does not name the sysctl", err)
			}
			if got != tt.want {
				t.Errorf("Get(%q) = %q, want %q", tt.name, got, tt.want)
			}
		})
	}
	n, err := s.GetInt("am_droprate")
	if err != nil || n != 10 {
		t.Errorf("GetInt(am_droprate) = %d, %v; want 10", n, err)
	}
	if _, err := s.GetInt("sync_threshold"); !errors.Is(err, ErrSysctlValue) {
		t.Errorf("GetInt(sync_threshold) error = %v, want ErrSysctlValue", err)
	}
}

func TestSysctlsSet(t *testing.T) {
	tests := []struct {
		name, value string
		wantErr     error
		wantFile    string
	}{
		{name: "expire_nodest_conn", value: "1", wantFile: "1\n"},
		{name: "conn_reuse_mode", value: "-1", wantFile: "-1\n"},
		{name: "sync_threshold", value: "3 50", wantFile: "3 50\n"},
		{name: "sync_threshold", value: "5 0", wantFile: "5 0\n"},
		{name: "sync_threshold", value: "50 3", wantErr: ErrSysctlValue},
		{name: "sync_threshold", value: "3", wantErr: ErrSysctlValue},
		{name: "sync_threshold", value: "-1 5", wantErr: ErrSysctlValue},
		{name: "sync_qlen_max", value: "18446744073709551615", wantFile: "18446744073709551615\n"},
		{name: "sync_qlen_max", value: "-1", wantErr: ErrSysctlValue},
		{name: "drop_entry", value: "3", wantFile: "3\n"},
		{name: "drop_entry", value: "4", wantErr: ErrSysctlValue},
		{name: "sync_version", value: "2", wantErr: ErrSysctlValue},
		{name: "sync_retries", value: "3", wantFile: "3\n"},
		{name: "sync_ports", value: "8", wantFile: "8\n"},
		{name: "sync_ports", value: "6", wantErr: ErrSysctlValue},
		{name: "sync_ports", value: "0", wantErr: ErrSysctlValue},
		{name: "amemthresh", value: "lots", wantErr: ErrSysctlValue},
		{name: "amemthresh", value: "4294967296", wantErr: ErrSysctlValue},
		{name: "amemthresh", value: "1\n2", wantErr: ErrSysctlValue},
		{name: "est_cpulist", value: "0-3,8", wantErr: fs.ErrNotExist}, // valid, but 6.1 lacks it
		{name: "est_cpulist", value: "all", wantErr: ErrSysctlValue},
		{name: "est_nice", value: "20", wantErr: ErrSysctlValue},
		{name: "nope", value: "1", wantErr: ErrUnknownSysctl},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			root := fakeSysctlTree(t, debian61)
			s := NewSysctls(root)
			err := s.Set(tt.name, tt.value)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Set(%q, %q) error = %v, want %v", tt.name, tt.value, err, tt.wantErr)
			}
			p := filepath.Join(root, "net/ipv4/vs", tt.name)
			b, rerr := os.ReadFile(p)
			if tt.wantErr != nil {
				if rerr == nil && string(b) != debian61[tt.name] {
					t.Errorf("failed Set changed the file to %q", b)
				}
				if errors.Is(tt.wantErr, fs.ErrNotExist) && rerr == nil {
					t.Errorf("Set created %s", p)
				}
				return
			}
			if string(b) != tt.wantFile {
				t.Errorf("file holds %q, want %q", b, tt.wantFile)
			}
		})
	}
}

func TestSysctlsSetInt(t *testing.T) {
	s := NewSysctls(fakeSysctlTree(t, debian61))
	if err := s.SetInt("sloppy_tcp", 1); err != nil {
		t.Fatal(err)
	}
	if n, err := s.GetInt("sloppy_tcp"); err != nil || n != 1 {
		t.Errorf("GetInt after SetInt = %d, %v; want 1", n, err)
	}
}

func TestSysctlsList(t *testing.T) {
	files := map[string]string{"amemthresh": "1024\n", "sync_threshold": "3\t50\n", "future_knob": "7\n"}
	got, err := NewSysctls(fakeSysctlTree(t, files)).List()
	if err != nil {
		t.Fatal(err)
	}
	want := []Sysctl{{Name: "amemthresh", Value: "1024"}, {Name: "sync_threshold", Value: "3\t50"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List mismatch (-want +got):\n%s", diff)
	}

	all, err := NewSysctls(fakeSysctlTree(t, debian61)).List()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(debian61) {
		t.Errorf("List found %d knobs, want %d", len(all), len(debian61))
	}

	_, err = NewSysctls(t.TempDir()).List()
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("List without IPVS: error = %v, want fs.ErrNotExist", err)
	}
}

func TestSysctlsDir(t *testing.T) {
	if got, want := (Sysctls{}).Dir(), "/proc/sys/net/ipv4/vs"; got != want {
		t.Errorf("zero Sysctls Dir = %q, want %q", got, want)
	}
	if got, want := NewSysctls("/mnt/ns1/sys").Dir(), "/mnt/ns1/sys/net/ipv4/vs"; got != want {
		t.Errorf("Dir = %q, want %q", got, want)
	}
}
