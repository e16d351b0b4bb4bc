// Package vrrp is lvsctl's VRRP speaker: the VRRPv2 (RFC 3768) and VRRPv3
// (RFC 5798, with RFC 9568's clarifications) packet codec, a pure state
// machine per virtual router instance (events in, actions out, time from an
// injected clock), keepalived's track-script fall/rise logic, and the
// runner (Speaker) that connects the machines to the network.
//
// Where the RFCs leave room or keepalived departs from them, this package
// follows keepalived 2.2 so that it can replace one keepalived node of a
// pair; each such place says so in a comment.
//
// The codec, the machine and the tracker touch nothing. The Speaker owns
// every machine on one goroutine; receivers, timers, track scripts and link
// updates hand it work, and it carries out the actions through the
// interfaces of transport.go and Env: Transport (Socket, transport_linux.go:
// a raw IP protocol 112 socket bound to the interface, joined to
// 224.0.0.18 / ff02::12 or talking to unicast peers, TTL / hop limit 255,
// source set per packet with IP_PKTINFO / IPV6_PKTINFO), Network (VIPs and
// gratuitous ARP / unsolicited NA, implemented by internal/netif), scripts
// run without a shell (Executor, system_linux.go), and the IPVS sync daemon
// switch. FromConfig turns a parsed keepalived.conf into a SpeakerConfig.
//
// Takeover is timed as keepalived's is, within a fraction of a
// millisecond of Master_Down_Interval: with the real clock the machines'
// timers are PreciseClock's (the runtime's own are up to 1 ms late), a
// Master_Down_Timer runs from the advert's kernel arrival time
// (SCM_TIMESTAMPNS), the IPVS sync daemon is switched off the loop, and
// internal/netif keeps what the first gratuitous ARP needs (link index,
// MAC, an open AF_PACKET socket). TestMeasure (build tag integration,
// LVSCTL_MEASURE=1) and lab/bench/vrrp measure it next to keepalived.
//
// Speaker.Reload (SIGHUP on `lvsctl vrrp run -f`) replaces the
// configuration as keepalived 2.2 does, keeping the state of what did not
// change, with instances matched by name. An unchanged instance is not
// touched (no advert out of turn, no VIP change, its timers running on).
// Priority, nopreempt, preempt_delay, advert_int, state, the gratuitous
// ARP settings, the sync daemon switch, the VIP lists (same family), the
// notify scripts and the tracked scripts with their weights change in
// place (Instance.Reconfigure; a master swaps the VIPs that changed,
// advertises its new effective priority and stays master), so that
// editing a maintenance script's weight and reloading moves no VIP. Any
// other change restarts that instance alone: priority 0 advert if master,
// VIPs removed, notify stop, then a start as at startup. Removed instances stop so; new ones start.
// vrrp_scripts with the same settings keep their schedule and fall/rise
// state. Everything that can fail is done before anything changes, so a
// refused reload leaves the speaker as it was.
package vrrp
