// Package reconcile turns a desired IPVS table and the kernel's current one
// into the shortest ordered list of operations that makes the kernel match:
// add, edit or delete services, add, edit or delete destinations.
//
// The kernel is listed once (Read: one service dump, one destination dump
// per service) and the difference is computed in memory by Plan, which is
// pure: the same inputs always give the same operations in the same order.
// Attributes the kernel can change in place are edited rather than deleted
// and re-added, so connections and counters survive: IPVS_CMD_SET_SERVICE
// changes a service's scheduler, flags, persistence timeout, netmask and
// persistence engine; IPVS_CMD_SET_DEST changes a destination's forwarding
// method (the IP_VS_CONN_F_FWD_MASK bits of its connection flags), weight,
// thresholds and tunnel type, port and flags. Only the identities cannot
// change: a service's (family, protocol, address, port) or (family,
// firewall mark), a destination's (family, address, port).
//
// The package touches the kernel only through the Lister interface, so the
// kernel client (lvs/ipvs) and its fake (lvs/ipvs/ipvstest) both serve.
package reconcile
