package grpcsource

import "time"

// SetBackoff replaces the reconnection delays' clock and jitter.
func SetBackoff(s *Source, after func(time.Duration) <-chan time.Time, rand func() float64) {
	s.after, s.rand = after, rand
}
