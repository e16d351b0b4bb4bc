#!/bin/sh
# make demo: the main job of lvsctl, told as a short story. Runs inside the
# lab VM (a real IPVS kernel); every host here is a network namespace.
set -eu

say()   { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note()  { if [ -n "$*" ]; then printf '   %s\n' "$*"; else echo; fi; }
run()   { printf '\n$ %s\n' "$*"; "$@"; }
in_ns() { ns=$1; shift; ip netns exec "$ns" "$@"; }

VIP_NAT=198.51.100.100
VIP_DR=192.0.2.100
RS1=192.0.2.11
RS2=192.0.2.12
REQUESTS=8

say "The setting"
note "A director balances HTTP for a virtual IP over two real servers."
note "Everything below lives in network namespaces inside this VM:"
note "  client    198.51.100.10   (the outside world, on the front LAN)"
note "  director  198.51.100.1 (front), 192.0.2.1 (back)"
note "  rs1, rs2  $RS1, $RS2 on the back LAN, running busybox httpd"
note "  lanclient 192.0.2.50      (a client on the back LAN, for direct routing)"

ip link add br-front type bridge && ip link set br-front up
ip link add br-back type bridge && ip link set br-back up
plug() { # plug NS BRIDGE IFNAME ADDR/LEN [GATEWAY]
	ns=$1 br=$2 dev=$3 addr=$4 gw=${5:-}
	ip netns list | grep -qw "$ns" || ip netns add "$ns"
	host=$(printf '%s' "$ns-$dev" | cut -c1-15)
	ip link add "$host" type veth peer name "$dev" netns "$ns"
	ip link set "$host" master "$br" up
	in_ns "$ns" ip addr add "$addr" dev "$dev"
	in_ns "$ns" ip link set "$dev" up
	in_ns "$ns" ip link set lo up
	[ -z "$gw" ] || in_ns "$ns" ip route replace default via "$gw"
}
plug client    br-front eth0 198.51.100.10/24 198.51.100.1
plug director  br-front eth0 198.51.100.1/24
plug director  br-back  eth1 192.0.2.1/24
plug rs1       br-back  eth0 $RS1/24 192.0.2.1
plug rs2       br-back  eth0 $RS2/24 192.0.2.1
plug lanclient br-back  eth0 192.0.2.50/24
in_ns director sysctl -qw net.ipv4.ip_forward=1

for rs in rs1 rs2; do
	mkdir -p /srv/$rs
	echo "hello from $rs" >/srv/$rs/index.html
	in_ns $rs httpd -p 80 -h /srv/$rs
done

fetch() { # fetch NS URL: one HTTP request, one line of answer
	in_ns "$1" timeout 5 wget -q -O - "$2" 2>/dev/null || echo "(no answer)"
}
tally() { # tally NS URL: REQUESTS requests, each a new connection
	i=0
	while [ $i -lt $REQUESTS ]; do fetch "$1" "$2"; i=$((i + 1)); done | sort | uniq -c | sed 's/^/   /'
}

say "NAT (masquerading): the director rewrites addresses both ways"
note "The virtual IP lives on the director's front interface; the real servers"
note "route their answers back through the director."
run in_ns director ip addr add $VIP_NAT/32 dev eth0
run in_ns director lvsctl -A -t $VIP_NAT:80 -s rr
run in_ns director lvsctl -a -t $VIP_NAT:80 -r $RS1:80 -m
run in_ns director lvsctl -a -t $VIP_NAT:80 -r $RS2:80 -m
run in_ns director lvsctl -L -n
note ""
note "$REQUESTS requests from the client to http://$VIP_NAT/ (round robin):"
tally client http://$VIP_NAT/
sleep 2 # IPVS refreshes its counters every 2 s
run in_ns director lvsctl -L -n --stats

say "Direct routing: the real servers answer the client themselves"
note "The director only rewrites the destination MAC address. Each real server"
note "carries the virtual IP on lo and must not answer ARP for it"
note "(arp_ignore=1, arp_announce=2), so that the director alone owns it on the LAN."
for rs in rs1 rs2; do
	in_ns $rs ip addr add $VIP_DR/32 dev lo
	in_ns $rs sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
done
run in_ns director ip addr add $VIP_DR/32 dev eth1
run in_ns director lvsctl -A -t $VIP_DR:80 -s wrr
run in_ns director lvsctl -a -t $VIP_DR:80 -r $RS1 -g -w 3
run in_ns director lvsctl -a -t $VIP_DR:80 -r $RS2 -g -w 1
note ""
note "$REQUESTS requests from lanclient to http://$VIP_DR/ (weighted round robin, 3:1):"
tally lanclient http://$VIP_DR/
sleep 2
run in_ns director lvsctl -L -n --stats
run in_ns director lvsctl -L -n --rate

say "The whole table, as ipvsadm -S would save it"
run in_ns director lvsctl -S -n
note ""
note "The same table through the real ipvsadm, for comparison:"
run in_ns director ipvsadm -S -n

say "Done"
note "lvsctl programmed the kernel's IPVS directly over generic netlink;"
note "the real ipvsadm reads back exactly what lvsctl wrote."
