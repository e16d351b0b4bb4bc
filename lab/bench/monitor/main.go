// Command monitor is the health-check figure of `make bench`: in one boot
// of the lab VM, the same keepalived.conf of 1,000 real servers checked
// over HTTP every second is run by lvsctl monitor and by keepalived's
// checker, each over the same window once its table is full, and a bash
// loop checks 20 of the servers for scale. It prints the CPU time of each
// checker's whole process tree, its memory, the requests per second the
// farm answered, and the ratio lvsctl/keepalived.
//
// Run on the host it builds itself for the guest (static), boots the lab
// with lvsctl, keepalived and its libraries as per-run files, and reads
// the guest's report. Inside the guest the same program is the farm
// (monbench farm), the measurement (monbench measure) and the source of
// the setup script, the configuration and the bash loop.
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
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lvsctl/lvsctl/lab"
	"github.com/lvsctl/lvsctl/lab/bench/monitor/checkbench"
)

//go:embed guest.sh
var guestScript string

// self is this program's import path: the host builds it for the guest.
const self = "github.com/lvsctl/lvsctl/lab/bench/monitor"

// guestBinary is where the guest finds this program.
const guestBinary = "/usr/local/bin/monbench"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "setup", "conf", "loop":
			every := time.Second
			if args[0] == "conf" && len(args) == 3 {
				// monbench conf N SECONDS: another delay_loop.
				d, err := strconv.ParseFloat(args[2], 64)
				if err != nil || d < 0.001 || d > 60 {
					fmt.Fprintf(stderr, "monbench conf: bad delay_loop %q\n", args[2])
					return 2
				}
				every, args = time.Duration(d*1e6)*time.Microsecond, args[:2]
			}
			if len(args) != 2 {
				fmt.Fprintf(stderr, "monbench %s N\n", args[0])
				return 2
			}
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 1 {
				fmt.Fprintf(stderr, "monbench %s: bad count %q\n", args[0], args[1])
				return 2
			}
			switch args[0] {
			case "setup":
				io.WriteString(stdout, checkbench.Setup(n))
			case "conf":
				stdout.Write(checkbench.ConfEvery(n, every))
			case "loop":
				io.WriteString(stdout, checkbench.BashLoop(n))
			}
			return 0
		case "farm":
			return farm(stderr)
		case "requests":
			// The farm's request count so far, for experiments.
			n, err := checkbench.ReadRequests(checkbench.ControlPath)
			if err != nil {
				fmt.Fprintf(stderr, "monbench requests: %v\n", err)
				return 1
			}
			fmt.Fprintln(stdout, n.Requests)
			return 0
		case "measure":
			return measure(args[1:], stdout, stderr)
		}
	}
	return host(args, stdout, stderr)
}

// farm serves the real servers until SIGTERM.
func farm(stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var f checkbench.Farm
	if err := f.Serve(ctx, "[::]:80", checkbench.ControlPath); err != nil {
		fmt.Fprintf(stderr, "monbench farm: %v\n", err)
		return 1
	}
	return 0
}

