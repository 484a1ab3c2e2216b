// Package streams keeps count of a service's open streams, so that a
// shutdown can tell them to end and wait until they have.
package streams

import (
	"context"
	"sync"
)

// Tracker counts open streams. The zero value is not usable; use New.
type Tracker struct {
	mu     sync.Mutex
	closed bool
	active int
	done   chan struct{} // closed by Shutdown
	idle   chan struct{} // closed once shut down with no stream open
}

// New returns a tracker with no stream open.
func New() *Tracker {
	return &Tracker{done: make(chan struct{}), idle: make(chan struct{})}
}

// Open counts a stream in; it is false once Shutdown was called, and the
// stream must then end at once. Every true Open must be matched by Close.
func (t *Tracker) Open() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.active++
	return true
}

// Close counts a stream out.
func (t *Tracker) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.active--
	if t.closed && t.active == 0 {
		close(t.idle)
	}
}

// Done is closed when Shutdown is called: open streams must end.
func (t *Tracker) Done() <-chan struct{} { return t.done }

// Shutdown closes Done and waits until every open stream has ended, or ctx
// has; it returns ctx's error then. It may be called more than once.
func (t *Tracker) Shutdown(ctx context.Context) error {
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		close(t.done)
		if t.active == 0 {
			close(t.idle)
		}
	}
	t.mu.Unlock()
	select {
	case <-t.idle: // first: when both are ready, select would pick at random
		return nil
	default:
	}
	select {
	case <-t.idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
