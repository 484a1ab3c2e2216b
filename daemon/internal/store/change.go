package store

import (
	"slices"
	"strings"
)

// ChangeType is how a flag changed, named as in flagd's
// configuration_change event: {"flags": {key: {"type": "write"}}}
// (core/pkg/model/notification.go).
type ChangeType string

// The change types.
const (
	ChangeWrite  ChangeType = "write"  // the flag is new
	ChangeUpdate ChangeType = "update" // its definition or its source changed
	ChangeDelete ChangeType = "delete" // it is gone
)

// Event is what a source's update did.
type Event uint8

// The events.
const (
	// EventLoaded: a document was loaded.
	EventLoaded Event = iota + 1
	// EventRejected: a document was rejected; the source's last good flags
	// keep serving.
	EventRejected
	// EventOutage: the source reported an outage; its last good flags keep
	// serving.
	EventOutage
	// EventRemoved: the source's flags were removed.
	EventRemoved
)

var eventNames = [...]string{"", "loaded", "rejected", "outage", "removed"}

func (e Event) String() string {
	if int(e) < len(eventNames) && e != 0 {
		return eventNames[e]
	}
	return "unknown"
}

// flagID identifies a flag: its flag set and key.
type flagID struct{ set, key string }

// Change is the difference between two snapshots: what one update did, or
// what several did when a slow subscriber's changes were merged.
type Change struct {
	// Source and Event describe the (latest) update.
	Source string
	Event  Event
	// Old and New are the snapshots before and after. Neither is nil.
	Old, New *Snapshot
	// Merged is the number of updates the change covers: 1, or more when a
	// subscriber's pending changes were merged.
	Merged int
	// ids are the flags whose entry changed in the updated source: the only
	// ones any view can have changed in.
	ids []flagID
}

// FlagChange is one flag's change in the merged store.
type FlagChange struct {
	FlagSetID string // "" for no flag set
	Key       string
	Type      ChangeType
}

// HasFlagChanges reports whether some flag may have changed; when it is
// false every view is unchanged (the update changed only the state of a
// source, as an outage or a rejected document does).
func (c Change) HasFlagChanges() bool { return len(c.ids) > 0 }

// compare tells how a flag seen as o before and n after changed, and false
// when it did not. A definition seen from another source is an update, as
// in flagd's flagsEqual.
func compare(o, n *entry) (ChangeType, bool) {
	switch {
	case o == nil && n == nil, o == n:
		return "", false
	case o == nil:
		return ChangeWrite, true
	case n == nil:
		return ChangeDelete, true
	case o.flag.Fingerprint() == n.flag.Fingerprint() && o.src == n.src:
		return "", false
	}
	return ChangeUpdate, true
}

// Flags returns the change of each distinct flag (flag set, key) in the
// merged store, sorted by flag set and key.
func (c Change) Flags() []FlagChange {
	var out []FlagChange
	for _, id := range c.ids {
		if t, ok := compare(c.Old.bySet[id.set][id.key], c.New.bySet[id.set][id.key]); ok {
			out = append(out, FlagChange{FlagSetID: id.set, Key: id.key, Type: t})
		}
	}
	slices.SortFunc(out, func(a, b FlagChange) int {
		if c := strings.Compare(a.FlagSetID, b.FlagSetID); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out
}

// For returns the change as a subscriber with the selector sees it: for
// each key whose flag appeared, changed or disappeared, how. Flags whose
// definition did not change are left out. The result is empty (nil) when
// nothing the selector sees changed; flagd then sends no event.
//
// As in flagd, which keys its diff by the flags of GetAll, the flag of a
// key is the one the selector's listing ([Snapshot.Listing]) has last: of
// a key defined in several flag sets, the one of the greatest flag set id.
func (c Change) For(sel Selector) map[string]ChangeType {
	var out map[string]ChangeType
	for i, id := range c.ids {
		if i > 0 && c.ids[i-1].key == id.key {
			continue // two flag sets of one key: looked up once
		}
		if t, ok := compare(c.Old.lastListed(sel, id.key), c.New.lastListed(sel, id.key)); ok {
			if out == nil {
				out = map[string]ChangeType{}
			}
			out[id.key] = t
		}
	}
	return out
}

// merge returns the change from c.Old to next.New. next.Old must be c.New.
func (c Change) merge(next Change) Change {
	ids := c.ids
	if len(next.ids) > 0 {
		seen := make(map[flagID]struct{}, len(c.ids)+len(next.ids))
		ids = make([]flagID, 0, len(c.ids)+len(next.ids))
		for _, list := range [][]flagID{c.ids, next.ids} {
			for _, id := range list {
				if _, dup := seen[id]; !dup {
					seen[id] = struct{}{}
					ids = append(ids, id)
				}
			}
		}
		sortIDs(ids)
	}
	return Change{Source: next.Source, Event: next.Event, Old: c.Old, New: next.New, Merged: c.Merged + next.Merged, ids: ids}
}

// sortIDs sorts by key, then flag set, so that For sees the flag sets of
// one key together.
func sortIDs(ids []flagID) {
	slices.SortFunc(ids, func(a, b flagID) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.set, b.set)
	})
}
