// Command bench is `make bench`: in one boot of the lab VM it times
// restoring 5,000 virtual services with 10 real servers each through the
// real ipvsadm -R and through lvsctl -R, each run into a fresh network
// namespace, and listing that table with -L -n and -S -n, then prints the
// medians and the ratios lvsctl/ipvsadm.
package main

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lvsctl/lvsctl/lab"
)

//go:embed guest.sh
var guestScript string

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	services := fs.Int("services", 5000, "virtual services to restore")
	dests := fs.Int("dests", 10, "real servers per virtual service")
	runs := fs.Int("runs", 5, "runs per measurement (the median is reported)")
	binary := fs.String("lvsctl", "bin/lvsctl", "the lvsctl binary to measure")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if _, err := os.Stat(*binary); err != nil {
		fmt.Fprintf(stderr, "bench: %v (run make build first)\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "Booting the lab: %d services x %d real servers, %d runs each, every restore into a fresh network namespace.\n",
		*services, *dests, *runs)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	res, err := lab.Run(ctx, lab.Options{
		// The lab runs scripts with dash; the guest script wants bash for
		// $EPOCHREALTIME.
		Script: "exec bash /lab/guest.sh",
		Files:  map[string]string{*binary: "/usr/local/bin/lvsctl"},
		FileData: map[string][]byte{
			"/lab/guest.sh": []byte(guestScript),
			"/lab/rules":    rules(*services, *dests),
		},
		Env:    map[string]string{"RUNS": strconv.Itoa(*runs)},
		Memory: 3072,
		CPUs:   2,
		Stderr: stderr,
		Log:    stderr,
	})
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	if res.ExitCode != 0 {
		fmt.Fprintf(stderr, "bench: the guest script failed with status %d\n%s", res.ExitCode, res.Stdout)
		return 1
	}
	samples, err := parseResults(res.Stdout)
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	report(stdout, samples, *services**dests+*services)
	return 0
}

// rules is an ipvsadm -S style table: services with dests real servers
// each, addresses from the documentation ranges.
func rules(services, dests int) []byte {
	var b bytes.Buffer
	for s := 0; s < services; s++ {
		vip := fmt.Sprintf("198.51.100.%d:%d", 1+s%250, 1000+s/250)
		fmt.Fprintf(&b, "-A -t %s -s wrr\n", vip)
		for d := 0; d < dests; d++ {
			fmt.Fprintf(&b, "-a -t %s -r 192.0.2.%d:80 -m -w %d\n", vip, 1+d, 1+d%3)
		}
	}
	return b.Bytes()
}

// progress echoes the guest's measurements as they arrive: a full run
// takes minutes under emulation. Writes may split lines; it buffers.
type progress struct {
	w   io.Writer
	buf []byte
}

func (p *progress) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(p.buf[:i+1])
		p.buf = p.buf[i+1:]
		if strings.HasPrefix(line, "RESULT ") || strings.HasPrefix(line, "INFO ") {
			fmt.Fprint(p.w, "  ", line)
		}
	}
}

func parseResults(out []byte) (map[string][]float64, error) {
	samples := map[string][]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "RESULT" {
			continue
		}
		v, err := strconv.ParseFloat(f[3], 64)
		if err != nil {
			return nil, fmt.Errorf("bad result line %q: %w", sc.Text(), err)
		}
		samples[f[1]] = append(samples[f[1]], v)
	}
	if len(samples) == 0 {
		return nil, fmt.Errorf("the guest reported no measurements")
	}
	return samples, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func report(w io.Writer, samples map[string][]float64, ops int) {
	fmt.Fprintf(w, "\n%-34s %12s %12s %8s\n", "measurement (median)", "ipvsadm", "lvsctl", "ratio")
	row := func(label, key string, perOp bool) {
		a, l := median(samples[key+"-ipvsadm"]), median(samples[key+"-lvsctl"])
		if a == 0 || l == 0 {
			return
		}
		fmt.Fprintf(w, "%-34s %11.3fs %11.3fs %8.3f\n", label, a, l, l/a)
		if perOp {
			fmt.Fprintf(w, "%-34s %11.1fµ %11.1fµ\n", "  per operation", a/float64(ops)*1e6, l/float64(ops)*1e6)
		}
	}
	row(fmt.Sprintf("restore -R (%d operations)", ops), "restore", true)
	row("list -L -n", "list", false)
	row("save -S -n", "save", false)
	fmt.Fprintln(w)
	row("restore right after -C (trash list)", "restore-after-clear", false)
	fmt.Fprintln(w, "\nThe last row is dominated by the kernel: after -C it keeps removed destinations")
	fmt.Fprintln(w, "in a trash list for minutes, and each new destination searches it linearly.")
}
