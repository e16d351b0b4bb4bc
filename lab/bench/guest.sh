#!/bin/bash
# Runs inside the lab VM for `make bench`. Prints one line per measurement:
#   RESULT <name> <run> <seconds>
# Every restore goes into a fresh network namespace: IPVS tables are per
# namespace, and after a clear the kernel keeps removed destinations in a
# trash list for minutes, which slows any re-add (measured separately).
set -eu
RULES=/lab/rules
RUNS=${RUNS:-5}

now() { echo "$EPOCHREALTIME"; }
measure() { # measure NAME RUN COMMAND...: time COMMAND, print a RESULT line
	local name=$1 run=$2; shift 2
	local t0 t1
	t0=$(now)
	"$@"
	t1=$(now)
	echo "RESULT $name $run $(echo "$t1 $t0" | awk '{printf "%.6f", $1-$2}')"
}
restore_into() { # restore_into NS TOOL
	ip netns exec "$1" "$2" -R <"$RULES"
}
list_into() { # list_into NS TOOL ARGS...
	local ns=$1 tool=$2; shift 2
	ip netns exec "$ns" "$tool" "$@" >/dev/null
}
fresh() { # a new namespace; lo up, else the kernel has no local routing
	# table there and rejects every NAT destination as "not unicast"
	ip netns add "$1"
	ip netns exec "$1" ip link set lo up
}
retire() { # drop a namespace and let the kernel finish tearing it down
	ip netns del "$1"
	sleep 2
}

lines=$(wc -l <"$RULES")
echo "INFO rules $lines"

for run in $(seq 1 "$RUNS"); do
	for tool in ipvsadm lvsctl; do
		ns="bench-$tool-$run"
		fresh "$ns"
		measure "restore-$tool" "$run" restore_into "$ns" "$tool"
		count=$(ip netns exec "$ns" ipvsadm -S -n | wc -l)
		[ "$count" -eq "$lines" ] || { echo "ERROR $tool restored $count lines of $lines" >&2; exit 1; }
		if [ "$run" -eq 1 ]; then
			# The full table is in place: time the listings on it.
			for r in $(seq 1 "$RUNS"); do
				for t in ipvsadm lvsctl; do
					measure "list-$t" "$r" list_into "$ns" "$t" -L -n
					measure "save-$t" "$r" list_into "$ns" "$t" -S -n
				done
			done
		fi
		retire "$ns"
	done
done

# The trash-list figure: restore right after -C in the same namespace.
for tool in ipvsadm lvsctl; do
	ns="bench-trash-$tool"
	fresh "$ns"
	restore_into "$ns" "$tool"
	ip netns exec "$ns" "$tool" -C
	measure "restore-after-clear-$tool" 1 restore_into "$ns" "$tool"
	retire "$ns"
done
