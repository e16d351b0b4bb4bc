package ipvs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/genetlink/genltest"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/lvsctl/lvsctl/lvs"
)

func TestMissingFamily(t *testing.T) {
	k := &fakeKernel{t: t, fn: func(greq genetlink.Message, nreq netlink.Message) ([]genetlink.Message, error) {
		if nreq.Header.Type != unix.GENL_ID_CTRL {
			t.Errorf("request to family %d before resolving IPVS", nreq.Header.Type)
		}
		return nil, genltest.Error(int(unix.ENOENT))
	}}
	_, err := newClient(netlink.NewConn(k, 1), Options{})
	if !errors.Is(err, lvs.ErrIPVSUnavailable) {
		t.Errorf("newClient = %v, want ErrIPVSUnavailable", err)
	}
}

func TestKernelErrors(t *testing.T) {
	svc := tcpService
	dst := lvs.Destination{Address: netip.MustParseAddr("198.51.100.1"), Port: 80, Weight: 1}
	key := svc.Key()
	tests := []struct {
		name  string
		errno unix.Errno
		call  func(context.Context, *Client) error
		cmd   Cmd
		is    []error
	}{
		{"service exists", unix.EEXIST, func(ctx context.Context, c *Client) error { return c.AddService(ctx, svc) },
			CmdNewService, []error{lvs.ErrServiceExists, os.ErrExist, unix.EEXIST}},
		{"unknown scheduler", unix.ENOENT, func(ctx context.Context, c *Client) error { return c.AddService(ctx, svc) },
			CmdNewService, []error{lvs.ErrNoSuchScheduler}},
		{"edit missing service", unix.ESRCH, func(ctx context.Context, c *Client) error { return c.UpdateService(ctx, svc) },
			CmdSetService, []error{lvs.ErrNoSuchService, os.ErrNotExist}},
		{"delete missing service", unix.ESRCH, func(ctx context.Context, c *Client) error { return c.DeleteService(ctx, key) },
			CmdDelService, []error{lvs.ErrNoSuchService}},
		{"get missing service", unix.ESRCH, func(ctx context.Context, c *Client) error { _, err := c.Service(ctx, key); return err },
			CmdGetService, []error{lvs.ErrNoSuchService}},
		{"zero missing service", unix.ESRCH, func(ctx context.Context, c *Client) error { return c.ZeroService(ctx, key) },
			CmdZero, []error{lvs.ErrNoSuchService}},
		{"destination to missing service", unix.ESRCH, func(ctx context.Context, c *Client) error { return c.AddDestination(ctx, key, dst) },
			CmdNewDest, []error{lvs.ErrNoSuchService}},
		{"destination exists", unix.EEXIST, func(ctx context.Context, c *Client) error { return c.AddDestination(ctx, key, dst) },
			CmdNewDest, []error{lvs.ErrDestinationExists, os.ErrExist}},
		{"edit missing destination", unix.ENOENT, func(ctx context.Context, c *Client) error { return c.UpdateDestination(ctx, key, dst) },
			CmdSetDest, []error{lvs.ErrNoSuchDestination}},
		{"delete missing destination", unix.ENOENT, func(ctx context.Context, c *Client) error { return c.DeleteDestination(ctx, key, dst) },
			CmdDelDest, []error{lvs.ErrNoSuchDestination, os.ErrNotExist}},
		{"daemon running", unix.EEXIST, func(ctx context.Context, c *Client) error {
			return c.StartSyncDaemon(ctx, lvs.SyncDaemon{State: lvs.SyncMaster, Interface: "lo"})
		}, CmdNewDaemon, []error{lvs.ErrDaemonRunning}},
		{"no daemon", unix.ESRCH, func(ctx context.Context, c *Client) error { return c.StopSyncDaemon(ctx, lvs.SyncBackup) },
			CmdDelDaemon, []error{lvs.ErrNoDaemon}},
		{"not permitted", unix.EPERM, func(ctx context.Context, c *Client) error { return c.Flush(ctx) },
			CmdFlush, []error{os.ErrPermission}},
		{"timeouts", unix.EINVAL, func(ctx context.Context, c *Client) error {
			return c.SetTimeouts(ctx, lvs.Timeouts{TCP: 1e9})
		}, CmdSetConfig, []error{unix.EINVAL}},
		{"zero all", unix.EPERM, func(ctx context.Context, c *Client) error { return c.Zero(ctx) }, CmdZero, []error{os.ErrPermission}},
		{"info", unix.EPERM, func(ctx context.Context, c *Client) error { _, err := c.Info(ctx); return err }, CmdGetInfo, []error{os.ErrPermission}},
		{"timeouts read", unix.EPERM, func(ctx context.Context, c *Client) error { _, err := c.Timeouts(ctx); return err }, CmdGetConfig, nil},
		{"list services", unix.EPERM, func(ctx context.Context, c *Client) error { _, err := c.Services(ctx); return err }, CmdGetService, nil},
		{"list daemons", unix.EPERM, func(ctx context.Context, c *Client) error { _, err := c.SyncDaemons(ctx); return err }, CmdGetDaemon, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, k := newFakeClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
				return nil, tt.errno
			})
			k.extAck = "reason given by the kernel"
			err := tt.call(context.Background(), c)
			var kerr *Error
			if !errors.As(err, &kerr) {
				t.Fatalf("error %v (%T) is not an *Error", err, err)
			}
			want := Error{Cmd: tt.cmd, Errno: tt.errno, Message: "reason given by the kernel"}
			if *kerr != want {
				t.Errorf("error = %+v, want %+v", *kerr, want)
			}
			for _, target := range tt.is {
				if !errors.Is(err, target) {
					t.Errorf("errors.Is(%v, %v) = false", err, target)
				}
			}
		})
	}
}

