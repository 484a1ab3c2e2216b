// Package store is the daemon's merged flag store: it applies what the
// flag sources deliver and publishes, after each update, an immutable
// [Snapshot] of the flags of every source, merged as flagd merges them.
//
// Readers call [Store.Current] and query the snapshot they get: a pointer
// load, no lock, and a snapshot never changes. Updates ([Store.Apply]) are
// serialized by the store; each one parses its document outside the lock,
// reuses the compiled flags whose definitions did not change, and touches
// only the keys that did.
//
// The merge follows flagd's store (core/pkg/store): a flag is identified by
// its flag set id (the "flagSetId" of its own metadata, else of its
// document's) and its key; when several sources define the same flag, the
// source listed later in [Config.Sources] wins. [Selector]s narrow queries
// to a flag set or a source. Every update is a full snapshot of its source;
// a rejected document or an outage leaves the source's last good flags
// serving, and the source's [SourceState] records what happened.
//
// Each update also yields a [Change]: the flags it wrote, updated or
// deleted, as any selector sees them ([Change.For]), for flagd's
// configuration_change events and sync streams. [Store.Subscribe] delivers
// changes without ever blocking an update: a subscriber that falls behind
// gets its pending changes merged into one. [Store.Propose] returns the
// change an update would make without making it (a dry run, for the
// daemon's POST /api/v1/diff).
package store

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
)

// Config configures a Store.
type Config struct {
	// Sources names the sources in priority order: a flag of a later source
	// wins over the same flag of an earlier one. A name listed twice counts
	// once, at its first place (as in flagd).
	Sources []string
	// Parser parses the documents; nil means flagd's behaviour
	// (evaluator.Options{}).
	Parser *evaluator.Parser
	// Now is the clock for source states and for "$flagd.timestamp" in
	// targeting; nil means time.Now.
	Now func() time.Time
}

// Store is the merged flag store. It is safe for concurrent use.
type Store struct {
	parser *evaluator.Parser
	lay    *layout
	cur    atomic.Pointer[Snapshot]

	// mu serializes updates, and the publication of their snapshot with
	// the delivery of their change, against subscription.
	mu   sync.Mutex
	subs map[*subscriber]struct{}
}

