package config

import (
	"net/netip"
	"time"

	"github.com/lvsctl/lvsctl/lvs"
)

// Config is a parsed keepalived.conf with keepalived 2.2's defaults and
// inheritance applied: every field holds the value the daemon would use,
// so callers never re-derive a default.
type Config struct {
	Global              Global
	Scripts             []*VRRPScript
	SyncGroups          []*SyncGroup
	Instances           []*VRRPInstance
	VirtualServerGroups []*VirtualServerGroup
	VirtualServers      []*VirtualServer

	// Files are the files read, the main one first, in reading order
	// (for a reload that watches them).
	Files []string
}

// Script is a program with its arguments, run without a shell (notify
// scripts, track scripts, MISC_CHECK, quorum_up/down). User and Group are
// empty unless given on the directive.
type Script struct {
	Command string   // as written, quotes removed: "/bin/x.sh 'a b'"
	Args    []string // Command split as keepalived splits it: [/bin/x.sh, a b]
	User    string
	Group   string
}

// Global is global_defs.
type Global struct {
	RouterID string

	VRRPVersion     int        // 2 (IPv6 instances always use 3)
	VRRPMcastGroup4 netip.Addr // 224.0.0.18 (RFC 5798 §5.1.1.2)
	VRRPMcastGroup6 netip.Addr // ff02::12 (RFC 5798 §5.1.2.2)

	VRRPGARPMasterDelay         time.Duration // 5s; 0 for no second burst
	VRRPGARPMasterRepeat        int           // 5
	VRRPGARPLowerPrioDelay      time.Duration // VRRPGARPMasterDelay
	VRRPGARPLowerPrioRepeat     int           // VRRPGARPMasterRepeat
	VRRPGARPMasterRefresh       time.Duration // 0: no periodic refresh
	VRRPGARPMasterRefreshRepeat int           // 1
	VRRPGARPInterval            time.Duration // 0
	VRRPGNAInterval             time.Duration // 0
	VRRPMinGARP                 bool

	VRRPStrict               bool
	VRRPCheckUnicastSrc      bool
	VRRPSkipCheckAdvAddr     bool
	VRRPLowerPrioNoAdvert    bool
	VRRPHigherPrioSendAdvert bool
	VRRPStartupDelay         time.Duration

	EnableScriptSecurity bool
	ScriptUser           string
	ScriptGroup          string

	DefaultInterface string // "eth0"

	LVSSyncDaemon  *LVSSyncDaemon // nil when not configured
	LVSTimeouts    LVSTimeouts
	LVSFlush       bool
	LVSFlushOnStop bool
}

// LVSSyncDaemon is global_defs lvs_sync_daemon.
type LVSSyncDaemon struct {
	Interface string
	Instance  string     // VRRP instance whose state drives master/backup; empty: both run
	SyncID    int        // -1 when not given (the instance's VRID, else 0)
	MaxLen    int        // 0: kernel default
	Port      uint16     // 0: kernel default (8848)
	TTL       int        // 0: kernel default
	Group     netip.Addr // invalid: kernel default (224.0.0.81)
}

// LVSTimeouts is global_defs lvs_timeouts; zero leaves a value alone.
type LVSTimeouts struct {
	TCP    time.Duration
	TCPFin time.Duration
	UDP    time.Duration
}

// VRRPScript is vrrp_script.
type VRRPScript struct {
	Name     string
	File     string
	Line     int
	Script   Script
	Interval time.Duration // 1s; keepalived reads whole seconds
	Timeout  time.Duration // Interval when not given: a run may last until the next one is due
	Weight   int           // 0: failure means FAULT; in [-253, 253]
	Reverse  bool
	Rise     int // 1
	Fall     int // 1
	InitFail bool
}

// State is a VRRP instance's configured initial state.
type State string

// Initial states.
const (
	StateBackup State = "BACKUP"
	StateMaster State = "MASTER"
)

// AuthType is the RFC 3768 §5.3.6 authentication type.
type AuthType string

// Authentication types keepalived accepts.
const (
	AuthNone AuthType = ""
	AuthPass AuthType = "PASS" // type 1, simple text password
	AuthAH   AuthType = "AH"   // type 2, IPsec AH
)

