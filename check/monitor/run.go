package monitor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"
)

// RunOptions configure Run: the Monitor's Options and what surrounds it
// in the daemon.
type RunOptions struct {
	Options
	// Load reads the configuration again, at SIGHUP; nil: SIGHUP is
	// ignored with a warning. Its warnings are logged.
	Load func() (*Config, []Warning, error)
	// Signals delivers SIGHUP (reload), SIGUSR1 (reopen Log), SIGTERM and
	// SIGINT (stop). The caller subscribes them with signal.Notify.
	Signals <-chan os.Signal
	// Log is the classic log, reopened at SIGUSR1; nil for none.
	Log *LogFile
	// Cleanup removes what the monitor added when it stops; without it
	// the table is left as it is.
	Cleanup bool
	// Socket is the path of the status socket; empty: none.
	Socket string
	// MetricsAddr is where the Prometheus metrics are served over HTTP
	// (host:port); empty: nowhere. Options.Metrics must be set with it.
	MetricsAddr string
	// Ready, when set, is called once the monitor has started, the status
	// socket and metrics listener are up.
	Ready func(*Monitor)
	// Checks, when set, is called after the start and after each reload
	// with whether every check runs on the scheduler's event loop
	// (check.Scheduler.OnLoopOnly), for the caller to size the runtime.
	Checks func(onLoopOnly bool)
}

// Run runs the monitor daemon for cfg until ctx ends or SIGTERM/SIGINT
// arrives: it starts the Monitor (adopting the kernel's table), serves
// the status socket and the metrics, reloads at SIGHUP (a configuration
// that fails to load is reported and the running one kept), reopens the
// classic log at SIGUSR1, and at the end leaves the table as it is, or
// with Cleanup removes what the monitor added.
func Run(ctx context.Context, cfg *Config, o RunOptions) error {
	m, err := New(cfg, o.Options)
	if err != nil {
		return err
	}
	log := m.log
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	if o.Socket != "" {
		stop, err := ServeStatus(runCtx, o.Socket, m, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	if o.MetricsAddr != "" && o.Metrics != nil {
		ln, err := net.Listen("tcp", o.MetricsAddr)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		srv := &http.Server{Handler: metricsMux(o.Metrics), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server", "err", err)
			}
		}()
		defer func() {
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer scancel()
			srv.Shutdown(sctx)
		}()
		log.Info("serving metrics", "addr", ln.Addr().String())
	}
	if err := m.Start(runCtx); err != nil {
		return err
	}
	if o.Checks != nil {
		o.Checks(m.sched.OnLoopOnly())
	}
	if o.Ready != nil {
		o.Ready(m)
	}

loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case sig := <-o.Signals:
			switch sig {
			case syscall.SIGHUP:
				reload(runCtx, m, o)
			case syscall.SIGUSR1:
				if o.Log != nil {
					if err := o.Log.Reopen(); err != nil {
						log.Error("reopen the log", "err", err)
					} else {
						log.Info("log reopened")
					}
				}
			case syscall.SIGTERM, syscall.SIGINT:
				log.Info("stopping", "signal", sig.String(), "cleanup", o.Cleanup)
				break loop
			}
		}
	}
	cancel()
	m.Wait()
	if o.Cleanup {
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer ccancel()
		if err := m.Cleanup(cctx); err != nil {
			return err
		}
	}
	log.Info("stopped")
	return nil
}

func reload(ctx context.Context, m *Monitor, o RunOptions) {
	if o.Load == nil {
		m.log.Warn("SIGHUP: nothing to reload (flags mode)")
		return
	}
	cfg, warns, err := o.Load()
	for _, w := range warns {
		m.log.Warn("configuration", "warning", w.String())
	}
	if err != nil {
		m.log.Error("reload failed: the running configuration stays", "err", err)
		return
	}
	if err := m.Reload(ctx, cfg); err != nil {
		m.log.Error("reload failed: the running configuration stays", "err", err)
		return
	}
	if o.Checks != nil {
		o.Checks(m.sched.OnLoopOnly())
	}
}

func metricsMux(mt *Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", mt.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "lvsctl monitor: metrics at /metrics")
	})
	return mux
}
