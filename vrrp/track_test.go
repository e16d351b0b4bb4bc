package vrrp

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestScriptTracker(t *testing.T) {
	tests := []struct {
		name       string
		rise, fall int
		initFail   bool
		results    string // s = success, f = failure
		want       string // state after each: u, U (up), D (down)
	}{
		{"first success decides", 3, 3, false, "s", "U"},
		{"first failure decides", 3, 3, false, "f", "D"},
		{"fall 2 from up", 1, 2, false, "sfsff", "UUUUD"},
		{"fall 3 from up", 1, 3, false, "sfffs", "UUUDU"},
		{"rise 3 from down", 3, 1, false, "fsssf", "DDDUD"},
		{"rise resets on failure", 2, 1, false, "fsfss", "DDDDU"},
		{"zero rise and fall are 1", 0, 0, false, "sfs", "UDU"},
		{"steady up", 2, 2, false, "ssss", "UUUU"},
		{"init_fail needs rise successes", 2, 2, true, "ss", "DU"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewScriptTracker(tt.rise, tt.fall, tt.initFail)
			prev := TrackUnknown
			if tt.initFail {
				prev = TrackDown
			}
			if tr.State() != prev {
				t.Fatalf("initial state %v", tr.State())
			}
			got := ""
			for _, r := range tt.results {
				st, changed := tr.Observe(r == 's')
				if changed != (st != prev) {
					t.Errorf("changed=%v going %v -> %v", changed, prev, st)
				}
				prev = st
				got += map[TrackState]string{TrackUnknown: "u", TrackUp: "U", TrackDown: "D"}[st]
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("states (-want +got):\n%s", diff)
			}
		})
	}
}
