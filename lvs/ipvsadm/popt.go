package ipvsadm

import "strings"

// argKind is how an option takes a value (POPT_ARG_NONE, POPT_ARG_STRING,
// POPT_ARG_STRING|POPT_ARGFLAG_OPTIONAL).
type argKind uint8

const (
	argNone argKind = iota
	argRequired
	argOptional
)

// Option tags. Options with a short name are tagged with that character;
// the long-only ones get values above the ASCII range, as ipvsadm does.
const (
	tagSet = 128 + iota
	tagStartDaemon
	tagStopDaemon
	tagMcastInterface
	tagTimeout
	tagDaemon
	tagStats
	tagRate
	tagThresholds
	tagPersistentConn
	tagSort
	tagNoSort
	tagPE
	tagSCTPService
	tagMcastGroup
	tagMcastPort
	tagMcastTTL
	tagSyncMaxLen
	tagTunInfo
	tagTunType
	tagTunPort
	tagTunNoCsum
	tagTunCsum
	tagTunRemCsum
	tagJSON // lvsctl's own: not in ipvsadm (json.go)

	tagSyncID = 'I' // --syncid has no short form but ipvsadm tags it 'I'
)

type optionSpec struct {
	long  string
	short byte
	kind  argKind
	tag   int
}

// options is ipvsadm 1.31's popt option table, in its order: popt searches
// it front to back, so with "list" twice, --list always finds -L.
var options = [...]optionSpec{
	{"add-service", 'A', argNone, 'A'},
	{"edit-service", 'E', argNone, 'E'},
	{"delete-service", 'D', argNone, 'D'},
	{"clear", 'C', argNone, 'C'},
	{"list", 'L', argNone, 'L'},
	{"list", 'l', argNone, 'l'},
	{"zero", 'Z', argNone, 'Z'},
	{"add-server", 'a', argNone, 'a'},
	{"edit-server", 'e', argNone, 'e'},
	{"delete-server", 'd', argNone, 'd'},
	{"set", 0, argNone, tagSet},
	{"help", 'h', argNone, 'h'},
	{"version", 'v', argNone, 'v'},
	{"restore", 'R', argNone, 'R'},
	{"save", 'S', argNone, 'S'},
	{"start-daemon", 0, argRequired, tagStartDaemon},
	{"stop-daemon", 0, argRequired, tagStopDaemon},
	{"tcp-service", 't', argRequired, 't'},
	{"udp-service", 'u', argRequired, 'u'},
	{"sctp-service", 0, argRequired, tagSCTPService},
	{"fwmark-service", 'f', argRequired, 'f'},
	{"scheduler", 's', argRequired, 's'},
	{"persistent", 'p', argOptional, 'p'},
	{"netmask", 'M', argRequired, 'M'},
	{"real-server", 'r', argRequired, 'r'},
	{"masquerading", 'm', argNone, 'm'},
	{"ipip", 'i', argNone, 'i'},
	{"gatewaying", 'g', argNone, 'g'},
	{"weight", 'w', argRequired, 'w'},
	{"u-threshold", 'x', argRequired, 'x'},
	{"l-threshold", 'y', argRequired, 'y'},
	{"numeric", 'n', argNone, 'n'},
	{"connection", 'c', argNone, 'c'},
	{"mcast-interface", 0, argRequired, tagMcastInterface},
	{"syncid", 0, argRequired, tagSyncID},
	{"timeout", 0, argNone, tagTimeout},
	{"daemon", 0, argNone, tagDaemon},
	{"stats", 0, argNone, tagStats},
	{"rate", 0, argNone, tagRate},
	{"thresholds", 0, argNone, tagThresholds},
	{"persistent-conn", 0, argNone, tagPersistentConn},
	{"nosort", 0, argNone, tagNoSort},
	{"sort", 0, argNone, tagSort},
	{"exact", 'X', argNone, 'X'},
	{"ipv6", '6', argNone, '6'},
	{"ops", 'o', argNone, 'o'},
	{"pe", 0, argRequired, tagPE},
	{"sched-flags", 'b', argRequired, 'b'},
	{"mcast-group", 0, argRequired, tagMcastGroup},
	{"mcast-port", 0, argRequired, tagMcastPort},
	{"mcast-ttl", 0, argRequired, tagMcastTTL},
	{"sync-maxlen", 0, argRequired, tagSyncMaxLen},
	{"tun-info", 0, argNone, tagTunInfo},
	{"tun-type", 0, argRequired, tagTunType},
	{"tun-port", 0, argRequired, tagTunPort},
	{"tun-nocsum", 0, argNone, tagTunNoCsum},
	{"tun-csum", 0, argNone, tagTunCsum},
	{"tun-remcsum", 0, argNone, tagTunRemCsum},
	{"json", 0, argNone, tagJSON}, // lvsctl only, last so it shadows nothing
}

