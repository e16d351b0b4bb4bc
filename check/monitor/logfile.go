package monitor

import (
	"fmt"
	"os"
	"sync"
)

// LogFile is the classic log (--log): lines are appended, and Reopen
// (on SIGUSR1) starts a new file under the same name after logrotate has
// moved the old one away.
type LogFile struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// OpenLog opens path for appending, creating it (mode 0644) if needed.
func OpenLog(path string) (*LogFile, error) {
	l := &LogFile{path: path}
	if err := l.Reopen(); err != nil {
		return nil, err
	}
	return l, nil
}

// Write appends p; each call is one write(2) to a file opened with
// O_APPEND, so lines from several writers never interleave.
func (l *LogFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return 0, fmt.Errorf("log %s: %w", l.path, os.ErrClosed)
	}
	return l.f.Write(p)
}

// Reopen closes the file and opens the path again. When the new open
// fails the old file stays in use.
func (l *LogFile) Reopen() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// Close closes the file.
func (l *LogFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
