package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// OpenSocket is Env.OpenTransport on the host: ListenSocket for key.
func OpenSocket(key TransportKey) (Transport, error) {
	return ListenSocket(SocketConfig{Interface: key.Interface, Source: key.Source, Group: key.Group, TTL: key.TTL})
}

// InterfaceAddr is Env.LocalAddr on the host: for IPv4 the interface's
// first address that is not one of exclude (the kernel lists the primary
// address first), for IPv6 its link-local address (RFC 5798 §5.1.2.1: "the
// IPv6 link-local address of the interface over which the packet is
// transmitted").
func InterfaceAddr(ifname string, v6 bool, exclude []netip.Addr) (netip.Addr, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("interface %s: %w", ifname, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("addresses of %s: %w", ifname, err)
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if v6 {
			if ip.Is6() && ip.IsLinkLocalUnicast() {
				return ip, nil
			}
			continue
		}
		if ip.Is4() && !slices.Contains(exclude, ip) {
			return ip, nil
		}
	}
	fam := "IPv4"
	if v6 {
		fam = "IPv6 link-local"
	}
	return netip.Addr{}, fmt.Errorf("interface %s has no %s address to send adverts from", ifname, fam)
}

// Executor runs scripts (track and notify) without a shell, as Env.Exec.
type Executor struct {
	// Credential, when set, is the user scripts run as (script_user).
	Credential *syscall.Credential
}

// LookupCredential resolves script_user USER [GROUP].
func LookupCredential(name, group string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("script_user %s: %w", name, err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return nil, fmt.Errorf("script_user group %s: %w", group, err)
		}
		gid, _ = strconv.ParseUint(g.Gid, 10, 32)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// Exec runs argv and waits for it. When ctx ends first the whole process
// group is killed, so a script's children do not outlive its timeout.
func (e Executor) Exec(ctx context.Context, argv []string) error {
	if len(argv) == 0 {
		return errors.New("empty command")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: e.Credential}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	cmd.Dir = "/"
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", argv[0], err)
	}
	return nil
}

// ErrInsecureScript: under enable_script_security, a script that a user
// other than root could change is refused.
var ErrInsecureScript = errors.New("script is writable by a non-root user")

// CheckScriptSecurity applies enable_script_security to argv[0]:
// keepalived refuses a script when it, or any directory on its path, is
// owned by a non-root user, writable by a group other than root's, or
// writable by others (check_script_secure); symbolic links are followed.
func CheckScriptSecurity(argv []string) error {
	if len(argv) == 0 {
		return nil
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("script %s: %w", argv[0], err)
	}
	path, err = filepath.Abs(path)
	if err == nil {
		path, err = filepath.EvalSymlinks(path)
	}
	if err != nil {
		return fmt.Errorf("script %s: %w", argv[0], err)
	}
	for p := path; ; p = filepath.Dir(p) {
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			return fmt.Errorf("script %s: %w", argv[0], &os.PathError{Op: "stat", Path: p, Err: err})
		}
		if st.Uid != 0 || (st.Gid != 0 && st.Mode&syscall.S_IWGRP != 0) || st.Mode&syscall.S_IWOTH != 0 {
			return fmt.Errorf("script %s: %s: %w", argv[0], p, ErrInsecureScript)
		}
		if p == "/" {
			return nil
		}
	}
}

// CheckSecurity applies CheckScriptSecurity to every script of cfg.
func (cfg *SpeakerConfig) CheckSecurity() error {
	var errs []error
	check := func(argv []string) {
		if err := CheckScriptSecurity(argv); err != nil {
			errs = append(errs, err)
		}
	}
	notify := func(n NotifyScripts) {
		for _, a := range [][]string{n.Master, n.Backup, n.Fault, n.Stop, n.Any} {
			check(a)
		}
	}
	for _, s := range cfg.Scripts {
		check(s.Argv)
	}
	for _, in := range cfg.Instances {
		notify(in.Notify)
	}
	for _, g := range cfg.Groups {
		notify(g.Notify)
	}
	return errors.Join(errs...)
}
