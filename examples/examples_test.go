package examples_test

import (
	"io/fs"
	"testing"

	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/examples"
)

// TestExampleFlagsAreStrictlyValid: the bundled files are what users copy,
// so they must pass strict validation without a single problem.
func TestExampleFlagsAreStrictlyValid(t *testing.T) {
	p, err := evaluator.NewParser(evaluator.Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	paths, err := fs.Glob(examples.Flags, "flags/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no example flags: %v", err)
	}
	for _, path := range paths {
		data, err := examples.Flags.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		set, problems, err := p.Parse(path, data, evaluator.FormatJSON)
		if err != nil || len(problems) > 0 {
			t.Fatalf("%s: %v %v", path, err, problems)
		}
		if set.Len() == 0 {
			t.Errorf("%s has no flags", path)
		}
	}
	if _, err := examples.Flags.ReadFile(examples.DefaultFlagsPath); err != nil {
		t.Errorf("default flags: %v", err)
	}
}

func TestExampleFlagsEvaluate(t *testing.T) {
	data, _ := examples.Flags.ReadFile(examples.DefaultFlagsPath)
	p, _ := evaluator.NewParser(evaluator.Options{})
	set, _, err := p.Parse("demo", data, evaluator.FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	r := set.Evaluate("new-checkout", evaluator.KindBool, map[string]any{"email": "ana@vexil.example"})
	if r.Value != true || r.Reason != evaluator.ReasonTargetingMatch {
		t.Errorf("new-checkout for an employee: %+v", r)
	}
	r = set.Evaluate("theme", evaluator.KindObject, map[string]any{"country": "NO"})
	if r.Variant != "dark" {
		t.Errorf("theme in Norway: %+v", r)
	}
}
