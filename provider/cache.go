package provider

import (
	"container/list"
	"sync"

	"github.com/vexilhq/vexil/evaluator"
)

// cacheKey identifies a cached result: STATIC results depend only on the
// flag and the type asked for.
type cacheKey struct {
	key  string
	kind evaluator.Kind
}

type cacheEntry struct {
	key cacheKey
	r   result
}

// cache holds the rpc resolver's STATIC results, the least recently used
// evicted beyond max entries (0: no bound). A nil cache caches nothing.
type cache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *cacheEntry, most recent first
	byKey map[cacheKey]*list.Element
}

func newCache(max int) *cache {
	return &cache{max: max, order: list.New(), byKey: map[cacheKey]*list.Element{}}
}

func (c *cache) get(k cacheKey) (result, bool) {
	if c == nil {
		return result{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[k]
	if !ok {
		return result{}, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cacheEntry).r, true
}

func (c *cache) put(k cacheKey, r result) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[k]; ok {
		e.Value.(*cacheEntry).r = r
		c.order.MoveToFront(e)
		return
	}
	c.byKey[k] = c.order.PushFront(&cacheEntry{key: k, r: r})
	if c.max > 0 && c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(*cacheEntry).key)
	}
}

// evict removes the results of the flags with the given keys.
func (c *cache) evict(keys []string) {
	if c == nil || len(keys) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	drop := make(map[string]bool, len(keys))
	for _, k := range keys {
		drop[k] = true
	}
	for k, e := range c.byKey {
		if drop[k.key] {
			c.order.Remove(e)
			delete(c.byKey, k)
		}
	}
}

func (c *cache) purge() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order.Init()
	clear(c.byKey)
}

func (c *cache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
