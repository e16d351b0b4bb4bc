#!/bin/sh
# Records VRRP adverts sent by the installed keepalived (2.2.7 when the
# fixtures were made) into keepalived-2.2.7.txt, the fixture codec_test.go
# decodes and re-encodes. Needs root, keepalived, tcpdump and iproute2.
#
# Everything happens inside two network namespaces made here and removed at
# the end: vrrpcap holds vk0 (192.0.2.1/24, 2001:db8::1/64) where keepalived
# runs and tcpdump listens, vrrppeer holds the other end of the veth pair
# (192.0.2.2/24), the unicast peer. No traffic leaves them.
#
# keepalived runs in the foreground for RUN seconds with keepalived-capture.conf,
# then gets SIGTERM, so the capture also holds its priority 0 adverts. Output
# format, one packet per line: "<seconds since keepalived start> <IP packet
# in hex>"; comment lines start with '#'.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/keepalived-2.2.7.txt}
RUN=${RUN:-8}
work=$(mktemp -d)
cleanup() {
	[ -f "$work/vrrp.pid" ] && kill "$(cat "$work/vrrp.pid")" 2>/dev/null || true
	[ -f "$work/keepalived.pid" ] && kill "$(cat "$work/keepalived.pid")" 2>/dev/null || true
	[ -n "${tcpdump_pid:-}" ] && kill "$tcpdump_pid" 2>/dev/null || true
	ip netns del vrrpcap 2>/dev/null || true
	ip netns del vrrppeer 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

ip netns add vrrpcap
ip netns add vrrppeer
ip link add vk0 netns vrrpcap type veth peer name vk1 netns vrrppeer
for ns in vrrpcap vrrppeer; do
	ip netns exec $ns sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	ip -n $ns link set lo up
done
ip -n vrrpcap addr add 192.0.2.1/24 dev vk0
ip -n vrrpcap addr add 2001:db8::1/64 dev vk0 nodad
ip -n vrrppeer addr add 192.0.2.2/24 dev vk1
ip -n vrrppeer addr add 2001:db8::2/64 dev vk1 nodad
ip -n vrrppeer link set vk1 up
ip -n vrrpcap link set vk0 up
sleep 1 # link-local address and carrier

ip netns exec vrrpcap tcpdump -i vk0 -n -U -w "$work/cap.pcap" 'ip proto 112 or ip6 proto 112' 2>"$work/tcpdump.log" &
tcpdump_pid=$!
sleep 1
start=$(date +%s.%N)
ip netns exec vrrpcap keepalived -n -l -D -P -f "$here/keepalived-capture.conf" \
	-p "$work/keepalived.pid" -r "$work/vrrp.pid" >"$work/keepalived.log" 2>&1 &
ka=$!
sleep "$RUN"
kill -TERM $ka
wait $ka || true
sleep 1
kill $tcpdump_pid
wait $tcpdump_pid 2>/dev/null || true

{
	echo "# VRRP adverts sent by $(keepalived --version 2>&1 | head -1), captured by capture.sh"
	echo "# with keepalived-capture.conf on $(date -u +%Y-%m-%d); keepalived started at t=0."
	tcpdump -r "$work/cap.pcap" -n -tt -x 2>/dev/null | awk -v start="$start" '
		/^[0-9]/ { if (hex != "") print t, hex; t = sprintf("%.6f", $1 - start); hex = ""; next }
		/^[ \t]+0x/ { for (i = 2; i <= NF; i++) hex = hex $i; next }
		END { if (hex != "") print t, hex }'
} >"$out"
echo "wrote $(grep -vc '^#' "$out") packets to $out"
grep -E 'Entering|Sending|priority' "$work/keepalived.log" | head -40 >&2 || true
