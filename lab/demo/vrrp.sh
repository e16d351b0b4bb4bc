#!/bin/sh
# make demo, the VRRP chapter: two directors share a VIP with `lvsctl vrrp
# run` (VRRPv3, keepalived.conf syntax); the master dies, the backup takes
# the VIP and the traffic, and the takeover is timed. Runs inside the lab
# VM. It builds its own LAN, so it can run alone (labrun -f
# bin/lvsctl:/usr/sbin/lvsctl lab/demo/vrrp.sh) or after the other
# chapters; it removes what it made.
set -eu

say()   { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note()  { if [ -n "$*" ]; then printf '   %s\n' "$*"; else echo; fi; }
run()   { printf '\n$ %s\n' "$*"; "$@"; }
in_ns() { ns=$1; shift; ip netns exec "$ns" "$@"; }

VIP=192.0.2.100
RS1=192.0.2.11
RS2=192.0.2.12
WORK=/tmp/vrrp-demo
mkdir -p $WORK

say "Two directors, one virtual IP"
note "dir1 and dir2 carry the same IPVS service for $VIP (direct routing to"
note "rs1 and rs2). VRRP decides which of them holds the VIP: the master"
note "advertises every 0.1 s; when the adverts stop, the backup waits"
note "Master_Down_Interval = 3 x 0.1 s + (256 - 100) / 256 x 0.1 s = 360.9 ms"
note "and takes over: VIP added, gratuitous ARPs so the LAN's neighbours move."
note ""
note "A LAN of its own in this VM (network namespaces on bridge br-vrrp):"
note "  vr-dir1 192.0.2.1 (priority 150), vr-dir2 192.0.2.2 (priority 100),"
note "  vr-rs1 $RS1, vr-rs2 $RS2, and the client vr-client 192.0.2.50."

ip link add br-vrrp type bridge && ip link set br-vrrp up
plug() { # plug NS ADDR
	ip netns add "$1"
	ip link add "v-$1" type veth peer name eth0 netns "$1"
	ip link set "v-$1" master br-vrrp up
	in_ns "$1" ip addr add "$2/24" dev eth0
	in_ns "$1" ip link set eth0 up
	in_ns "$1" ip link set lo up
}
plug vr-dir1 192.0.2.1
plug vr-dir2 192.0.2.2
plug vr-rs1 $RS1
plug vr-rs2 $RS2
plug vr-client 192.0.2.50
for rs in rs1 rs2; do
	mkdir -p /srv/vr-$rs
	echo "$rs" >/srv/vr-$rs/index.html
	in_ns vr-$rs lvsctl realserver up --vip $VIP >/dev/null
	in_ns vr-$rs httpd -p 80 -h /srv/vr-$rs
done
for d in dir1 dir2; do
	in_ns vr-$d lvsctl -A -t $VIP:80 -s rr -p 300
	in_ns vr-$d lvsctl -a -t $VIP:80 -r $RS1:80 -g
	in_ns vr-$d lvsctl -a -t $VIP:80 -r $RS2:80 -g
done

conf() { # conf NAME PRIORITY
	cat <<EOF
global_defs {
    router_id $1
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority $2
    advert_int 0.1
    version 3
    lvs_sync_daemon_interface eth0
    virtual_ipaddress {
        $VIP/32 dev eth0
    }
}
EOF
}
conf dir1 150 >$WORK/dir1.conf
conf dir2 100 >$WORK/dir2.conf

say "The configuration: keepalived.conf, as keepalived reads it"
note "dir2's file differs only in router_id and priority (100)."
run cat $WORK/dir1.conf

say "Both speakers start: dir1 (higher priority) becomes master"
# ip netns exec execs lvsctl: $! is the speaker itself.
ip netns exec vr-dir1 lvsctl vrrp run -f $WORK/dir1.conf --socket $WORK/dir1.sock 2>$WORK/dir1.log &
DIR1=$!
until in_ns vr-dir1 ip -4 -o addr show dev eth0 | grep -q " $VIP/32 "; do sleep 0.05; done
ip netns exec vr-dir2 lvsctl vrrp run -f $WORK/dir2.conf --socket $WORK/dir2.sock 2>$WORK/dir2.log &
sleep 1
run lvsctl vrrp status --socket $WORK/dir1.sock
run lvsctl vrrp status --socket $WORK/dir2.sock
note "lvs_sync_daemon_interface: the IPVS sync daemon runs as master on the"
note "VRRP master and as backup on the backup, so the backup learns the"
note "connections and persistence templates."
run in_ns vr-dir1 lvsctl -L --daemon
run in_ns vr-dir2 lvsctl -L --daemon

say "The client sends a request through the VIP every 50 ms"
# Each line: start and end (µs since the epoch), then the real server's
# name or "failed". bash for $EPOCHREALTIME; the requests overlap, so one
# that hangs does not hold back the next.
in_ns vr-client bash -c '
	while :; do
		(
			s=${EPOCHREALTIME/./}
			r=$(timeout 2 wget -q -O - http://'$VIP'/ 2>/dev/null) || r=failed
			echo "$s ${EPOCHREALTIME/./} $r" >>'$WORK'/client.log
		) &
		sleep 0.05
	done' &
CLIENT=$!
sleep 3
cp $WORK/client.log $WORK/snap.log
note "$(wc -l <$WORK/snap.log) requests so far, answered by: $(cut -d' ' -f3 $WORK/snap.log | sort | uniq -c | tr -s ' ' | tr '\n' ' ')"
note "The client's persistence template on dir2, copied there by the sync daemon"
note "(the entry from source port 0):"
printf '\n$ %s\n' "in_ns vr-dir2 lvsctl -L -n -c | grep -E 'expire|:0 '"
in_ns vr-dir2 lvsctl -L -n -c | grep -E 'expire|:0 '

say "dir1 dies: its speaker is killed (SIGKILL) and its link goes down"
in_ns vr-dir2 ip -ts monitor address >$WORK/dir2-addr.log &
MON=$!
sleep 0.2
# The times of the kill and of the link going down, from the process that
# does both.
set -- $(bash -c 'echo ${EPOCHREALTIME/./}; kill -9 $1; ip -n vr-dir1 link set eth0 down; echo ${EPOCHREALTIME/./}' _ $DIR1)
KILLED=$1 DOWN=$2
until in_ns vr-dir2 ip -4 -o addr show dev eth0 | grep -q " $VIP/32 "; do sleep 0.01; done
sleep 2
kill $CLIENT $MON 2>/dev/null || true
wait $DIR1 $CLIENT $MON 2>/dev/null || true

# ip -ts prints the local (UTC) time of day: [YYYY-MM-DDTHH:MM:SS.ffffff].
bash -s "$KILLED" "$DOWN" "$VIP" $WORK <<'EOF'
killed=$1 down=$2 vip=$3 work=$4
line=$(grep -m1 " $vip/" $work/dir2-addr.log)
tod=${line#*T}; tod=${tod%%]*}
IFS=':.' read -r h m s us <<<"$tod"
vip_at=$(( (10#$h * 3600 + 10#$m * 60 + 10#$s) * 1000000 + 10#$us ))
kill_at=$(( killed % 86400000000 ))
ms() { printf '%d.%d ms' $(( $1 / 1000 )) $(( $1 % 1000 / 100 )); }
echo "   takeover: the VIP on dir2 $(ms $(( vip_at - kill_at ))) after the kill"
# Requests that started before dir1's link went down may have gone through
# its kernel, which still forwards without the speaker.
failed=0 late=0 first=
while read -r start end server; do
	if [ "$server" = failed ]; then
		[ "$end" -lt "$killed" ] || failed=$((failed + 1))
		continue
	fi
	[ "$end" -lt "$killed" ] || [ $((end - start)) -lt 500000 ] || late=$((late + 1))
	if [ "$start" -ge "$down" ] && [ -z "$first" ]; then
		first=$end firstsrv=$server
	fi
done <$work/client.log
echo "   traffic:  the first answer through dir2 $(ms $(( first - killed ))) after the kill, from $firstsrv"
echo "             $failed request(s) failed meanwhile (2 s timeout each), $late answered"
echo "             after more than 0.5 s (their SYN went to dir1 and was sent again)"
echo "             after the kill, answered by: $(awk -v k=$killed '$1 >= k {print $3}' $work/client.log | sort | uniq -c | tr -s ' ' | tr '\n' ' ')"
EOF
note ""
note "Master_Down_Interval (360.9 ms) runs from dir1's last advert, which left"
note "up to 0.1 s before the kill: the takeover lands 261 to 361 ms after it,"
note "plus the emulated CPU's delays. The client stays on its real server"
note "because dir2 holds the template the sync daemon copied."
run lvsctl vrrp status --socket $WORK/dir2.sock
run in_ns vr-dir2 lvsctl -L --daemon

say "Taking it away again"
for ns in vr-dir1 vr-dir2 vr-rs1 vr-rs2 vr-client; do
	for pid in $(ip netns pids $ns); do kill "$pid" 2>/dev/null || true; done
	ip netns del $ns
done
ip link del br-vrrp
rm -rf $WORK
note "Speakers, namespaces and the bridge are gone."
