package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const testOutput = `=== RUN   TestMeasure/v3_0.1s/lvsctl
    measure_test.go:142: bench: v3_0.1s lvsctl takeover_garp 361357373 360937500 361680446 361357373
    measure_test.go:144: bench: v3_0.1s lvsctl rss_kb 17588 30720
    measure_test.go:142: bench: v3_0.1s keepalived takeover_garp 362635440 360937500 361632740
    measure_test.go:47: figures (medians of 5 runs):
`

func TestParse(t *testing.T) {
	got := parse(strings.NewReader(testOutput))
	want := []sample{
		{variant: "v3_0.1s", impl: "lvsctl", metric: "takeover_garp", median: 361357373, ref: 360937500},
		{variant: "v3_0.1s", impl: "lvsctl", metric: "rss_kb", median: 17588, ref: 30720},
		{variant: "v3_0.1s", impl: "keepalived", metric: "takeover_garp", median: 362635440, ref: 360937500},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(sample{})); diff != "" {
		t.Errorf("parse (-want +got):\n%s", diff)
	}
}

func TestReport(t *testing.T) {
	for _, tc := range []struct {
		name   string
		lines  string
		wantOK bool
		want   []string
	}{
		{"met", testOutput, true, []string{"+0.42 ms", "+1.70 ms", "17.2 MB", "57%", "met"}},
		{"late", "bench: v2_1s lvsctl takeover_vip 3611000000 3609375000\n", false, []string{"+1.62 ms", "MISSED"}},
		{"early", "bench: v2_1s lvsctl graceful_vip 609000000 609375000\n", false, []string{"-0.38 ms", "MISSED"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if ok := report(&b, parse(strings.NewReader(tc.lines))); ok != tc.wantOK {
				t.Errorf("report = %v, want %v", ok, tc.wantOK)
			}
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("report lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}
