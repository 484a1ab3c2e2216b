// Package history is the store the daemon records what happened into: every
// update a flag source delivers becomes a [Revision] (time, source, the
// source's own revision, the actor, whether it was rejected and why, and the
// flags it added, removed or changed, each with a JSON-pointer diff).
//
// A store is chosen by URL with [Open], in the manner of go-cloud's URL
// openers:
//
//   - sqlite:PATH — an embedded SQLite database file (modernc.org/sqlite,
//     pure Go, no cgo);
//   - postgres://... or postgresql://... — a PostgreSQL database (pgx), which
//     several daemons may share;
//   - mem:// — a bounded in-memory history (mem://?limit=N, default
//     [DefaultMemoryLimit] revisions), what the daemon keeps without a store.
//
// The SQL stores go through database/sql and bring their schema up to date
// when opened: the migrations are .sql files embedded per dialect, recorded
// in a schema_migrations table and applied in one transaction (on
// PostgreSQL under an advisory lock, so daemons starting together migrate
// once).
//
// Appending is idempotent per (source, source revision): daemons sharing a
// database that see the same source content record one revision. A revision
// without a source revision is always new.
//
// [Diff] computes the JSON-pointer diff of a flag's definition that a
// [Change] carries. Every store passes the contract in package historytest.
package history

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ChangeKind says what a revision did to a flag.
type ChangeKind string

// The kinds of change.
const (
	Added   ChangeKind = "added"
	Removed ChangeKind = "removed"
	Changed ChangeKind = "changed"
)

// DiffOp is one operation of a JSON-pointer diff of a flag's definition, in
// the shape of a JSON Patch (RFC 6902) operation with the old value added.
type DiffOp struct {
	// Op is "add", "remove" or "replace".
	Op string `json:"op"`
	// Path is a JSON pointer (RFC 6901) into the flag's definition.
	Path string `json:"path"`
	// Value is the new value (add, replace).
	Value json.RawMessage `json:"value,omitempty"`
	// Old is the value before (remove, replace).
	Old json.RawMessage `json:"old,omitempty"`
}

// Change is what a revision did to one flag.
type Change struct {
	Flag string     `json:"flag"`
	Kind ChangeKind `json:"kind"`
	Diff []DiffOp   `json:"diff"`
}

// Revision is one update a source delivered, accepted or rejected.
type Revision struct {
	// Time is when the daemon received the update. Stores keep it to the
	// microsecond, in UTC.
	Time time.Time `json:"time"`
	// Source is the source's name (its URI).
	Source string `json:"source"`
	// SourceRevision is the source's own revision of the content: a file's
	// hash, an HTTP ETag, a gRPC payload's hash, a Kubernetes
	// resourceVersion. Empty when the source has none; such a revision is
	// never deduplicated.
	SourceRevision string `json:"revision"`
	// Actor is who made the change, when the source knows it.
	Actor string `json:"actor"`
	// Rejected is true when the update was invalid and not applied.
	Rejected bool `json:"rejected"`
	// Problems are why it was rejected.
	Problems []string `json:"problems"`
	// Changes are the flags the revision added, removed or changed.
	Changes []Change `json:"changes"`
}

// Query selects revisions. Zero fields do not filter.
type Query struct {
	// Flag keeps the revisions that changed this flag, with only this
	// flag's changes.
	Flag string
	// Source keeps the revisions of this source.
	Source string
	// Since keeps the revisions at or after this time (to the
	// microsecond, as stores keep times).
	Since time.Time
	// Limit is the most revisions returned (the newest); 0 returns all.
	Limit int
}

// Store records revisions and reads them back. Its methods are safe for
// concurrent use.
type Store interface {
	// AppendRevision records r and reports whether it was new: false when
	// the store already holds a revision with the same non-empty
	// (Source, SourceRevision), which it keeps unchanged.
	AppendRevision(ctx context.Context, r Revision) (added bool, err error)
	// Revisions returns the revisions q selects, newest first (by Time,
	// then by the order they were appended).
	Revisions(ctx context.Context, q Query) ([]Revision, error)
	// Close releases the store.
	Close() error
}

// ErrClosed is returned by a closed store.
var ErrClosed = errors.New("history: store closed")

// normalize returns r as stores keep it: time in UTC to the microsecond, nil
// slices as empty ones.
func normalize(r Revision) Revision {
	r.Time = r.Time.UTC().Truncate(time.Microsecond)
	if r.Problems == nil {
		r.Problems = []string{}
	}
	if r.Changes == nil {
		r.Changes = []Change{}
	}
	cs := make([]Change, len(r.Changes))
	for i, c := range r.Changes {
		if c.Diff == nil {
			c.Diff = []DiffOp{}
		}
		cs[i] = c
	}
	r.Changes = cs
	return r
}

func validate(r Revision) error {
	if r.Source == "" {
		return errors.New("history: revision without a source")
	}
	for _, c := range r.Changes {
		if c.Flag == "" {
			return errors.New("history: change without a flag")
		}
		switch c.Kind {
		case Added, Removed, Changed:
		default:
			return errors.New("history: change of flag " + c.Flag + " has unknown kind " + string(c.Kind))
		}
	}
	return nil
}
