package lab

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// These tests boot the VM; they skip under -short and without qemu or
// root (see Require).

func TestRunOutputs(t *testing.T) {
	Require(t)
	host := filepath.Join(t.TempDir(), "data.txt")
	if err := os.WriteFile(host, []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var streamed strings.Builder
	res, err := Run(t.Context(), Options{
		Script: `echo out1; echo err1 >&2; printf 'no newline'; cat /data/in.txt
echo "env=$GREETING lab=$LVSCTL_LAB"
[ -t 1 ] && echo stdout-is-a-tty
printf 'crlf?\r\n' >&2
exit 7
`,
		Files:  map[string]string{host: "/data/in.txt"},
		Env:    map[string]string{"GREETING": "it's here"},
		Stdout: &streamed,
	})
	if err != nil {
		t.Fatalf("Run: %v\nconsole:\n%s", err, res.Console)
	}
	if res.ExitCode != 7 {
		t.Errorf("exit code %d, want 7", res.ExitCode)
	}
	wantOut := "out1\nno newlinefrom the host\nenv=it's here lab=1\n"
	if string(res.Stdout) != wantOut {
		t.Errorf("stdout %q, want %q", res.Stdout, wantOut)
	}
	if want := "err1\ncrlf?\r\n"; string(res.Stderr) != want {
		t.Errorf("stderr %q, want %q", res.Stderr, want)
	}
	if streamed.String() != wantOut {
		t.Errorf("streamed stdout %q, want %q", streamed.String(), wantOut)
	}
	if res.BootDuration <= 0 || res.BootDuration > res.Duration {
		t.Errorf("boot %v of %v", res.BootDuration, res.Duration)
	}
	t.Logf("booted in %v, total %v", res.BootDuration, res.Duration)
}

// TestRunKernel checks what the lab is for: IPVS with every scheduler,
// the real tools, namespaces, veth, bridges and iptables mangle rules.
func TestRunKernel(t *testing.T) {
	Require(t)
	res, err := Run(t.Context(), Options{CPUs: 2, Script: `set -eu
grep -q '^ip_vs ' /proc/modules || { echo "ip_vs not loaded" >&2; exit 1; }
for s in rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh; do
	modprobe ip_vs_$s
done
modprobe ip_vs_ftp
ipvsadm -A -t 192.0.2.1:80 -s mh
ipvsadm -a -t 192.0.2.1:80 -r 198.51.100.2:80 -m -w 3
ipvsadm -A -f 7 -s wlc
ipvsadm -A -u [2001:db8::1]:53 -s sh
ipvsadm -Ln
ipvsadm-save -n
ipvsadm -C

ip netns add a
ip netns add b
ip link add va netns a type veth peer name vb netns b
ip -n a addr add 192.0.2.10/24 dev va
ip -n b addr add 192.0.2.20/24 dev vb
ip -n a link set va up
ip -n b link set vb up
ip netns exec a ping -c 1 -W 5 192.0.2.20 >/dev/null
echo ping-ok
ip link add br0 type bridge
ip link add d0 type dummy
ip link set d0 master br0

iptables -t mangle -A PREROUTING -d 192.0.2.1 -p tcp -m multiport --dports 80,443 -m comment --comment lab -j MARK --set-mark 7
ip6tables -t mangle -A PREROUTING -d 2001:db8::1 -p udp --dport 53 -j MARK --set-mark 8
iptables-save -t mangle | grep -c 'set-xmark 0x7'
ip6tables -t mangle -S PREROUTING | grep -c 'set-xmark 0x8'
tc qdisc add dev d0 root netem delay 1ms
echo done
`})
	if err != nil {
		t.Fatalf("Run: %v\nconsole:\n%s", err, res.Console)
	}
	if res.ExitCode != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", res.ExitCode, res.Stdout, res.Stderr)
	}
	out := string(res.Stdout)
	for _, want := range []string{
		"TCP  192.0.2.1:80 mh", "-> 198.51.100.2:80              Masq    3",
		"FWM  7 wlc", "UDP  [2001:db8::1]:53 sh",
		"-A -t 192.0.2.1:80 -s mh",
		"ping-ok", "1\n1\ndone\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if len(res.Stderr) != 0 {
		t.Errorf("stderr: %s", res.Stderr)
	}
}

// startWatcher cancels a context a moment after the guest prints "started".
type startWatcher struct {
	cancel context.CancelFunc
	seen   atomic.Bool
}

func (w *startWatcher) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "started") && !w.seen.Swap(true) {
		time.AfterFunc(time.Second, w.cancel)
	}
	return len(p), nil
}

// TestRunTimeout checks that a hung guest is killed when the context ends:
// once cancelled after the script started, and once by Options.Timeout.
func TestRunTimeout(t *testing.T) {
	Require(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w := &startWatcher{cancel: cancel}
	res, err := Run(ctx, Options{Script: "echo started; sleep 1000", Stdout: w, Timeout: 5 * time.Minute})
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want ErrTimeout and Canceled", err)
	}
	if d := res.Duration - res.BootDuration; d > 10*time.Second {
		t.Errorf("the VM ran %v after the script started; the kill came late", d)
	}
	if string(res.Stdout) != "started\n" || res.ExitCode != -1 {
		t.Errorf("stdout %q exit %d, want the partial output and -1", res.Stdout, res.ExitCode)
	}

	start := time.Now()
	_, err = Run(t.Context(), Options{Script: "sleep 1000", Timeout: time.Second})
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrTimeout and DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Options.Timeout of 1s took %v", d)
	}
}

func TestRunSetupError(t *testing.T) {
	Require(t)
	res, err := Run(t.Context(), Options{Script: "echo never", Modules: []string{"no_such_module"}})
	if !errors.Is(err, ErrGuestSetup) || !strings.Contains(err.Error(), "no_such_module") {
		t.Fatalf("err = %v, want ErrGuestSetup naming the module", err)
	}
	if len(res.Stdout) != 0 {
		t.Errorf("the script ran: %q", res.Stdout)
	}
}

// TestRunTests runs this package's TestVM* tests in the VM through the
// helper other packages use.
func TestRunTests(t *testing.T) {
	RunTests(t, "^TestVM")
}

func TestVMInside(t *testing.T) {
	RequireVM(t)
	if !InVM() {
		t.Fatal("InVM false inside the VM")
	}
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		t.Errorf("IPVS not loaded: %v", err)
	}
	wd, _ := os.Getwd()
	if wd != "/lab/pkg" {
		t.Errorf("working directory %s, want /lab/pkg", wd)
	}
	t.Run("subtest", func(t *testing.T) {
		b, err := os.ReadFile("/proc/sys/net/ipv4/vs/conntrack")
		if err != nil || strings.TrimSpace(string(b)) != "0" {
			t.Errorf("vs/conntrack = %q, %v", b, err)
		}
	})
}
