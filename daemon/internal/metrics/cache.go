package metrics

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
)

// cache maps strings to values, for the hot paths: a hit is one lookup in
// an immutable map (a single string hashed), no lock and no allocation.
// Values are added under a lock to a dirty map that holds every entry,
// which becomes the read map once it has been missed as many times as it
// has entries, as sync.Map promotes its dirty map: new keys cost O(1)
// amortized copying.
type cache[V any] struct {
	read   atomic.Pointer[map[string]V]
	mu     sync.Mutex
	dirty  map[string]V
	misses int
}

// load returns k's value if the read map has it.
func (c *cache[V]) load(k string) (V, bool) {
	if m := c.read.Load(); m != nil {
		v, ok := (*m)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

// get returns k's value, adding add() when k has none and add is not nil.
func (c *cache[V]) get(k string, add func() V) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.dirty[k]
	if !ok {
		if add == nil {
			return v, false
		}
		v = add()
		if c.dirty == nil {
			c.dirty = map[string]V{}
		}
		c.dirty[k] = v
	}
	c.misses++
	if c.misses >= len(c.dirty) {
		m := maps.Clone(c.dirty)
		c.read.Store(&m)
		c.misses = 0
	}
	return v, true
}

// list is a copy-on-write list: readers scan a snapshot without locking;
// add must be called under a lock its callers share.
type list[T any] struct {
	p atomic.Pointer[[]T]
}

// all returns the current elements.
func (l *list[T]) all() []T {
	if p := l.p.Load(); p != nil {
		return *p
	}
	return nil
}

func (l *list[T]) add(e T) {
	s := append(slices.Clip(l.all()), e)
	l.p.Store(&s)
}
