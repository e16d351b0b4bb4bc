package vrrp

// ScriptTracker turns the exit statuses of a vrrp_script into its OK/failed
// state with keepalived's rise and fall: a failed script turns OK after
// `rise` consecutive successes, an OK script fails after `fall` consecutive
// failures, and the first result after start decides at once. It is pure; the
// runner executes the script and feeds Observe.
//
// keepalived keeps a counter from 0 to rise+fall-1 (vrrp_script_child_thread:
// OK when it is at least rise); the tracker does the same so that a flapping
// script moves exactly as it would under keepalived.
type ScriptTracker struct {
	rise, fall int
	result     int
	state      TrackState
}

// TrackState is what the instance knows of a tracked script or interface.
type TrackState uint8

// The track states. A script is TrackUnknown until its first result; it then
// neither adds nor subtracts its weight and does not fault the instance.
const (
	TrackUnknown TrackState = iota
	TrackUp
	TrackDown
)

func (s TrackState) String() string {
	switch s {
	case TrackUp:
		return "up"
	case TrackDown:
		return "down"
	}
	return "unknown"
}

// NewScriptTracker returns a tracker in the unknown state, or with
// initFail (keepalived's init_fail) failed from the start, needing rise
// successes. rise and fall below 1 count as 1 (keepalived's defaults).
func NewScriptTracker(rise, fall int, initFail bool) *ScriptTracker {
	rise, fall = max(rise, 1), max(fall, 1)
	if initFail {
		return &ScriptTracker{rise: rise, fall: fall, result: 0, state: TrackDown}
	}
	// One result short of OK: the first success makes it OK, and the
	// first failure, being the first result, makes it failed.
	return &ScriptTracker{rise: rise, fall: fall, result: rise - 1}
}

// State returns the current state.
func (s *ScriptTracker) State() TrackState { return s.state }

// Observe records one run of the script (success: exit status 0) and
// reports the state afterwards and whether it changed.
func (s *ScriptTracker) Observe(success bool) (TrackState, bool) {
	old := s.state
	if success {
		if s.result < s.rise-1 {
			s.result++
		} else {
			s.result = s.rise + s.fall - 1
			s.state = TrackUp
		}
	} else {
		if s.result > s.rise {
			s.result--
		} else {
			if s.result == s.rise || s.state == TrackUnknown {
				s.state = TrackDown
			}
			s.result = 0
		}
	}
	return s.state, s.state != old
}
