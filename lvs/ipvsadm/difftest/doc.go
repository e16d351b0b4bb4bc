// Package difftest is the differential test suite of lvsctl's ipvsadm
// drop-in. It has no code of its own outside its tests.
//
// TestDifferential boots one lab VM (package lab) with Debian's ipvsadm
// 1.31 and a freshly built lvsctl, and runs every case of
// testdata/cases.txt twice on identical kernel state: once through the real
// ipvsadm, ipvsadm-save or ipvsadm-restore, once through lvsctl invoked as
// that program (a link of that name). Stdout, stderr and the exit status
// of each command must match byte for byte, and so must the table the
// command leaves behind (ipvsadm -S -n, -L -n --stats --exact, --timeout
// and --daemon, listed by the real ipvsadm). The expected output is
// whatever the real ipvsadm prints in the same VM, never a recorded file.
//
// testdata/world.sh builds the network the traffic cases need: a client
// and two real servers in network namespaces around the VM's root
// namespace, which is the director.
//
// The format of testdata/cases.txt is described at its top.
package difftest
