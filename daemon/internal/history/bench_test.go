package history_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vexilhq/vexil/daemon/internal/history"
	"github.com/vexilhq/vexil/internal/pgtest"
)

// benchStores opens one store per driver; PostgreSQL only with
// VEXIL_BENCH_PG=1 (it starts a server).
func benchStores(b *testing.B) map[string]history.Store {
	ctx := context.Background()
	urls := map[string]string{
		"memory": "mem://?limit=1000000",
		"sqlite": "sqlite:" + filepath.Join(b.TempDir(), "h.db"),
	}
	if os.Getenv("VEXIL_BENCH_PG") == "1" {
		urls["postgres"] = pgtest.Start(b)
	}
	stores := map[string]history.Store{}
	for name, url := range urls {
		s, err := history.Open(ctx, url)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		stores[name] = s
	}
	return stores
}

func benchRevision(i int) history.Revision {
	return history.Revision{
		Time: time.Unix(int64(i), 0), Source: "file:flags.json", SourceRevision: fmt.Sprint("sha256:", i),
		Changes: []history.Change{{Flag: fmt.Sprint("flag-", i%50), Kind: history.Changed, Diff: []history.DiffOp{
			{Op: "replace", Path: "/defaultVariant", Value: []byte(`"on"`), Old: []byte(`"off"`)},
		}}},
	}
}

// BenchmarkAppendRevision: one revision with one change, a new source
// revision each time.
func BenchmarkAppendRevision(b *testing.B) {
	for _, name := range []string{"memory", "sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			s, ok := benchStores(b)[name]
			if !ok {
				b.Skip("set VEXIL_BENCH_PG=1")
			}
			ctx := context.Background()
			i := 0
			for b.Loop() {
				if _, err := s.AppendRevision(ctx, benchRevision(i)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkRevisions: the newest 100 revisions of one flag among 10,000.
func BenchmarkRevisions(b *testing.B) {
	for _, name := range []string{"memory", "sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			s, ok := benchStores(b)[name]
			if !ok {
				b.Skip("set VEXIL_BENCH_PG=1")
			}
			ctx := context.Background()
			for i := range 10000 {
				if _, err := s.AppendRevision(ctx, benchRevision(i)); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				got, err := s.Revisions(ctx, history.Query{Flag: "flag-7", Limit: 100})
				if err != nil || len(got) != 100 {
					b.Fatalf("%d revisions, %v", len(got), err)
				}
			}
		})
	}
}
