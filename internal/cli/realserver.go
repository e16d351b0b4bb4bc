package cli

import (
	"fmt"
	"io"
	"net/netip"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/lvsctl/lvsctl/internal/netif"
)

// realserverEnv is what the realserver commands act on; tests replace it.
type realserverEnv struct {
	realServer func(statePath string) *netif.RealServer
}

func realserverCommand(Stdio) *ucli.Command {
	return newRealserverCommand(realserverEnv{
		realServer: func(statePath string) *netif.RealServer {
			return &netif.RealServer{Links: netif.System{}, StatePath: statePath}
		},
	})
}

const realserverDescription = `Run on each real server behind a direct-routing (-g) or tunnelling (-i)
director. The real server must accept packets for the virtual IP without
ever answering ARP for it, or the LAN's routers and clients send traffic
for the VIP straight to a real server instead of to the director.

"up" puts each VIP on lo as a /32 (IPv6: /128), or for --mode tun on tunl0
(ip6tnl0), brings that device up, and sets net.ipv4.conf.{all,DEV}.arp_ignore=1
(answer ARP only for addresses of the interface asked) and arp_announce=2
(never use the VIP as the source of ARP requests); for tun it also sets
rp_filter=0 on all and tunl0, since decapsulated packets come from the
client's address through an interface that does not route to it. The values
found before are recorded in the state file the first time, so that "down"
restores exactly them; running "up" again changes nothing. IPv6 VIPs need
no ARP settings.`

func newRealserverCommand(env realserverEnv) *ucli.Command {
	stateFlag := &ucli.StringFlag{Name: "state", Usage: "state `FILE` recording what up changed (default: /run/lvsctl/realserver-netINODE.json, one per network namespace)"}
	vips := func(c *ucli.Context) ([]netip.Addr, error) {
		var out []netip.Addr
		for _, v := range c.StringSlice("vip") {
			a, err := netip.ParseAddr(v)
			if err != nil {
				return nil, usageError{fmt.Errorf("--vip %q: not an IP address", v)}
			}
			out = append(out, a.Unmap())
		}
		return out, nil
	}
	return &ucli.Command{
		Name:        "realserver",
		Usage:       "prepare this host as a real server for a DR or TUN director",
		UsageText:   "lvsctl realserver up|down|status [options]",
		Description: realserverDescription,
		Subcommands: []*ucli.Command{
			{
				Name:  "up",
				Usage: "put the VIPs on lo (or tunl0) and silence ARP for them",
				UsageText: "lvsctl realserver up --vip ADDR [--vip ADDR...] [--mode dr|tun] [--state FILE]\n\n" +
					"Example:\n   lvsctl realserver up --vip 192.0.2.100",
				Description: "See \"lvsctl realserver --help\" for what is changed and why.",
				Flags: []ucli.Flag{
					&ucli.StringSliceFlag{Name: "vip", Usage: "virtual IP `ADDR` (repeatable)", Required: true},
					&ucli.StringFlag{Name: "mode", Value: "dr", Usage: "forwarding `MODE` of the director: dr or tun"},
					stateFlag,
				},
				Action: func(c *ucli.Context) error {
					addrs, err := vips(c)
					if err != nil {
						return err
					}
					mode, err := netif.ParseMode(c.String("mode"))
					if err != nil {
						return usageError{err}
					}
					return env.realServer(c.String("state")).Up(c.Context, addrs, mode)
				},
			},
			{
				Name:  "down",
				Usage: "remove the VIPs and restore the sysctls up changed",
				UsageText: "lvsctl realserver down [--vip ADDR...] [--state FILE]\n\n" +
					"Example:\n   lvsctl realserver down",
				Description: "Without --vip, removes every VIP up added. The sysctls get their recorded values\n" +
					"back once no VIP is left. A VIP that was on the device before up stays. Running\n" +
					"down with nothing set up does nothing.",
				Flags: []ucli.Flag{
					&ucli.StringSliceFlag{Name: "vip", Usage: "virtual IP `ADDR` to remove (repeatable; default: all)"},
					stateFlag,
				},
				Action: func(c *ucli.Context) error {
					addrs, err := vips(c)
					if err != nil {
						return err
					}
					return env.realServer(c.String("state")).Down(c.Context, addrs)
				},
			},
			{
				Name:  "status",
				Usage: "show the VIPs and sysctls up put in place",
				UsageText: "lvsctl realserver status [--state FILE]\n\n" +
					"Example:\n   lvsctl realserver status",
				Description: "Lists each VIP with its device, mode and whether it is on the device now, then\n" +
					"each sysctl with its current value and the value it had before up.",
				Flags: []ucli.Flag{stateFlag},
				Action: func(c *ucli.Context) error {
					st, err := env.realServer(c.String("state")).Status(c.Context)
					if err != nil {
						return err
					}
					return writeRealserverStatus(c.App.Writer, st)
				},
			},
		},
	}
}

func writeRealserverStatus(w io.Writer, st netif.Status) error {
	if len(st.VIPs) == 0 && len(st.Sysctls) == 0 {
		_, err := fmt.Fprintln(w, "nothing set up by lvsctl realserver")
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-40s %-8s %-5s %s\n", "VIP", "DEVICE", "MODE", "PRESENT")
	for _, v := range st.VIPs {
		present := "yes"
		if !v.Present {
			present = "NO"
		}
		if !v.Added {
			present += " (was there before up)"
		}
		fmt.Fprintf(&b, "%-40s %-8s %-5s %s\n", v.Addr, v.Link, v.Mode, present)
	}
	if len(st.Sysctls) > 0 {
		fmt.Fprintf(&b, "\n%-40s %-8s %s\n", "SYSCTL", "NOW", "BEFORE")
		for _, s := range st.Sysctls {
			fmt.Fprintf(&b, "%-40s %-8s %s\n", s.Name, s.Now, s.Before)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
