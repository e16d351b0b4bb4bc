package ipvs

// Generic-netlink family of IPVS, from include/uapi/linux/ip_vs.h.
const (
	familyName    = "IPVS" // IPVS_GENL_NAME
	familyVersion = 1      // IPVS_GENL_VERSION
)

// First-level attributes of every IPVS command (IPVS_CMD_ATTR_*).
const (
	cmdAttrService       = 1 // IPVS_CMD_ATTR_SERVICE: nested IPVS_SVC_ATTR_*
	cmdAttrDest          = 2 // IPVS_CMD_ATTR_DEST: nested IPVS_DEST_ATTR_*
	cmdAttrDaemon        = 3 // IPVS_CMD_ATTR_DAEMON: nested IPVS_DAEMON_ATTR_*
	cmdAttrTimeoutTCP    = 4 // IPVS_CMD_ATTR_TIMEOUT_TCP: u32 seconds
	cmdAttrTimeoutTCPFin = 5 // IPVS_CMD_ATTR_TIMEOUT_TCP_FIN: u32 seconds
	cmdAttrTimeoutUDP    = 6 // IPVS_CMD_ATTR_TIMEOUT_UDP: u32 seconds
)

// Attributes of a virtual service, nested in IPVS_CMD_ATTR_SERVICE.
const (
	svcAttrAF        = 1  // IPVS_SVC_ATTR_AF: u16 AF_INET/AF_INET6
	svcAttrProtocol  = 2  // IPVS_SVC_ATTR_PROTOCOL: u16 IPPROTO_*
	svcAttrAddr      = 3  // IPVS_SVC_ATTR_ADDR: union nf_inet_addr (16 bytes)
	svcAttrPort      = 4  // IPVS_SVC_ATTR_PORT: __be16
	svcAttrFWMark    = 5  // IPVS_SVC_ATTR_FWMARK: u32
	svcAttrSchedName = 6  // IPVS_SVC_ATTR_SCHED_NAME: NUL-terminated string
	svcAttrFlags     = 7  // IPVS_SVC_ATTR_FLAGS: struct ip_vs_flags {u32 flags; u32 mask}
	svcAttrTimeout   = 8  // IPVS_SVC_ATTR_TIMEOUT: u32 seconds
	svcAttrNetmask   = 9  // IPVS_SVC_ATTR_NETMASK: __be32 mask (IPv4) or prefix length (IPv6)
	svcAttrStats     = 10 // IPVS_SVC_ATTR_STATS: nested IPVS_STATS_ATTR_*, 32-bit counters
	svcAttrPEName    = 11 // IPVS_SVC_ATTR_PE_NAME: NUL-terminated string
	svcAttrStats64   = 12 // IPVS_SVC_ATTR_STATS64: nested IPVS_STATS_ATTR_*, 64-bit counters
)

// Attributes of a destination (real server), nested in IPVS_CMD_ATTR_DEST.
const (
	destAttrAddr         = 1  // IPVS_DEST_ATTR_ADDR: union nf_inet_addr (16 bytes)
	destAttrPort         = 2  // IPVS_DEST_ATTR_PORT: __be16
	destAttrFwdMethod    = 3  // IPVS_DEST_ATTR_FWD_METHOD: u32 IP_VS_CONN_F_* & IP_VS_CONN_F_FWD_MASK
	destAttrWeight       = 4  // IPVS_DEST_ATTR_WEIGHT: u32 holding an int
	destAttrUThresh      = 5  // IPVS_DEST_ATTR_U_THRESH: u32
	destAttrLThresh      = 6  // IPVS_DEST_ATTR_L_THRESH: u32
	destAttrActiveConns  = 7  // IPVS_DEST_ATTR_ACTIVE_CONNS: u32
	destAttrInactConns   = 8  // IPVS_DEST_ATTR_INACT_CONNS: u32
	destAttrPersistConns = 9  // IPVS_DEST_ATTR_PERSIST_CONNS: u32
	destAttrStats        = 10 // IPVS_DEST_ATTR_STATS: nested, 32-bit counters
	destAttrAddrFamily   = 11 // IPVS_DEST_ATTR_ADDR_FAMILY: u16
	destAttrStats64      = 12 // IPVS_DEST_ATTR_STATS64: nested, 64-bit counters
	destAttrTunType      = 13 // IPVS_DEST_ATTR_TUN_TYPE: u8 IP_VS_CONN_F_TUNNEL_TYPE_*
	destAttrTunPort      = 14 // IPVS_DEST_ATTR_TUN_PORT: __be16
	destAttrTunFlags     = 15 // IPVS_DEST_ATTR_TUN_FLAGS: u16 IP_VS_TUNNEL_ENCAP_FLAG_*
)

