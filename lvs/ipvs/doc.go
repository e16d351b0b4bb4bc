// Package ipvs is lvsctl's kernel layer for IP Virtual Server: a client of
// the kernel's "IPVS" generic-netlink family (include/uapi/linux/ip_vs.h,
// net/netfilter/ipvs/ip_vs_ctl.c) that translates the lvs domain types to
// and from IPVS attributes, plus readers for /proc/net/ip_vs_conn and the
// /proc/sys/net/ipv4/vs settings.
//
// What of the kernel it touches: one NETLINK_GENERIC socket per Client,
// opened in the caller's network namespace or in the one Options.NetNS
// names, over which it sends every IPVS_CMD_* command (services,
// destinations, sync daemons, timeouts, zeroing, flushing, info). It never
// loads modules: when the family is missing, Open fails with
// lvs.ErrIPVSUnavailable and the caller decides whether to run modprobe.
//
// Nothing here holds policy. Values go to the kernel as given (no default
// scheduler, no default netmask); the kernel's refusals come back as *Error,
// which keeps the command and errno and matches the lvs sentinels with
// errors.Is.
package ipvs
