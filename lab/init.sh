#!/bin/sh
# PID 1 of the lab VM, run by dash. It readies the system, loads the modules
# the run asked for, runs /lab/script with its stdout and stderr on two
# virtio-serial ports, reports the exit status on ttyS1 and powers off.
# ttyS0 is the console.
#
# Control lines on ttyS1 (read by run.go):
#   lab-ready             the system is set up, the script starts
#   lab-error <text>      setup failed; the script did not run
#   lab-exit <status>     the script's exit status
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
umask 022

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/net
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=755 tmpfs /run
# ip netns add bind-mounts namespaces here.
mkdir -p /run/netns /run/lab
[ -d /sys/kernel/debug ] && mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
hostname lab
ip link set lo up

# The control line: raw, so no CR is added before LF and nothing echoes.
ctl=/dev/ttyS1
stty -F "$ctl" raw -echo 2>/dev/null

fail() {
	echo "lab-error $*" >"$ctl"
	poweroff -f
	exit 1
}

# The script's stdout and stderr go out through virtio-serial ports 1 and
# 2: an emulated 16550 UART moves about 400 KB/s under TCG, virtio 15 times
# that. devtmpfs makes the nodes once the driver has talked to qemu.
out=$(modprobe virtio_pci 2>&1 && modprobe virtio_console 2>&1) || fail "modprobe virtio: $out"
n=0
while [ ! -c /dev/vport0p1 ] || [ ! -c /dev/vport0p2 ]; do
	n=$((n + 1))
	[ "$n" -le 500 ] || fail "no virtio-serial ports /dev/vport0p1 and /dev/vport0p2"
	sleep 0.01
done

[ -f /lab/env ] && . /lab/env
if [ -f /lab/modules ]; then
	while read -r mod args; do
		[ -n "$mod" ] || continue
		# shellcheck disable=SC2086
		out=$(modprobe "$mod" $args 2>&1) || fail "modprobe $mod: $out"
	done </lab/modules
fi
[ -f /lab/script ] || fail "no /lab/script"

# The script's stdout and stderr are pipes, as under most test runners, and
# cat copies them to the serial ports.
mkfifo /run/lab/out /run/lab/err
cat /run/lab/out >/dev/vport0p1 &
outpid=$!
cat /run/lab/err >/dev/vport0p2 &
errpid=$!
echo lab-ready >"$ctl"
cd /root || fail "no /root"
dash /lab/script </dev/null >/run/lab/out 2>/run/lab/err
status=$?
cd /
# Background programs the script left (servers in namespaces, say) would
# hold the pipes open: stop everything but the copiers, then let these drain.
for p in /proc/[0-9]*; do
	pid=${p#/proc/}
	case $pid in
	1 | "$outpid" | "$errpid") ;;
	*) kill -9 "$pid" 2>/dev/null ;;
	esac
done
wait "$outpid" "$errpid"
echo "lab-exit $status" >"$ctl"
poweroff -f
