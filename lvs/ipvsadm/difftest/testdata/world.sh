#!/bin/sh
# The world of the differential suite, built once before any case:
# host and service names for the listings without -n, interfaces for the
# sync daemon, and the traffic network: a client namespace and two
# real-server namespaces around the VM's root namespace, which is the
# director. Each real server runs busybox httpd on ports 80 and 81, and
# rs1 holds a connection open on port 5000. The services come from the
# cases file.
set -e

# Names for the listings without -n: ipvsadm resolves through the C
# library (files, then DNS, which the VM has none of).
cat >>/etc/hosts <<'HOSTS'
192.0.2.1	vip.example vip
192.0.2.2	rs1.example rs1
192.0.2.3	rs2.example rs2
192.0.2.10	lb.example lb
203.0.113.11	web1.example web1
203.0.113.12	web2.example web2
198.51.100.2	client.example client
2001:db8::1	vip6.example vip6
2001:db8::2	rs6.example rs6
192.0.2.4	this-is-a-rather-long-host-name-for-the-listing.example
2001:db8::4	another-rather-long-host-name-for-ipv6.example
2001:db8:1::2	client6.example
2001:db8:3::11	web1-6.example
2001:db8:10::10	lb6.example
HOSTS
cat >>/etc/services <<'SERVICES'
difftest	9999/tcp	dtest
difftest	9999/udp	dtest
difftest	9999/sctp	dtest
a-very-long-service-name-indeed	9998/tcp
SERVICES

# Interfaces for the sync daemon: eth0 is ipvsadm's default multicast
# interface; a veth pair because a backup daemon joins a multicast group,
# and a dummy with multicast on for --mcast-interface.
ip link add eth0 type veth peer name eth1
ip link set eth0 up
ip link set eth1 up
ip link add d0 type dummy
ip link set d0 multicast on up

sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
sysctl -qw net.ipv4.vs.conntrack=1 2>/dev/null || true

# Virtual addresses live on lo so that IPVS sees them as local.
ip addr add 192.0.2.10/32 dev lo
ip -6 addr add 2001:db8:10::10/128 dev lo

# The client: 198.51.100.2, 2001:db8:1::2.
ip netns add cl
ip link add vcl type veth peer name c0 netns cl
ip addr add 198.51.100.1/24 dev vcl
ip -6 addr add 2001:db8:1::1/64 dev vcl nodad
ip link set vcl up
ip -n cl addr add 198.51.100.2/24 dev c0
ip -n cl -6 addr add 2001:db8:1::2/64 dev c0 nodad
ip -n cl link set c0 up
ip -n cl link set lo up
ip -n cl route add default via 198.51.100.1
ip -n cl -6 route add default via 2001:db8:1::1

# The real servers behind a bridge: 203.0.113.1x, 2001:db8:3::1x.
ip link add br0 type bridge
ip addr add 203.0.113.1/24 dev br0
ip -6 addr add 2001:db8:3::1/64 dev br0 nodad
ip link set br0 up
mkdir -p /srv/www
echo 'hello from a real server' >/srv/www/index.html
for i in 1 2; do
	ns=rs$i
	ip netns add $ns
	ip link add v$ns type veth peer name r0 netns $ns
	ip link set v$ns master br0 up
	ip -n $ns addr add 203.0.113.1$i/24 dev r0
	ip -n $ns -6 addr add 2001:db8:3::1$i/64 dev r0 nodad
	ip -n $ns link set r0 up
	ip -n $ns link set lo up
	ip -n $ns route add default via 203.0.113.1
	ip -n $ns -6 route add default via 2001:db8:3::1
	ip netns exec $ns busybox httpd -p 80 -h /srv/www </dev/null >/dev/null 2>&1
	# A persistent fwmark service forwards to the client's port (its
	# template has port 0): serve 81 too.
	ip netns exec $ns busybox httpd -p 81 -h /srv/www </dev/null >/dev/null 2>&1
done

# Packets to 192.0.2.10:81 carry firewall mark 1 for the fwmark service.
# A long-lived connection through the director to rs1:5000, so that
# listings show an active connection.
ip netns exec rs1 sh -c 'sleep 100000 | busybox nc -l -p 5000' </dev/null >/dev/null 2>&1 &

iptables -t mangle -A PREROUTING -d 192.0.2.10/32 -p tcp --dport 81 -j MARK --set-mark 1
