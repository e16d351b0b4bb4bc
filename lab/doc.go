// Package lab runs shell scripts and Go test binaries on a real Linux
// kernel with IPVS, for tests and the demo, on machines whose own kernel
// has none.
//
// It boots Debian's own kernel package under qemu (TCG: -accel tcg -cpu
// max; KVM hangs on the machines this was built on) with a busybox
// initramfs, runs a script with dash, and returns its stdout, stderr and
// exit status. A boot with a trivial script takes under 3 s.
//
// # Using it
//
//	res, err := lab.Run(ctx, lab.Options{Script: "ipvsadm -Ln"})
//	// res.Stdout, res.Stderr, res.ExitCode, res.Console (kernel messages)
//
// Tests of other packages run their real-kernel cases in one VM:
//
//	func TestLab(t *testing.T) { lab.RunTests(t, "^TestVM") }
//
//	func TestVMAddService(t *testing.T) {
//		lab.RequireVM(t) // skips on the host
//		...
//	}
//
// RunTests builds the calling package's test binary (CGO_ENABLED=0, the
// same build tags), boots, runs the matching tests with -test.v from a
// copy of the package's testdata, streams their output through t.Log and
// fails the host test once for each guest test that failed. Several
// scenarios share the boot; each must reset what it changed (ipvsadm -C,
// its own network namespaces). Require skips a host test when the lab
// cannot run (under -short, not root, no qemu), except with CI=true, where
// it fails instead.
//
// From the command line (the Makefile's demo and lab-prepare use it):
//
//	go run ./lab/cmd/labrun [-f host:/guest/path]... [-e NAME=value]... script.sh
//	go run ./lab/cmd/labrun -c 'ipvsadm -Ln'
//	go run ./lab/cmd/labrun -prepare
//
// # Preparing
//
// Prepare (called by Run when needed) installs missing apt packages when
// root (qemu-system-x86, busybox-static, ipvsadm, iptables, iproute2, kmod,
// lz4, dash, bash, xz-utils), resolves the kernel with `apt-cache depends
// linux-image-amd64`, fetches it with `apt-get download`, extracts it with
// `dpkg-deb -x`, runs `depmod -b` (the package ships no modules.dep),
// unpacks the uncompressed vmlinux from the bzImage (qemu boots it through
// its PVH entry, skipping the in-guest decompression), copies the listed
// modules with their dependencies and builds the base initramfs. Everything
// lives in the cache directory (DefaultCacheDir: .lab-cache at the module
// root, ignored by git; LVSCTL_LAB_CACHE overrides it). A cached prepare
// takes milliseconds; the base image is rebuilt when the kernel, the module
// list, the program list, a host program or library, or init.sh changes.
//
// # The guest
//
// The image holds busybox (httpd, wget, nc, ...), the real ipvsadm,
// ipvsadm-save and ipvsadm-restore, iproute2 (ip, tc, bridge, ss),
// iptables and ip6tables over nf_tables (xtables-nft-multi with its
// extensions), bash and dash. Real programs come first in PATH and
// /bin/sh is dash: busybox's shell would run its own `ip` applet, which
// breaks `ip netns`. Modules: ip_vs and every scheduler, ip_vs_ftp,
// ip_vs_pe_sip, conntrack and NAT, iptables/nftables matches and tables
// (mark, multiport, comment, conntrack, mangle, nat, filter; IPv4 and
// IPv6), veth, bridge, dummy, sch_netem, and the ipip, sit, ip6_tunnel,
// fou, gre tunnels. init.sh mounts /proc, /sys, /dev, /dev/pts, /tmp and
// /run (tmpfs), makes /run/netns, brings lo up and loads Options.Modules
// (by default crc32c_generic, then ip_vs: busybox modprobe ignores
// libcrc32c's softdep on crc32c, so loading ip_vs alone fails unless the
// kernel's own on-demand loading fetched crc32c first). The kernel loads other modules on
// demand through /sbin/modprobe (busybox), ip_vs included on the first
// IPVS netlink request; a test that needs IPVS absent must stop that, e.g.
// with Modules: []string{} and `echo /bin/false >/proc/sys/kernel/modprobe`.
// There is no network but lo (-nic none).
//
// Per-run inputs (the script, Files, FileData, Env, the module list) go in
// a small cpio archive the kernel unpacks before the cached base image, so
// nothing is rebuilt per run. Files cannot replace base-image paths; put
// extra programs in /usr/local/bin. The script's stdout and stderr are
// pipes copied to two virtio-serial ports (an emulated UART moves only
// about 400 KB/s under TCG; virtio about 6 MB/s); the serial port ttyS1
// carries the exit status; ttyS0 is the console, returned as
// Result.Console. A guest that
// hangs is killed at the context's deadline or Options.Timeout (ErrTimeout).
//
// # Traps
//
//   - IPVS refreshes its stats and rate estimates every 2 s: a test reading
//     rates or counters after sending traffic must wait that long.
//   - busybox wget -T segfaults; bound wget with `timeout 5 wget ...`.
//   - Processes the script leaves running are killed when it exits, so a
//     server started in the background needs no cleanup.
//   - The kernel's lz4 decoder cannot find the end of a legacy lz4 stream,
//     which is why the per-run archive goes before the base image.
//   - Under TCG everything is 5 to 20 times slower than on the host; set
//     CPUs for parallel work (it does not speed the boot).
//
// To add a program to the image, add a line to imageBinaries (image.go);
// its libraries are found from its ELF headers. To add a module, add a
// line to imageModules (modules.go); its dependencies come from
// modules.dep.
package lab
