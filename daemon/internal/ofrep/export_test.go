package ofrep

// FastHits is how many request bodies the fast path has read, and how
// many answers it has written.
func (s *Service) FastHits() (reads, writes uint64) {
	return s.fastReads.Load(), s.fastWrites.Load()
}
