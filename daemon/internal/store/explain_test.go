package store_test

import (
	"reflect"
	"testing"

	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
)

// TestExplain: an explanation's result is the evaluation's for every
// selector; it names the source that serves the flag and the definitions
// of lower-priority sources it hides.
func TestExplain(t *testing.T) {
	st := store.New(store.Config{Sources: []string{"base.json", "sets.json", "top.json"}})
	apply := func(src, doc string) {
		t.Helper()
		if _, err := st.Apply(syncsources.Update{Source: src, Data: []byte(doc)}); err != nil {
			t.Fatal(err)
		}
	}
	apply("base.json", `{"flags":{"color":{"state":"DISABLED","variants":{"r":"red"},"defaultVariant":"r"},"only":{"state":"ENABLED","variants":{"x":1},"defaultVariant":"x"}}}`)
	apply("sets.json", `{"flags":[
	  {"key":"color","metadata":{"flagSetId":"web"},"state":"ENABLED","variants":{"g":"green"},"defaultVariant":"g"},
	  {"key":"color","metadata":{"flagSetId":"app"},"state":"ENABLED","variants":{"b":"blue"},"defaultVariant":"b"}]}`)
	apply("top.json", `{"flags":{"color":{"state":"ENABLED","variants":{"w":"white","k":"black"},"defaultVariant":"w",
	  "targeting":{"if":[{"==":[{"var":"dark"},true]},"k"]}}}}`)
	snap := st.Current()
	ctx := map[string]any{"dark": true}
	sel := func(expr string) store.Selector {
		s, err := store.ParseSelector(expr)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		sel, key, source string
		shadowed         []evaluator.Definition
	}{
		{"", "color", "top.json", []evaluator.Definition{
			{Source: "sets.json", FlagSetID: "app", State: "ENABLED", DefaultVariant: "b"},
			{Source: "sets.json", FlagSetID: "web", State: "ENABLED", DefaultVariant: "g"},
			{Source: "base.json", State: "DISABLED", DefaultVariant: "r"}}},
		{"source=base.json", "only", "base.json", nil},
		{"flagSetId=web", "color", "sets.json", []evaluator.Definition{{Source: "base.json", State: "DISABLED", DefaultVariant: "r"}}},
		{"source=base.json", "color", "", nil}, // shadowed: not found
		{"", "absent", "", nil},
	} {
		x := snap.Explain(sel(tc.sel), tc.key, evaluator.KindAny, ctx)
		want := snap.Evaluate(sel(tc.sel), tc.key, evaluator.KindAny, ctx)
		if !reflect.DeepEqual(x.Result, want) {
			t.Errorf("%q %s: explain %+v, evaluate %+v", tc.sel, tc.key, x.Result, want)
		}
		if x.Source != tc.source || !reflect.DeepEqual(x.Shadowed, tc.shadowed) {
			t.Errorf("%q %s: source %q shadowing %+v, want %q %+v", tc.sel, tc.key, x.Source, x.Shadowed, tc.source, tc.shadowed)
		}
	}
}
