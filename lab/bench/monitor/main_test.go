package main

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

// guestOutput is what guest.sh prints for two rounds of 4 servers.
const guestOutput = `INFO 4 farm addresses
INFO round 1
RESULT lvsctl ready 1.5
RESULT lvsctl wall 10
RESULT lvsctl cpu 2
RESULT lvsctl sys 1.8
RESULT lvsctl period-p50 1.0
RESULT lvsctl period-p99 1.1
RESULT lvsctl requests 40
RESULT lvsctl table-start 4
RESULT lvsctl table-end 4
RESULT lvsctl idle 0.5
PROC lvsctl 100 lvsctl 20480 30720
RESULT keepalived ready 1
RESULT keepalived wall 10
RESULT keepalived cpu 4
RESULT keepalived sys 3.6
RESULT keepalived period-p50 1.3
RESULT keepalived period-p99 1.8
RESULT keepalived requests 40
RESULT keepalived table-start 4
RESULT keepalived table-end 4
RESULT keepalived idle 0.4
PROC keepalived 110 keepalived 10240 10240
PROC keepalived 112 keepalived 4096 8192
RESULT lvsctl-paced ready 1.5
RESULT lvsctl-paced wall 10
RESULT lvsctl-paced cpu 1.5
RESULT lvsctl-paced sys 1.35
RESULT lvsctl-paced period-p50 1.3
RESULT lvsctl-paced period-p99 1.4
RESULT lvsctl-paced requests 40
RESULT lvsctl-paced table-start 4
RESULT lvsctl-paced table-end 4
RESULT lvsctl-paced idle 0.5
PROC lvsctl-paced 105 lvsctl 20480 30720
INFO round 2
RESULT keepalived ready 1
RESULT keepalived wall 10
RESULT keepalived cpu 6
RESULT keepalived sys 5.4
RESULT keepalived period-p50 1.3
RESULT keepalived period-p99 1.8
RESULT keepalived requests 40
RESULT keepalived table-start 4
RESULT keepalived table-end 4
RESULT keepalived idle 0.4
PROC keepalived 120 keepalived 10240 10240
PROC keepalived 122 keepalived 5120 8192
RESULT lvsctl ready 1.5
RESULT lvsctl wall 10
RESULT lvsctl cpu 4
RESULT lvsctl sys 3.6
RESULT lvsctl period-p50 1.0
RESULT lvsctl period-p99 1.1
RESULT lvsctl requests 40
RESULT lvsctl table-start 4
RESULT lvsctl table-end 4
RESULT lvsctl idle 0.5
PROC lvsctl 130 lvsctl 30720 30720
RESULT lvsctl-paced ready 1.5
RESULT lvsctl-paced wall 10
RESULT lvsctl-paced cpu 3.5
RESULT lvsctl-paced sys 3.15
RESULT lvsctl-paced period-p50 1.3
RESULT lvsctl-paced period-p99 1.4
RESULT lvsctl-paced requests 40
RESULT lvsctl-paced table-start 4
RESULT lvsctl-paced table-end 4
RESULT lvsctl-paced idle 0.5
PROC lvsctl-paced 135 lvsctl 20480 30720
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
	// keepalived falling behind the configured rate is said.
	r["keepalived"][0].v["requests"] /= 2
	r["keepalived"][1].v["requests"] /= 2
	b.WriteString("\n--- keepalived at half the rate ---\n")
	r.report(&b, 4, 2)
	golden(t, "testdata/report.golden", b.Bytes())
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it); got:\n%s", path, got)
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
