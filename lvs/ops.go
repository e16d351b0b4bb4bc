package lvs

// OpKind is what an Op does.
type OpKind int

// Operation kinds, one per state-changing IPVS command.
const (
	AddService        OpKind = iota + 1 // IPVS_CMD_NEW_SERVICE
	EditService                         // IPVS_CMD_SET_SERVICE
	DeleteService                       // IPVS_CMD_DEL_SERVICE
	Flush                               // IPVS_CMD_FLUSH
	AddDestination                      // IPVS_CMD_NEW_DEST
	EditDestination                     // IPVS_CMD_SET_DEST
	DeleteDestination                   // IPVS_CMD_DEL_DEST
	Zero                                // IPVS_CMD_ZERO (Service set: that service only)
	SetTimeouts                         // IPVS_CMD_SET_CONFIG
	StartDaemon                         // IPVS_CMD_NEW_DAEMON
	StopDaemon                          // IPVS_CMD_DEL_DAEMON
)

var opNames = map[OpKind]string{
	AddService:        "add-service",
	EditService:       "edit-service",
	DeleteService:     "delete-service",
	Flush:             "flush",
	AddDestination:    "add-destination",
	EditDestination:   "edit-destination",
	DeleteDestination: "delete-destination",
	Zero:              "zero",
	SetTimeouts:       "set-timeouts",
	StartDaemon:       "start-daemon",
	StopDaemon:        "stop-daemon",
}

func (k OpKind) String() string {
	if s, ok := opNames[k]; ok {
		return s
	}
	return "unknown-op"
}

// Op is one state-changing operation on the IPVS table. Only the fields the
// Kind needs are read: Service for service and destination operations (and
// for Zero, when AllServices is false), Destination for destination
// operations, Timeouts for SetTimeouts, Daemon for the daemon operations.
type Op struct {
	Kind        OpKind
	Service     Service
	Destination Destination
	Timeouts    Timeouts
	Daemon      SyncDaemon
	// AllServices makes Zero apply to every service.
	AllServices bool
}