// New returns a store with no flags, whose snapshot is not ready until
// every source has delivered. It panics if Parser is nil and the default
// parser cannot be built (its schemas are compiled into the program).
func New(cfg Config) *Store {
	p := cfg.Parser
	if p == nil {
		var err error
		if p, err = evaluator.NewParser(evaluator.Options{}); err != nil {
			panic(fmt.Sprintf("store: building the default parser: %v", err))
		}
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	lay := &layout{index: map[string]int{}, now: now}
	for _, name := range cfg.Sources {
		if _, dup := lay.index[name]; dup {
			continue
		}
		lay.index[name] = len(lay.names)
		lay.names = append(lay.names, name)
	}
	srcs := make([]*sourceData, len(lay.names))
	for i, name := range lay.names {
		srcs[i] = &sourceData{state: SourceState{Name: name}}
	}
	s := &Store{parser: p, lay: lay, subs: map[*subscriber]struct{}{}}
	s.cur.Store(newSnapshot(0, lay, srcs, map[string]*entry{}, map[string]map[string]*entry{}))
	return s
}

// Current returns the latest snapshot. It never returns nil and never
// blocks.
func (s *Store) Current() *Snapshot { return s.cur.Load() }

// Apply applies one update of a source and publishes the resulting
// snapshot:
//
//   - Data: the document is parsed. If it is rejected nothing but the
//     source's state changes (its last good flags keep serving; the state
//     holds the error, every problem, and one more rejection), and Apply
//     returns the *evaluator.LoadError. Otherwise the document replaces all
//     the source's flags.
//   - Err: an outage. The source's last good flags keep serving; its state
//     says so.
//   - Removed: the source serves no flags.
//
// Every update publishes a new snapshot, since at least the source's state
// changes, and returns the change from the previous one. An update from a
// source that is not configured is an error and changes nothing.
func (s *Store) Apply(u syncsources.Update) (Change, error) {
	idx, ok := s.lay.index[u.Source]
	if !ok {
		return Change{}, fmt.Errorf("store: unknown source %q", u.Source)
	}
	return s.commit(u.Source, idx, s.prepare(u, idx))
}

// pending is an update prepared for commit: parsed, and compared with the
// source's flags of the snapshot current then.
type pending struct {
	ev       Event
	problems []evaluator.Problem
	loadErr  error // the rejection
	outage   error
	// For EventLoaded and EventRemoved: the new flags, and the source's
	// entries they replace.
	flags   []*evaluator.Flag
	base    uint64 // the version of the entries compared with
	entries map[flagID]*entry
	ids     []flagID
}

// prepare does the work of an update that needs no lock: parsing, and
// comparing with the flags the source serves now.
func (s *Store) prepare(u syncsources.Update, idx int) pending {
	var p pending
	switch {
	case u.Err != nil:
		return pending{ev: EventOutage, outage: u.Err}
	case u.Removed:
		p.ev = EventRemoved
	default:
		// The parser reuses the compiled flags of the source's current
		// document whose source did not change, fingerprint included.
		var previous func(string) *evaluator.Flag
		if prev := s.cur.Load().srcs[idx]; len(prev.byKey) > 0 {
			previous = func(key string) *evaluator.Flag {
				if e := prev.byKey[key]; e != nil {
					return e.flag
				}
				return nil
			}
		}
		set, problems, err := s.parser.ParseReusing(u.Source, u.Data, u.Format, previous)
		if err != nil {
			return pending{ev: EventRejected, problems: problems, loadErr: err}
		}
		p.ev, p.problems, p.flags = EventLoaded, problems, set.Flags()
	}
	base := s.cur.Load().srcs[idx]
	p.base = base.version
	p.entries, p.ids = buildEntries(base.entries, p.flags, idx)
	return p
}

// buildEntries returns the entries of a source's new flags, keeping the
// entry of base of every flag whose fingerprint did not change (base itself
// when none did), and the flags that changed (new, updated or gone),
// sorted by key and flag set. When a few flags changed and none went, it
// edits a copy of base rather than build the map anew.
func buildEntries(base map[flagID]*entry, flags []*evaluator.Flag, idx int) (map[flagID]*entry, []flagID) {
	next := make([]*entry, len(flags)) // each flag's entry
	var fresh []*entry                 // the entries of new and updated flags
	kept := 0                          // flags of base that are still there
	for i, f := range flags {
		id := flagID{set: f.FlagSetID(), key: f.Key()}
		o := base[id]
		if o != nil {
			kept++
			if o.flag.Fingerprint() == f.Fingerprint() {
				next[i] = o
				continue
			}
		}
		next[i] = &entry{flag: f, key: id.key, set: id.set, src: idx}
		fresh = append(fresh, next[i])
	}
	if len(fresh) == 0 && kept == len(base) && base != nil {
		return base, nil
	}
	ids := make([]flagID, len(fresh), len(fresh)+len(base)-kept)
	for i, e := range fresh {
		ids[i] = flagID{set: e.set, key: e.key}
	}
	var entries map[flagID]*entry
	if kept == len(base) && len(fresh) <= len(flags)/8 {
		entries = maps.Clone(base)
		for i, e := range fresh {
			entries[ids[i]] = e
		}
	} else {
		entries = make(map[flagID]*entry, len(flags))
		for _, e := range next {
			entries[flagID{set: e.set, key: e.key}] = e
		}
		if kept < len(base) {
			for id := range base {
				if _, ok := entries[id]; !ok {
					ids = append(ids, id)
				}
			}
		}
	}
	sortIDs(ids)
	return entries, ids
}

// keyIndexEdit is keyIndex(entries) for entries that differ from those of
// prev (their keyIndex) only in ids: a copy of prev with those keys
// recomputed, when they are few.
func keyIndexEdit(prev map[string]*entry, entries map[flagID]*entry, ids []flagID) map[string]*entry {
	if prev == nil || len(ids) > len(entries)/8 {
		return keyIndex(entries)
	}
	out := maps.Clone(prev)
	for _, id := range ids {
		cur := out[id.key]
		e := entries[id]
		switch {
		case e != nil && (cur == nil || compareSets(cur.set, id.set) <= 0):
			out[id.key] = e
		case e == nil && cur != nil && cur.set == id.set:
			// The winner of the key went: look for the next one.
			return keyIndex(entries)
		}
	}
	return out
}

// keyIndex returns the entry of each key that a lookup by key alone finds
// in one source: the one of the greatest flag set id.
func keyIndex(entries map[flagID]*entry) map[string]*entry {
	out := make(map[string]*entry, len(entries))
	for id, e := range entries {
		if o := out[id.key]; o == nil || compareSets(o.set, id.set) < 0 {
			out[id.key] = e
		}
	}
	return out
}

// commit applies a prepared update and publishes the snapshot.
func (s *Store) commit(source string, idx int, p pending) (Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.successor(s.cur.Load(), source, idx, p)
	s.cur.Store(c.New)
	for sub := range s.subs {
		sub.deliver(c)
	}
	return c, p.loadErr
}

// successor returns the change that applying a prepared update to old
// makes, with the snapshot that follows old; it publishes nothing.
func (s *Store) successor(old *Snapshot, source string, idx int, p pending) Change {
	now := s.lay.now()
	prev := old.srcs[idx]
	next := &sourceData{entries: prev.entries, byKey: prev.byKey, version: prev.version, state: prev.state}
	st := &next.state
	st.Updated = now
	var ids []flagID
	switch p.ev {
	case EventOutage:
		st.Outage = true
		st.LastError = p.outage.Error()
	case EventRejected:
		st.Outage = false
		st.Rejected++
		st.Received = true
		st.LastError = p.loadErr.Error()
		st.Problems = p.problems
	case EventLoaded, EventRemoved:
		if p.base != prev.version {
			// Another update of this source was committed since prepare
			// compared: compare again.
			p.entries, p.ids = buildEntries(prev.entries, p.flags, idx)
		}
		if len(p.ids) > 0 {
			next.entries, next.version, ids = p.entries, prev.version+1, p.ids
			next.byKey = keyIndexEdit(prev.byKey, next.entries, ids)
		}
		st.Delivered = true
		st.Received = true
		st.Outage = false
		st.Removed = p.ev == EventRemoved
		st.LastError = ""
		st.Problems = p.problems
		st.Flags = len(next.entries)
		st.Loaded = now
	}

	srcs := append([]*sourceData(nil), old.srcs...)
	srcs[idx] = next
	byKey, bySet := old.byKey, old.bySet
	if len(ids) > 0 {
		byKey, bySet = remerge(srcs, byKey, bySet, ids)
	}
	snap := newSnapshot(old.gen+1, s.lay, srcs, byKey, bySet)
	return Change{Source: source, Event: p.ev, Old: old, New: snap, Merged: 1, ids: ids}
}

// remerge recomputes the winners of the given flags over all sources,
// copying the maps it changes.
func remerge(srcs []*sourceData, byKey map[string]*entry, bySet map[string]map[string]*entry, ids []flagID) (map[string]*entry, map[string]map[string]*entry) {
	keyCopied, outerCopied := false, false
	setCopied := map[string]bool{}
	for i, id := range ids {
		if i == 0 || ids[i-1].key != id.key {
			w := winner(srcs, id.key, "", false)
			if byKey[id.key] != w {
				if !keyCopied {
					byKey, keyCopied = maps.Clone(byKey), true
				}
				if w == nil {
					delete(byKey, id.key)
				} else {
					byKey[id.key] = w
				}
			}
		}
		w := winner(srcs, id.key, id.set, true)
		inner := bySet[id.set]
		if inner[id.key] == w {
			continue
		}
		if !outerCopied {
			bySet, outerCopied = maps.Clone(bySet), true
		}
		if !setCopied[id.set] {
			setCopied[id.set] = true
			inner = maps.Clone(inner)
			if inner == nil {
				inner = map[string]*entry{}
			}
			bySet[id.set] = inner
		}
		if w == nil {
			delete(inner, id.key)
			if len(inner) == 0 {
				delete(bySet, id.set)
				delete(setCopied, id.set) // a later write must make a new map
			}
		} else {
			inner[id.key] = w
		}
	}
	return byKey, bySet
}

// winner returns the entry of the highest-priority source that defines
// key (in the flag set, if inSet).
func winner(srcs []*sourceData, key, set string, inSet bool) *entry {
	for i := len(srcs) - 1; i >= 0; i-- {
		var e *entry
		if inSet {
			e = srcs[i].entries[flagID{set: set, key: key}]
		} else {
			e = srcs[i].byKey[key]
		}
		if e != nil {
			return e
		}
	}
	return nil
}

// subscriber holds at most one undelivered change in its channel; the
// store merges a newer change into it rather than wait.
type subscriber struct {
	ch chan Change
}

// deliver never blocks: the store is the only sender, so once the pending
// change is taken out the send succeeds.
func (sub *subscriber) deliver(c Change) {
	for {
		select {
		case sub.ch <- c:
			return
		default:
		}
		select {
		case pending := <-sub.ch:
			c = pending.merge(c)
		default:
		}
	}
}

// Subscribe returns the current snapshot and a channel that receives every
// later change, starting from that snapshot: the first change's Old is the
// snapshot returned, and each change's Old is the previous one's New. A
// subscriber that does not keep up receives its pending changes merged
// into one (Change.Merged > 1); updates never wait for subscribers. The
// channel is closed when ctx ends.
func (s *Store) Subscribe(ctx context.Context) (*Snapshot, <-chan Change) {
	sub := &subscriber{ch: make(chan Change, 1)}
	s.mu.Lock()
	snap := s.cur.Load()
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	context.AfterFunc(ctx, func() {
		s.mu.Lock()
		delete(s.subs, sub)
		close(sub.ch)
		s.mu.Unlock()
	})
	return snap, sub.ch
}
