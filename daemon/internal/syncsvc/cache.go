package syncsvc

import (
	"errors"
	"runtime"
	"sync"
	"weak"

	"github.com/vexilhq/vexil/daemon/internal/store"
)

// The bounds of a configCache. Selectors are the clients' choice.
const (
	// maxCacheEntries bounds the number of payloads cached.
	maxCacheEntries = 128
	// maxCacheBytes bounds their total length, unless one payload alone
	// is longer: that one is cached alone.
	maxCacheBytes = 64 << 20
)

// configCache shares the flag_configuration of the store's current
// snapshot between the requests and streams that use the same selector,
// so that an update is marshalled once per selector rather than once per
// stream: a request for a payload being built waits for it.
//
// It holds payloads, never a snapshot, and only those of one snapshot: the
// newest current one it was asked about. They are dropped as soon as it is
// asked about a newer one, or when their snapshot is garbage collected
// (once the store has moved on and no stream holds it any more), whichever
// comes first. Payloads of any other snapshot (a stream behind the store)
// are built and not cached. Since selectors are the clients' choice it is
// bounded: a selection of no flags (an unknown flag set or source) is not
// cached, its payload being cheap to build; at most maxEntries payloads
// are cached, together at most maxBytes long unless a single payload is
// longer, which is then cached alone.
type configCache struct {
	maxEntries int
	maxBytes   int

	mu      sync.Mutex
	gen     uint64 // the generation of the snapshot the entries are of
	entries map[store.Selector]*cacheEntry
	bytes   int // the total length of the payloads kept (built)
}

// cacheEntry is the payload of one selector, being built until done is
// closed.
type cacheEntry struct {
	done chan struct{}
	conf string
	err  error
}

// errNotBuilt is what requests waiting for a payload get when building it
// panicked.
var errNotBuilt = errors.New("flag configuration not built")

// configuration returns the flag_configuration of the snapshot's flags that
// the selector sees, from the cache when it can. current is the
// generation of the store's current snapshot.
func (c *configCache) configuration(snap *store.Snapshot, sel store.Selector, current uint64) (string, error) {
	gen := snap.Generation()
	if gen != current || len(snap.Flags(sel)) == 0 {
		return buildConfiguration(snap, sel)
	}
	c.mu.Lock()
	if c.entries == nil || gen > c.gen {
		c.adopt(snap)
	}
	if gen != c.gen {
		// The store has moved on since current was read.
		c.mu.Unlock()
		return buildConfiguration(snap, sel)
	}
	if e, ok := c.entries[sel]; ok {
		c.mu.Unlock()
		<-e.done
		return e.conf, e.err
	}
	if len(c.entries) >= c.maxEntries {
		c.mu.Unlock()
		return buildConfiguration(snap, sel)
	}
	e := &cacheEntry{done: make(chan struct{})}
	c.entries[sel] = e
	c.mu.Unlock()
	c.build(snap, sel, e)
	return e.conf, e.err
}

// adopt drops every payload and makes the cache the snapshot's. c.mu is
// held.
func (c *configCache) adopt(snap *store.Snapshot) {
	c.gen = snap.Generation()
	c.entries = map[store.Selector]*cacheEntry{}
	c.bytes = 0
	// The payloads go when the snapshot does, even if no request comes to
	// replace them. The cleanup holds the cache weakly: a service no
	// longer used must not be kept alive by the snapshots of its store.
	cache := weak.Make(c)
	runtime.AddCleanup(snap, func(gen uint64) {
		if c := cache.Value(); c != nil {
			c.forget(gen)
		}
	}, c.gen)
}

// forget drops the payloads of the generation if the cache holds them.
func (c *configCache) forget(gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.entries = map[store.Selector]*cacheEntry{}
		c.bytes = 0
	}
}

// build builds the entry's payload, then keeps it if the entry is still
// the cache's and the bounds allow, and lets the requests waiting for it
// have it.
func (c *configCache) build(snap *store.Snapshot, sel store.Selector, e *cacheEntry) {
	gen := snap.Generation()
	e.err = errNotBuilt
	defer close(e.done)
	defer c.settle(gen, sel, e)
	e.conf, e.err = buildConfiguration(snap, sel)
}

// settle keeps a payload built or drops its entry.
func (c *configCache) settle(gen uint64, sel store.Selector, e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.entries[sel] != e {
		return // dropped while it was being built
	}
	if e.err != nil || c.bytes > 0 && c.bytes+len(e.conf) > c.maxBytes {
		delete(c.entries, sel)
		return
	}
	c.bytes += len(e.conf)
}

func buildConfiguration(snap *store.Snapshot, sel store.Selector) (string, error) {
	b, err := FlagConfiguration(snap, sel)
	return string(b), err
}

// configuration returns the flag_configuration of the snapshot for the
// selector, shared through the service's cache.
func (s *Service) configuration(snap *store.Snapshot, sel store.Selector) (string, error) {
	return s.cache.configuration(snap, sel, s.store.Current().Generation())
}
