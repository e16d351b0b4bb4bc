package lab

import (
	"bytes"
	"context"
	"debug/elf"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// ErrNoBinary reports a required host program that is not installed.
var ErrNoBinary = errors.New("program not installed on the host")

// binarySpec is a real host program copied into the image with the shared
// libraries ldd lists for it. To add a program (keepalived, for instance),
// add one line: the package that installs it goes in Package so the prepare
// step can install it.
type binarySpec struct {
	// Name is the command, looked up in hostSearchPath. The guest gets it
	// at the same path as on the host.
	Name string
	// Links are more names for the same file: a bare name is made in the
	// program's own directory, an absolute path where it says.
	Links []string
	// Plugins is a directory of shared objects the program loads at run
	// time (copied whole, each with its own libraries).
	Plugins string
	// Package is the Debian package that provides Name.
	Package string
	// Optional programs are left out, with no error, when not installed.
	Optional bool
}

// imageBinaries are the real programs in the image. They win over busybox
// applets of the same name: busybox's `ip` applet, for one, breaks
// `ip netns`. dash is /bin/sh because busybox's ash runs its own applets
// before looking at PATH.
var imageBinaries = []binarySpec{
	{Name: "dash", Links: []string{"/bin/sh"}, Package: "dash"},
	// bash runs ipvsadm-save and ipvsadm-restore (#!/bin/bash).
	{Name: "bash", Links: []string{"/bin/bash"}, Package: "bash"},
	{Name: "ipvsadm", Package: "ipvsadm"},
	{Name: "ipvsadm-save", Package: "ipvsadm"},
	{Name: "ipvsadm-restore", Package: "ipvsadm"},
	{Name: "ip", Package: "iproute2"},
	{Name: "tc", Package: "iproute2"},
	{Name: "bridge", Package: "iproute2"},
	{Name: "ss", Package: "iproute2"},
	// setpriv runs lvsctl as an unprivileged user holding capabilities.
	{Name: "setpriv", Package: "util-linux"},
	{
		Name: "xtables-nft-multi", Package: "iptables",
		Links: []string{
			"iptables", "iptables-save", "iptables-restore",
			"ip6tables", "ip6tables-save", "ip6tables-restore",
			"iptables-nft", "iptables-nft-save", "iptables-nft-restore",
			"ip6tables-nft", "ip6tables-nft-save", "ip6tables-nft-restore",
		},
		Plugins: "/usr/lib/x86_64-linux-gnu/xtables",
	},
	// Module loading is busybox's modprobe, which ignores modules.softdep:
	// libcrc32c's "pre: crc32c" is why init.sh loads crc32c_generic first.
	// kmod's modprobe honours it but brings libcrypto (5 MB) into the image.
	// keepalived stays out of the base image: its libraries (perl,
	// net-snmp, glib, krb5: 21 MB) take the compressed image from 10.3 to
	// 22.4 MB and every boot from 3.5 s to 4.0 s (medians of 8). The run
	// that wants it (lab/bench/monitor) sends it with its libraries as
	// per-run Files at their host paths, which costs that run 0.2 s:
	// {Name: "keepalived", Package: "keepalived", Optional: true},
}

// hostSearchPath is where binarySpec names are looked up, /usr first so a
// merged-/usr host and an old split one give the same guest paths.
var hostSearchPath = []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// imageEtc are host files copied when present: name lookups in ipvsadm
// (services), iptables (protocols) and the shell.
var imageEtc = []string{"/etc/services", "/etc/protocols", "/etc/ethertypes"}

// guestPath is the PATH inside the VM: real programs before busybox.
const guestPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

//go:embed init.sh
var initScript []byte

// imageFile is one file of the base image and where it comes from.
type imageFile struct {
	Guest string // absolute guest path
	Host  string // host file to copy (symlinks followed)
	Link  string // or, when set, the target of a symlink at Guest
}

// imagePlan is everything the base image holds, resolved on the host.
type imagePlan struct {
	Files   []imageFile
	Missing []string // optional programs not installed
}

// lookHost finds a command in hostSearchPath.
func lookHost(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		if _, err := os.Stat(name); err != nil {
			return "", fmt.Errorf("%s: %w", name, ErrNoBinary)
		}
		return name, nil
	}
	for _, dir := range hostSearchPath {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w", name, ErrNoBinary)
}

// libSearchPath is where Debian's dynamic loader looks for libraries that
// have no ld.so.cache entry, in its order (ld.so --help, "system search
// path"). The image has no ld.so.cache, so libraries go where the loader
// will look.
var libSearchPath = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib"}

// elfLibs returns the shared libraries the given files need, directly and
// through each other, and their program interpreter (the dynamic loader),
// as ldd would list them. Files that are not dynamic ELF objects (scripts,
// static programs) need none. Reading DT_NEEDED with debug/elf instead of
// running ldd per file keeps a cached prepare fast.
func elfLibs(files []string) ([]string, error) {
	var libs []string
	seen, interp := map[string]bool{}, map[string]bool{}
	var visit func(file string) error
	visit = func(file string) error {
		f, err := elf.Open(file)
		if err != nil {
			var fe *elf.FormatError
			if errors.As(err, &fe) {
				return nil // a script
			}
			return fmt.Errorf("read %s: %w", file, err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				b, err := io.ReadAll(p.Open())
				if err != nil {
					return fmt.Errorf("read %s: %w", file, err)
				}
				if in := strings.TrimRight(string(b), "\x00"); !seen[in] {
					seen[in] = true
					interp[path.Base(in)] = true
					libs = append(libs, in)
				}
			}
		}
		needed, err := f.ImportedLibraries()
		if err != nil {
			return nil // static: no dynamic section
		}
		var runpath []string
		for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
			if v, err := f.DynString(tag); err == nil {
				for _, e := range v {
					runpath = append(runpath, strings.Split(e, ":")...)
				}
			}
		}
		for _, n := range needed {
			if interp[n] {
				continue // libc names the loader, already at its own path
			}
			lib, err := findLib(n, runpath)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			if seen[lib] {
				continue
			}
			seen[lib] = true
			libs = append(libs, lib)
			if err := visit(lib); err != nil {
				return err
			}
		}
		return nil
	}
	for _, f := range files {
		if err := visit(f); err != nil {
			return nil, err
		}
	}
	return libs, nil
}

