package evaluator_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vexilhq/vexil/evaluator"
)

// FuzzParse: any input gives either a flag set or a *LoadError, never a
// panic, and the same input always gives the same answer.
func FuzzParse(f *testing.F) {
	paths, _ := filepath.Glob("testdata/problems/*")
	paths = append(paths, "testdata/flags.json")
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(benchDoc))
	f.Add([]byte(`{"flags":[{"key":"a","state":"ENABLED","variants":{"x":1},"defaultVariant":"x"}]}`))
	f.Add(refChainDoc(40, map[string]int{"bomb": 40}, false))
	f.Add([]byte(`{"flags":{"n":{"state":"ENABLED","variants":{"z":null,"o":{}},"defaultVariant":"z","targeting":{"if":[{"var":"email"},"o","z"]}}}}`))
	p, err := evaluator.NewParser(evaluator.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		set1, prob1, err1 := p.Parse("fuzz", data, evaluator.FormatAuto)
		set2, prob2, err2 := p.Parse("fuzz", data, evaluator.FormatAuto)
		if (err1 == nil) != (err2 == nil) || !reflect.DeepEqual(prob1, prob2) {
			t.Fatalf("not deterministic: %v / %v", prob1, prob2)
		}
		if err1 != nil {
			if _, ok := err1.(*evaluator.LoadError); !ok {
				t.Fatalf("error of type %T", err1)
			}
			return
		}
		if set1.Len() != set2.Len() {
			t.Fatal("flag counts differ")
		}
		// Every flag evaluates without panicking, the same way twice.
		for _, fl := range set1.Flags() {
			for _, kind := range []evaluator.Kind{evaluator.KindAny, evaluator.KindBool, evaluator.KindInt} {
				r1 := fl.Evaluate(kind, map[string]any{"targetingKey": "k", "email": "a@b.c"}, nil)
				r2 := fl.Evaluate(kind, map[string]any{"targetingKey": "k", "email": "a@b.c"}, nil)
				if r1.Variant != r2.Variant || r1.Reason != r2.Reason {
					t.Fatalf("flag %q: %+v vs %+v", fl.Key(), r1, r2)
				}
			}
		}
	})
}

// FuzzEvaluate: any context, decoded from JSON, evaluates every flag of the
// test document without panicking and deterministically.
func FuzzEvaluate(f *testing.F) {
	f.Add([]byte(`{"email":"rachel@faas.com"}`))
	f.Add([]byte(`{"targetingKey":"user-b","num":2,"appVersion":"2.1.0"}`))
	f.Add([]byte(`{"$flagd":{"flagKey":1},"suffix":[1,2],"go":{"a":null}}`))
	data, err := os.ReadFile("testdata/flags.json")
	if err != nil {
		f.Fatal(err)
	}
	p, _ := evaluator.NewParser(evaluator.Options{Now: fixedClock(1700000000)})
	set, _, err := p.Parse("flags", data, evaluator.FormatJSON)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var ctx map[string]any
		if json.Unmarshal(raw, &ctx) != nil {
			return
		}
		for _, fl := range set.Flags() {
			r1 := set.Evaluate(fl.Key(), evaluator.KindAny, ctx)
			r2 := set.Evaluate(fl.Key(), evaluator.KindAny, ctx)
			if !reflect.DeepEqual(r1, r2) {
				t.Fatalf("flag %q: %+v vs %+v", fl.Key(), r1, r2)
			}
			if r1.Err == nil && !r1.NoValue {
				if _, ok := fl.Variants()[r1.Variant]; !ok {
					t.Fatalf("flag %q resolved to unknown variant %q", fl.Key(), r1.Variant)
				}
			}
		}
	})
}
