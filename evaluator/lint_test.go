package evaluator_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vexilhq/vexil/evaluator"
)

// TestLintOfExponentialEvaluators: evaluators that refer to one another
// twice at each level hold, expanded, 2^40 values; the lint neither
// expands them nor walks them once per use, so the document is judged at
// once (its flag rejected by the $ref budget, the evaluators linted).
func TestLintOfExponentialEvaluators(t *testing.T) {
	for _, base := range []string{`{"==": [1, 1]}`, `{"var": "x"}`} {
		var b strings.Builder
		fmt.Fprintf(&b, `{"$evaluators": {"e0": %s`, base)
		for i := 1; i <= 40; i++ {
			fmt.Fprintf(&b, `, "e%d": {"if": [{"$ref":"e%d"}, {"$ref":"e%d"}, {"$ref":"e%d"}]}`, i, i-1, i-1, i-1)
		}
		b.WriteString(`}, "flags": {"f": {"state": "ENABLED", "variants": {"true": 1, "false": 0}, "defaultVariant": "true", "targeting": {"if": [{"$ref": "e3"}, {"$ref": "e3"}, "false"]}}}}`)
		p, _ := evaluator.NewParser(evaluator.Options{})
		set, problems, err := p.Parse("bomb.json", []byte(b.String()), evaluator.FormatJSON)
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		if set.Len() != 1 {
			t.Errorf("%s: %d flags", base, set.Len())
		}
		t.Logf("%s: %d problems", base, len(problems))
	}
}

// TestLintFindingsHappen: what the lint says of its test documents is what
// evaluation does: the variants it names make evaluations fail with
// GENERAL, and the flags it finds no fault with serve.
func TestLintFindingsHappen(t *testing.T) {
	p, _ := evaluator.NewParser(evaluator.Options{})
	load := func(name string) *evaluator.FlagSet {
		t.Helper()
		data, err := os.ReadFile(filepath.Join("testdata", "problems", name))
		if err != nil {
			t.Fatal(err)
		}
		set, _, err := p.Parse(name, data, evaluator.FormatJSON)
		if err != nil {
			t.Fatal(err)
		}
		return set
	}
	for _, tc := range []struct {
		doc, flag string
		ctx       map[string]any
		general   bool // the evaluation fails with GENERAL
	}{
		{"lint-unknown-variant.json", "checkout", map[string]any{"email": "ana@vexil.example"}, true},
		{"lint-unknown-variant.json", "checkout", map[string]any{"email": "bo@vexil.example"}, false},
		{"lint-unknown-variant.json", "nested", map[string]any{"tier": "silver", "beta": true}, true},
		{"lint-unknown-variant.json", "nested", map[string]any{"tier": "bronze"}, true},
		{"lint-unknown-variant.json", "nested", map[string]any{"tier": "gold"}, false},
		{"lint-unknown-variant.json", "comparison", map[string]any{"plan": "pro"}, true},
		{"lint-unknown-variant.json", "fine", map[string]any{"a": true, "b": 1}, false},
		{"lint-unknown-variant.json", "fine", map[string]any{"c": true}, false},
		{"lint-ref.json", "theme", map[string]any{"signed-in": true, "beta": true}, true},
		{"lint-ref.json", "theme-ok", map[string]any{"signed-in": true, "beta": true}, false},
		{"lint-fractional.json", "dynamic-weight", map[string]any{"targetingKey": "u", "w": 0}, true},
	} {
		r := load(tc.doc).Evaluate(tc.flag, evaluator.KindAny, tc.ctx)
		if got := r.Err != nil && r.Err.Code == evaluator.CodeGeneral; got != tc.general {
			t.Errorf("%s %s %v: %+v (GENERAL %v, want %v)", tc.doc, tc.flag, tc.ctx, r, got, tc.general)
		}
	}
	// The misspelt bucket of "rollout" takes about half the users.
	set := load("lint-fractional.json")
	failed := 0
	for i := range 200 {
		r := set.Evaluate("rollout", evaluator.KindAny, map[string]any{"email": fmt.Sprintf("u%d@example.com", i)})
		if r.Err != nil {
			if r.Err.Code != evaluator.CodeGeneral || !strings.Contains(r.Err.Message, `"treatmnet"`) {
				t.Fatalf("rollout: %+v", r.Err)
			}
			failed++
		}
	}
	if failed < 50 || failed > 150 {
		t.Errorf("rollout: %d of 200 evaluations failed, want about half", failed)
	}
	// Zero weights: always the default.
	if r := set.Evaluate("zero", evaluator.KindAny, map[string]any{"targetingKey": "u"}); r.Variant != "a" || r.Reason != evaluator.ReasonDefault {
		t.Errorf("zero: %+v", r)
	}
}
