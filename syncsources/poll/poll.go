// Package poll runs a fetch function periodically, for the flag sources that
// have to ask (an HTTP server) rather than be told (a watched file).
//
// [Loop] calls fetch at once, then every interval while it succeeds; after a
// failure it retries sooner, backing off exponentially with jitter up to the
// interval, so that a source that lost its server recovers quickly without
// many replicas hammering it in step. Fetch reports its own results (it
// sends the Update, or the outage); the loop only schedules. [Sender] is
// how fetch reports them: a document only when its bytes changed, a failure
// only when it differs from the one reported last ([OutageKey]).
//
// The clock and the randomness are fields of [Poller], so tests drive the
// loop with a fake clock and no sleeps.
package poll

import (
	"context"
	"math/rand/v2"
	"time"
)

// Poller schedules fetches. The zero value is not usable: Interval must be
// positive.
type Poller struct {
	// Interval is the time between the end of one successful fetch and the
	// start of the next, and the longest retry delay.
	Interval time.Duration
	// MinRetry is the delay (before jitter) of the first retry after a
	// failure; each further consecutive failure doubles it, up to Interval.
	// Zero means Interval/10, at most one second.
	MinRetry time.Duration
	// After waits; nil means time.After. Tests pass a fake clock's.
	After func(time.Duration) <-chan time.Time
	// Rand returns a number in [0, 1) for jitter; nil means math/rand/v2.
	Rand func() float64
}

// Loop is (&Poller{Interval: interval}).Run(ctx, fetch).
func Loop(ctx context.Context, interval time.Duration, fetch func(context.Context) error) error {
	p := &Poller{Interval: interval}
	return p.Run(ctx, fetch)
}

// Run calls fetch at once and then on schedule until ctx ends, and returns
// ctx's error. It never calls fetch after ctx has ended, and does not return
// while a fetch is running (fetch should honour its ctx). It panics if
// Interval is not positive.
func (p *Poller) Run(ctx context.Context, fetch func(context.Context) error) error {
	if p.Interval <= 0 {
		panic("poll: Interval must be positive")
	}
	after := p.After
	if after == nil {
		after = time.After
	}
	b := Backoff{Min: p.MinRetry, Max: p.Interval, Rand: p.Rand}
	if b.Min <= 0 {
		b.Min = min(p.Interval/10, time.Second)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := fetch(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		delay := p.Interval
		if err != nil {
			delay = b.Next()
		} else {
			b.Reset()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-after(delay):
		}
	}
}

// Backoff computes retry delays: Min for the first, doubling with each
// further call up to Max, each with "equal jitter" (a delay d becomes a
// random duration in [d/2, d)). The zero value never waits.
type Backoff struct {
	Min, Max time.Duration
	// Rand returns a number in [0, 1); nil means math/rand/v2.Float64.
	Rand func() float64

	next time.Duration // before jitter; 0 means Min
}

// Next returns the delay before the next retry.
func (b *Backoff) Next() time.Duration {
	d := b.next
	if d <= 0 {
		d = b.Min
	}
	if b.Max > 0 && d > b.Max {
		d = b.Max
	}
	if d <= 0 {
		return 0
	}
	b.next = d * 2
	if b.next < d { // overflow
		b.next = d
	}
	r := b.Rand
	if r == nil {
		r = rand.Float64
	}
	half := d / 2
	return half + time.Duration(r()*float64(d-half))
}

// Reset makes the next delay Min again, after a success.
func (b *Backoff) Reset() { b.next = 0 }
