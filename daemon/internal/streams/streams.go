// Package streams runs the daemon's long-lived streams: flagd's
// EventStream (daemon/internal/evalsvc) and SyncFlags
// (daemon/internal/syncsvc) are one loop ([Tracker.Run]) that differs only
// in what each sends; and it keeps count of a service's open streams, so
// that a shutdown can tell them to end and wait until they have.
package streams

import (
	"context"
	"errors"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/vexilhq/vexil/daemon/internal/store"
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

// ErrDeadline is what a stream ends with when its deadline passes, the
// server's (flagd's --stream-deadline) or the client's: flagd's
// "stream closed due to server-side timeout".
func ErrDeadline() error {
	return connect.NewError(connect.CodeDeadlineExceeded, errors.New("stream closed due to server-side timeout"))
}

// Stream is what one stream sends, and when it ends.
type Stream struct {
	// Store is where the flags and their changes come from. Required.
	Store *store.Store
	// Selector filters the changes: only those to a flag it sees are sent.
	Selector store.Selector
	// Deadline, when not zero, ends the stream at that time.
	Deadline time.Time
	// EndWithDeadline makes a passed deadline (Deadline, or the request
	// context's) end the stream with ErrDeadline; otherwise the stream
	// ends without error when the context ends.
	EndWithDeadline bool
	// KeepAlive, when positive, is how long the stream may stay idle (no
	// change sent) before KeepAliveFunc is called.
	KeepAlive     time.Duration
	KeepAliveFunc func() error
	// Ready is called once, with the first snapshot for which ReadyWhen
	// holds (at once when the store's current one does).
	Ready func(snap *store.Snapshot) error
	// ReadyWhen tells when a snapshot is ready for the stream; nil means
	// [store.Snapshot.Ready] (every source has delivered its flags).
	ReadyWhen func(snap *store.Snapshot) bool
	// ReadyAnyway, when not nil, ends the wait for ReadyWhen once it is
	// closed: Ready is then called with the snapshot at hand.
	ReadyAnyway <-chan struct{}
	// Changed is called after Ready for every change to a flag the
	// selector sees, with the flags that changed.
	Changed func(c store.Change, diff map[string]store.ChangeType) error
	// Shutdown is what the stream ends with when the tracker shuts down,
	// before or after it opened.
	Shutdown func() error
	// Opened, when not nil, is called once the tracker counts the stream
	// in; the function it returns, when not nil, when the stream ends.
	Opened func() (closing func())
}

// Run runs a stream until it fails (an error of one of s's functions is
// returned), the request context ctx ends, or the tracker shuts down.
func (t *Tracker) Run(ctx context.Context, s Stream) error {
	if !t.Open() {
		return s.Shutdown()
	}
	defer t.Close()
	if s.Opened != nil {
		if closing := s.Opened(); closing != nil {
			defer closing()
		}
	}
	if !s.Deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, s.Deadline)
		defer cancel()
	}
	ended := func() error {
		if s.EndWithDeadline && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return ErrDeadline()
		}
		return nil
	}
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	snap, changes := s.Store.Subscribe(subCtx)

	// Ready only once readyWhen holds: by default once the flags are
	// servable, so that a provider that is ready finds them (flagd starts
	// at once, and its providers can see FLAG_NOT_FOUND while it still
	// loads).
	readyWhen := s.ReadyWhen
	if readyWhen == nil {
		readyWhen = (*store.Snapshot).Ready
	}
wait:
	for !readyWhen(snap) {
		select {
		case <-s.ReadyAnyway:
			// Ready with the latest snapshot seen: the changes after it
			// follow.
			break wait
		case c, ok := <-changes:
			if !ok {
				changes = nil
				continue
			}
			snap = c.New
		case <-t.Done():
			return s.Shutdown()
		case <-ctx.Done():
			return ended()
		}
	}
	if err := s.Ready(snap); err != nil {
		return err
	}
	var idle <-chan time.Time
	var timer *time.Timer
	if s.KeepAlive > 0 {
		timer = time.NewTimer(s.KeepAlive)
		defer timer.Stop()
		idle = timer.C
	}
	for {
		select {
		case <-idle:
			if err := s.KeepAliveFunc(); err != nil {
				return err
			}
		case c, ok := <-changes:
			if !ok {
				changes = nil // ctx ended: the next round sees it
				continue
			}
			diff := c.For(s.Selector)
			if len(diff) == 0 {
				continue
			}
			if err := s.Changed(c, diff); err != nil {
				return err
			}
		case <-t.Done():
			return s.Shutdown()
		case <-ctx.Done():
			return ended()
		}
		if timer != nil {
			timer.Reset(s.KeepAlive)
		}
	}
}
