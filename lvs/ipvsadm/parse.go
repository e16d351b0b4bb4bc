package ipvsadm

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/lvsctl/lvsctl/lvs"
)

// Kind is the command of an ipvsadm invocation (ipvsadm's CMD_*).
type Kind int

// Commands, in ipvsadm's order (its cmdnames table follows it).
const (
	CmdNone          Kind = iota
	CmdAddService         // -A
	CmdEditService        // -E
	CmdDeleteService      // -D
	CmdFlush              // -C
	CmdList               // -L, -l
	CmdAddServer          // -a
	CmdDeleteServer       // -d
	CmdEditServer         // -e
	CmdSetTimeouts        // --set
	CmdStartDaemon        // --start-daemon
	CmdStopDaemon         // --stop-daemon
	CmdRestore            // -R
	CmdSave               // -S
	CmdZero               // -Z
	CmdHelp               // -h
	CmdVersion            // -v
)

// cmdNames are ipvsadm's names for its commands, used in its messages.
var cmdNames = [...]string{
	CmdAddService:    "add-service",
	CmdEditService:   "edit-service",
	CmdDeleteService: "delete-service",
	CmdFlush:         "flush",
	CmdList:          "list",
	CmdAddServer:     "add-server",
	CmdDeleteServer:  "delete-server",
	CmdEditServer:    "edit-server",
	CmdSetTimeouts:   "set",
	CmdStartDaemon:   "start-daemon",
	CmdStopDaemon:    "stop-daemon",
	CmdRestore:       "restore",
	CmdSave:          "save",
	CmdZero:          "zero",
	CmdHelp:          "help",
	CmdVersion:       "version",
}

func (k Kind) String() string {
	if k > 0 && int(k) < len(cmdNames) {
		return cmdNames[k]
	}
	return "none"
}

// MarshalText makes Kind readable in golden files.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Format selects what a listing shows (ipvsadm's FMT_* flags).
type Format uint32

// Listing formats.
const (
	FormatNumeric        Format = 1 << iota // -n
	FormatRule                              // -S: the save format
	FormatStats                             // --stats
	FormatRate                              // --rate
	FormatThresholds                        // --thresholds
	FormatPersistentConn                    // --persistent-conn
	FormatNoSort                            // --nosort
	FormatExact                             // --exact
	FormatTunInfo                           // --tun-info
)

var formatNames = []string{"numeric", "rule", "stats", "rate", "thresholds", "persistent-conn", "nosort", "exact", "tun-info"}

