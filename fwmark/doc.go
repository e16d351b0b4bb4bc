// Package fwmark keeps the iptables mangle rules that give packets the
// firewall marks IPVS firewall-mark services match on (ipvsadm -f), so that
// one virtual service can cover several ports or addresses: the classic
// "persistent netfilter-marked packet persistence" (PNMPP) recipe, where a
// client keeps one real server across ports 80 and 443.
//
// What of the kernel it touches: the mangle table, through the iptables
// and ip6tables programs (coreos/go-iptables, which passes --wait so the
// xtables lock serialises it with every other iptables user). Every rule
// lives in one of two chains of its own: LVSCTL-FWMARK, jumped to from
// PREROUTING, and LVSCTL-FWMARK-LOCAL, jumped to from OUTPUT for clients on
// the director itself. Each rule carries a comment naming its mark
// ("lvsctl fwmark 5"), so iptables-save shows what owns it. Nothing outside
// those two chains and their two jump rules is ever changed.
//
// Manager serialises its own read-check-write sequences with a lock file
// (DefaultLockPath): the xtables lock covers one iptables invocation, not
// the "check, then append" pair that makes an add idempotent.
package fwmark
