package blobsource

import "time"

// SetPoller replaces the poller's clock and jitter.
func SetPoller(s *Source, after func(time.Duration) <-chan time.Time, rand func() float64) {
	s.after, s.rand = after, rand
}
