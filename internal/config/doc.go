// Package config reads keepalived.conf, as keepalived 2.2 does, into typed
// configuration for `lvsctl vrrp run` and `lvsctl monitor`. The same file
// can drive keepalived and lvsctl; the parser returns everything it reads
// and each caller takes its part.
//
// It touches no kernel state and runs nothing: it only reads files.
//
// # Results
//
// ParseFile and Parse return a *Config with keepalived's defaults and
// inheritance applied (virtual server -> real server -> checker; global_defs
// -> vrrp_instance), a list of Warnings, and an error. An error (wrapping
// ErrSyntax, one line per problem, each "file:line: message") means the
// configuration must not be used; the callers exit non-zero before touching
// the kernel. A Warning names a directive that has no effect here: unknown
// to keepalived, known to keepalived but not supported by lvsctl, extra
// words, deprecated spellings, and keepalived's own fix-ups (a DR real
// server's port forced to the virtual port, hysteresis reduced below the
// quorum, ...), so nothing in the file is ignored silently.
//
// # Syntax (keepalived.conf(5), lib/parser.c)
//
//   - Statements are words separated by blanks, one statement per line.
//     '{' and '}' outside double quotes are words of their own wherever
//     they stand: a block's '{' may end the keyword's line, start the next,
//     or the whole block may sit on one line ("url { path / }").
//   - '#' and '!' outside double quotes start a comment, anywhere in a line;
//     "\#" and "\!" stand for the characters.
//   - A word starting with '"' runs to the next '"'; quotes are removed.
//     Script directives are split again as keepalived does: both quote
//     characters group, and the escapes \a \b \E \f \n \r \t \v \nnn \xXX
//     \cC and \C work; the command is then split into its arguments, so
//     notify "/bin/x.sh 'a b'" runs /bin/x.sh with the argument "a b".
//   - include FILE|PATTERN reads files in place (also includer, includem,
//     includew, includeb, includea; the last four make a pattern that matches
//     nothing an error, plain include warns). Relative names are resolved
//     against the including file's directory; glob wildcards and csh braces
//     ({a,b}) expand; matches are read in sorted order, directories and
//     executable files skipped; an include loop is an error.
//   - "@ID line" keeps the line only when ID equals Options.ConfigID
//     (keepalived -i); "@^ID line" only when it does not.
//   - "$NAME=VALUE" defines a parameter; $NAME (followed by a blank, ',',
//     ')' or the end) and ${NAME} are replaced, recursively, at use. A
//     value ending in '\' continues on the following lines (a multi-line
//     definition, which expands to several lines); a blank line ends it.
//     Predefined: ${_PWD} (the current file's directory), ${_INSTANCE}
//     (the config id), ${_HASH} ('#'), ${_BANG} ('!'). Undefined names are
//     left as written. ${_RANDOM} and the ~SEQ / ~LST line generators are
//     not supported (a warning; the line is skipped).
//   - <TIMER> values are seconds with an optional fraction, kept to the
//     microsecond; <BOOL> is on|off|true|false|yes|no.
//
// # Supported directives
//
// global_defs: router_id, vrrp_version (2), vrrp_mcast_group4 (224.0.0.18),
// vrrp_mcast_group6 (ff02::12), vrrp_garp_master_delay (5 s),
// vrrp_garp_master_repeat (5), vrrp_garp_lower_prio_delay,
// vrrp_garp_lower_prio_repeat, vrrp_garp_master_refresh (0: off),
// vrrp_garp_master_refresh_repeat (1), vrrp_garp_interval, vrrp_gna_interval,
// vrrp_min_garp, vrrp_strict, vrrp_check_unicast_src,
// vrrp_skip_check_adv_addr, vrrp_lower_prio_no_advert,
// vrrp_higher_prio_send_advert, vrrp_startup_delay, enable_script_security,
// script_user USER [GROUP], default_interface (eth0),
// lvs_sync_daemon IF [[inst] INSTANCE] [id N] [maxlen N] [port N] [ttl N]
// [group ADDR], lvs_timeouts [tcp S] [tcpfin S] [udp S], lvs_flush,
// lvs_flush_on_stop.
//
// vrrp_script NAME: script, interval (1 s, whole seconds), timeout (the
// interval), weight W [reverse] (0, -253..253), rise (1), fall (1), user,
// init_fail.
//
// vrrp_instance NAME: state MASTER|BACKUP (BACKUP), interface,
// virtual_router_id (1..255, required), priority (100, 1..255),
// advert_int (1 s; whole seconds for v2, centiseconds for v3), version
// (global; 3 when the first VIP is IPv6), nopreempt, preempt,
// preempt_delay (cleared with state MASTER, as keepalived does), accept,
// no_accept, strict_mode, dont_track_primary, check_unicast_src,
// down_timer_adverts (3), authentication { auth_type PASS|AH auth_pass P }
// (8 bytes at most), virtual_ipaddress and virtual_ipaddress_excluded
// (ADDR[/LEN] [brd ADDR|+|-] [dev IF] [scope S] [label L] [peer ADDR]
// [home] [-nodad] [noprefixroute] [no_track]; one family in
// virtual_ipaddress), mcast_src_ip, mcast_dst_ip, unicast_src_ip,
// unicast_peer { ADDR [min_ttl N] [max_ttl N] }, unicast_ttl,
// track_interface { IF [weight W [reverse]] } (the instance's own interface
// is dropped), track_script { NAME [weight W [reverse|noreverse]] } (the
// script's weight unless overridden; weights are zeroed in a sync group, as
// keepalived does), notify_master, notify_backup, notify_fault,
// notify_stop, notify (each COMMAND [USER [GROUP]]), garp_master_delay,
// garp_master_repeat, garp_lower_prio_delay, garp_lower_prio_repeat,
// garp_master_refresh, garp_master_refresh_repeat (the global values by
// default), lvs_sync_daemon_interface (deprecated; warned).
//
// vrrp_sync_group NAME: group { INSTANCE ... }, track_interface,
// track_script, notify_master, notify_backup, notify_fault, notify_stop,
// notify.
//
// virtual_server_group NAME: ADDR [PORT], ADDR-LAST [PORT] (last byte of an
// IPv4 address, last 16-bit group of an IPv6 one), ADDR-ADDR [PORT],
// ADDR/LEN [PORT], fwmark N [inet|inet6].
//
// virtual_server ADDR [PORT] | fwmark N | group NAME: lvs_sched or lb_algo
// (wlc when missing, warned), flag-1, flag-2, flag-3, sh-port, sh-fallback,
// mh-port, mh-fallback, ops, lvs_method or lb_kind NAT|DR|TUN [type
// ipip|gue port N|gre] [nocsum|csum|remcsum] (NAT when missing, warned),
// protocol TCP|UDP|SCTP (UDP when missing, warned, as keepalived: the
// kernel's default), persistence_timeout [S] (360 s alone),
// persistence_granularity MASK|LEN, persistence_engine, ha_suspend,
// virtualhost, alpha, omega, quorum (1), hysteresis (0), quorum_up,
// quorum_down, ip_family inet|inet6, sorry_server ADDR [PORT],
// sorry_server_inhibit, sorry_server_lvs_method, connect_timeout (5 s),
// retry, delay_before_retry, warmup (delay_loop), delay_loop (60 s),
// inhibit_on_failure, real_server.
//
// real_server ADDR [PORT]: weight (1), lvs_method, inhibit_on_failure,
// alpha, notify_up, notify_down, uthreshold, lthreshold, virtualhost,
// connect_timeout, retry, delay_before_retry, warmup, delay_loop, and the
// checkers. A DR or TUN real server's port is forced to the virtual port
// and a fwmark service's to none, as keepalived does.
//
// Checkers: HTTP_GET and SSL_GET (url { path, digest, status_code
// CODE|LOW-HIGH... (200-299), virtualhost }, http_protocol, fast_recovery,
// enable_sni), TCP_CHECK, MISC_CHECK (misc_path, misc_timeout (delay_loop),
// misc_dynamic, user), DNS_CHECK (type (SOA), name (".")), UDP_CHECK
// (payload, require_reply, min_reply_length, max_reply_length), PING_CHECK.
// All but MISC_CHECK take connect_ip, connect_port, bindto, bind_if,
// bind_port, fwmark; all take connect_timeout, retry (nb_get_retry
// deprecated), delay_before_retry, warmup, delay_loop, alpha,
// log_all_failures. Per keepalived.conf(5): retry defaults to 1, 3 for
// DNS_CHECK and 0 for MISC_CHECK; delay_before_retry to 3 s for HTTP_GET
// and SSL_GET, delay_loop for DNS_CHECK, 1 s otherwise.
//
// Everything else keepalived knows (static routes and rules, VMACs,
// nftables/iptables, SNMP, SMTP alerts, BFD, track_file, track_process,
// SMTP_CHECK, FILE_CHECK, the regex options of url, ...) is read and
// warned about.
package config