// measure runs checkbench.Measure on the command after "--" and prints
//
//	RESULT <name> <key> <value>
//	PROC <name> <pid> <comm> <rss KiB> <peak KiB>
func measure(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("measure", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "label of the RESULT lines")
	servers := fs.Int("servers", 0, "real servers the table must hold before the window")
	settle := fs.Duration("settle", 5*time.Second, "wait after the table is full")
	window := fs.Duration("window", 30*time.Second, "measured time")
	logPath := fs.String("log", "/dev/null", "the checker's stdout and stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 || *name == "" {
		fmt.Fprintln(stderr, "monbench measure -name NAME [flags] -- COMMAND...")
		return 2
	}
	log, err := os.Create(*logPath)
	if err != nil {
		fmt.Fprintf(stderr, "monbench measure: %v\n", err)
		return 1
	}
	defer log.Close()
	cmd := exec.Command(fs.Arg(0), fs.Args()[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	opt := checkbench.Options{
		Cmd: cmd, Servers: *servers, Settle: *settle, Window: *window,
		FarmControl: checkbench.ControlPath,
	}
	if *servers == 0 {
		opt.Table = func(context.Context) (int, error) { return 0, nil }
	}
	fig, err := checkbench.Measure(context.Background(), opt)
	if err != nil {
		fmt.Fprintf(stderr, "monbench measure %s: %v\n", *name, err)
		return 1
	}
	res := func(k string, v any) { fmt.Fprintf(stdout, "RESULT %s %s %v\n", *name, k, v) }
	res("ready", fig.Ready.Seconds())
	res("wall", fig.Wall.Seconds())
	res("cpu", fig.CPU.Seconds())
	res("sys", fig.Sys.Seconds())
	res("period-n", fig.Period.N)
	res("period-p50", fig.Period.P50.Seconds())
	res("period-p99", fig.Period.P99.Seconds())
	res("period-max", fig.Period.Max.Seconds())
	res("requests", fig.Requests)
	res("table-start", fig.TableStart)
	res("table-end", fig.TableEnd)
	res("idle", fig.Idle)
	for _, p := range fig.End {
		fmt.Fprintf(stdout, "PROC %s %d %s %d %d\n", *name, p.PID, strings.ReplaceAll(p.Comm, " ", "_"), p.RSS, p.HWM)
	}
	return 0
}

func host(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench monitor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	servers := fs.Int("servers", 1000, "real servers in the keepalived.conf")
	loop := fs.Int("loop", 20, "real servers the bash loop checks")
	window := fs.Duration("window", 30*time.Second, "measured time of each checker, once its table is full")
	rounds := fs.Int("rounds", 1, "runs of each checker, in alternating order (medians are reported)")
	binary := fs.String("lvsctl", "bin/lvsctl", "the lvsctl binary to measure")
	lvsctlEnv := fs.String("lvsctl-env", "", "`NAME=value ...` words added to lvsctl's environment (GOMAXPROCS=1, GOGC=200; for experiments)")
	keepalived := fs.String("keepalived", "/usr/sbin/keepalived", "the keepalived binary to measure against")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench monitor: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	for _, w := range strings.Fields(*lvsctlEnv) {
		if !strings.Contains(w, "=") {
			fmt.Fprintf(stderr, "bench monitor: -lvsctl-env: %q is not NAME=value\n", w)
			return 2
		}
	}
	if _, err := os.Stat(*binary); err != nil {
		fmt.Fprintf(stderr, "bench monitor: %v (run make build first)\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	tmp, err := os.MkdirTemp("", "bench-monitor-")
	if err != nil {
		fmt.Fprintf(stderr, "bench monitor: %v\n", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	helper := filepath.Join(tmp, "monbench")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", helper, self)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(stderr, "bench monitor: build the guest helper: %v\n%s", err, out)
		return 1
	}
	files := map[string]string{*binary: "/usr/local/bin/lvsctl", helper: guestBinary}
	kaFiles, err := programFiles(ctx, *keepalived)
	if err != nil {
		fmt.Fprintf(stderr, "bench monitor: %v\n", err)
		return 1
	}
	for h, g := range kaFiles {
		files[h] = g
	}
	fmt.Fprintf(stdout, "Booting the lab: %d real servers checked over HTTP every 1 s by lvsctl monitor and by keepalived --check, %d round(s); %v each once the table is full; a bash loop over %d.\n",
		*servers, *rounds, *window, *loop)
	prog := &progress{w: stderr}
	res, err := lab.Run(ctx, lab.Options{
		Script: "exec sh /lab/guest.sh",
		Files:  files,
		FileData: map[string][]byte{
			"/lab/guest.sh":        []byte(guestScript),
			"/lab/keepalived.conf": checkbench.Conf(*servers),
		},
		Env: map[string]string{
			"SERVERS": strconv.Itoa(*servers),
			"LOOP":    strconv.Itoa(*loop),
			"WINDOW":  window.String(),
			"ROUNDS":  strconv.Itoa(*rounds),
			// env(1) would take a word without "=" for the command.
			"LVSCTL_ENV": *lvsctlEnv,
		},
		Memory: 1536,
		CPUs:   2,
		Stdout: prog,
		Stderr: stderr,
		Log:    stderr,
	})
	if err != nil {
		fmt.Fprintf(stderr, "bench monitor: %v\n", err)
		return 1
	}
	if res.ExitCode != 0 {
		fmt.Fprintf(stderr, "bench monitor: the guest script failed with status %d\n%s", res.ExitCode, res.Stdout)
		return 1
	}
	r, err := parse(res.Stdout)
	if err != nil {
		fmt.Fprintf(stderr, "bench monitor: %v\n", err)
		return 1
	}
	r.report(stdout, *servers, *loop)
	if err := r.check(*servers); err != nil {
		// The figures stay printed: a checker that cannot keep up is a
		// result too, but not a comparison.
		fmt.Fprintf(stderr, "bench monitor: not a valid comparison: %v\n", err)
		return 1
	}
	return 0
}

// programFiles lists a host program and the shared libraries ldd finds
// for it as per-run lab files at the same paths in the guest. keepalived
// is not in the base image: its libraries (perl, net-snmp, glib, krb5;
// 21 MB) would double the image every lab boot unpacks. The libraries the
// base image already holds are sent too and lose to the base image's
// identical copies.
func programFiles(ctx context.Context, prog string) (map[string]string, error) {
	out, err := exec.CommandContext(ctx, "ldd", prog).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w (install keepalived)", prog, err)
	}
	files := map[string]string{prog: prog}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		var p string
		switch {
		case len(f) >= 3 && f[1] == "=>":
			p = f[2]
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			p = f[0] // the loader
		default:
			continue
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil, fmt.Errorf("library of %s: %w", prog, err)
		}
		files[real] = p
	}
	return files, nil
}

// progress echoes the guest's INFO and ERROR lines as they come: the run
// takes minutes.
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
		if strings.HasPrefix(line, "INFO ") || strings.HasPrefix(line, "RESULT ") {
			fmt.Fprint(p.w, "  ", line)
		}
	}
}

// proc is one process of a measured tree at the window's end.
type proc struct {
	pid       int
	comm      string
	rss, peak int // KiB
}

// round is one measurement of one checker as the guest reported it.
type round struct {
	v     map[string]float64 // ready, wall, cpu, sys, requests, period-*, table-start, table-end, idle
	procs []proc             // the tree's root first
}

func (r round) cpuShare() float64 { return r.v["cpu"] / r.v["wall"] }
func (r round) rate() float64     { return r.v["requests"] / r.v["wall"] }

// perCheck is CPU time per request the farm answered, in µs.
func (r round) perCheck() float64 { return r.v["cpu"] / r.v["requests"] * 1e6 }

// kernelShare is the part of the CPU time spent in the kernel.
func (r round) kernelShare() float64 {
	if r.v["cpu"] == 0 {
		return 0
	}
	return r.v["sys"] / r.v["cpu"]
}

func (r round) rss() float64 {
	n := 0
	for _, p := range r.procs {
		n += p.rss
	}
	return float64(n)
}

func (r round) peak() float64 {
	n := 0
	for _, p := range r.procs {
		n += p.peak
	}
	return float64(n)
}

// results are the guest's rounds by checker name.
type results map[string][]round

func parse(out []byte) (results, error) {
	r := results{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 4 && f[0] == "RESULT":
			v, err := strconv.ParseFloat(f[3], 64)
			if err != nil {
				return r, fmt.Errorf("bad result line %q: %w", sc.Text(), err)
			}
			if f[2] == "ready" { // the first line of a measurement
				r[f[1]] = append(r[f[1]], round{v: map[string]float64{}})
			}
			rs := r[f[1]]
			if len(rs) == 0 {
				return r, fmt.Errorf("result line %q before its measurement's first", sc.Text())
			}
			rs[len(rs)-1].v[f[2]] = v
		case len(f) == 6 && f[0] == "PROC":
			var p proc
			var err1, err2, err3 error
			p.pid, err1 = strconv.Atoi(f[2])
			p.comm = f[3]
			p.rss, err2 = strconv.Atoi(f[4])
			p.peak, err3 = strconv.Atoi(f[5])
			rs := r[f[1]]
			if err1 != nil || err2 != nil || err3 != nil || len(rs) == 0 {
				return r, fmt.Errorf("bad process line %q", sc.Text())
			}
			rs[len(rs)-1].procs = append(rs[len(rs)-1].procs, p)
		}
	}
	for _, name := range []string{"lvsctl", "keepalived", "bash-loop"} {
		if len(r[name]) == 0 {
			return r, fmt.Errorf("the guest reported nothing for %s", name)
		}
	}
	return r, nil
}