// findLib finds a DT_NEEDED name in the run path and then the system
// search path.
func findLib(name string, runpath []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range append(runpath, libSearchPath...) {
		if strings.Contains(dir, "$") {
			continue // $ORIGIN and friends: not used by the programs here
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("shared library %s: %w", name, os.ErrNotExist)
}

// planImage resolves the binaries, their libraries and the busybox applets
// into the list of base-image files (modules and /init are added later).
func planImage(ctx context.Context, bins []binarySpec) (imagePlan, error) {
	var plan imagePlan
	seen := map[string]bool{}
	add := func(f imageFile) {
		if !seen[f.Guest] {
			seen[f.Guest] = true
			plan.Files = append(plan.Files, f)
		}
	}
	// Programs and plugins; their libraries are added at the end.
	var progs []string
	addProgram := func(host string) {
		add(imageFile{Guest: host, Host: host})
		progs = append(progs, host)
	}
	realNames := map[string]bool{}
	for _, b := range bins {
		host, err := lookHost(b.Name)
		if err != nil {
			if b.Optional {
				plan.Missing = append(plan.Missing, b.Name)
				continue
			}
			return imagePlan{}, fmt.Errorf("%w (install package %s)", err, b.Package)
		}
		addProgram(host)
		realNames[path.Base(host)] = true
		for _, l := range b.Links {
			g := l
			if !strings.HasPrefix(l, "/") {
				g = path.Join(path.Dir(host), l)
			}
			realNames[path.Base(g)] = true
			add(imageFile{Guest: g, Link: host})
		}
		if b.Plugins != "" {
			ents, err := os.ReadDir(b.Plugins)
			if err != nil {
				return imagePlan{}, fmt.Errorf("plugins of %s: %w", b.Name, err)
			}
			for _, e := range ents {
				if strings.HasSuffix(e.Name(), ".so") {
					addProgram(filepath.Join(b.Plugins, e.Name()))
				}
			}
		}
	}
	bb, err := lookHost("busybox")
	if err != nil {
		return imagePlan{}, fmt.Errorf("%w (install package busybox-static)", err)
	}
	addProgram(bb)
	applets, err := exec.CommandContext(ctx, bb, "--list-full").Output()
	if err != nil {
		return imagePlan{}, fmt.Errorf("busybox --list-full: %w", err)
	}
	for _, a := range strings.Fields(string(applets)) {
		if realNames[path.Base(a)] || path.Base(a) == "busybox" {
			continue
		}
		add(imageFile{Guest: "/" + a, Link: bb})
	}
	// The kernel runs /sbin/modprobe to load modules on demand (for the
	// IPVS genetlink family, schedulers, conntrack helpers).
	add(imageFile{Guest: "/sbin/modprobe", Link: bb})
	libs, err := elfLibs(progs)
	if err != nil {
		return imagePlan{}, err
	}
	for _, l := range libs {
		add(imageFile{Guest: l, Host: l})
	}
	for _, e := range imageEtc {
		if _, err := os.Stat(e); err == nil {
			add(imageFile{Guest: e, Host: e})
		}
	}
	sort.Slice(plan.Files, func(i, j int) bool { return plan.Files[i].Guest < plan.Files[j].Guest })
	return plan, nil
}

// fingerprint identifies the plan's inputs for the cache: guest paths,
// sources, and the size and time of each host file.
func (p imagePlan) fingerprint(w *bytes.Buffer) error {
	for _, f := range p.Files {
		if f.Link != "" {
			fmt.Fprintf(w, "L %s %s\n", f.Guest, f.Link)
			continue
		}
		st, err := os.Stat(f.Host)
		if err != nil {
			return fmt.Errorf("image file: %w", err)
		}
		fmt.Fprintf(w, "F %s %s %d %d\n", f.Guest, f.Host, st.Size(), st.ModTime().UnixNano())
	}
	return nil
}

// baseDirs exist in every image; /var/run points at /run as on Debian.
var baseDirs = []string{
	"/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin",
	"/lib", "/lib64", "/usr/lib", "/etc", "/proc", "/sys", "/dev", "/tmp", "/run",
	"/root", "/var", "/var/tmp", "/lab", "/mnt",
}

// writeBase writes the base image: directories, /dev/console, the planned
// files, the kernel modules under modRoot (a tree holding lib/modules/VER)
// and /init.
func writeBase(c *cpioWriter, plan imagePlan, modRoot string) error {
	for _, d := range baseDirs {
		if err := c.Dir(d, 0o755); err != nil {
			return err
		}
	}
	if err := c.Symlink("/var/run", "/run"); err != nil {
		return err
	}
	// The kernel opens /dev/console for init's stdio before init runs.
	if err := c.CharDev("/dev/console", 0o600, 5, 1); err != nil {
		return err
	}
	if err := c.CharDev("/dev/null", 0o666, 1, 3); err != nil {
		return err
	}
	etc := map[string]string{
		"/etc/passwd":   "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		"/etc/group":    "root:x:0:\nnogroup:x:65534:\n",
		"/etc/hosts":    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
		"/etc/hostname": "lab\n",
	}
	for name, data := range etc {
		if err := c.File(name, 0o644, []byte(data)); err != nil {
			return err
		}
	}
	for _, f := range plan.Files {
		if f.Link != "" {
			target := f.Link
			if path.Dir(f.Guest) == path.Dir(f.Link) {
				target = path.Base(f.Link)
			}
			if err := c.Symlink(f.Guest, target); err != nil {
				return err
			}
			continue
		}
		data, err := os.ReadFile(f.Host)
		if err != nil {
			return fmt.Errorf("image file: %w", err)
		}
		st, err := os.Stat(f.Host)
		if err != nil {
			return fmt.Errorf("image file: %w", err)
		}
		if err := c.File(f.Guest, st.Mode().Perm(), data); err != nil {
			return err
		}
	}
	if modRoot != "" {
		err := filepath.WalkDir(modRoot, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(modRoot, p)
			if err != nil || rel == "." {
				return err
			}
			g := "/" + filepath.ToSlash(rel)
			switch {
			case d.IsDir():
				return c.Dir(g, 0o755)
			case d.Type().IsRegular():
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				return c.File(g, 0o644, data)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("image modules: %w", err)
		}
	}
	return c.File("/init", 0o755, initScript)
}
