package check_test

import (
	"fmt"
	"net/netip"

	"github.com/lvsctl/lvsctl/check"
	"github.com/lvsctl/lvsctl/lvs"
)

// Decide turns health into a desired table: here one real server is down,
// quorum is lost, and the sorry server takes over.
func ExampleDecide() {
	rs := func(a string, w int32) lvs.Destination {
		return lvs.Destination{Family: lvs.IPv4, Address: netip.MustParseAddr(a), Port: 80, Forward: lvs.DirectRoute, Weight: w}
	}
	vs := check.VirtualService{
		Service:     lvs.Service{Family: lvs.IPv4, Protocol: lvs.TCP, Address: netip.MustParseAddr("192.0.2.1"), Port: 80, Scheduler: "wrr"},
		RealServers: []check.RealServer{{Destination: rs("192.0.2.11", 1)}, {Destination: rs("192.0.2.12", 2), InhibitOnFailure: true}},
		Sorry:       &check.SorryServer{Destination: rs("198.51.100.1", 1)},
		Quorum:      2,
	}
	up := map[check.DestKey]check.Health{
		check.KeyOf(rs("192.0.2.11", 0)): {Up: true},
		check.KeyOf(rs("192.0.2.12", 0)): {Up: true},
	}
	d := check.Decide(vs, up, check.ServiceState{})
	for _, dst := range d.Desired.Destinations {
		fmt.Println(dst, dst.Weight)
	}
	up[check.KeyOf(rs("192.0.2.12", 0))] = check.Health{Up: false}
	d = check.Decide(vs, up, d.State)
	fmt.Println("--")
	for _, dst := range d.Desired.Destinations {
		fmt.Println(dst, dst.Weight)
	}
	for _, e := range d.Events {
		if e.Dest.Address.IsValid() {
			fmt.Println(e.Kind, e.Dest)
		} else {
			fmt.Println(e.Kind, e.WeightSum, "<", e.Threshold)
		}
	}
	// Output:
	// 192.0.2.11:80 1
	// 192.0.2.12:80 2
	// --
	// 192.0.2.12:80 0
	// 198.51.100.1:80 1
	// real server down 192.0.2.12:80
	// quorum down 1 < 2
	// sorry server in 198.51.100.1:80
}
