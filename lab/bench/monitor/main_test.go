package main

import (
	"bytes"
	"strings"
	"testing"
)

// guestOutput is what guest.sh prints for two rounds of 4 servers.
const guestOutput = `INFO 4 farm addresses
INFO round 1
RESULT lvsctl ready 1.5
RESULT lvsctl wall 10
RESULT lvsctl cpu 2
RESULT lvsctl requests 40
RESULT lvsctl table-start 4
RESULT lvsctl table-end 4
RESULT lvsctl idle 0.5
PROC lvsctl 100 lvsctl 20480 30720
RESULT keepalived ready 1
RESULT keepalived wall 10
RESULT keepalived cpu 4
RESULT keepalived requests 40
RESULT keepalived table-start 4
RESULT keepalived table-end 4
RESULT keepalived idle 0.4
PROC keepalived 110 keepalived 10240 10240
PROC keepalived 112 keepalived 4096 8192
INFO round 2
RESULT keepalived ready 1
RESULT keepalived wall 10
RESULT keepalived cpu 6
RESULT keepalived requests 40
RESULT keepalived table-start 4
RESULT keepalived table-end 4
RESULT keepalived idle 0.4
PROC keepalived 120 keepalived 10240 10240
PROC keepalived 122 keepalived 5120 8192
RESULT lvsctl ready 1.5
RESULT lvsctl wall 10
RESULT lvsctl cpu 4
RESULT lvsctl requests 40
RESULT lvsctl table-start 4
RESULT lvsctl table-end 4
RESULT lvsctl idle 0.5
PROC lvsctl 130 lvsctl 30720 30720
RESULT bash-loop ready 0
RESULT bash-loop wall 10
RESULT bash-loop cpu 1
RESULT bash-loop requests 20
RESULT bash-loop table-start 0
RESULT bash-loop table-end 0
RESULT bash-loop idle 0.9
PROC bash-loop 140 bash 3072 3072
`

func TestReport(t *testing.T) {
	r, err := parse([]byte(guestOutput))
	if err != nil {
		t.Fatal(err)
	}
	if len(r["lvsctl"]) != 2 || len(r["keepalived"]) != 2 || len(r["keepalived"][1].procs) != 2 {
		t.Fatalf("parsed %+v", r)
	}
	if err := r.check(4); err != nil {
		t.Fatal(err)
	}
	if err := r.check(5); err == nil {
		t.Error("a short table passed")
	}
	var b bytes.Buffer
	r.report(&b, 4, 2)
	out := b.String()
	for _, want := range []string{
		// lvsctl 20 % and 40 %, keepalived 40 % and 60 %: medians 30 and 50.
		"CPU time / wall time                   30.0 %           50.0 %     0.60   (target <= 1.0: met)",
		"requests/s at the farm                      4                4\n",
		"RSS at the window's end               25.0 MB          14.5 MB            (target lvsctl <= 60.0 MB: met)",
		"keepalived pid 120   keepalived      10.0 MB    10.0 MB (parent)",
		"keepalived pid 122   keepalived       5.0 MB     8.0 MB (checker child)",
		"CPU 10.0 % of wall time,",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "made") {
		t.Errorf("equal request rates explained as different:\n%s", out)
	}
	// keepalived falling behind the configured rate is said.
	r["keepalived"][0].v["requests"] /= 2
	r["keepalived"][1].v["requests"] /= 2
	b.Reset()
	r.report(&b, 4, 2)
	out = b.String()
	for _, want := range []string{
		"The configuration asks for 4 checks a second: lvsctl made 100 % of them, keepalived 50 %.",
		"CPU time per check\ncompares the same work.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestParseRefusesMissing(t *testing.T) {
	if _, err := parse([]byte("RESULT lvsctl ready 1\n")); err == nil {
		t.Error("no keepalived figures passed")
	}
	if _, err := parse([]byte("RESULT lvsctl wall 1\n")); err == nil {
		t.Error("a result before its measurement's first line passed")
	}
}