// VirtualAddress is one line of virtual_ipaddress or
// virtual_ipaddress_excluded.
type VirtualAddress struct {
	Prefix        netip.Prefix // address/len; /32 or /128 when no length is given
	Broadcast     netip.Addr   // brd; "brd +" and "brd -" are resolved from Prefix
	Dev           string       // empty: the instance's interface
	Label         string
	Scope         string // global, site, link, host, nowhere or a number; empty: kernel default
	Peer          netip.Addr
	NoDAD         bool
	Home          bool
	NoPrefixRoute bool
	NoTrack       bool
}

// UnicastPeer is one line of unicast_peer.
type UnicastPeer struct {
	Addr   netip.Addr
	MinTTL int // 0: unchecked
	MaxTTL int // 0: unchecked (255)
}

// TrackInterface is one line of track_interface.
type TrackInterface struct {
	Name    string
	Weight  int // 0: link down means FAULT
	Reverse bool
}

// TrackScript is one line of track_script. Weight is the script's own
// weight unless the line overrides it (WeightSet).
type TrackScript struct {
	Name      string
	Weight    int
	WeightSet bool
	Reverse   bool
}

// Notify holds the notify scripts of an instance or a sync group.
type Notify struct {
	Master *Script
	Backup *Script
	Fault  *Script
	Stop   *Script
	Any    *Script // "notify": called with TYPE NAME STATE PRIORITY appended
}

// VRRPInstance is vrrp_instance.
type VRRPInstance struct {
	Name string
	File string
	Line int

	State            State // BACKUP
	Interface        string
	VirtualRouterID  int           // 1..255, required
	Priority         int           // 100; 255 is the address owner
	AdvertInt        time.Duration // 1s
	Version          int           // Global.VRRPVersion, or 3 for IPv6 addresses
	NoPreempt        bool
	PreemptDelay     time.Duration
	Accept           bool // accept mode; default true unless strict
	Strict           bool // strict_mode, default Global.VRRPStrict
	DontTrackPrimary bool
	CheckUnicastSrc  bool
	DownTimerAdverts int // 3

	Authentication AuthType
	AuthPass       string // at most 8 bytes, as keepalived truncates

	VIPs         []VirtualAddress
	ExcludedVIPs []VirtualAddress

	McastSrcIP   netip.Addr
	McastDstIP   netip.Addr // invalid: Global.VRRPMcastGroup4/6
	UnicastSrcIP netip.Addr
	UnicastPeers []UnicastPeer
	UnicastTTL   int // 255

	TrackInterfaces []TrackInterface
	TrackScripts    []TrackScript

	Notify Notify

	GARPMasterDelay         time.Duration // Global.VRRPGARPMasterDelay
	GARPMasterRepeat        int           // Global.VRRPGARPMasterRepeat
	GARPLowerPrioDelay      time.Duration
	GARPLowerPrioRepeat     int
	GARPMasterRefresh       time.Duration
	GARPMasterRefreshRepeat int

	LVSSyncDaemonInterface string
}

// SyncGroup is vrrp_sync_group.
type SyncGroup struct {
	Name            string
	File            string
	Line            int
	Instances       []string
	TrackInterfaces []TrackInterface
	TrackScripts    []TrackScript
	Notify          Notify
}

// VirtualServerGroupEntry is one line of virtual_server_group: an address
// range with a port, or a firewall mark.
type VirtualServerGroupEntry struct {
	First  netip.Addr // first address of the range
	Last   netip.Addr // last address, equal to First for one address
	Port   uint16
	FWMark uint32
	Family lvs.Family // fwmark lines: inet or inet6 when given, else 0
}

// VirtualServerGroup is virtual_server_group.
type VirtualServerGroup struct {
	Name    string
	File    string
	Line    int
	Entries []VirtualServerGroupEntry
}

// Forwarding describes lvs_method: how packets reach a real server.
type Forwarding struct {
	Method     lvs.ForwardMethod // Masquerade (NAT) by default, as keepalived
	TunnelType lvs.TunnelType    // for Tunnel: ipip (default), gue, gre
	TunnelPort uint16            // GUE port
	TunnelCsum string            // "", "nocsum", "csum" or "remcsum"
}

// SorryServer is sorry_server.
type SorryServer struct {
	Addr       netip.Addr
	Port       uint16
	Forwarding Forwarding // sorry_server_lvs_method, else the virtual server's
	Inhibit    bool       // sorry_server_inhibit
}

