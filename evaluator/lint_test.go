package evaluator_test

import (
	"fmt"
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
