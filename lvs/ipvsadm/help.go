package ipvsadm

import "strings"

// helpText is lvsctl's own help for the ipvsadm grammar.
func helpText(prog string) string {
	return strings.ReplaceAll(`lvsctl speaks ipvsadm 1.31: the same commands, options, output and errors.
It manages the Linux Virtual Server table of the kernel (IPVS).

Usage:
  PROG -A|-E SERVICE [-s SCHEDULER] [-p [TIMEOUT]] [-M NETMASK] [--pe ENGINE] [-b FLAGS] [-o]
  PROG -D SERVICE
  PROG -C
  PROG -R                 (commands from stdin, one per line, as -S prints them)
  PROG -S [-n]
  PROG -a|-e SERVICE -r SERVER [-g|-i|-m] [-w WEIGHT] [-x UPPER] [-y LOWER] [TUNNEL]
  PROG -d SERVICE -r SERVER
  PROG -L|-l [SERVICE] [-n] [--stats|--rate|--thresholds|--persistent-conn|--tun-info] [--exact] [--nosort]
  PROG -L|-l -c [-n] [--persistent-conn]
  PROG -L|-l --timeout | --daemon
  PROG -Z [SERVICE]
  PROG --set TCP TCPFIN UDP
  PROG --start-daemon master|backup [--mcast-interface IF] [--syncid ID] [--sync-maxlen LEN]
                                    [--mcast-group ADDR] [--mcast-port PORT] [--mcast-ttl TTL]
  PROG --stop-daemon master|backup [--syncid ID]
  PROG -h | -v

Commands (long forms in brackets):
  -A (--add-service)     add a virtual service      -E (--edit-service)   change one
  -D (--delete-service)  delete a virtual service   -C (--clear)          delete them all
  -a (--add-server)      add a real server          -e (--edit-server)    change one
  -d (--delete-server)   delete a real server       -L, -l (--list)       list the table
  -Z (--zero)            zero the counters          -S (--save)           print as commands
  -R (--restore)         run commands from stdin    --set                 connection timeouts
  --start-daemon, --stop-daemon                     connection synchronisation daemon

SERVICE is -t|--tcp-service HOST[:PORT], -u|--udp-service HOST[:PORT],
  --sctp-service HOST[:PORT], or -f|--fwmark-service MARK [-6|--ipv6];
  an IPv6 address with a port is written [ADDR]:PORT.
SERVER is HOST[:PORT].

Options:
  -s, --scheduler NAME      rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh (default wlc)
  -p, --persistent [SECS]   persistent service (default 360 s)
  -M, --netmask MASK        persistence granularity
  --pe ENGINE               persistence engine (sip)
  -b, --sched-flags FLAGS   flag-1,flag-2,flag-3, sh-fallback,sh-port, mh-fallback,mh-port
  -o, --ops                 one-packet scheduling (UDP)
  -g, --gatewaying          direct routing (default)
  -i, --ipip                tunnelling; --tun-type ipip|gue|gre, --tun-port PORT,
                            --tun-nocsum, --tun-csum, --tun-remcsum
  -m, --masquerading        NAT
  -w, --weight N            0 to 2147483647 (default 1)
  -x, --u-threshold N       upper connection threshold
  -y, --l-threshold N       lower connection threshold
  -c, --connection          list connections
  -n, --numeric             addresses and ports as numbers
  --timeout, --daemon, --stats, --rate, --thresholds, --persistent-conn, --tun-info,
  --exact, --nosort, --sort select what -L shows and how
  --json                    -L, -L -c, -L --timeout, -L --daemon as JSON (lvsctl's own)
`, "PROG", prog)
}
