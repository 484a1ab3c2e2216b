package store

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
)

// bigDoc writes n flags, a fifth of them with targeting, whose default
// variant is variant (so that two documents can differ in every flag, or
// in one: flag "flag-0" takes first).
func bigDoc(n int, first, variant string) []byte {
	var b strings.Builder
	b.WriteString(`{"metadata": {"team": "bench"}, "$evaluators": {"internal": {"in": ["@example.com", {"var": "email"}]}}, "flags": {`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		v := variant
		if i == 0 {
			v = first
		}
		switch i % 5 {
		case 0:
			fmt.Fprintf(&b, `"flag-%d": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": %q, "targeting": {"if": [{"$ref": "internal"}, "on", null]}}`, i, v)
		case 1:
			fmt.Fprintf(&b, `"flag-%d": {"state": "ENABLED", "variants": {"on": "green", "off": "red"}, "defaultVariant": %q, "metadata": {"owner": "team-%d"}}`, i, v, i%7)
		default:
			fmt.Fprintf(&b, `"flag-%d": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": %q}`, i, v)
		}
	}
	b.WriteString(`}}`)
	return []byte(b.String())
}

func benchStore(b *testing.B) (*Store, *evaluator.FlagSet) {
	b.Helper()
	st := newTestStore(srcA, srcB, srcC)
	for _, src := range []string{srcA, srcB, srcC} {
		load(b, st, src, src)
	}
	set, _, err := testParser().Parse(srcC, readFile(b, srcC), evaluator.FormatJSON)
	if err != nil {
		b.Fatal(err)
	}
	return st, set
}

// BenchmarkEvaluate compares Snapshot.Evaluate with FlagSet.Evaluate on the
// same flags: a static one ("shadowed") and one with targeting ("flagC").
func BenchmarkEvaluate(b *testing.B) {
	st, set := benchStore(b)
	ctx := map[string]any{"tier": "gold"}
	for _, flag := range []struct {
		key  string
		kind evaluator.Kind
	}{{"shadowed", evaluator.KindBool}, {"flagC", evaluator.KindString}} {
		b.Run(flag.key+"/FlagSet", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r := set.Evaluate(flag.key, flag.kind, ctx); r.Err != nil {
					b.Fatal(r.Err)
				}
			}
		})
		for _, sel := range []struct {
			name string
			sel  Selector
		}{{"Snapshot", Selector{}}, {"Snapshot-flagSetId", FlagSetSelector("setC")}, {"Snapshot-source", SourceSelector(srcC)}} {
			b.Run(flag.key+"/"+sel.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if r := st.Current().Evaluate(sel.sel, flag.key, flag.kind, ctx); r.Err != nil {
						b.Fatal(r.Err)
					}
				}
			})
		}
	}
	b.Run("not-found/Snapshot", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			st.Current().Evaluate(Selector{}, "missing", evaluator.KindBool, ctx)
		}
	})
}

const bigN = 100_000

// BenchmarkApply100k measures updates of a source of 100,000 flags. Parse
// is the parser alone, the floor of any update that carries a document.
func BenchmarkApply100k(b *testing.B) {
	docs := [][]byte{bigDoc(bigN, "off", "off"), bigDoc(bigN, "on", "off")}
	other := bigDoc(bigN, "on", "on")
	b.Run("Parse", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := testParser().Parse("big", docs[0], evaluator.FormatJSON); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("first-load", func(b *testing.B) {
		for b.Loop() {
			st := newTestStore("big")
			if _, err := st.Apply(syncsources.Update{Source: "big", Data: docs[0]}); err != nil {
				b.Fatal(err)
			}
		}
	})
	run := func(name string, setup func(*Store), next func(i int) []byte) {
		b.Run(name, func(b *testing.B) {
			st := newTestStore("other", "big")
			setup(st)
			i := 0
			for b.Loop() {
				i++
				if _, err := st.Apply(syncsources.Update{Source: "big", Data: next(i)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	loadBig := func(st *Store) { st.Apply(syncsources.Update{Source: "big", Data: docs[0]}) }
	run("unchanged", loadBig, func(int) []byte { return docs[0] })
	run("one-changed", loadBig, func(i int) []byte { return docs[i%2] })
	run("one-changed-other-100k-loaded", func(st *Store) {
		st.Apply(syncsources.Update{Source: "other", Data: other})
		loadBig(st)
	}, func(i int) []byte { return docs[i%2] })
	run("all-changed", loadBig, func(i int) []byte {
		if i%2 == 0 {
			return docs[0]
		}
		return other
	})
	b.Run("rejected", func(b *testing.B) {
		st := newTestStore("big")
		loadBig(st)
		bad := []byte(strings.Replace(string(docs[0]), `"defaultVariant": "off"`, `"defaultVariant": "nope"`, 1))
		for b.Loop() {
			if _, err := st.Apply(syncsources.Update{Source: "big", Data: bad}); err == nil {
				b.Fatal("accepted")
			}
		}
	})
}

// BenchmarkMerge measures the store's own work for a 100k-flag update,
// without parsing: comparison of fingerprints, reuse of unchanged flags,
// re-merge.
func BenchmarkMerge(b *testing.B) {
	docs := [][]byte{bigDoc(bigN, "off", "off"), bigDoc(bigN, "on", "off"), bigDoc(bigN, "on", "on")}
	sets := make([]*evaluator.FlagSet, len(docs))
	for i, d := range docs {
		var err error
		if sets[i], _, err = testParser().Parse("big", d, evaluator.FormatJSON); err != nil {
			b.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		a, b int
	}{{"one-changed", 0, 1}, {"all-changed", 1, 2}} {
		b.Run(tc.name, func(b *testing.B) {
			st := newTestStore("other", "big")
			st.applySet("other", sets[2])
			i := 0
			for b.Loop() {
				i++
				set := sets[tc.a]
				if i%2 == 0 {
					set = sets[tc.b]
				}
				st.applySet("big", set)
			}
		})
	}
}
