// Package historytest is the contract every history store passes: one test
// suite that each driver's tests run against a database they provide (an
// in-memory store, a SQLite file in a temporary directory, a real
// PostgreSQL server), in the manner of go-cloud's drivertest.
//
//	func TestContract(t *testing.T) {
//		historytest.Run(t, historytest.Harness{
//			NewURL: func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "h.db") },
//			Shared: true,
//		})
//	}
package historytest

import (
	"context"
	"encoding/json"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/vexilhq/vexil/daemon/internal/history"
)

// Harness describes the driver under test.
type Harness struct {
	// NewURL returns the URL of a new, empty store for one subtest.
	NewURL func(t *testing.T) string
	// Shared is true when stores opened from the same URL share their
	// revisions and keep them after Close (a database); false for the
	// memory store, where each Open is a new store. It enables the
	// reopen and two-handle checks.
	Shared bool
	// BadURLs are URLs of the driver's scheme that Open must refuse
	// (malformed, unreachable database), each with an error.
	BadURLs []string
}

// Run runs every check, each as a subtest on a new store:
//
//   - append and read back, all fields kept (time to the microsecond, in UTC)
//   - idempotency per (source, source revision): a second append reports
//     not new and changes nothing; an empty source revision is always new
//   - concurrent appends of one revision, from one handle and (Shared) from
//     two handles on one database: exactly one is new, one row kept
//   - filters by flag (the flag's changes only), source and since; limit;
//     newest first, ties in append order
//   - invalid revisions refused
//   - (Shared) concurrent first opens of a new database (migrations
//     serialized); persistence across Close and Open
//   - bad URLs refused with an error
func Run(t *testing.T, h Harness) {
	ctx := context.Background()
	open := func(t *testing.T, url string) history.Store {
		t.Helper()
		s, err := history.Open(ctx, url)
		if err != nil {
			t.Fatalf("Open(%q): %v", url, err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	base := time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))

	t.Run("AppendAndRead", func(t *testing.T) {
		s := open(t, h.NewURL(t))
		r := sample(base, "file:/etc/flags.json", "sha256:aa")
		added, err := s.AppendRevision(ctx, r)
		if err != nil || !added {
			t.Fatalf("AppendRevision = %v, %v; want true, nil", added, err)
		}
		rej := history.Revision{Time: base.Add(time.Second), Source: "file:/etc/flags.json", SourceRevision: "sha256:bb",
			Rejected: true, Problems: []string{"flag a: defaultVariant x is not a variant"}}
		mustAppend(t, s, rej, true)
		got := read(t, s, history.Query{})
		want := []history.Revision{normalized(rej), normalized(r)}
		equal(t, got, want)
		if got[0].Time.Location() != time.UTC {
			t.Errorf("Time location = %v, want UTC", got[0].Time.Location())
		}
	})

	t.Run("Idempotent", func(t *testing.T) {
		s := open(t, h.NewURL(t))
		r := sample(base, "src", "etag-1")
		mustAppend(t, s, r, true)
		other := sample(base.Add(time.Minute), "src", "etag-1")
		other.Actor = "someone else"
		mustAppend(t, s, other, false)
		// The same source revision from another source is another revision.
		mustAppend(t, s, sample(base, "src2", "etag-1"), true)
		// Without a source revision, every append is new.
		mustAppend(t, s, sample(base, "src", ""), true)
		mustAppend(t, s, sample(base, "src", ""), true)
		got := read(t, s, history.Query{Source: "src"})
		if len(got) != 3 {
			t.Fatalf("got %d revisions of src, want 3: %+v", len(got), got)
		}
		if got[2].Actor != r.Actor {
			t.Errorf("the first revision's actor = %q, want %q (kept unchanged)", got[2].Actor, r.Actor)
		}
	})

	concurrent := func(t *testing.T, stores []history.Store) {
		const per = 8
		r := sample(base, "shared", "hash-1")
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			added int
			errs  []error
		)
		for _, s := range stores {
			for range per {
				wg.Go(func() {
					ok, err := s.AppendRevision(ctx, r)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						errs = append(errs, err)
					}
					if ok {
						added++
					}
				})
			}
		}
		wg.Wait()
		for _, err := range errs {
			t.Error(err)
		}
		if added != 1 {
			t.Errorf("%d appends reported new, want 1", added)
		}
		for i, s := range stores {
			if got := read(t, s, history.Query{}); len(got) != 1 {
				t.Errorf("store %d holds %d revisions, want 1", i, len(got))
			}
		}
	}
	t.Run("ConcurrentOneHandle", func(t *testing.T) {
		concurrent(t, []history.Store{open(t, h.NewURL(t))})
	})
	if h.Shared {
		t.Run("ConcurrentTwoHandles", func(t *testing.T) {
			url := h.NewURL(t)
			concurrent(t, []history.Store{open(t, url), open(t, url)})
		})
	}

	t.Run("FiltersLimitOrder", func(t *testing.T) {
		s := open(t, h.NewURL(t))
		// Appended out of time order; r3 and r4 share a time.
		r1 := history.Revision{Time: base, Source: "a", SourceRevision: "1",
			Changes: []history.Change{{Flag: "x", Kind: history.Added}, {Flag: "y", Kind: history.Added}}}
		r3 := history.Revision{Time: base.Add(2 * time.Hour), Source: "a", SourceRevision: "3",
			Changes: []history.Change{{Flag: "y", Kind: history.Removed}}}
		r2 := history.Revision{Time: base.Add(time.Hour), Source: "b", SourceRevision: "2",
			Changes: []history.Change{{Flag: "x", Kind: history.Changed, Diff: []history.DiffOp{{Op: "replace", Path: "/state", Value: raw(`"DISABLED"`), Old: raw(`"ENABLED"`)}}}}}
		r4 := history.Revision{Time: base.Add(2 * time.Hour), Source: "b", SourceRevision: "4", Rejected: true, Problems: []string{"bad"}}
		for _, r := range []history.Revision{r1, r3, r2, r4} {
			mustAppend(t, s, r, true)
		}
		only := func(r history.Revision, flag string) history.Revision {
			var cs []history.Change
			for _, c := range r.Changes {
				if c.Flag == flag {
					cs = append(cs, c)
				}
			}
			r.Changes = cs
			return r
		}
		for _, tc := range []struct {
			name string
			q    history.Query
			want []history.Revision
		}{
			{"all", history.Query{}, []history.Revision{r4, r3, r2, r1}},
			{"limit", history.Query{Limit: 2}, []history.Revision{r4, r3}},
			{"source", history.Query{Source: "a"}, []history.Revision{r3, r1}},
			{"since", history.Query{Since: base.Add(time.Hour)}, []history.Revision{r4, r3, r2}},
			{"since between", history.Query{Since: base.Add(time.Hour + time.Microsecond)}, []history.Revision{r4, r3}},
			{"flag", history.Query{Flag: "x"}, []history.Revision{r2, only(r1, "x")}},
			{"flag y limit", history.Query{Flag: "y", Limit: 1}, []history.Revision{only(r3, "y")}},
			{"flag and source", history.Query{Flag: "x", Source: "b"}, []history.Revision{r2}},
			{"no match", history.Query{Flag: "z"}, []history.Revision{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				want := make([]history.Revision, len(tc.want))
				for i, r := range tc.want {
					want[i] = normalized(r)
				}
				equal(t, read(t, s, tc.q), want)
			})
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		s := open(t, h.NewURL(t))
		for _, r := range []history.Revision{
			{Time: base, SourceRevision: "1"},
			{Time: base, Source: "a", Changes: []history.Change{{Kind: history.Added}}},
			{Time: base, Source: "a", Changes: []history.Change{{Flag: "x", Kind: "renamed"}}},
		} {
			if _, err := s.AppendRevision(ctx, r); err == nil {
				t.Errorf("AppendRevision(%+v) succeeded, want an error", r)
			}
		}
		if got := read(t, s, history.Query{}); len(got) != 0 {
			t.Errorf("store holds %d revisions after invalid appends, want 0", len(got))
		}
	})

	if h.Shared {
		t.Run("ConcurrentFirstOpen", func(t *testing.T) {
			// Daemons starting together on a new database: each Open
			// migrates, one of them creates the schema.
			url := h.NewURL(t)
			const n = 4
			var wg sync.WaitGroup
			errs := make([]error, n)
			stores := make([]history.Store, n)
			for i := range n {
				wg.Go(func() { stores[i], errs[i] = history.Open(ctx, url) })
			}
			wg.Wait()
			for i := range n {
				if errs[i] != nil {
					t.Errorf("Open %d: %v", i, errs[i])
					continue
				}
				t.Cleanup(func() { _ = stores[i].Close() })
			}
			if t.Failed() {
				return
			}
			mustAppend(t, stores[0], sample(base, "src", "v1"), true)
			mustAppend(t, stores[n-1], sample(base, "src", "v1"), false)
		})
		t.Run("Reopen", func(t *testing.T) {
			url := h.NewURL(t)
			s, err := history.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			r := sample(base, "src", "v1")
			mustAppend(t, s, r, true)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open(t, url) // migrations run again: a no-op
			equal(t, read(t, s, history.Query{}), []history.Revision{normalized(r)})
			mustAppend(t, s, r, false)
		})
	}

	t.Run("BadURLs", func(t *testing.T) {
		for _, url := range h.BadURLs {
			s, err := history.Open(ctx, url)
			if err == nil {
				_ = s.Close()
				t.Errorf("Open(%q) succeeded, want an error", url)
				continue
			}
			t.Logf("Open(%q): %v", url, err)
		}
		for _, url := range []string{"", "no-scheme", "nosuch://x"} {
			if _, err := history.Open(ctx, url); err == nil {
				t.Errorf("Open(%q) succeeded, want an error", url)
			}
		}
	})
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func sample(at time.Time, source, rev string) history.Revision {
	return history.Revision{
		Time: at, Source: source, SourceRevision: rev, Actor: "kubectl-edit",
		Changes: []history.Change{
			{Flag: "new-welcome", Kind: history.Added, Diff: []history.DiffOp{{Op: "add", Path: "", Value: raw(`{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on"}`)}}},
			{Flag: "old-banner", Kind: history.Removed, Diff: []history.DiffOp{{Op: "remove", Path: "", Old: raw(`{"state":"DISABLED"}`)}}},
			{Flag: "color", Kind: history.Changed, Diff: []history.DiffOp{
				{Op: "replace", Path: "/defaultVariant", Value: raw(`"red"`), Old: raw(`"blue"`)},
				{Op: "add", Path: "/variants/green", Value: raw(`"#0f0"`)},
			}},
		},
	}
}

// normalized is r as a store returns it.
func normalized(r history.Revision) history.Revision {
	r.Time = r.Time.UTC().Truncate(time.Microsecond)
	if r.Problems == nil {
		r.Problems = []string{}
	}
	cs := []history.Change{}
	for _, c := range r.Changes {
		if c.Diff == nil {
			c.Diff = []history.DiffOp{}
		}
		cs = append(cs, c)
	}
	r.Changes = cs
	return r
}

func mustAppend(t *testing.T, s history.Store, r history.Revision, wantNew bool) {
	t.Helper()
	added, err := s.AppendRevision(context.Background(), r)
	if err != nil {
		t.Fatalf("AppendRevision: %v", err)
	}
	if added != wantNew {
		t.Fatalf("AppendRevision(%s %q) reported new = %v, want %v", r.Source, r.SourceRevision, added, wantNew)
	}
}

func read(t *testing.T, s history.Store, q history.Query) []history.Revision {
	t.Helper()
	got, err := s.Revisions(context.Background(), q)
	if err != nil {
		t.Fatalf("Revisions(%+v): %v", q, err)
	}
	if got == nil {
		t.Fatalf("Revisions(%+v) = nil, want a non-nil slice", q)
	}
	return got
}

// equal compares revisions as JSON values (so that raw JSON in diffs
// compares by value, whatever the database did to its spacing).
func equal(t *testing.T, got, want []history.Revision) {
	t.Helper()
	canon := func(v any) any {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var out any
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if g, w := canon(got), canon(want); !reflect.DeepEqual(g, w) {
		gb, _ := json.MarshalIndent(got, "", "  ")
		wb, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("revisions differ\ngot:  %s\nwant: %s", gb, wb)
	}
	for i := range min(len(got), len(want)) {
		if !got[i].Time.Equal(want[i].Time) {
			t.Errorf("revision %d: Time = %v, want %v", i, got[i].Time, want[i].Time)
		}
	}
}
