// Package netif changes the network interfaces and interface sysctls of
// the host it runs on: virtual IPs on lo or a tunnel device, and the ARP
// and reverse-path-filter settings a real server behind a direct-routing
// or tunnelling director needs.
//
// What of the kernel it touches: rtnetlink through vishvananda/netlink
// (RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR, RTM_NEWLINK for tunl0 and
// ip6tnl0), and files below /proc/sys/net/ipv4/conf. Everything applies
// to the network namespace of the calling thread.
//
// RealServer keeps a state file with the sysctl values it found before
// changing them and the addresses it added, so that Down puts back exactly
// what Up changed, and running Up twice changes nothing the second time.
package netif
