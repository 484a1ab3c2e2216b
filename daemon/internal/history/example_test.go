package history_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/vexilhq/vexil/daemon/internal/history"
)

// The memory store, as the daemon keeps history without a store: opened by
// URL like the others, idempotent per source revision, read newest first.
func Example() {
	ctx := context.Background()
	store, err := history.Open(ctx, "mem://?limit=100")
	if err != nil {
		panic(err)
	}
	defer store.Close()

	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	revisions := []history.Revision{
		{Time: t0, Source: "flags.json", SourceRevision: "sha256:1",
			Changes: []history.Change{{Flag: "welcome", Kind: history.Added}}},
		{Time: t0.Add(time.Hour), Source: "flags.json", SourceRevision: "sha256:2",
			Changes: []history.Change{{Flag: "welcome", Kind: history.Changed, Diff: []history.DiffOp{
				{Op: "replace", Path: "/defaultVariant", Value: json.RawMessage(`"on"`), Old: json.RawMessage(`"off"`)},
			}}}},
		// The same content seen again (another daemon, a restart): not new.
		{Time: t0.Add(2 * time.Hour), Source: "flags.json", SourceRevision: "sha256:2"},
		{Time: t0.Add(3 * time.Hour), Source: "flags.json", SourceRevision: "sha256:3",
			Rejected: true, Problems: []string{"flag welcome: defaultVariant maybe is not a variant"}},
	}
	for _, r := range revisions {
		added, err := store.AppendRevision(ctx, r)
		if err != nil {
			panic(err)
		}
		fmt.Println(r.SourceRevision, "new:", added)
	}

	got, err := store.Revisions(ctx, history.Query{Flag: "welcome"})
	if err != nil {
		panic(err)
	}
	for _, r := range got {
		fmt.Println(r.Time.Format(time.Kitchen), r.SourceRevision, r.Changes[0].Kind)
	}
	// Output:
	// sha256:1 new: true
	// sha256:2 new: true
	// sha256:2 new: false
	// sha256:3 new: true
	// 10:00AM sha256:2 changed
	// 9:00AM sha256:1 added
}