// check refuses figures of a checker that was not really checking: a
// table short of real servers, or a farm that saw far fewer requests
// than one per server per second.
func (r results) check(servers int) error {
	for _, name := range []string{"lvsctl", "keepalived", "lvsctl-paced"} {
		for i, rd := range r[name] {
			if int(rd.v["table-start"]) != servers || int(rd.v["table-end"]) != servers {
				return fmt.Errorf("%s, round %d: %v then %v real servers in the table, want %d", name, i+1, rd.v["table-start"], rd.v["table-end"], servers)
			}
			if rd.rate() < 0.5*float64(servers) {
				return fmt.Errorf("%s, round %d: the farm answered %.0f requests/s, want about %d", name, i+1, rd.rate(), servers)
			}
		}
	}
	for _, rd := range r["bash-loop"] {
		if rd.v["requests"] == 0 {
			return fmt.Errorf("bash loop: the farm answered no requests")
		}
	}
	return nil
}

// med is the median over a checker's rounds of f.
func (r results) med(name string, f func(round) float64) float64 {
	var v []float64
	for _, rd := range r[name] {
		v = append(v, f(rd))
	}
	return median(v)
}

// key returns a function reading one reported value of a round.
func key(k string) func(round) float64 { return func(r round) float64 { return r.v[k] } }

