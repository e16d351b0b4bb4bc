package statussock

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

type status struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

func TestServeRead(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "run", "d.sock")
	n := 0
	stop, err := Serve(ctx, path, func(context.Context) (any, error) {
		n++
		return status{"vi_1", n}, nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for want := 1; want <= 2; want++ {
		var got status
		if err := Read(ctx, path, "daemon", &got); err != nil {
			t.Fatal(err)
		}
		if got != (status{"vi_1", want}) {
			t.Errorf("query %d: got %+v", want, got)
		}
	}

	// A second daemon must not steal the socket of one that answers.
	if _, err := Serve(ctx, path, nil, nil); !errors.Is(err, ErrInUse) {
		t.Errorf("second Serve: %v, want ErrInUse", err)
	}

	stop()
	var got status
	err = Read(ctx, path, "daemon", &got)
	if !errors.Is(err, ErrNotRunning) || !strings.HasPrefix(err.Error(), "no daemon answers on "+path+": ") {
		t.Errorf("Read after stop: %v, want ErrNotRunning naming the daemon and the socket", err)
	}
	// After a stop (or a killed daemon) the socket can be served again.
	stop2, err := Serve(ctx, path, func(context.Context) (any, error) { return status{}, nil }, nil)
	if err != nil {
		t.Fatalf("Serve after stop: %v", err)
	}
	stop2()
}

func TestSnapshotError(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "d.sock")
	stop, err := Serve(ctx, path, func(context.Context) (any, error) { return nil, errors.New("busy") }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	var got status
	if err := Read(ctx, path, "daemon", &got); err == nil {
		t.Error("Read got a status from a failing snapshot")
	}
}
