#!/bin/sh
# make demo, the health-check chapter: `lvsctl monitor` running from a
# keepalived.conf, a real server stopped and started, the classic log lines
# and the table changing, the sorry server when all are down. Runs inside
# the lab VM. It builds its own LAN, so it can run alone
# (labrun -f bin/lvsctl:/usr/sbin/lvsctl lab/demo/monitor.sh) or after the
# other chapters; it removes what it made.
set -eu

say()   { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note()  { if [ -n "$*" ]; then printf '   %s\n' "$*"; else echo; fi; }
run()   { printf '\n$ %s\n' "$*"; "$@"; }
in_ns() { ns=$1; shift; ip netns exec "$ns" "$@"; }

VIP=198.51.100.100
RS1=198.51.100.11
RS2=198.51.100.12
SORRY=198.51.100.19
DIR=/tmp/monitor-demo
mkdir -p $DIR

say "Health checks: real servers in and out of the table by themselves"
note "The classic director runs a bash loop: curl each real server every few"
note "seconds, ipvsadm -d when one fails, ipvsadm -a when it is back, a sorry"
note "server when all are down, and a line in a log. keepalived does the same"
note "from its configuration file. lvsctl monitor reads that same file."
note ""
note "A LAN of its own in this VM (network namespaces on bridge br-mon):"
note "  mon-director $VIP (the VIP), mon-rs1 $RS1, mon-rs2 $RS2,"
note "  mon-sorry $SORRY (the sorry server); NAT."

ip link add br-mon type bridge && ip link set br-mon up
plug() { # plug NS ADDR
	ip netns add "$1"
	ip link add "v-$1" type veth peer name eth0 netns "$1"
	ip link set "v-$1" master br-mon up
	in_ns "$1" ip addr add "$2/24" dev eth0
	in_ns "$1" ip link set eth0 up
	in_ns "$1" ip link set lo up
}
plug mon-director 198.51.100.1
plug mon-rs1 $RS1
plug mon-rs2 $RS2
plug mon-sorry $SORRY
in_ns mon-director ip addr add $VIP/32 dev eth0
start_httpd() { # start_httpd NS
	mkdir -p /srv/$1
	echo "${1#mon-}" >/srv/$1/index.html
	in_ns "$1" httpd -p 80 -h /srv/$1
}
stop_httpd() { # stop_httpd NS
	# httpd forks for each connection: a child listed here may have
	# ended (its check done) by the time it is killed.
	for pid in $(ip netns pids "$1"); do kill "$pid" 2>/dev/null || true; done
}
for ns in mon-rs1 mon-rs2 mon-sorry; do start_httpd $ns; done

cat >$DIR/keepalived.conf <<EOF
virtual_server $VIP 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    sorry_server $SORRY 80
    real_server $RS1 80 {
        weight 1
        HTTP_GET {
            url {
                path /
                status_code 200
            }
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
    real_server $RS2 80 {
        weight 2
        HTTP_GET {
            url {
                path /
            }
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
EOF

table() { # the real servers of the VIP, one line
	printf '   table: '
	in_ns mon-director lvsctl -S -n | sed -n 's/^-a -t [^ ]* -r \([^ ]*\) .* -w \([0-9]*\).*/\1 (weight \2)/p' | tr '\n' ' '
	echo
}
wait_table() { # wait_table PATTERN: up to 10 s for the table to match
	i=0
	while [ $i -lt 100 ]; do
		if in_ns mon-director lvsctl -S -n | grep -q "$1"; then return 0; fi
		sleep 0.1
		i=$((i + 1))
	done
	return 0
}
wait_gone() { # wait_gone PATTERN
	i=0
	while [ $i -lt 100 ]; do
		if ! in_ns mon-director lvsctl -S -n | grep -q "$1"; then return 0; fi
		sleep 0.1
		i=$((i + 1))
	done
	return 0
}

say "The configuration: a keepalived.conf, every second an HTTP GET of /"
run cat $DIR/keepalived.conf

say "Starting the monitor (in the background; its structured log goes to a file)"
note "The table is empty: the service is created and both real servers go in."
printf '\n$ %s\n' "lvsctl monitor -f $DIR/keepalived.conf --log $DIR/lvs.log --metrics-addr 127.0.0.1:9100 &"
in_ns mon-director lvsctl monitor -f $DIR/keepalived.conf --log $DIR/lvs.log --socket $DIR/monitor.sock \
	--metrics-addr 127.0.0.1:9100 2>$DIR/monitor.err &
wait_table "$RS2:80"
sleep 1.5
run in_ns mon-director lvsctl -L -n
run in_ns mon-director lvsctl monitor status --socket $DIR/monitor.sock

say "rs1's web server stops"
stop_httpd mon-rs1
start=$(date +%s.%N)
wait_gone "$RS1:80"
end=$(date +%s.%N)
note "$RS1 left the table $(echo "$start $end" | awk '{printf "%.1f", $2 - $1}') s later (at most delay_loop x (retry+1) + connect_timeout + 1 = 4 s)."
table
run cat $DIR/lvs.log

say "rs1's web server starts again"
start_httpd mon-rs1
wait_table "$RS1:80"
note "Back with its weight:"
table
run cat $DIR/lvs.log

say "Both real servers stop: the sorry server takes over"
stop_httpd mon-rs1
stop_httpd mon-rs2
wait_table "$SORRY:80"
table
run in_ns mon-director lvsctl monitor status --socket $DIR/monitor.sock
run cat $DIR/lvs.log

say "Both come back: the sorry server steps aside"
start_httpd mon-rs1
start_httpd mon-rs2
wait_table "$RS2:80"
wait_gone "$SORRY:80"
table
run cat $DIR/lvs.log

say "Prometheus metrics, without another exporter"
note "Check results and latencies, state changes, and the IPVS counters"
note "node_exporter's ipvs collector would give:"
printf '\n$ %s\n' "wget -q -O - http://127.0.0.1:9100/metrics | grep ..."
in_ns mon-director timeout 5 wget -q -O - http://127.0.0.1:9100/metrics |
	grep -E '^lvsctl_(monitor_state_changes_total|monitor_real_server_up|ipvs_backend_weight)' | sed 's/^/   /'

say "What the monitor did, as ipvsadm command lines (its structured log)"
sed -n 's/.*msg=ipvs op=[^ ]* rule="\([^"]*\)".*/   ipvsadm \1/p' $DIR/monitor.err

say "Taking it away again"
note "SIGTERM leaves the table as it is; --cleanup would remove what it added."
for pid in $(ip netns pids mon-director); do kill "$pid" 2>/dev/null || true; done
sleep 0.5
in_ns mon-director lvsctl -C
for ns in mon-director mon-rs1 mon-rs2 mon-sorry; do
	for pid in $(ip netns pids $ns); do kill "$pid" 2>/dev/null || true; done
	ip netns del $ns
done
ip link del br-mon
rm -rf $DIR
note "The LAN, the service and the monitor are gone; nothing else was touched."
