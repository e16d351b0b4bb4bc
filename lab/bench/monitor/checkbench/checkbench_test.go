package checkbench_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lvsctl/lvsctl/check/monitor"
	"github.com/lvsctl/lvsctl/internal/config"
	"github.com/lvsctl/lvsctl/lab/bench/monitor/checkbench"
)

// The bench's configuration is one the monitor takes without a warning,
// with every real server and its HTTP_GET.
func TestConf(t *testing.T) {
	for _, n := range []int{1, 20, 1000} {
		c, warns, err := config.Parse("keepalived.conf", bytes.NewReader(checkbench.Conf(n)), config.Options{})
		if err != nil || len(warns) != 0 {
			t.Fatalf("n=%d: %v %v", n, err, warns)
		}
		mc, warns2, err := monitor.FromConfig(c)
		if err != nil || len(warns2) != 0 {
			t.Fatalf("n=%d: %v %v", n, err, warns2)
		}
		if len(mc.Blocks) != 1 || len(mc.Blocks[0].RealServers) != n {
			t.Fatalf("n=%d: %d blocks, want 1 with %d real servers", n, len(mc.Blocks), n)
		}
	}
}

func TestScripts(t *testing.T) {
	if s := checkbench.Setup(1000); !strings.Contains(s, "-le 1000 ]") || !strings.Contains(s, "ip -n bfarm -batch") {
		t.Errorf("setup script:\n%s", s)
	}
	loop := checkbench.BashLoop(3)
	if !strings.Contains(loop, "for rs in 2001:db8:2::1 2001:db8:2::2 2001:db8:2::3;") {
		t.Errorf("loop:\n%s", loop)
	}
	if out, err := exec.Command("bash", "-n", "-c", loop).CombinedOutput(); err != nil {
		t.Errorf("bash -n: %v\n%s", err, out)
	}
}

// ReadTree finds a child and its grandchild and reads their memory.
func TestReadTree(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 5 & wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var tree checkbench.Tree
	// Until sh's child has become sleep: forked, it is sh for a moment.
	for deadline := time.Now().Add(5 * time.Second); len(tree) < 2 || tree[1].Comm != "sleep"; time.Sleep(10 * time.Millisecond) {
		var err error
		if tree, err = checkbench.ReadTree(cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("tree %+v, want sh and sleep", tree)
		}
	}
	if tree[0].PID != cmd.Process.Pid || tree[0].Comm != "sh" || tree[1].Comm != "sleep" || tree[1].PPID != tree[0].PID {
		t.Errorf("tree %+v", tree)
	}
	if tree.RSS() <= 0 || tree.CPU() < 0 {
		t.Errorf("RSS %d KiB, CPU %v", tree.RSS(), tree.CPU())
	}
	self, err := checkbench.ReadProc(os.Getpid())
	if err != nil || self.RSS <= 0 || self.HWM < self.RSS {
		t.Errorf("self: %+v, %v", self, err)
	}
	if _, err := checkbench.ReadProc(1 << 30); err == nil {
		t.Error("a process that cannot exist was read")
	}
}

// The farm counts requests and, per real server address, the periods
// between two of them; a reading summarises the periods since the last.
func TestFarmPeriods(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	control := filepath.Join(t.TempDir(), "farm.sock")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var f checkbench.Farm
	served := make(chan error, 1)
	go func() { served <- f.Serve(ctx, addr, control) }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := checkbench.ReadRequests(control); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the farm does not answer on its control socket")
		}
	}
	get := func() {
		t.Helper()
		r, err := http.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
	}
	for i := range 3 {
		if i > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		get()
	}
	c, err := checkbench.ReadRequests(control)
	if err != nil {
		t.Fatal(err)
	}
	p := c.Period
	if c.Requests != 3 || p.N != 2 || p.P50 < 100*time.Millisecond || p.P50 > 2*time.Second || p.Max < p.P99 || p.P99 < p.P50 {
		t.Errorf("after 3 requests 100 ms apart: %+v", c)
	}
	if c, err = checkbench.ReadRequests(control); err != nil || c.Requests != 3 || c.Period != (checkbench.Periods{}) {
		t.Errorf("a second reading: %+v, %v; want the count and no period", c, err)
	}
	cancel()
	if err := <-served; err != nil {
		t.Error(err)
	}
}

// A control line that is not the farm's is an error, not a zero count.
func TestReadRequestsMalformed(t *testing.T) {
	control := filepath.Join(t.TempDir(), "bad.sock")
	l, err := net.Listen("unix", control)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, line := range []string{"12\n", "1 2 3 4 x\n", "\n"} {
		go func() {
			c, err := l.Accept()
			if err == nil {
				c.Write([]byte(line))
				c.Close()
			}
		}()
		if c, err := checkbench.ReadRequests(control); err == nil {
			t.Errorf("%q: read as %+v", line, c)
		}
	}
}
