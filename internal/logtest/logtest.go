// Package logtest holds what tests need to read the logs of code that runs
// concurrently: a [Buffer] that a slog handler (or a process's output) can
// write to while the test reads it.
package logtest

import (
	"bytes"
	"strings"
	"sync"
)

// Buffer is a bytes.Buffer safe for concurrent writes and reads.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Tail returns the last n lines written.
func (s *Buffer) Tail(n int) string {
	lines := strings.Split(strings.TrimSpace(s.String()), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
