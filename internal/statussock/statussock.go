// Package statussock lets a running daemon (lvsctl monitor, lvsctl vrrp
// run) answer `status` queries over a unix socket: each connection gets
// one JSON document and is closed. It touches nothing of the kernel but
// the socket file.
package statussock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// ErrNotRunning is returned by Read when nothing answers on the socket.
var ErrNotRunning = errors.New("nothing answers")

// ErrInUse is returned by Serve when another daemon still answers on the
// socket.
var ErrInUse = errors.New("another daemon answers on the socket")

// answerTimeout bounds one answer: a status query that stalls must not
// hold the daemon's listener.
const answerTimeout = 30 * time.Second

// Serve answers each connection to the unix socket at path with the JSON
// of what snapshot returns, until ctx ends or the returned stop is called
// (which also removes the socket). It refuses to take over the socket of a
// daemon that still answers; a socket left by a killed one is replaced.
func Serve(ctx context.Context, path string, snapshot func(context.Context) (any, error), log *slog.Logger) (stop func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	if conn, err := net.Dial("unix", path); err == nil {
		conn.Close()
		return nil, fmt.Errorf("status socket %s: %w", path, ErrInUse)
	}
	os.Remove(path) // left by a killed daemon
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			if err := answer(ctx, conn, snapshot); err != nil && log != nil {
				log.Warn("status socket", "err", err)
			}
		}
	})
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ln.Close() // also removes the socket file
			wg.Wait()
		})
	}
	context.AfterFunc(ctx, stop)
	return stop, nil
}

func answer(ctx context.Context, conn net.Conn, snapshot func(context.Context) (any, error)) error {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(answerTimeout))
	qctx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	v, err := snapshot(qctx)
	if err != nil {
		return err
	}
	return json.NewEncoder(conn).Encode(v)
}

// Read asks the daemon listening at path for its status and decodes it
// into v. name says what should be answering ("monitor", "VRRP speaker")
// in the error when nothing does.
func Read(ctx context.Context, path, name string, v any) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return &notRunningError{name: name, path: path, err: err}
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * answerTimeout))
	if err := json.NewDecoder(conn).Decode(v); err != nil {
		return fmt.Errorf("read status from %s: %w", path, err)
	}
	return nil
}

// notRunningError says which daemon did not answer where; it matches
// ErrNotRunning and unwraps to the dial error.
type notRunningError struct {
	name, path string
	err        error
}

func (e *notRunningError) Error() string {
	return fmt.Sprintf("no %s answers on %s: %v", e.name, e.path, e.err)
}
func (e *notRunningError) Unwrap() error        { return e.err }
func (e *notRunningError) Is(target error) bool { return target == ErrNotRunning }