func mb(kib float64) string { return fmt.Sprintf("%.1f MB", kib/1024) }

func (r results) report(w io.Writer, servers, loop int) {
	const targetRatio, targetRSS = 1.0, 60 * 1024
	const lv, ka, paced = "lvsctl", "keepalived", "lvsctl-paced"
	cpu := func(name string) float64 { return r.med(name, round.cpuShare) }
	rate := func(name string) float64 { return r.med(name, round.rate) }
	perCheck := func(name string) float64 { return r.med(name, round.perCheck) }
	kernel := func(name string) float64 { return r.med(name, round.kernelShare) }
	period := func(name string) string {
		p50, p99 := r.med(name, key("period-p50")), r.med(name, key("period-p99"))
		if p50 == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f s / %.2f s", p50, p99)
	}
	fmt.Fprintf(w, "\n%d real servers, HTTP_GET every 1 s, connect_timeout 3; medians of %d round(s) of %.1f s once the table was full\n\n",
		servers, len(r[lv]), r.med(lv, key("wall")))
	fmt.Fprintf(w, "%-34s %16s %16s %8s\n", "", "lvsctl monitor", "keepalived", "ratio")
	ratio := perCheck(lv) / perCheck(ka)
	fmt.Fprintf(w, "%-34s %13.0f µs %13.0f µs %8.2f   (target <= %.1f: %s)\n", "CPU time per check",
		perCheck(lv), perCheck(ka), ratio, targetRatio, verdict(ratio <= targetRatio))
	fmt.Fprintf(w, "%-34s %14.0f %% %14.0f %%\n", "  of which in the kernel", 100*kernel(lv), 100*kernel(ka))
	fmt.Fprintf(w, "%-34s %16.0f %16.0f   (configured: %d)\n", "checks/s (requests at the farm)", rate(lv), rate(ka), servers)
	fmt.Fprintf(w, "%-34s %16s %16s   (configured: 1 s)\n", "one server's checks apart, p50/p99", period(lv), period(ka))
	fmt.Fprintf(w, "%-34s %14.1f %% %14.1f %% %8.2f   (each its own number of checks)\n", "CPU time / wall time",
		100*cpu(lv), 100*cpu(ka), cpu(lv)/cpu(ka))
	if len(r[paced]) > 0 {
		pr := cpu(paced) / cpu(ka)
		fmt.Fprintf(w, "%-34s %14.1f %% %14.1f %% %8.2f   (target <= %.1f: %s)\n", "  lvsctl at keepalived's pace",
			100*cpu(paced), 100*cpu(ka), pr, targetRatio, verdict(pr <= targetRatio))
		fmt.Fprintf(w, "%-34s %16.0f %16.0f\n", "  its checks/s", rate(paced), rate(ka))
	}
	lr, kr := r.med(lv, round.rss), r.med(ka, round.rss)
	fmt.Fprintf(w, "%-34s %16s %16s %8s   (target lvsctl <= %s: %s)\n", "RSS at the window's end", mb(lr), mb(kr), "", mb(targetRSS), verdict(lr <= targetRSS))
	fmt.Fprintf(w, "%-34s %16s %16s\n", "peak RSS", mb(r.med(lv, round.peak)), mb(r.med(ka, round.peak)))
	fmt.Fprintf(w, "%-34s %16.0f %16.0f\n", "real servers in the table", r.med(lv, key("table-end")), r.med(ka, key("table-end")))
	fmt.Fprintf(w, "%-34s %15.1fs %15.1fs\n", "start to full table", r.med(lv, key("ready")), r.med(ka, key("ready")))
	fmt.Fprintf(w, "%-34s %14.0f %% %14.0f %%\n", "the VM's CPUs idle", 100*r.med(lv, key("idle")), 100*r.med(ka, key("idle")))
	if len(r[lv]) > 1 {
		fmt.Fprintln(w, "\nRounds (CPU per check, checks/s, CPU / wall):")
		for _, name := range []string{lv, ka} {
			fmt.Fprintf(w, "  %-10s", name)
			for _, rd := range r[name] {
				fmt.Fprintf(w, "  %.0f µs %.0f/s %.1f %%;", rd.perCheck(), rd.rate(), 100*rd.cpuShare())
			}
			fmt.Fprintln(w)
		}
		if len(r[lv]) == len(r[ka]) {
			fmt.Fprintf(w, "  %-10s", "ratio")
			for i := range r[lv] {
				fmt.Fprintf(w, "  %.2f;", r[lv][i].perCheck()/r[ka][i].perCheck())
			}
			fmt.Fprintln(w, " (CPU per check, round by round)")
		}
		if len(r[paced]) == len(r[ka]) {
			fmt.Fprintf(w, "  %-10s", "paced")
			for i, rd := range r[paced] {
				fmt.Fprintf(w, "  %.0f µs %.0f/s %.1f %% (%.2f);", rd.perCheck(), rd.rate(), 100*rd.cpuShare(), rd.cpuShare()/r[ka][i].cpuShare())
			}
			fmt.Fprintln(w, " (lvsctl at keepalived's pace; ratio of CPU / wall)")
		}
	}
	fmt.Fprintln(w, "\nProcesses at the last window's end (RSS, peak):")
	for _, name := range []string{lv, ka, "bash-loop"} {
		rs := r[name]
		// The tree's root comes first: keepalived's parent, then its checker.
		for i, p := range rs[len(rs)-1].procs {
			role := ""
			if name == ka {
				role = " (checker child)"
				if i == 0 {
					role = " (parent)"
				}
			}
			fmt.Fprintf(w, "  %-10s pid %-5d %-12s %10s %10s%s\n", name, p.pid, p.comm, mb(float64(p.rss)), mb(float64(p.peak)), role)
		}
	}
	fmt.Fprintln(w, "\nThe ratios compare CPU time for the same work: per check (each one TCP connection and one")
	fmt.Fprintln(w, "GET), and over a window with lvsctl checking at the pace keepalived kept in the same round")
	fmt.Fprintln(w, "(its delay_loop set to keepalived's mean time between two checks of a server). CPU time over")
	fmt.Fprintln(w, "the window with the configuration as written compares it only when both made the checks asked for.")
	if lr, kr := rate(lv), rate(ka); lr > 0 && kr > 0 && (lr/kr > 1.05 || kr/lr > 1.05) {
		fmt.Fprintf(w, "Here they did not: lvsctl made %.0f %% of the %d checks a second, keepalived %.0f %%.\n",
			100*lr/float64(servers), servers, 100*kr/float64(servers))
		if p := r.med(ka, key("period-p50")); kr < lr && p > 1.05 {
			fmt.Fprintf(w, "keepalived times a server's next check from the end of its last one, and its checks\n")
			fmt.Fprintf(w, "ended late: a server's were %.2f s apart at the median.\n", p)
		}
	}
	if idle := r.med(lv, key("idle")); idle < 0.1 {
		fmt.Fprintf(w, "\nThe VM's CPUs were %.0f %% idle: the checker and the farm competed for them, so the request\n", 100*idle)
		fmt.Fprintln(w, "rates are the machine's limit; CPU time per check compares the checkers' work.")
	}
	fmt.Fprintf(w, "\nFor scale, a bash loop (busybox wget, up to 3 tries) over %d servers every 1 s: CPU %.1f %% of wall time,\n", loop, 100*cpu("bash-loop"))
	fmt.Fprintf(w, "%.1f requests/s, %.0f µs CPU per check (%.1fx keepalived's, %.1fx lvsctl's).\n",
		rate("bash-loop"), perCheck("bash-loop"), perCheck("bash-loop")/perCheck(ka), perCheck("bash-loop")/perCheck(lv))
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}