// batchKernel fails every request whose destination port is odd, with
// EEXIST, and records the commands it saw.
func batchKernel(t *testing.T, seen *[]Cmd) genltest.Func {
	return func(greq genetlink.Message, nreq netlink.Message) ([]genetlink.Message, error) {
		*seen = append(*seen, Cmd(greq.Header.Command))
		if Cmd(greq.Header.Command) != CmdNewDest {
			return nil, nil
		}
		d, err := decodeDestMessage(greq.Data, lvs.IPv4)
		if err != nil {
			t.Errorf("batch request: %v", err)
			return nil, unix.EINVAL
		}
		if d.Port%2 == 1 {
			return nil, unix.EEXIST
		}
		return nil, nil
	}
}

func TestExecBatch(t *testing.T) {
	const n = 1000
	ops := []lvs.Op{{Kind: lvs.AddService, Service: tcpService}}
	for i := range n {
		ops = append(ops, lvs.Op{Kind: lvs.AddDestination, Service: tcpService, Destination: lvs.Destination{
			Address: netip.AddrFrom4([4]byte{198, 51, 100, byte(i % 250)}), Port: uint16(i), Weight: 1,
		}})
	}
	// An op that cannot be encoded is reported and not sent.
	ops = append(ops, lvs.Op{Kind: lvs.AddDestination, Service: tcpService})
	ops = append(ops, lvs.Op{Kind: lvs.Flush})

	var seen []Cmd
	c, k := newFakeClient(t, batchKernel(t, &seen))
	errs, err := c.ExecBatch(context.Background(), ops)
	if err != nil {
		t.Fatalf("ExecBatch: %v", err)
	}
	if len(errs) != len(ops) {
		t.Fatalf("%d results for %d ops", len(errs), len(ops))
	}
	for i, op := range ops {
		err := errs[i]
		switch {
		case i == n+1:
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("op %d: %v, want ErrInvalid", i, err)
			}
		case op.Kind == lvs.AddDestination && op.Destination.Port%2 == 1:
			if !errors.Is(err, lvs.ErrDestinationExists) {
				t.Errorf("op %d (%v): %v, want ErrDestinationExists", i, op.Destination, err)
			}
		case err != nil:
			t.Errorf("op %d: %v", i, err)
		}
	}
	if len(seen) != len(ops)-1 {
		t.Errorf("kernel saw %d requests, want %d", len(seen), len(ops)-1)
	}

	// Requests are packed: several sendmsg calls, each within the limits,
	// with an ACK asked for on the last request only.
	k.mu.Lock()
	sends := k.sends[1:] // the first was the family lookup
	k.mu.Unlock()
	if len(sends) < 2 || len(sends) > 20 {
		t.Errorf("%d sendmsg calls for %d requests", len(sends), len(seen))
	}
	total := 0
	for i, s := range sends {
		total += len(s)
		size := 0
		for j, m := range s {
			size += nlmsgAlign(int(m.Header.Length))
			wantAck := j == len(s)-1
			if got := m.Header.Flags&netlink.Acknowledge != 0; got != wantAck {
				t.Errorf("sendmsg %d, request %d: ACK flag %v, want %v", i, j, got, wantAck)
			}
		}
		if len(s) > c.batchMsgs || size > maxBatchBytes {
			t.Errorf("sendmsg %d: %d requests, %d bytes over the limits", i, len(s), size)
		}
	}
	if total != len(seen) {
		t.Errorf("%d requests in sendmsg calls, kernel saw %d", total, len(seen))
	}

	// The socket is still in step: a plain request works after the batch.
	if err := c.Flush(context.Background()); err != nil {
		t.Errorf("Flush after batch: %v", err)
	}
}

