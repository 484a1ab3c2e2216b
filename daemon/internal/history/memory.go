package history

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

// DefaultMemoryLimit is how many revisions a memory store keeps unless told.
const DefaultMemoryLimit = 1000

func init() {
	Register("mem", openMemory)
}

func openMemory(_ context.Context, rawurl string) (Store, error) {
	u, err := url.Parse(rawurl)
	if err != nil {
		return nil, fmt.Errorf("history: memory store URL: %w", err)
	}
	limit := DefaultMemoryLimit
	for k, vs := range u.Query() {
		if k != "limit" {
			return nil, fmt.Errorf("history: memory store URL %q: unknown parameter %q (want limit)", rawurl, k)
		}
		n, err := strconv.Atoi(vs[0])
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("history: memory store URL %q: limit must be a positive integer", rawurl)
		}
		limit = n
	}
	return NewMemory(limit), nil
}

// Memory is a Store that keeps the latest revisions in memory, at most a
// fixed number; the oldest go first. It is idempotent only over the
// revisions it still holds.
type Memory struct {
	mu     sync.Mutex
	limit  int
	revs   []Revision // oldest first
	keys   map[[2]string]struct{}
	closed bool
}

// NewMemory returns an empty memory store keeping at most limit revisions
// (DefaultMemoryLimit when limit <= 0).
func NewMemory(limit int) *Memory {
	if limit <= 0 {
		limit = DefaultMemoryLimit
	}
	return &Memory{limit: limit, keys: map[[2]string]struct{}{}}
}

// AppendRevision implements Store.
func (m *Memory) AppendRevision(_ context.Context, r Revision) (bool, error) {
	if err := validate(r); err != nil {
		return false, err
	}
	r = cloneRevision(normalize(r))
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false, ErrClosed
	}
	key := [2]string{r.Source, r.SourceRevision}
	if r.SourceRevision != "" {
		if _, dup := m.keys[key]; dup {
			return false, nil
		}
		m.keys[key] = struct{}{}
	}
	// Keep the slice sorted by time, appended order within a time.
	i := len(m.revs)
	for i > 0 && m.revs[i-1].Time.After(r.Time) {
		i--
	}
	m.revs = slices.Insert(m.revs, i, r)
	if len(m.revs) > m.limit {
		old := m.revs[0]
		if old.SourceRevision != "" {
			delete(m.keys, [2]string{old.Source, old.SourceRevision})
		}
		m.revs[0] = Revision{}
		m.revs = m.revs[1:]
	}
	return true, nil
}

// Revisions implements Store.
func (m *Memory) Revisions(_ context.Context, q Query) ([]Revision, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	since := q.Since.UTC().Truncate(time.Microsecond)
	out := []Revision{}
	for i := len(m.revs) - 1; i >= 0; i-- {
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
		r := m.revs[i]
		if q.Source != "" && r.Source != q.Source {
			continue
		}
		if !q.Since.IsZero() && r.Time.Before(since) {
			continue
		}
		if q.Flag != "" && !slices.ContainsFunc(r.Changes, func(c Change) bool { return c.Flag == q.Flag }) {
			continue
		}
		r = cloneRevision(r)
		if q.Flag != "" {
			r.Changes = slices.DeleteFunc(r.Changes, func(c Change) bool { return c.Flag != q.Flag })
		}
		out = append(out, r)
	}
	return out, nil
}

// Close implements Store.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.revs, m.keys = nil, nil
	return nil
}

// cloneRevision copies r's slices, so callers and the store share nothing
// mutable (the raw JSON values in diffs are not modified by either).
func cloneRevision(r Revision) Revision {
	r.Problems = slices.Clone(r.Problems)
	cs := make([]Change, len(r.Changes))
	for i, c := range r.Changes {
		c.Diff = slices.Clone(c.Diff)
		cs[i] = c
	}
	r.Changes = cs
	return r
}
