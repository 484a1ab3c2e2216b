package poll_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vexilhq/vexil/syncsources/poll"
)

const timeout = 5 * time.Second

// fakeClock hands every wait to the test, which fires it.
type fakeClock struct{ waits chan wait }

type wait struct {
	d    time.Duration
	fire chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{waits: make(chan wait, 1)} }

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	w := wait{d: d, fire: make(chan time.Time, 1)}
	c.waits <- w
	return w.fire
}

// next returns the loop's next wait.
func (c *fakeClock) next(t *testing.T) wait {
	t.Helper()
	select {
	case w := <-c.waits:
		return w
	case <-time.After(timeout):
		t.Fatal("the loop did not wait")
		return wait{}
	}
}

// script is a fetch function whose results the test decides, call by call.
type script struct {
	calls   chan struct{}
	results chan error
}

func newScript() *script {
	return &script{calls: make(chan struct{}), results: make(chan error)}
}

func (s *script) fetch(ctx context.Context) error {
	select {
	case s.calls <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-s.results:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// answer waits for the next call and makes it return err.
func (s *script) answer(t *testing.T, err error) {
	t.Helper()
	select {
	case <-s.calls:
	case <-time.After(timeout):
		t.Fatal("fetch was not called")
	}
	s.results <- err
}

func start(t *testing.T, p *poll.Poller, fetch func(context.Context) error) (cancel func() error) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, fetch) }()
	return func() error {
		stop()
		select {
		case err := <-done:
			return err
		case <-time.After(timeout):
			t.Fatal("Run did not return after cancel")
			return nil
		}
	}
}

func TestSchedule(t *testing.T) {
	defer goleak.VerifyNone(t)
	fail := errors.New("down")
	tests := []struct {
		name string
		rand float64
		// results of consecutive fetches and the wait expected after each
		steps []struct {
			err  error
			wait time.Duration
		}
	}{
		{
			name: "jitter at its low end",
			rand: 0,
			steps: []struct {
				err  error
				wait time.Duration
			}{
				{nil, 10 * time.Second},
				{fail, 500 * time.Millisecond},
				{fail, 1 * time.Second},
				{fail, 2 * time.Second},
				{fail, 4 * time.Second},
				{fail, 5 * time.Second}, // 16 s capped at the interval, halved
				{fail, 5 * time.Second},
				{nil, 10 * time.Second},
				{fail, 500 * time.Millisecond}, // success reset the backoff
			},
		},
		{
			name: "jitter in the middle",
			rand: 0.5,
			steps: []struct {
				err  error
				wait time.Duration
			}{
				{fail, 750 * time.Millisecond},
				{fail, 1500 * time.Millisecond},
				{nil, 10 * time.Second},
				{nil, 10 * time.Second},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			s := newScript()
			p := &poll.Poller{
				Interval: 10 * time.Second,
				MinRetry: time.Second,
				After:    clock.After,
				Rand:     func() float64 { return tt.rand },
			}
			cancel := start(t, p, s.fetch)
			for i, step := range tt.steps {
				s.answer(t, step.err)
				w := clock.next(t)
				if w.d != step.wait {
					t.Errorf("step %d: waited %v, want %v", i, w.d, step.wait)
				}
				w.fire <- time.Time{}
			}
			// The loop fetches again after the last wait; cancel it mid-fetch.
			select {
			case <-s.calls:
			case <-time.After(timeout):
				t.Fatal("no fetch after the last wait")
			}
			if err := cancel(); !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v, want context.Canceled", err)
			}
		})
	}
}

func TestDefaultMinRetry(t *testing.T) {
	for _, tt := range []struct {
		interval, want time.Duration
	}{
		{5 * time.Second, 500 * time.Millisecond},
		{time.Minute, time.Second},
		{10 * time.Millisecond, time.Millisecond},
	} {
		clock := newFakeClock()
		s := newScript()
		p := &poll.Poller{Interval: tt.interval, After: clock.After, Rand: func() float64 { return 0 }}
		cancel := start(t, p, s.fetch)
		s.answer(t, errors.New("down"))
		if w := clock.next(t); w.d != tt.want/2 {
			t.Errorf("interval %v: first retry after %v, want %v", tt.interval, w.d, tt.want/2)
		}
		if err := cancel(); !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
	}
}

