package httpsource

import (
	"time"

	"github.com/vexilhq/vexil/syncsources/poll"
)

// SetClock replaces the clock that decides when an OAuth token expires.
func SetClock(s *Source, now func() time.Time) {
	if s.tokens != nil {
		s.tokens.now = now
	}
}

// SetPoller replaces the poller's clock and jitter.
func SetPoller(s *Source, after func(time.Duration) <-chan time.Time, rand func() float64) {
	s.after, s.rand = after, rand
}

// OutageKey is the key httpsource tells failures apart with.
var OutageKey = poll.OutageKey
