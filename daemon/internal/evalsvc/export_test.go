package evalsvc

import (
	"sync"
	"sync/atomic"
)

// fastHits counts, per service, the answers the fast path wrote; only
// tests count them.
var fastHits sync.Map // *Service → *atomic.Uint64

func init() {
	testHookFastAnswered = func(s *Service) {
		c, ok := fastHits.Load(s)
		if !ok {
			c, _ = fastHits.LoadOrStore(s, new(atomic.Uint64))
		}
		c.(*atomic.Uint64).Add(1)
	}
}

// FastHits is how many requests the fast path has answered.
func (s *Service) FastHits() uint64 {
	if c, ok := fastHits.Load(s); ok {
		return c.(*atomic.Uint64).Load()
	}
	return 0
}
