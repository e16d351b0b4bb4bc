#!/bin/sh
# make demo, the firewall-mark chapter: PNMPP (persistence across ports
# 80 and 443 through one firewall-mark service) with `lvsctl fwmark
# service`, on direct-routing real servers prepared with `lvsctl realserver
# up`. Runs inside the lab VM. It builds its own LAN, so it can run alone
# (labrun -f bin/lvsctl:/usr/sbin/lvsctl lab/demo/fwmark.sh) or after
# demo.sh; it removes what it made.
set -eu

say()   { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note()  { if [ -n "$*" ]; then printf '   %s\n' "$*"; else echo; fi; }
run()   { printf '\n$ %s\n' "$*"; "$@"; }
in_ns() { ns=$1; shift; ip netns exec "$ns" "$@"; }

VIP=203.0.113.100
RS1=203.0.113.11
RS2=203.0.113.12
C1=203.0.113.51
C2=203.0.113.52

say "Firewall marks: one client, one real server, on HTTP and HTTPS"
note "A web shop keeps its session on the real server that served the first"
note "page; the browser then switches to HTTPS. Persistence per port cannot"
note "follow it there. Marking ports 80 and 443 with one firewall mark makes"
note "them one IPVS service, and persistence holds across both (PNMPP)."
note ""
note "A LAN of its own in this VM (network namespaces on bridge br-fwm):"
note "  fw-director $VIP (the VIP), fw-rs1 $RS1, fw-rs2 $RS2,"
note "  fw-c1 $C1 and fw-c2 $C2 (two clients); direct routing."

ip link add br-fwm type bridge && ip link set br-fwm up
plug() { # plug NS ADDR
	ip netns add "$1"
	ip link add "v-$1" type veth peer name eth0 netns "$1"
	ip link set "v-$1" master br-fwm up
	in_ns "$1" ip addr add "$2/24" dev eth0
	in_ns "$1" ip link set eth0 up
	in_ns "$1" ip link set lo up
}
plug fw-director 203.0.113.1
plug fw-rs1 $RS1
plug fw-rs2 $RS2
plug fw-c1 $C1
plug fw-c2 $C2
in_ns fw-director ip addr add $VIP/32 dev eth0
for rs in fw-rs1 fw-rs2; do
	for port in 80 443; do
		mkdir -p /srv/$rs-$port
		echo "${rs#fw-} on port $port" >/srv/$rs-$port/index.html
		in_ns $rs httpd -p $port -h /srv/$rs-$port # plain HTTP on 443 will do here
	done
done

fetch() { # fetch NS PORT
	in_ns "$1" timeout 5 wget -q -O - "http://$VIP:$2/" 2>/dev/null || echo "(no answer)"
}

say "The real servers: lvsctl realserver up"
note "Each real server carries the VIP on lo and must never answer ARP for it."
run in_ns fw-rs1 lvsctl realserver up --vip $VIP
in_ns fw-rs2 lvsctl realserver up --vip $VIP
run in_ns fw-rs1 lvsctl realserver status

say "The director: one command for the rules, the service and the real servers"
run in_ns fw-director lvsctl fwmark service --vip $VIP --ports 80,443 --mark 5 \
	-s rr -p 600 -r $RS1 -r $RS2 -g
run in_ns fw-director lvsctl fwmark list
run in_ns fw-director iptables-save -t mangle
run in_ns fw-director lvsctl -L -n

say "Client 1 goes back and forth between HTTP and HTTPS"
for port in 80 443 80 443; do
	printf '   fw-c1 -> :%s  %s\n' $port "$(fetch fw-c1 $port)"
done
say "Client 2 lands on the other real server, and stays there too"
for port in 443 80 443; do
	printf '   fw-c2 -> :%s  %s\n' $port "$(fetch fw-c2 $port)"
done

say "The persistence templates: one per client, for mark 5 (0.0.0.5)"
note "Lines from source port 0 are templates (protocol IP for a mark service);"
note "the others are the connections they placed."
run in_ns fw-director lvsctl -L -n -c

say "Taking it away again"
run in_ns fw-director lvsctl fwmark service --vip $VIP --ports 80,443 --mark 5 --delete
run in_ns fw-director lvsctl fwmark list
in_ns fw-rs1 lvsctl realserver down
in_ns fw-rs2 lvsctl realserver down
for ns in fw-director fw-rs1 fw-rs2 fw-c1 fw-c2; do
	for pid in $(ip netns pids $ns); do kill "$pid" 2>/dev/null || true; done
	ip netns del $ns
done
ip link del br-fwm
note "Rules, service and real-server settings are gone; nothing else was touched."