func TestExecBatchLastFails(t *testing.T) {
	var seen []Cmd
	c, _ := newFakeClient(t, batchKernel(t, &seen))
	ops := []lvs.Op{
		{Kind: lvs.AddDestination, Service: tcpService, Destination: lvs.Destination{Address: netip.MustParseAddr("192.0.2.9"), Port: 2}},
		{Kind: lvs.AddDestination, Service: tcpService, Destination: lvs.Destination{Address: netip.MustParseAddr("192.0.2.9"), Port: 3}},
	}
	errs, err := c.ExecBatch(context.Background(), ops)
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || !errors.Is(errs[1], lvs.ErrDestinationExists) {
		t.Errorf("errs = %v", errs)
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Errorf("Flush after batch: %v", err)
	}
}

func TestExecBatchEmptyAndInvalid(t *testing.T) {
	c, k := newFakeClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) { return nil, nil })
	errs, err := c.ExecBatch(context.Background(), nil)
	if err != nil || len(errs) != 0 {
		t.Errorf("empty batch = %v, %v", errs, err)
	}
	errs, err = c.ExecBatch(context.Background(), []lvs.Op{{Kind: 42}})
	if err != nil || len(errs) != 1 || !errors.Is(errs[0], ErrInvalid) {
		t.Errorf("invalid batch = %v, %v", errs, err)
	}
	if n := len(k.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

func TestContext(t *testing.T) {
	c, k := newFakeClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) { return nil, nil })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Flush(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Flush with a cancelled context = %v", err)
	}
	errs, err := c.ExecBatch(ctx, []lvs.Op{{Kind: lvs.Flush}})
	if !errors.Is(err, context.Canceled) || !errors.Is(errs[0], context.Canceled) {
		t.Errorf("ExecBatch with a cancelled context = %v, %v", errs, err)
	}
	if n := len(k.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

func TestClosed(t *testing.T) {
	c, _ := newFakeClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) { return nil, nil })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(context.Background()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Flush after Close = %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// TestConcurrent runs reads, writes and batches from many goroutines on
// one client; run it with -race.
func TestConcurrent(t *testing.T) {
	var mu sync.Mutex
	services := map[uint32]bool{}
	c, _ := newFakeClient(t, func(greq genetlink.Message, nreq netlink.Message) ([]genetlink.Message, error) {
		mu.Lock()
		defer mu.Unlock()
		switch Cmd(greq.Header.Command) {
		case CmdNewService:
			s, err := decodeServiceMessage(greq.Data)
			if err != nil {
				return nil, unix.EINVAL
			}
			if services[s.FWMark] {
				return nil, unix.EEXIST
			}
			services[s.FWMark] = true
			return nil, nil
		case CmdGetService:
			var out []genetlink.Message
			for range services {
				out = append(out, reply(CmdNewService, fwmServiceReply(t, svcAttrStats)))
			}
			return out, nil
		}
		return nil, nil
	})
	ctx := context.Background()
	var wg sync.WaitGroup
	errc := make(chan error, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				mark := uint32(g*1000 + i + 1)
				s := lvs.Service{Family: lvs.IPv4, FWMark: mark, Scheduler: "rr"}
				if err := c.AddService(ctx, s); err != nil {
					errc <- fmt.Errorf("add %d: %w", mark, err)
					return
				}
				if _, err := c.Services(ctx); err != nil {
					errc <- err
					return
				}
				errs, err := c.ExecBatch(ctx, []lvs.Op{{Kind: lvs.AddService, Service: s}, {Kind: lvs.Zero, AllServices: true}})
				if err != nil || !errors.Is(errs[0], lvs.ErrServiceExists) || errs[1] != nil {
					errc <- fmt.Errorf("batch: %v, %v", errs, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	got, err := c.Services(ctx)
	if err != nil || len(got) != 8*50 {
		t.Errorf("Services = %d services, %v; want %d", len(got), err, 8*50)
	}
}
