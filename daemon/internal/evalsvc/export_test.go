package evalsvc

// FastHits is how many requests the fast path has answered.
func (s *Service) FastHits() uint64 { return s.fastHits.Load() }