// popt's return codes (POPT_ERROR_*) and their poptStrerror texts.
const (
	poptDone        = -1
	poptNoArg       = -10 // POPT_ERROR_NOARG
	poptUnwantedArg = -12 // POPT_ERROR_UNWANTEDARG
	poptBadOpt      = -11 // POPT_ERROR_BADOPT
)

func poptStrerror(code int) string {
	switch code {
	case poptNoArg:
		return "missing argument"
	case poptUnwantedArg:
		return "option does not take an argument"
	case poptBadOpt:
		return "unknown option"
	}
	return "unknown error"
}

// poptScanner walks an argument vector the way poptGetNextOpt does for a
// context made without aliases, execs or flags.
type poptScanner struct {
	argv []string // argv[0] is the program name and is skipped
	next int      // index of the next argv element to look at

	// chars is the rest of a bundle of short options ("-Lnc" after L
	// is "nc"); inBundle says whether there is one.
	chars    string
	inBundle bool

	restLeftover bool // after "--" (or any argument, with POSIXLY_CORRECT)
	posix        bool
	strict       bool // ipvsadm's options only: lvsctl's own are unknown
	leftovers    []string
	nextLeftover int
}

func newPoptScanner(argv []string, posixlyCorrect, strict bool) *poptScanner {
	return &poptScanner{argv: argv, next: 1, posix: posixlyCorrect, strict: strict}
}

// nextOpt returns the next option's tag and value (arg is nil when the
// option has none), poptDone at the end, or a POPT_ERROR_* code.
func (s *poptScanner) nextOpt() (tag int, arg *string) {
	for {
		var opt *optionSpec
		var longArg *string
		if !s.inBundle {
			if s.next >= len(s.argv) {
				return poptDone, nil
			}
			orig := s.argv[s.next]
			s.next++
			if s.restLeftover || !strings.HasPrefix(orig, "-") || orig == "-" {
				if s.posix {
					s.restLeftover = true
				}
				s.leftovers = append(s.leftovers, orig)
				continue
			}
			if orig == "--" {
				s.restLeftover = true
				continue
			}
			name, oneDash := orig[1:], true
			if strings.HasPrefix(name, "-") {
				name, oneDash = name[1:], false
			}
			if i := strings.IndexByte(name, '='); i >= 0 {
				v := name[i+1:]
				name, longArg = name[:i], &v
			}
			if !oneDash {
				// popt matches long names exactly: no abbreviations.
				for i := range options {
					if options[i].long == name && !(s.strict && options[i].tag == tagJSON) {
						opt = &options[i]
						break
					}
				}
				if opt == nil {
					return poptBadOpt, nil
				}
			} else {
				// A single dash never names a long option here (no
				// option has POPT_ARGFLAG_ONEDASH): it is a bundle.
				s.chars, s.inBundle = orig[1:], true
				longArg = nil
			}
		}
		if s.inBundle {
			c := s.chars[0]
			s.chars, s.inBundle = s.chars[1:], false
			for i := range options {
				if options[i].short == c {
					opt = &options[i]
					break
				}
			}
			if opt == nil {
				return poptBadOpt, nil
			}
			s.inBundle = s.chars != ""
		}
		if opt.kind == argNone {
			if longArg != nil || (s.inBundle && s.chars[0] == '=') {
				return poptUnwantedArg, nil
			}
			return opt.tag, nil
		}
		switch {
		case longArg != nil:
			arg = longArg
		case s.inBundle:
			// popt strips one '=' ("-w=3" gives "3", "-w==3" gives "=3").
			v := strings.TrimPrefix(s.chars, "=")
			arg = &v
			s.chars, s.inBundle = "", false
		case s.next >= len(s.argv):
			if opt.kind != argOptional {
				return poptNoArg, nil
			}
		case opt.kind == argOptional && strings.HasPrefix(s.argv[s.next], "-"):
			// The optional value of -p is never an option-looking word.
		default:
			v := s.argv[s.next]
			s.next++
			arg = &v
		}
		return opt.tag, arg
	}
}

// badOption is poptBadOption(POPT_BADOPTION_NOALIAS): the argv element
// last consumed.
func (s *poptScanner) badOption() string {
	if s.next == 0 {
		return ""
	}
	return s.argv[s.next-1]
}

// arg is poptGetArg: the next leftover argument.
func (s *poptScanner) arg() (string, bool) {
	if s.nextLeftover >= len(s.leftovers) {
		return "", false
	}
	s.nextLeftover++
	return s.leftovers[s.nextLeftover-1], true
}
