package main

import (
	"testing"

	"github.com/vexilhq/vexil/evaluator"
)

// TestFlagDoc: the generated documents are strictly valid, flag 0 flips,
// and isBool tells the boolean flags apart.
func TestFlagDoc(t *testing.T) {
	p, err := evaluator.NewParser(evaluator.Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	const n = 13
	for _, flipped := range []bool{false, true} {
		set, problems, err := p.Parse("gen", flagDoc(n, flipped), evaluator.FormatJSON)
		if err != nil || len(problems) > 0 {
			t.Fatalf("flipped=%v: %v %v", flipped, err, problems)
		}
		if set.Len() != n {
			t.Fatalf("%d flags, want %d", set.Len(), n)
		}
		ctx := map[string]any{"targetingKey": "user-123", "email": "ana@example.com"}
		if r := set.Evaluate(flagKey(0), evaluator.KindBool, ctx); r.Value != !flipped {
			t.Errorf("flipped=%v: flag 0 = %+v", flipped, r)
		}
		if r := set.Evaluate(flagKey(n-1), evaluator.KindBool, ctx); r.Value != true {
			t.Errorf("last flag = %+v, want true for @example.com", r)
		}
		for i := range n {
			kind := evaluator.KindString
			if isBool(i, n) {
				kind = evaluator.KindBool
			}
			if r := set.Evaluate(flagKey(i), kind, ctx); r.Err != nil || r.NoValue {
				t.Errorf("flag %d as %v: %+v", i, kind, r)
			}
		}
	}
}