// Attributes of a connection-synchronisation daemon, nested in
// IPVS_CMD_ATTR_DAEMON.
const (
	daemonAttrState       = 1 // IPVS_DAEMON_ATTR_STATE: u32 IP_VS_STATE_*
	daemonAttrMcastIfn    = 2 // IPVS_DAEMON_ATTR_MCAST_IFN: NUL-terminated string
	daemonAttrSyncID      = 3 // IPVS_DAEMON_ATTR_SYNC_ID: u32
	daemonAttrSyncMaxLen  = 4 // IPVS_DAEMON_ATTR_SYNC_MAXLEN: u16
	daemonAttrMcastGroup  = 5 // IPVS_DAEMON_ATTR_MCAST_GROUP: struct in_addr (4 bytes)
	daemonAttrMcastGroup6 = 6 // IPVS_DAEMON_ATTR_MCAST_GROUP6: struct in6_addr (16 bytes)
	daemonAttrMcastPort   = 7 // IPVS_DAEMON_ATTR_MCAST_PORT: u16 in host order (unlike service ports)
	daemonAttrMcastTTL    = 8 // IPVS_DAEMON_ATTR_MCAST_TTL: u8
)

// Attributes of the statistics nested in IPVS_SVC_ATTR_STATS[64] and
// IPVS_DEST_ATTR_STATS[64]. In the 32-bit nest only the byte counters are
// u64; in the 64-bit nest every counter is.
const (
	statsAttrConns    = 1  // IPVS_STATS_ATTR_CONNS
	statsAttrInPkts   = 2  // IPVS_STATS_ATTR_INPKTS
	statsAttrOutPkts  = 3  // IPVS_STATS_ATTR_OUTPKTS
	statsAttrInBytes  = 4  // IPVS_STATS_ATTR_INBYTES
	statsAttrOutBytes = 5  // IPVS_STATS_ATTR_OUTBYTES
	statsAttrCPS      = 6  // IPVS_STATS_ATTR_CPS
	statsAttrInPPS    = 7  // IPVS_STATS_ATTR_INPPS
	statsAttrOutPPS   = 8  // IPVS_STATS_ATTR_OUTPPS
	statsAttrInBPS    = 9  // IPVS_STATS_ATTR_INBPS
	statsAttrOutBPS   = 10 // IPVS_STATS_ATTR_OUTBPS
	statsAttrPad      = 11 // IPVS_STATS_ATTR_PAD: alignment padding for the u64s, no data
)

// Attributes of the IPVS_CMD_GET_INFO reply (IPVS_CMD_SET_INFO).
const (
	infoAttrVersion     = 1 // IPVS_INFO_ATTR_VERSION: u32 major<<16|minor<<8|patch
	infoAttrConnTabSize = 2 // IPVS_INFO_ATTR_CONN_TAB_SIZE: u32
)

// Kernel limits on names, from include/uapi/linux/ip_vs.h. The policy
// accepts at most MAXLEN-1 characters plus the NUL.
const (
	schedNameMaxLen = 16 // IP_VS_SCHEDNAME_MAXLEN
	peNameMaxLen    = 16 // IP_VS_PENAME_MAXLEN
	ifNameMaxLen    = 16 // IP_VS_IFNAME_MAXLEN
)