// VirtualServer is virtual_server.
type VirtualServer struct {
	File string
	Line int

	// Exactly one of these identifies the service.
	Addr   netip.Addr // with Port; Port 0 only for a persistent service
	Port   uint16
	FWMark uint32
	Group  string // virtual_server group NAME

	Protocol   lvs.Protocol // TCP
	Family     lvs.Family   // from the address, ip_family, or inet
	Scheduler  string       // wlc when not given, as keepalived
	Flags      lvs.ServiceFlags
	Forwarding Forwarding

	PersistenceTimeout     time.Duration // 0: not persistent; keyword alone: 360s
	PersistenceGranularity int           // prefix length; 0: not given
	PersistenceEngine      string

	// Checker timing as set on the virtual server; the values each
	// checker uses (with retry and delay_before_retry, whose defaults
	// depend on the checker type) are resolved in Checker.
	DelayLoop        time.Duration // 60s
	ConnectTimeout   time.Duration // 5s
	Warmup           time.Duration // DelayLoop
	InhibitOnFailure bool
	Alpha            bool
	Omega            bool
	HASuspend        bool
	Virtualhost      string

	Quorum     int // 1
	Hysteresis int // 0
	QuorumUp   *Script
	QuorumDown *Script

	SorryServer *SorryServer
	RealServers []*RealServer
}

// RealServer is real_server. Timing fields are resolved into each Checker.
type RealServer struct {
	File string
	Line int

	Addr             netip.Addr
	Port             uint16 // the virtual server's port when not given
	Weight           int    // 1
	Forwarding       Forwarding
	InhibitOnFailure bool
	Alpha            bool
	UThreshold       int // 0: no limit
	LThreshold       int
	NotifyUp         *Script
	NotifyDown       *Script
	Virtualhost      string
	Checkers         []*Checker
}

// CheckerType names a health checker block.
type CheckerType string

// Checker types lvsctl runs.
const (
	HTTPGet   CheckerType = "HTTP_GET"
	SSLGet    CheckerType = "SSL_GET"
	TCPCheck  CheckerType = "TCP_CHECK"
	MiscCheck CheckerType = "MISC_CHECK"
	DNSCheck  CheckerType = "DNS_CHECK"
	UDPCheck  CheckerType = "UDP_CHECK"
	PingCheck CheckerType = "PING_CHECK"
)

// Checker is one health checker of a real server, with the timing
// inherited from the real and virtual server and keepalived's per-type
// defaults applied.
type Checker struct {
	Type CheckerType
	File string
	Line int

	ConnectIP   netip.Addr // the real server's address when not given
	ConnectPort uint16     // the real server's port when not given
	BindTo      netip.Addr
	BindIf      string
	BindPort    uint16
	FWMark      uint32

	ConnectTimeout   time.Duration
	Retry            int
	DelayBeforeRetry time.Duration
	Warmup           time.Duration
	DelayLoop        time.Duration
	Alpha            bool
	LogAllFailures   bool

	HTTP *HTTPCheck // HTTP_GET and SSL_GET
	Misc *MiscCheckConfig
	DNS  *DNSCheckConfig
	UDP  *UDPCheckConfig
}

// HTTPCheck is the HTTP_GET / SSL_GET specific part.
type HTTPCheck struct {
	URLs         []URL
	Virtualhost  string // from the checker, real server or virtual server
	Protocol     string // http_protocol: 1.0, 1.0C or 1.1; empty: 1.0
	FastRecovery bool
	EnableSNI    bool
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Min, Max int }

// URL is one url block.
type URL struct {
	Path        string
	Digest      string        // lower-case hex MD5 of the body, empty: not checked
	StatusCodes []StatusRange // 200-299 when not given
	Virtualhost string        // empty: the checker's
}

// MiscCheckConfig is the MISC_CHECK specific part.
type MiscCheckConfig struct {
	Path    Script
	Timeout time.Duration // the checker's delay_loop when not given
	Dynamic bool
}

// DNSCheckConfig is the DNS_CHECK specific part.
type DNSCheckConfig struct {
	Type string // SOA
	Name string // "."
}

// UDPCheckConfig is the UDP_CHECK specific part.
type UDPCheckConfig struct {
	Payload        []byte // nil: random payload
	RequireReply   bool
	ReplyPattern   string // hex digits, 'x' for a nibble not compared
	MinReplyLength int    // 0
	MaxReplyLength int    // 255
}
