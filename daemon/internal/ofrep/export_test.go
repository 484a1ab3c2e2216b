package ofrep

import (
	"sync"
	"sync/atomic"
)

// fastHits counts, per service, the bodies the fast path read and the
// answers it wrote; only tests count them.
var fastReads, fastWrites sync.Map // *Service → *atomic.Uint64

func init() {
	testHookFastRead = func(s *Service) { count(&fastReads, s) }
	testHookFastWritten = func(s *Service) { count(&fastWrites, s) }
}

func count(m *sync.Map, s *Service) {
	c, ok := m.Load(s)
	if !ok {
		c, _ = m.LoadOrStore(s, new(atomic.Uint64))
	}
	c.(*atomic.Uint64).Add(1)
}

func load(m *sync.Map, s *Service) uint64 {
	if c, ok := m.Load(s); ok {
		return c.(*atomic.Uint64).Load()
	}
	return 0
}

// FastHits is how many request bodies the fast path has read, and how
// many answers it has written.
func (s *Service) FastHits() (reads, writes uint64) {
	return load(&fastReads, s), load(&fastWrites, s)
}
