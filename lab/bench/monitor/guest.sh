#!/bin/sh
# Runs inside the lab VM for the monitor figure of `make bench`. One farm
# of $SERVERS real servers, one keepalived.conf, checked in turn by
# lvsctl monitor, by keepalived's checker (--check: no VRRP) and, for
# scale, by a bash loop over $LOOP servers; each for a $WINDOW window
# once its table is full, the two checkers $ROUNDS times. monbench
# measure prints the RESULT and PROC lines the host reads.
set -eu
B=/usr/local/bin/monbench
# keepalived skips an executable configuration file, and per-run lab
# files are 0755.
CONF=/tmp/keepalived.conf
cp /lab/keepalived.conf $CONF
chmod 644 $CONF

$B setup "$SERVERS" | sh
ip netns exec bfarm $B farm >/tmp/farm.log 2>&1 &
i=0
until [ -S /tmp/checkbench-farm.sock ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "ERROR the farm did not start" >&2; cat /tmp/farm.log >&2; exit 1; }
	sleep 0.1
done
echo "INFO $(ip -n bfarm -6 addr show dev lo | grep -c 'inet6 2001:db8:2::') farm addresses"

measure() { # measure NAME ARGS... -- COMMAND...
	name=$1
	shift
	if ! ip netns exec bdir $B measure -name "$name" -window "$WINDOW" -log "/tmp/$name.log" "$@" >"/tmp/$name.result"; then
		echo "ERROR $name: measurement failed; its log ends:" >&2
		tail -n 30 "/tmp/$name.log" >&2
		exit 1
	fi
	cat "/tmp/$name.result"
}

# lvsctl monitor leaves the table as it is on SIGTERM (a restart changes
# nothing); keepalived removes its virtual servers when it stops. Each
# run starts from an empty table.
run_lvsctl() {
	ip netns exec bdir ipvsadm -C
	# $LVSCTL_ENV (NAME=value words, e.g. GOMAXPROCS=1) is for experiments.
	# shellcheck disable=SC2086
	measure lvsctl -servers "$SERVERS" -- \
		env $LVSCTL_ENV lvsctl monitor -f "$CONF" --socket /run/lvsctl-monitor.sock
}
# lvsctl again, at the pace keepalived kept in the run before: its
# delay_loop is the mean time keepalived took between two checks of one
# server, so that the two CPU times over a window pay for as many checks.
run_lvsctl_paced() {
	every=$(awk -v n="$SERVERS" '$3 == "wall" { w = $4 } $3 == "requests" { r = $4 } END { if (r > 0) printf "%.3f", n * w / r }' /tmp/keepalived.result)
	[ -n "$every" ] || { echo "ERROR no keepalived rate to pace lvsctl by" >&2; exit 1; }
	echo "INFO lvsctl at keepalived's pace: delay_loop $every"
	$B conf "$SERVERS" "$every" >/tmp/paced.conf
	chmod 644 /tmp/paced.conf
	ip netns exec bdir ipvsadm -C
	# shellcheck disable=SC2086
	measure lvsctl-paced -servers "$SERVERS" -- \
		env $LVSCTL_ENV lvsctl monitor -f /tmp/paced.conf --socket /run/lvsctl-monitor.sock
}
run_keepalived() { # the checker process only (--check), its own pid files
	ip netns exec bdir ipvsadm -C
	mkdir -p /run/keepalived-bench
	measure keepalived -servers "$SERVERS" -- \
		keepalived --check --dont-fork --log-console --log-detail -f "$CONF" \
		-p /run/keepalived-bench/keepalived.pid -c /run/keepalived-bench/checkers.pid \
		-r /run/keepalived-bench/vrrp.pid
	echo "INFO keepalived log: $(grep -c 'Activating healthchecker' /tmp/keepalived.log || true) checkers activated, $(grep -ci 'fail\|error\|timeout' /tmp/keepalived.log || true) failure lines"
}
# Rounds alternate the order, so that neither checker always runs on a
# freshly booted, or a longer-running, machine.
r=1
while [ $r -le "$ROUNDS" ]; do
	echo "INFO round $r"
	if [ $((r % 2)) -eq 1 ]; then
		run_lvsctl
		run_keepalived
	else
		run_keepalived
		run_lvsctl
	fi
	run_lvsctl_paced
	r=$((r + 1))
done
ip netns exec bdir ipvsadm -C

$B loop "$LOOP" >/tmp/loop.sh
measure bash-loop -servers 0 -settle 2s -- bash /tmp/loop.sh