func (f Format) String() string {
	var names []string
	for i, n := range formatNames {
		if f&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	return strings.Join(names, ",")
}

// MarshalText makes Format readable in golden files.
func (f Format) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// Command is one parsed ipvsadm invocation (or one line of -R input).
type Command struct {
	Kind Kind
	// Service is the virtual service (-t, -u, --sctp-service, -f), with the
	// scheduler, flags, persistence and engine for -A and -E. HasService
	// says whether one was given (it is optional for -L and -Z).
	Service    lvs.Service
	HasService bool
	// Destination is the real server of -a, -e and -d.
	Destination lvs.Destination
	Timeouts    lvs.Timeouts   // --set
	Daemon      lvs.SyncDaemon // --start-daemon, --stop-daemon

	Format Format
	// What -L lists instead of the services: -c, --timeout or --daemon.
	Connections bool
	Timeout     bool
	DaemonInfo  bool
	// JSON asks -L for lvsctl's JSON document instead of ipvsadm's text
	// (--json; see json.go).
	JSON bool
}

// Op returns the kernel operation of a state-changing command.
func (c Command) Op() (lvs.Op, bool) {
	op := lvs.Op{Service: c.Service, Destination: c.Destination, Timeouts: c.Timeouts, Daemon: c.Daemon}
	switch c.Kind {
	case CmdAddService:
		op.Kind = lvs.AddService
	case CmdEditService:
		op.Kind = lvs.EditService
	case CmdDeleteService:
		op.Kind = lvs.DeleteService
	case CmdFlush:
		op.Kind = lvs.Flush
	case CmdAddServer:
		op.Kind = lvs.AddDestination
	case CmdEditServer:
		op.Kind = lvs.EditDestination
	case CmdDeleteServer:
		op.Kind = lvs.DeleteDestination
	case CmdZero:
		op.Kind = lvs.Zero
		// ipvs_zero_service sends no service (zero everything) unless
		// one with a mark, an address or a port was named.
		s := c.Service
		op.AllServices = !c.HasService || (s.FWMark == 0 && s.Port == 0 && (!s.Address.IsValid() || s.Address.IsUnspecified()))
	case CmdSetTimeouts:
		op.Kind = lvs.SetTimeouts
	case CmdStartDaemon:
		op.Kind = lvs.StartDaemon
	case CmdStopDaemon:
		op.Kind = lvs.StopDaemon
	default:
		return lvs.Op{}, false
	}
	return op, true
}

// Failure is how ipvsadm gives up on an invocation: it prints Message to
// stderr (verbatim, newline included) and exits with Code. Popt errors met
// after the command are not fatal within -R input: ipvsadm prints them and
// goes on with the next line (Continue).
type Failure struct {
	Message  string
	Code     int
	Continue bool
}

func (f *Failure) Error() string { return strings.TrimSuffix(f.Message, "\n") }

// fail is ipvsadm's fail(2, ...): the message, a newline, exit status 2.
func fail(format string, a ...any) *Failure {
	return &Failure{Message: fmt.Sprintf(format, a...) + "\n", Code: 2}
}

func tryHelp(prog string) *Failure {
	return &Failure{Message: fmt.Sprintf("Try `%s -h' or '%s --help' for more information.\n", prog, prog), Code: 255}
}

// ParseOptions are the environment Parse needs.
type ParseOptions struct {
	// Resolver turns host and service names into addresses and ports. Nil
	// accepts numeric addresses and ports only.
	Resolver Resolver
	// PosixlyCorrect is set when POSIXLY_CORRECT or POSIX_ME_HARDER is in
	// the environment: popt then stops looking for options at the first
	// argument that is not one.
	PosixlyCorrect bool
	// Strict refuses lvsctl's own options (--json) as ipvsadm does: it is
	// set when the binary runs under ipvsadm's name, so scripts see
	// exactly ipvsadm.
	Strict bool
}

// Option columns of ipvsadm's commands_v_options table (OPTC_*), and their
// names in its messages.
const (
	optNumeric = iota
	optConnection
	optService
	optScheduler
	optPersistent
	optNetmask
	optServer
	optForward
	optWeight
	optUThreshold
	optLThreshold
	optMcast
	optTimeout
	optDaemon
	optStats
	optRate
	optThresholds
	optPersistentConn
	optNoSort
	optSyncID
	optExact
	optOnePacket
	optPE
	optSchedFlags
	optMcastGroup
	optMcastPort
	optMcastTTL
	optSyncMaxLen
	optTunInfo
	optTunType
	optTunPort
	optTunNoCsum
	optTunCsum
	optTunRemCsum
	numOpts
)

var optNames = [numOpts]string{
	"numeric", "connection", "service-address", "scheduler", "persistent", "netmask", "real-server",
	"forwarding-method", "weight", "u-threshold", "l-threshold", "mcast-interface", "timeout", "daemon",
	"stats", "rate", "thresholds", "persistent-conn", "nosort", "syncid", "exact", "ops", "pe",
	"sched-flags", "mcast-group", "mcast-port", "mcast-ttl", "sync-maxlen", "tun-info", "tun-type",
	"tun-port", "tun-nocsum", "tun-csum", "tun-remcsum",
}

// commandsVOptions is ipvsadm's table of legal combinations of commands and
// options: '+' compulsory, 'x' illegal, '1' exclusive, ' ' optional.
var commandsVOptions = [...]string{
	//                 -n -c svc -s -p -M -r fwd -w -x -y -mc tot dmn -st -rt thr -pc srt sid -ex ops -pe -b grp port ttl size tinf type tprt nocs csum remc
	CmdAddService:    "xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx",
	CmdEditService:   "xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx",
	CmdDeleteService: "xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	CmdFlush:         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	CmdList:          " 11xxxxxxxxx11       xxxxxxx xxxxx",
	CmdAddServer:     "xx+xxx+    xxxxxxxxxxxxxxxxxx     ",
	CmdDeleteServer:  "xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx",
	CmdEditServer:    "xx+xxx+    xxxxxxxxxxxxxxxxxx     ",
	CmdSetTimeouts:   "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	CmdStartDaemon:   "xxxxxxxxxxx xxxxxxx xxxx    xxxxxx",
	CmdStopDaemon:    "xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx",
	CmdRestore:       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	CmdSave:          " xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	CmdZero:          "xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
}

// Tunnel types (IP_VS_CONN_F_TUNNEL_TYPE_*) and their option table.
var tunNames = [...]string{"ipip", "gue", "gre"}

var tunOpts = [...]int{optTunPort, optTunNoCsum, optTunCsum, optTunRemCsum}

var tunnelTypesVOptions = [...]string{
	//      tprt nocs csum remc
	"xxxx", // ipip
	"+111", // gue
	"x11x", // gre
}

const (
	maxTimeout          = 86400 * 31 // ipvsadm's MAX_TIMEOUT: 31 days
	defaultPersistence  = 6 * 60     // IPVS_SVC_PERSISTENT_TIMEOUT
	defaultScheduler    = "wlc"
	defaultMcastIfn     = "eth0"
	schedNameMax        = 16 - 1 // IP_VS_SCHEDNAME_MAXLEN - 1
	peNameMax           = 16     // IP_VS_PENAME_MAXLEN
	ifNameMax           = 16 - 1 // IP_VS_IFNAME_MAXLEN - 1
	schedFlagsArgMax    = 128 - 1
	addrPortBufMax      = 60 - 1 // addrport_to_anyname's buffer
	serviceSvcNameLimit = 33
	destNameLimit       = 28
)

// Address families as ipvsadm's ipvs_service_t carries them: zero until an
// address or a mark is given.
const (
	afUnspec lvs.Family = 0
	afInet              = lvs.IPv4
	afInet6             = lvs.IPv6
)

// Parse parses one ipvsadm argument vector (argv[0] is the program name, used
// in messages) the way ipvsadm 1.31's parse_options and process_options do,
// up to the point where ipvsadm would talk to the kernel. It returns a
// *Failure carrying ipvsadm's exact message and exit status for any error.
// With only argv[0], the command is CmdList with no options, as in ipvsadm.
func Parse(ctx context.Context, argv []string, opts ParseOptions) (Command, error) {
	if len(argv) == 0 {
		argv = []string{"ipvsadm"}
	}
	if len(argv) == 1 {
		return Command{Kind: CmdList}, nil
	}
	p := parser{ctx: ctx, res: opts.Resolver, strict: opts.Strict}
	if p.res == nil {
		p.res = numericResolver{}
	}
	return p.parse(argv, opts.PosixlyCorrect)
}

type parser struct {
	ctx    context.Context
	res    Resolver
	strict bool

	cmd     Kind
	options uint64
	format  Format

	// The service as ipvs_service_t holds it until the end.
	svcAF       lvs.Family
	svcProto    lvs.Protocol
	svcAddr     netip.Addr
	svcPort     uint16
	svcFWMark   uint32
	svcSched    string
	svcFlags    lvs.ServiceFlags
	svcTimeout  uint32
	svcNetmask  uint32
	svcPE       string
	dest        lvs.Destination
	destAF      lvs.Family
	timeouts    [3]int
	daemon      lvs.SyncDaemon
	schedFlags  string
	haveSchedFl bool
	json        bool // --json, lvsctl's own (json.go)
}

func (p *parser) setOption(o int) error {
	bit := uint64(1) << o
	if p.options&bit != 0 {
		return fail("multiple '%s' options specified", optNames[o])
	}
	p.options |= bit
	return nil
}

func (p *parser) has(o int) bool { return p.options&(1<<o) != 0 }

func (p *parser) parse(argv []string, posix bool) (Command, error) {
	prog := argv[0]
	// ipvsadm's defaults: weight 1, direct routing, a /32 persistence mask.
	p.dest.Weight = 1
	p.dest.Forward = lvs.DirectRoute
	p.svcNetmask = 0xffffffff

	s := newPoptScanner(argv, posix, p.strict)
	tag, arg := s.nextOpt()
	if tag < 0 {
		return Command{}, tryHelp(prog)
	}
	// The first option must be the command.
	switch tag {
	case 'A':
		p.cmd = CmdAddService
	case 'E':
		p.cmd = CmdEditService
	case 'D':
		p.cmd = CmdDeleteService
	case 'a':
		p.cmd = CmdAddServer
	case 'e':
		p.cmd = CmdEditServer
	case 'd':
		p.cmd = CmdDeleteServer
	case 'C':
		p.cmd = CmdFlush
	case 'L', 'l':
		p.cmd = CmdList
	case 'Z':
		p.cmd = CmdZero
	case tagSet:
		p.cmd = CmdSetTimeouts
	case 'R':
		p.cmd = CmdRestore
	case 'S':
		p.cmd = CmdSave
	case tagStartDaemon, tagStopDaemon:
		p.cmd = CmdStartDaemon
		if tag == tagStopDaemon {
			p.cmd = CmdStopDaemon
		}
		switch *arg {
		case "master":
			p.daemon.State = lvs.SyncMaster
		case "backup":
			p.daemon.State = lvs.SyncBackup
		default:
			if tag == tagStartDaemon {
				return Command{}, fail("illegal start-daemon parameter specified")
			}
			return Command{}, fail("illegal start_daemon specified")
		}
	case 'h':
		return Command{Kind: CmdHelp}, nil
	case 'v':
		return Command{Kind: CmdVersion}, nil
	default:
		return Command{}, tryHelp(prog)
	}

	for {
		tag, arg = s.nextOpt()
		if tag < 0 {
			break
		}
		if err := p.option(tag, arg, s); err != nil {
			return Command{}, err
		}
	}
	if tag < poptDone {
		return Command{}, &Failure{
			Message:  fmt.Sprintf("%s: %s\n", s.badOption(), poptStrerror(tag)),
			Code:     255,
			Continue: true,
		}
	}

	if p.cmd == CmdSetTimeouts {
		a0, ok0 := s.arg()
		a1, ok1 := s.arg()
		a2, ok2 := s.arg()
		if !ok0 || !ok1 || !ok2 {
			return Command{}, fail("--set option requires 3 timeout values")
		}
		for i, a := range []string{a0, a1, a2} {
			v, err := parseTimeout(&a, 0, maxTimeout)
			if err != nil {
				return Command{}, err
			}
			p.timeouts[i] = v
		}
	}
	if a, ok := s.arg(); ok {
		return Command{}, fail("unexpected argument %s", a)
	}
	if p.schedFlags != "" {
		p.svcFlags &^= lvs.FlagSched1 | lvs.FlagSched2 | lvs.FlagSched3
		f, err := parseSchedFlags(p.svcSched, p.schedFlags)
		if err != nil {
			return Command{}, err
		}
		p.svcFlags |= f
	}
	return p.process()
}

func (p *parser) option(tag int, arg *string, s *poptScanner) error {
	str := func() string {
		if arg == nil {
			return ""
		}
		return *arg
	}
	switch tag {
	case 't', 'u', tagSCTPService:
		if err := p.setOption(optService); err != nil {
			return err
		}
		p.svcProto = map[int]lvs.Protocol{'t': lvs.TCP, 'u': lvs.UDP, tagSCTPService: lvs.SCTP}[tag]
		r := p.parseService(str(), p.svcProto)
		if r.result&serviceAddr == 0 {
			return fail("illegal virtual server address[:port] specified")
		}
		p.svcAF, p.svcAddr = r.af, r.addr
		if r.af == afInet6 {
			p.svcNetmask = 128
		}
		if r.result&servicePort != 0 {
			p.svcPort = r.port
		}
	case 'f':
		if err := p.setOption(optService); err != nil {
			return err
		}
		// ipvsadm sets a sane protocol although a mark service has none.
		p.svcAF = afInet
		p.svcProto = lvs.TCP
		m, err := parseFWMark(str())
		if err != nil {
			return err
		}
		p.svcFWMark = m
	case 's':
		if err := p.setOption(optScheduler); err != nil {
			return err
		}
		p.svcSched = truncate(str(), schedNameMax)
	case 'p':
		if err := p.setOption(optPersistent); err != nil {
			return err
		}
		p.svcFlags |= lvs.FlagPersistent
		t, err := parseTimeout(arg, 1, maxTimeout)
		if err != nil {
			return err
		}
		p.svcTimeout = uint32(t)
	case 'M':
		if err := p.setOption(optNetmask); err != nil {
			return err
		}
		if p.svcAF != afInet6 {
			m, ok := p.parseNetmask(str())
			if !ok {
				return fail("illegal virtual server persistent mask specified")
			}
			p.svcNetmask = m
		} else {
			p.svcNetmask = uint32(atoi(str()))
			if p.svcNetmask < 1 || p.svcNetmask > 128 {
				return fail("illegal ipv6 netmask specified")
			}
		}
	case 'r':
		if err := p.setOption(optServer); err != nil {
			return err
		}
		// The real server is parsed into a copy of the service, so it
		// keeps the service's family when only a name fails to resolve.
		r := p.parseService(str(), p.svcProto)
		p.destAF = p.svcAF
		if r.result&serviceAddr != 0 {
			p.destAF = r.af
		}
		p.dest.Address = r.addr
		p.dest.Port = p.svcPort
		if r.result&servicePort != 0 {
			p.dest.Port = r.port
		}
		if r.result&serviceAddr == 0 {
			return fail("illegal real server address[:port] specified")
		}
	case 'i', 'g', 'm':
		if err := p.setOption(optForward); err != nil {
			return err
		}
		p.dest.Forward = map[int]lvs.ForwardMethod{'i': lvs.Tunnel, 'g': lvs.DirectRoute, 'm': lvs.Masquerade}[tag]
	case 'w':
		if err := p.setOption(optWeight); err != nil {
			return err
		}
		// Debian's ipvsadm accepts weights up to INT_MAX (upstream: 65535).
		w, ok := stringToNumber(str(), 0, math.MaxInt32)
		if !ok {
			return fail("illegal weight specified")
		}
		p.dest.Weight = int32(w)
	case 'x':
		if err := p.setOption(optUThreshold); err != nil {
			return err
		}
		v, ok := stringToNumber(str(), 0, math.MaxInt32)
		if !ok {
			return fail("illegal u_threshold specified")
		}
		p.dest.UpperThreshold = uint32(v)
	case 'y':
		if err := p.setOption(optLThreshold); err != nil {
			return err
		}
		v, ok := stringToNumber(str(), 0, math.MaxInt32)
		if !ok {
			return fail("illegal l_threshold specified")
		}
		p.dest.LowerThreshold = uint32(v)
	case 'c':
		return p.setOption(optConnection)
	case 'n':
		p.format |= FormatNumeric
		return p.setOption(optNumeric)
	case tagMcastInterface:
		if err := p.setOption(optMcast); err != nil {
			return err
		}
		p.daemon.Interface = truncate(str(), ifNameMax)
	case tagSyncID:
		if err := p.setOption(optSyncID); err != nil {
			return err
		}
		v, ok := stringToNumber(str(), 0, 255)
		if !ok {
			return fail("illegal syncid specified")
		}
		p.daemon.SyncID = uint8(v)
	case tagTimeout:
		return p.setOption(optTimeout)
	case tagDaemon:
		return p.setOption(optDaemon)
	case tagStats:
		p.format |= FormatStats
		return p.setOption(optStats)
	case tagRate:
		p.format |= FormatRate
		return p.setOption(optRate)
	case tagThresholds:
		p.format |= FormatThresholds
		return p.setOption(optThresholds)
	case tagPersistentConn:
		p.format |= FormatPersistentConn
		return p.setOption(optPersistentConn)
	case tagNoSort:
		p.format |= FormatNoSort
		return p.setOption(optNoSort)
	case tagSort:
		// Sorting is the default; --sort is accepted for compatibility.
	case 'X':
		p.format |= FormatExact
		return p.setOption(optExact)
	case '6':
		if p.svcFWMark == 0 {
			return fail("-6 used before -f\n")
		}
		p.svcAF = afInet6
		p.svcNetmask = 128
	case 'o':
		if err := p.setOption(optOnePacket); err != nil {
			return err
		}
		p.svcFlags |= lvs.FlagOnePacket
	case tagPE:
		if err := p.setOption(optPE); err != nil {
			return err
		}
		p.svcPE = truncate(str(), peNameMax)
	case 'b':
		if err := p.setOption(optSchedFlags); err != nil {
			return err
		}
		p.schedFlags = truncate(str(), schedFlagsArgMax)
	case tagMcastGroup:
		if err := p.setOption(optMcastGroup); err != nil {
			return err
		}
		a := str()
		if strings.Contains(a, ":") {
			ip, err := netip.ParseAddr(a)
			if err != nil || !ip.Is6() || ip.Zone() != "" || !ip.IsMulticast() {
				return fail("invalid IPv6 mcast-group `%s'", a)
			}
			p.daemon.Group = ip
		} else {
			ip, err := netip.ParseAddr(a)
			if err != nil || !ip.Is4() || !ip.IsMulticast() {
				return fail("invalid IPv4 mcast-group `%s'", a)
			}
			p.daemon.Group = ip
		}
	case tagMcastPort:
		if err := p.setOption(optMcastPort); err != nil {
			return err
		}
		v, ok := stringToNumber(str(), 1, 65535)
		if !ok {
			return fail("illegal mcast-port specified")
		}
		p.daemon.Port = uint16(v)
	case tagMcastTTL:
		if err := p.setOption(optMcastTTL); err != nil {
			return err
		}
		v, ok := stringToNumber(str(), 1, 255)
		if !ok {
			return fail("illegal mcast-ttl specified")
		}
		p.daemon.TTL = uint8(v)
	case tagSyncMaxLen:
		if err := p.setOption(optSyncMaxLen); err != nil {
			return err
		}
		// 65535 less the IPv4 and UDP headers.
		v, ok := stringToNumber(str(), 1, 65535-20-8)
		if !ok {
			return fail("illegal sync-maxlen specified")
		}
		p.daemon.MaxLen = uint16(v)
	case tagTunInfo:
		p.format |= FormatTunInfo
		return p.setOption(optTunInfo)
	case tagTunType:
		if err := p.setOption(optTunType); err != nil {
			return err
		}
		t, ok := parseTunType(str())
		if !ok {
			return fail("illegal tunnel type specified")
		}
		p.dest.TunnelType = t
	case tagTunPort:
		if err := p.setOption(optTunPort); err != nil {
			return err
		}
		v, ok := stringToNumber(str(), 1, 65535)
		if !ok {
			return fail("illegal tunnel port specified")
		}
		p.dest.TunnelPort = uint16(v)
	case tagTunNoCsum:
		// IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM is no bit at all.
		return p.setOption(optTunNoCsum)
	case tagTunCsum:
		p.dest.TunnelFlags |= lvs.TunnelCsum
		return p.setOption(optTunCsum)
	case tagTunRemCsum:
		p.dest.TunnelFlags |= lvs.TunnelRemCsum
		return p.setOption(optTunRemCsum)
	case tagJSON:
		return p.jsonOption()
	default:
		// A second command, -h or -v after the command.
		return fail("invalid option `%s'", s.badOption())
	}
	return nil
}

// process is the part of ipvsadm's process_options that checks the whole
// command before acting on it.
func (p *parser) process() (Command, error) {
	if err := p.genericOptCheck(); err != nil {
		return Command{}, err
	}
	if err := p.jsonCheck(); err != nil {
		return Command{}, err
	}
	if p.cmd == CmdAddService || p.cmd == CmdEditService {
		if p.svcFWMark == 0 && p.svcPort == 0 && p.svcFlags&lvs.FlagPersistent == 0 {
			return Command{}, fail("Zero port specified for non-persistent service")
		}
		if p.svcFlags&lvs.FlagOnePacket != 0 && p.svcFWMark == 0 && p.svcProto != lvs.UDP {
			return Command{}, fail("One-Packet Scheduling is only for UDP virtual services")
		}
		if p.svcSched == "" {
			p.svcSched = defaultScheduler
		}
	}
	if p.cmd == CmdStartDaemon && p.daemon.Interface == "" {
		p.daemon.Interface = defaultMcastIfn
	}
	if p.cmd == CmdAddServer || p.cmd == CmdEditServer {
		fwd := p.dest.Forward
		// Tunnelled and directly routed packets keep their port.
		if p.svcFWMark == 0 && (fwd == lvs.Tunnel || fwd == lvs.DirectRoute) {
			p.dest.Port = p.svcPort
		}
		if p.destAF != p.svcAF && fwd != lvs.Tunnel {
			return Command{}, fail("Different address family is allowed only for tunneling servers")
		}
		tunOptions := p.has(optTunType) || p.has(optTunPort) || p.has(optTunNoCsum) || p.has(optTunCsum) || p.has(optTunRemCsum)
		if tunOptions && fwd != lvs.Tunnel {
			return Command{}, fail("Tunnel options conflict with forward method")
		}
		if err := p.tunnelOptCheck(); err != nil {
			return Command{}, err
		}
	}
	if p.cmd == CmdList {
		if (p.has(optConnection) || p.has(optTimeout) || p.has(optDaemon)) && (p.has(optStats) || p.has(optRate) || p.has(optThresholds)) ||
			(p.has(optTimeout) || p.has(optDaemon)) && p.has(optPersistentConn) {
			return Command{}, fail("options conflicts in the list command")
		}
	}
	if p.cmd == CmdSave {
		p.format |= FormatRule
	}
	c := Command{
		Kind:        p.cmd,
		HasService:  p.has(optService),
		Format:      p.format,
		Connections: p.has(optConnection),
		Timeout:     p.has(optTimeout),
		DaemonInfo:  p.has(optDaemon),
		JSON:        p.json,
	}
	c.Service = lvs.Service{
		Family:    p.svcAF,
		Protocol:  p.svcProto,
		Address:   p.svcAddr,
		Port:      p.svcPort,
		FWMark:    p.svcFWMark,
		Scheduler: p.svcSched,
		Flags:     p.svcFlags,
		Timeout:   time.Duration(p.svcTimeout) * time.Second,
		Netmask:   p.svcNetmask,
		PEName:    p.svcPE,
	}
	if p.svcFWMark != 0 {
		c.Service.Protocol = 0
		c.Service.Address = netip.Addr{}
		c.Service.Port = 0
	}
	if p.has(optServer) {
		c.Destination = p.dest
		c.Destination.Family = p.destAF
	}
	if p.cmd == CmdSetTimeouts {
		c.Timeouts = lvs.Timeouts{
			TCP:    time.Duration(p.timeouts[0]) * time.Second,
			TCPFin: time.Duration(p.timeouts[1]) * time.Second,
			UDP:    time.Duration(p.timeouts[2]) * time.Second,
		}
	}
	if p.cmd == CmdStartDaemon || p.cmd == CmdStopDaemon {
		c.Daemon = p.daemon
	}
	return c, nil
}

func (p *parser) genericOptCheck() error {
	row := commandsVOptions[p.cmd]
	cmd := cmdNames[p.cmd]
	count, last := 0, 0
	for j := 0; j < numOpts; j++ {
		if !p.has(j) {
			if row[j] == '+' {
				return fail("You need to supply the '%s' option for the '%s' command", optNames[j], cmd)
			}
			continue
		}
		switch row[j] {
		case 'x':
			return fail("Illegal '%s' option with the '%s' command", optNames[j], cmd)
		case '1':
			count++
			if count == 1 {
				last = j
				continue
			}
			return fail("The option '%s' conflicts with the '%s' option in the '%s' command", optNames[j], optNames[last], cmd)
		}
	}
	return nil
}

func (p *parser) tunnelOptCheck() error {
	t := int(p.dest.TunnelType)
	if t >= len(tunnelTypesVOptions) {
		return nil
	}
	row := tunnelTypesVOptions[t]
	count, last := 0, 0
	for j, k := range tunOpts {
		if !p.has(k) {
			if row[j] == '+' {
				return fail("You need to supply the '%s' option for the '%s' tunnel type", optNames[k], tunNames[t])
			}
			continue
		}
		switch row[j] {
		case 'x':
			return fail("Illegal '%s' option with the '%s' tunnel type", optNames[k], tunNames[t])
		case '1':
			count++
			if count == 1 {
				last = k
				continue
			}
			return fail("The option '%s' conflicts with the '%s' option in the '%s' tunnel type", optNames[k], optNames[last], tunNames[t])
		}
	}
	return nil
}

// parse_service's result bits.
const (
	serviceAddr = 1 << iota
	servicePort
)

type serviceParse struct {
	result int
	af     lvs.Family
	addr   netip.Addr
	port   uint16
}

// parseService is ipvsadm's parse_service: "host[:port]", "[v6addr]:port",
// or a bare IPv6 address. A name is resolved as an IPv4 host
// (gethostbyname) and a port name as a service of proto (getservbyname).
// On failure the address may already be set, as ipvsadm leaves it.
func (p *parser) parseService(buf string, proto lvs.Protocol) serviceParse {
	var r serviceParse
	if strIsDigit(buf) {
		return r
	}
	var port *string
	if strings.HasPrefix(buf, "[") {
		buf = buf[1:]
		i := strings.IndexByte(buf, ']')
		if i < 0 {
			return r
		}
		rest := buf[i+1:]
		buf = buf[:i]
		if !strings.HasPrefix(rest, ":") {
			return r
		}
		v := rest[1:]
		port = &v
	}
	if ip, ok := inetPton6(buf); ok {
		r.af, r.addr = afInet6, ip
	} else {
		// A bracketed IPv4 address loses its port here, as in ipvsadm:
		// the port is looked for again within the brackets only.
		port = nil
		if i := strings.LastIndexByte(buf, ':'); i >= 0 {
			v := buf[i+1:]
			port = &v
			buf = buf[:i]
		}
		if ip, ok := inetAton(buf); ok {
			r.af, r.addr = afInet, ip
		} else if ip, ok := p.res.LookupHost(p.ctx, buf); ok {
			r.af, r.addr = afInet, ip
		} else {
			return r
		}
	}
	r.result |= serviceAddr
	if port != nil {
		r.result |= servicePort
		if n, ok := stringToNumber(*port, 0, 65535); ok {
			r.port = uint16(n)
		} else if n, ok := p.res.LookupService(*port, protoName(proto)); ok {
			r.port = n
		} else {
			r.result = 0
			return r
		}
	}
	return r
}

// parseNetmask is parse_netmask: a dotted mask or a host name, returned in
// host byte order.
func (p *parser) parseNetmask(buf string) (uint32, bool) {
	ip, ok := inetAton(buf)
	if !ok {
		ip, ok = p.res.LookupHost(p.ctx, buf)
		if !ok {
			return 0, false
		}
	}
	b := ip.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), true
}

