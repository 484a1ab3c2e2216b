package evaluator_test

import (
	"reflect"
	"testing"

	"github.com/vexilhq/vexil/evaluator"
)

// TestProblemsDoNotDependOnMapOrder: resolution stops at the first cycle,
// and what it reported before must be the same on every parse (a document
// the parse fuzzer found: a cycle beside a reference to nothing).
func TestProblemsDoNotDependOnMapOrder(t *testing.T) {
	doc := []byte(`{"$evaluators":{"a":{"x":{"$ref":"a"},"y":{"$ref":"missing"},"z":{"$ref":"a"}},"b":{"in":["q",{"$ref":"nope"}]}},"flags":{}}`)
	p, err := evaluator.NewParser(evaluator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, first, _ := p.Parse("d", doc, evaluator.FormatJSON)
	for range 50 {
		_, again, _ := p.Parse("d", doc, evaluator.FormatJSON)
		if !reflect.DeepEqual(first, again) {
			t.Fatalf("problems differ between parses:\n%v\n%v", first, again)
		}
	}
}