func TestCancelWhileWaiting(t *testing.T) {
	defer goleak.VerifyNone(t)
	clock := newFakeClock()
	calls := 0
	p := &poll.Poller{Interval: time.Hour, After: clock.After}
	cancel := start(t, p, func(context.Context) error { calls++; return nil })
	clock.next(t) // waiting an hour
	if err := cancel(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
	if calls != 1 {
		t.Errorf("fetch called %d times, want 1", calls)
	}
}

func TestCancelledBeforeRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := poll.Loop(ctx, time.Hour, func(context.Context) error {
		t.Error("fetch called after ctx ended")
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Loop returned %v", err)
	}
}

func TestRealClock(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithCancel(context.Background())
	calls := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- poll.Loop(ctx, time.Millisecond, func(ctx context.Context) error {
			select {
			case calls <- struct{}{}:
			case <-ctx.Done():
			}
			return nil
		})
	}()
	for range 3 {
		select {
		case <-calls:
		case <-time.After(timeout):
			t.Fatal("fetch not called")
		}
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Loop returned %v", err)
		}
	case <-time.After(timeout):
		t.Fatal("Loop did not return")
	}
}

func TestBadInterval(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for a zero interval")
		}
	}()
	_ = (&poll.Poller{}).Run(context.Background(), func(context.Context) error { return nil })
}

func TestBackoff(t *testing.T) {
	top := func() float64 { return 0.999999 }
	b := poll.Backoff{Min: 100 * time.Millisecond, Max: time.Second, Rand: top}
	var got []time.Duration
	for range 6 {
		got = append(got, b.Next().Round(time.Millisecond))
	}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Errorf("delays %v, want %v ms", got, want)
			break
		}
	}
	b.Reset()
	if d := b.Next(); d >= 100*time.Millisecond || d < 50*time.Millisecond {
		t.Errorf("after Reset: %v", d)
	}

	var zero poll.Backoff
	if d := zero.Next(); d != 0 {
		t.Errorf("zero Backoff waits %v", d)
	}

	// No Max: doubling must not overflow into negative delays.
	huge := poll.Backoff{Min: time.Duration(1 << 62), Rand: top}
	for range 4 {
		if d := huge.Next(); d <= 0 {
			t.Fatalf("overflowed: %v", d)
		}
	}

	// Default randomness stays within [d/2, d).
	r := poll.Backoff{Min: time.Second, Max: time.Second}
	for range 1000 {
		if d := r.Next(); d < 500*time.Millisecond || d >= time.Second {
			t.Fatalf("jittered delay %v outside [0.5s, 1s)", d)
		}
	}
}

func TestOutageKey(t *testing.T) {
	tests := []struct {
		name string
		a, b string // two errors' messages
		same bool
	}{
		{"local IPv4 ports differ",
			"read tcp 127.0.0.1:50001->127.0.0.1:80: read: connection reset by peer",
			"read tcp 127.0.0.1:50002->127.0.0.1:80: read: connection reset by peer", true},
		{"local IPv6 ports differ",
			"read tcp [::1]:50001->[::1]:80: read: connection reset by peer",
			"read tcp [::1]:50002->[::1]:80: read: connection reset by peer", true},
		{"in a gRPC status",
			`rpc error: code = Unavailable desc = error reading from server: read tcp 127.0.0.1:50001->127.0.0.1:8015: read: connection reset by peer`,
			`rpc error: code = Unavailable desc = error reading from server: read tcp 127.0.0.1:50002->127.0.0.1:8015: read: connection reset by peer`, true},
		{"remote ports differ",
			"read tcp 127.0.0.1:50001->127.0.0.1:80: read: connection reset by peer",
			"read tcp 127.0.0.1:50001->127.0.0.1:81: read: connection reset by peer", false},
		{"causes differ",
			"dial tcp 127.0.0.1:80: connect: connection refused",
			"GET http://127.0.0.1:80/flags.json: 500 Internal Server Error", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ka, kb := poll.OutageKey(errors.New(tt.a)), poll.OutageKey(errors.New(tt.b))
			if (ka == kb) != tt.same {
				t.Errorf("keys %q and %q: same = %v, want %v", ka, kb, ka == kb, tt.same)
			}
		})
	}
	if k := poll.OutageKey(errors.New("read tcp 127.0.0.1:50001->127.0.0.1:80: read: connection reset by peer")); k != "read tcp 127.0.0.1:80: read: connection reset by peer" {
		t.Errorf("key %q, want the message without the local address", k)
	}
}
