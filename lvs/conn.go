package lvs

import (
	"net/netip"
	"time"
)

// Connection is one entry of the kernel's IPVS connection table, as
// /proc/net/ip_vs_conn shows it. Persistence templates are connections too:
// their client port is 0 (or the whole entry is a template of a
// firewall-mark or port-0 service) and their state is NONE.
type Connection struct {
	Protocol string         // "TCP", "UDP", "SCTP", or "IP" for templates of fwmark services
	Client   netip.AddrPort // FromIP:FPrt
	Virtual  netip.AddrPort // ToIP:TPrt
	Real     netip.AddrPort // DestIP:DPrt
	State    string         // "ESTABLISHED", "TIME_WAIT", "NONE", ...
	Expires  time.Duration  // time left
	PEName   string         // persistence engine, when the entry has one
	PEData   string
}
