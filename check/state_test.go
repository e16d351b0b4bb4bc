package check

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestHealthSemantics drives the per-job state machine with sequences of
// results ("+" success, "-" failure) and checks, after each, the state and
// the delay to the next check, written "U5s" (up, next in 5 s) or "D1s";
// a "*" marks a transition.
func TestHealthSemantics(t *testing.T) {
	p := Params{Interval: 5 * time.Second, Timeout: time.Second, Retry: 2, DelayBeforeRetry: time.Second}
	alpha := p
	alpha.Alpha = true
	noRetry := p
	noRetry.Retry = 0
	rise3 := p
	rise3.Rise = 3
	tests := []struct {
		name    string
		p       Params
		results string
		want    string
	}{
		// An up server goes down after Retry+1 consecutive failures, the
		// retries DelayBeforeRetry apart; one success brings it back.
		{"retry then down", p, "+---+", "U5s U1s U1s *D5s *U5s"},
		{"a success resets the retries", p, "--+--+", "U1s U1s U5s U1s U1s U5s"},
		{"down stays down at the interval", p, "---------+", "U1s U1s *D5s D5s D5s D5s D5s D5s D5s *U5s"},
		// The first check of a non-alpha target fails like an up one.
		{"first check fails", p, "---", "U1s U1s *D5s"},
		{"retry 0: one failure", noRetry, "+-+", "U5s *D5s *U5s"},
		// Alpha: start down, one success to come up, failures of a down
		// target are not retried.
		{"alpha comes up on success", alpha, "+", "*U5s"},
		{"alpha stays down", alpha, "--+", "D5s D5s *U5s"},
		{"alpha then retry", alpha, "+---", "*U5s U1s U1s *D5s"},
		// Rise (an extension) needs consecutive successes.
		{"rise 3", rise3, "---++-+++", "U1s U1s *D5s D5s D5s D5s D5s D5s *U5s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			h := newHealth(tt.p, now)
			var got []string
			for _, r := range tt.results {
				now = now.Add(time.Second)
				changed, next := h.observe(tt.p, r == '+', now)
				s := "D"
				if h.up {
					s = "U"
				}
				if changed {
					s = "*" + s
					if !h.since.Equal(now) {
						t.Errorf("since %v, want %v", h.since, now)
					}
				}
				got = append(got, fmt.Sprintf("%s%v", s, next))
			}
			if diff := cmp.Diff(tt.want, strings.Join(got, " ")); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	d := time.Duration(0)
	tests := []struct {
		kind Kind
		want Params
	}{
		{KindHTTP, Params{Interval: 60 * time.Second, Timeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: 3 * time.Second, Warmup: 60 * time.Second}},
		{KindHTTPS, Params{Interval: 60 * time.Second, Timeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: 3 * time.Second, Warmup: 60 * time.Second}},
		{KindTCP, Params{Interval: 60 * time.Second, Timeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: time.Second, Warmup: 60 * time.Second}},
		{KindDNS, Params{Interval: 60 * time.Second, Timeout: 5 * time.Second, Retry: 3, DelayBeforeRetry: 60 * time.Second, Warmup: 60 * time.Second}},
		{KindScript, Params{Interval: 60 * time.Second, Timeout: 60 * time.Second, Retry: 0, DelayBeforeRetry: time.Second, Warmup: 60 * time.Second}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, Defaults(tt.kind, d)); diff != "" {
			t.Errorf("Defaults(%s) (-want +got):\n%s", tt.kind, diff)
		}
	}
	if got := Defaults(KindUDP, 2*time.Second); got.Interval != 2*time.Second || got.Warmup != 2*time.Second {
		t.Errorf("Defaults(UDP, 2s) = %+v", got)
	}
	for _, tt := range []struct {
		c    Checker
		want Kind
	}{{HTTP{}, KindHTTP}, {NewHTTPS(HTTP{}, true), KindHTTPS}, {TCP{}, KindTCP}, {UDP{}, KindUDP}, {DNS{}, KindDNS}, {ICMP{}, KindICMP}, {Script{}, KindScript}, {nil, ""}} {
		if got := KindOf(tt.c); got != tt.want {
			t.Errorf("KindOf(%T) = %q, want %q", tt.c, got, tt.want)
		}
	}
}
