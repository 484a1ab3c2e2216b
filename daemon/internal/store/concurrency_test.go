package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
)

// versionDoc is a document whose n flags all resolve to version, in the
// flag set set.
func versionDoc(n int, version, set string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"metadata": {"flagSetId": %q}, "flags": {`, set)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"f%d": {"state": "ENABLED", "variants": {"v": %q, "other": "x"}, "defaultVariant": "v",
			"targeting": {"if": [{"==": [{"var": "user"}, "nobody"]}, "other", null]}}`, i, version)
	}
	b.WriteString(`}}`)
	return []byte(b.String())
}

// TestConcurrentReaders runs readers against every kind of query while
// updates are applied; run it with -race. Each snapshot must be consistent:
// all the flags of one source from one document.
func TestConcurrentReaders(t *testing.T) {
	const n = 50
	st := newTestStore("low", "high")
	docs := [][]byte{versionDoc(n, "v1", "s"), versionDoc(n, "v2", "s"), versionDoc(n/2, "v3", "s")}
	if _, err := st.Apply(syncsources.Update{Source: "low", Data: versionDoc(n, "low", "s")}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg    sync.WaitGroup
		reads atomic.Int64
	)
	check := func(snap *Snapshot, sel Selector) {
		var first any
		for i := range n {
			r := snap.Evaluate(sel, fmt.Sprintf("f%d", i), evaluator.KindString, map[string]any{"user": "u"})
			if r.Err != nil {
				t.Errorf("f%d: %v", i, r.Err)
				return
			}
			if i >= n/2 && r.Value == "v3" {
				t.Errorf("f%d = v3, which does not define it", i)
			}
			if i == 0 {
				first = r.Value
			} else if i < n/2 && r.Value != first {
				t.Errorf("generation %d: f%d = %v, f0 = %v", snap.Generation(), i, r.Value, first)
				return
			}
		}
		reads.Add(1)
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				snap := st.Current()
				check(snap, Selector{})
				check(snap, FlagSetSelector("s"))
				if fs := snap.Flags(Selector{}); len(fs) != n {
					t.Errorf("Flags: %d", len(fs))
				}
				snap.Flags(SourceSelector("high"))
				snap.Flags(FlagSetSelector("s"))
				snap.Sources()
				snap.Evaluate(SourceSelector("high"), "f0", evaluator.KindAny, nil)
			}
		}()
	}
	// A subscriber reads changes as they come.
	_, ch := st.Subscribe(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for c := range ch {
			c.For(Selector{})
			c.For(SourceSelector("high"))
			c.Flags()
		}
	}()
	for i := range 60 {
		if _, err := st.Apply(syncsources.Update{Source: "high", Data: docs[i%len(docs)]}); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			st.Apply(syncsources.Update{Source: "high", Removed: true})
		}
	}
	for reads.Load() < 20 {
		st.Apply(syncsources.Update{Source: "high", Data: docs[0]})
	}
	cancel()
	wg.Wait()
}
