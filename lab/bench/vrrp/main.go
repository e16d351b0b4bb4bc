// Command vrrp is the VRRP part of `make bench`: issue 6's failover
// figures for lvsctl next to keepalived, measured on the same topology
// (host network namespaces: two speakers and a bystander on a bridge; the
// lab VM has no keepalived). It runs vrrp's TestMeasure, which does the
// measuring, and prints its medians as a table:
//
//   - takeover: from the master's last advert, as the bystander's kernel
//     stamped it, to the backup's first advert, to the VIP on the backup
//     (seen through rtnetlink by the test, so a little late) and to the
//     first gratuitous ARP the bystander receives, against
//     Master_Down_Interval (target: at most 1 ms over, never under);
//   - graceful stop: from the priority 0 advert to the VIP and the first
//     gratuitous ARP, against Skew_Time (same target);
//   - the RSS of the running backup speaker (target: 30 MB at most).
//
// Usage, as root with keepalived installed:
//
//	go run ./lab/bench/vrrp [-runs 5]
//	go run ./lab/bench/vrrp -from saved-test-output.txt
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// sample is one "bench:" line of TestMeasure.
type sample struct {
	variant, impl, metric string
	median, ref           int64 // ns; kB for rss_kb
}

var benchLine = regexp.MustCompile(`bench: (\S+) (\S+) (\S+) (-?\d+) (-?\d+)`)

func parse(r io.Reader) []sample {
	var out []sample
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		med, _ := strconv.ParseInt(m[4], 10, 64)
		ref, _ := strconv.ParseInt(m[5], 10, 64)
		out = append(out, sample{variant: m[1], impl: m[2], metric: m[3], median: med, ref: ref})
	}
	return out
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench-vrrp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	runs := fs.Int("runs", 5, "runs per figure (the median is reported)")
	from := fs.String("from", "", "print the table from a saved `FILE` of TestMeasure's -v output instead of measuring")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *from != "" {
		f, err := os.Open(*from)
		if err != nil {
			fmt.Fprintf(stderr, "bench-vrrp: %v\n", err)
			return 1
		}
		defer f.Close()
		if !report(stdout, parse(f)) {
			return 1
		}
		return 0
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "bench-vrrp: needs root (network namespaces)")
		return 1
	}
	if _, err := exec.LookPath("keepalived"); err != nil {
		fmt.Fprintln(stderr, "bench-vrrp: keepalived is not installed (apt-get install keepalived)")
		return 1
	}
	fmt.Fprintf(stdout, "VRRP failover: lvsctl next to keepalived, host network namespaces, medians of %d runs (about %d s).\n",
		*runs, 40**runs)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-tags", "integration", "-count=1", "-timeout", "30m",
		"-run", "^TestMeasure$", "-v", "github.com/lvsctl/lvsctl/vrrp")
	cmd.Env = append(os.Environ(), "LVSCTL_MEASURE=1", fmt.Sprintf("LVSCTL_MEASURE_RUNS=%d", *runs))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(stderr, "bench-vrrp: go test: %v\n%s", err, out.Bytes())
		return 1
	}
	samples := parse(&out)
	if len(samples) == 0 {
		fmt.Fprintf(stderr, "bench-vrrp: no figures in the test's output\n%s", out.Bytes())
		return 1
	}
	if !report(stdout, samples) {
		return 1
	}
	return 0
}

var metrics = []struct{ key, label, ref string }{
	{"takeover_advert", "takeover, to the backup's first advert", "Master_Down_Interval"},
	{"takeover_vip", "takeover, to the VIP on the backup", "Master_Down_Interval"},
	{"takeover_garp", "takeover, to the first gratuitous ARP", "Master_Down_Interval"},
	{"graceful_vip", "graceful stop, to the VIP on the backup", "Skew_Time"},
	{"graceful_garp", "graceful stop, to the first gratuitous ARP", "Skew_Time"},
	{"rss_kb", "RSS of the running backup speaker", "target"},
}

// report prints one table per variant; it returns false when an lvsctl
// figure misses its target (timers: at most 1 ms over the reference and
// never under; RSS: at most the reference).
func report(w io.Writer, samples []sample) bool {
	var variants []string
	by := map[[3]string]sample{}
	for _, s := range samples {
		if !slices.Contains(variants, s.variant) {
			variants = append(variants, s.variant)
		}
		by[[3]string{s.variant, s.impl, s.metric}] = s
	}
	ok := true
	for _, v := range variants {
		fmt.Fprintf(w, "\n%s (priority 101 master, 100 backup)\n", strings.ReplaceAll(v, "_", " at "))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "figure\treference\tlvsctl\tover\tkeepalived\tover\tlvsctl target\t")
		for _, m := range metrics {
			l, lok := by[[3]string{v, "lvsctl", m.key}]
			k, kok := by[[3]string{v, "keepalived", m.key}]
			if !lok && !kok {
				continue
			}
			ref := l.ref
			if !lok {
				ref = k.ref
			}
			verdict := "-"
			if lok {
				if m.key == "rss_kb" {
					verdict = pass(l.median <= l.ref)
				} else {
					over := l.median - l.ref
					verdict = pass(over >= 0 && over <= int64(time.Millisecond))
				}
				if verdict != "met" {
					ok = false
				}
			}
			fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s\t%s\t%s\t%s\t\n", m.label, m.ref, value(m.key, ref),
				value(m.key, l.median), over(m.key, l, lok), value(m.key, k.median), over(m.key, k, kok), verdict)
		}
		tw.Flush()
	}
	return ok
}

func pass(b bool) string {
	if b {
		return "met"
	}
	return "MISSED"
}

func value(metric string, v int64) string {
	if metric == "rss_kb" {
		return fmt.Sprintf("%.1f MB", float64(v)/1024)
	}
	return fmt.Sprintf("%.3f ms", float64(v)/1e6)
}

func over(metric string, s sample, ok bool) string {
	if !ok {
		return "-"
	}
	if metric == "rss_kb" {
		return fmt.Sprintf("%.0f%%", 100*float64(s.median)/float64(s.ref))
	}
	return fmt.Sprintf("%+.2f ms", float64(s.median-s.ref)/1e6)
}
