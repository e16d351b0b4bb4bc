// Package lvs holds the Linux Virtual Server domain: virtual services,
// their destinations (real servers), statistics, connection timeouts, the
// connection-synchronisation daemon and the typed operations the rest of
// lvsctl performs on them.
//
// The package touches nothing of the kernel. The generic-netlink client in
// lvs/ipvs translates these types to and from the kernel's IPVS attributes;
// lvs/ipvsadm turns the ipvsadm grammar into Ops and formats the types the
// way ipvsadm prints them.
package lvs