// protoName is the getservbyname protocol name for a service protocol;
// empty for a protocol ipvsadm looks no names up for.
func protoName(p lvs.Protocol) string {
	switch p {
	case lvs.TCP:
		return "tcp"
	case lvs.UDP:
		return "udp"
	case lvs.SCTP:
		return "sctp"
	}
	return ""
}

func parseTimeout(buf *string, lo, hi int) (int, error) {
	if buf == nil {
		return defaultPersistence, nil
	}
	v, ok := stringToNumber(*buf, int64(lo), int64(hi))
	if !ok {
		return 0, fail("invalid timeout value `%s' specified", *buf)
	}
	return v, nil
}

// parseFWMark is parse_fwmark: strtol base 10, 1..UINT_MAX.
func parseFWMark(buf string) (uint32, error) {
	v, rest, ok := strtol(buf, 10)
	if rest != "" || !ok || v <= 0 || v > math.MaxUint32 {
		return 0, fail("invalid fwmark value `%s' specified", buf)
	}
	return uint32(v), nil
}

func parseSchedFlags(sched, arg string) (lvs.ServiceFlags, error) {
	if sched == "" {
		sched = defaultScheduler
	}
	var flags lvs.ServiceFlags
	// strtok: empty fields between commas vanish.
	for _, f := range strings.Split(arg, ",") {
		if f == "" {
			continue
		}
		switch f {
		case "flag-1":
			flags |= lvs.FlagSched1
		case "flag-2":
			flags |= lvs.FlagSched2
		case "flag-3":
			flags |= lvs.FlagSched3
		case "sh-fallback", "sh-port", "mh-fallback", "mh-port":
			want := f[:2]
			if strings.HasSuffix(f, "fallback") {
				flags |= lvs.FlagSHFallback
			} else {
				flags |= lvs.FlagSHPort
			}
			if sched != want {
				return 0, fail("incompatible scheduler flag `%s'", f)
			}
		default:
			return 0, fail("invalid scheduler flag `%s'", f)
		}
	}
	return flags, nil
}

func parseTunType(s string) (lvs.TunnelType, bool) {
	switch s {
	case "ipip":
		return lvs.TunnelIPIP, true
	case "gue":
		return lvs.TunnelGUE, true
	case "gre":
		return lvs.TunnelGRE, true
	}
	return 0, false
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
