package config

import (
	"errors"
	"fmt"
)

// ErrSyntax is wrapped by every error that names a place in the
// configuration: a malformed line, an unbalanced brace, a value out of
// range, an include loop. Callers test for it with errors.Is and exit
// before touching the kernel.
var ErrSyntax = errors.New("configuration error")

// Error is one configuration error at File:Line.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// Unwrap makes every *Error match ErrSyntax.
func (e *Error) Unwrap() error { return ErrSyntax }

// Warning is a directive that was read but has no effect: unknown to
// keepalived 2.2, known to keepalived but not supported here, or
// superfluous (extra arguments). Warnings never stop a parse; the callers
// log them so that nothing in the file is ignored silently.
type Warning struct {
	File string
	Line int
	Msg  string
}

func (w Warning) String() string {
	return fmt.Sprintf("%s:%d: %s", w.File, w.Line, w.Msg)
}

// maxErrors bounds how many errors one parse collects before giving up,
// so a binary file fed by mistake does not produce a million lines.
const maxErrors = 20
