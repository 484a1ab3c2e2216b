package evaluator_test

import (
	"errors"
	"flag"
	"fmt"
	"github.com/vexilhq/vexil/internal/testenv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vexilhq/vexil/evaluator"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestProblemsGolden parses each document in testdata/problems in lax and
// strict mode and compares what is reported with its .golden file.
func TestProblemsGolden(t *testing.T) {
	lax, err := evaluator.NewParser(evaluator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	strict, err := evaluator.NewParser(evaluator.Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	paths, _ := filepath.Glob("testdata/problems/*")
	for _, path := range paths {
		if strings.HasSuffix(path, ".golden") {
			continue
		}
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, mode := range []struct {
				name string
				p    *evaluator.Parser
			}{{"lax", lax}, {"strict", strict}} {
				set, problems, err := mode.p.Parse(filepath.Base(path), data, evaluator.FormatForPath(path))
				verdict := "rejected"
				if err == nil {
					verdict = fmt.Sprintf("accepted, %d flags", set.Len())
				} else {
					var le *evaluator.LoadError
					if !errors.As(err, &le) || len(le.Problems) != len(problems) {
						t.Fatalf("%s: error %v is not a LoadError with every problem", mode.name, err)
					}
				}
				fmt.Fprintf(&b, "%s: %s\n", mode.name, verdict)
				for _, p := range problems {
					fmt.Fprintf(&b, "  %s %s\n", p.Severity, p)
				}
			}
			golden := strings.TrimSuffix(path, filepath.Ext(path)) + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if b.String() != string(want) {
				t.Errorf("problems differ from %s:\n--- got\n%s--- want\n%s", golden, b.String(), want)
			}
		})
	}
}

// TestWarningsNeverLoseFlags: in lax mode every flag of a document with
// warnings is still served.
func TestWarningsNeverLoseFlags(t *testing.T) {
	p, err := evaluator.NewParser(evaluator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile("testdata/problems/bad-state-and-weights.json")
	set, problems, err := p.Parse("x", data, evaluator.FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) == 0 {
		t.Fatal("expected warnings")
	}
	for _, pr := range problems {
		if pr.Severity != evaluator.SeverityWarning {
			t.Errorf("lax mode reported an error: %s", pr)
		}
	}
	if set.Len() != 2 {
		t.Errorf("served %d flags, want 2", set.Len())
	}
	// flagd clamps the negative weight and truncates nothing: 50.5 is not a
	// whole number, so fractional yields null and the default applies.
	r := set.Evaluate("rollout", evaluator.KindString, map[string]any{"targetingKey": "u1"})
	if r.Variant != "a" || r.Reason != evaluator.ReasonDefault {
		t.Errorf("rollout: %+v", r)
	}
}

// TestReferenceDocuments: every positive document of the flag-definition
// schema tests parses without a single problem in strict mode, and every
// negative one is rejected in strict mode and served with warnings in lax
// mode, as flagd serves it.
func TestReferenceDocuments(t *testing.T) {
	dir := filepath.Join(testenv.Schemas.Path(t), "json", "test")
	strict, _ := evaluator.NewParser(evaluator.Options{Strict: true})
	lax, _ := evaluator.NewParser(evaluator.Options{})
	parse := func(p *evaluator.Parser, path string, data []byte) ([]evaluator.Problem, error) {
		_, problems, err := p.Parse(path, data, evaluator.FormatJSON)
		return problems, err
	}
	count := 0
	for _, sub := range []string{"flags", "flagd"} {
		for _, kind := range []string{"positive", "negative"} {
			paths, _ := filepath.Glob(filepath.Join(dir, sub, kind, "*.json"))
			for _, path := range paths {
				count++
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				problems, err := parse(strict, path, data)
				switch {
				case kind == "positive" && (err != nil || len(problems) > 0):
					t.Errorf("%s: positive document reported %v", path, problems)
				case kind == "negative" && filepath.Base(path) == "with-array-flags.json":
					// Negative for the providers' form, flags.json, which its
					// $schema names; the daemon's form, and flagd, accept
					// flags as an array: lax mode serves it.
					if err == nil {
						t.Errorf("%s: accepted in strict mode despite its $schema", path)
					}
					if _, err := parse(lax, path, data); err != nil {
						t.Errorf("%s: lax: %v", path, err)
					}
				case kind == "negative" && err == nil:
					t.Errorf("%s: negative document accepted in strict mode", path)
				}
			}
		}
	}
	// Targeting documents, inside a flag.
	for _, kind := range []string{"positive", "negative"} {
		paths, _ := filepath.Glob(filepath.Join(dir, "targeting", kind, "*.json"))
		for _, path := range paths {
			count++
			rule, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			doc := fmt.Sprintf(`{"$evaluators": {"some-ref": {"==": [1, 1]}}, "flags": {"f": {"state": "ENABLED", "variants": {"a": "a"}, "defaultVariant": "a", "targeting": %s}}}`, rule)
			problems, err := parse(strict, path, []byte(doc))
			// The positive rules are JSONLogic the schema accepts, some
			// of which the lint finds fault with (constant conditions,
			// results that are no variant of the wrapping flag): those
			// are the only problems they may have.
			var notLint []evaluator.Problem
			for _, p := range problems {
				if p.Check == "" {
					notLint = append(notLint, p)
				}
			}
			if kind == "positive" && len(notLint) > 0 {
				t.Errorf("%s: positive targeting reported %v", path, notLint)
			}
			if kind == "negative" {
				if err == nil {
					t.Errorf("%s: negative targeting accepted in strict mode", path)
				}
				if _, err := parse(lax, path, []byte(doc)); err != nil {
					t.Errorf("%s: lax mode must serve what flagd serves: %v", path, err)
				}
			}
		}
	}
	if count < 30 {
		t.Errorf("only %d reference documents found in %s", count, dir)
	}
}

func TestTestkitFlagsServeInLaxMode(t *testing.T) {
	dir := testenv.Testbed.Path(t)
	path := filepath.Join(dir, "evaluator", "flags", "testkit-flags.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lax, _ := evaluator.NewParser(evaluator.Options{})
	set, _, err := lax.Parse(path, data, evaluator.FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	if set.Len() < 50 {
		t.Errorf("only %d flags", set.Len())
	}
	// The testkit deliberately holds rules that break the schema.
	strict, _ := evaluator.NewParser(evaluator.Options{Strict: true})
	if _, _, err := strict.Parse(path, data, evaluator.FormatJSON); err == nil {
		t.Error("strict mode accepted the testkit's invalid rules")
	}
}

// TestKeyInSeveralFlagSets: an array document may define one key in several
// flag sets; each is a flag of its own, a lookup by key finds the one
// defined last, and only a second definition in the same flag set is
// reported.
func TestKeyInSeveralFlagSets(t *testing.T) {
	doc := `{"flags":[
	  {"key":"color","metadata":{"flagSetId":"web"},"state":"ENABLED","variants":{"red":"red","blue":"blue"},"defaultVariant":"red"},
	  {"key":"color","metadata":{"flagSetId":"mobile"},"state":"ENABLED","variants":{"red":"red","blue":"blue"},"defaultVariant":"blue"},
	  {"key":"color","state":"ENABLED","variants":{"green":"green"},"defaultVariant":"green"},
	  {"key":"size","metadata":{"flagSetId":"web"},"state":"ENABLED","variants":{"s":"s"},"defaultVariant":"s"},
	  {"key":"size","metadata":{"flagSetId":"web"},"state":"ENABLED","variants":{"l":"l"},"defaultVariant":"l"}
	]}`
	p, err := evaluator.NewParser(evaluator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	set, problems, err := p.Parse("doc.json", []byte(doc), evaluator.FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range set.Flags() {
		dv, _ := f.DefaultVariant()
		got = append(got, f.FlagSetID()+"/"+f.Key()+"="+dv)
	}
	want := []string{"/color=green", "mobile/color=blue", "web/color=red", "web/size=l"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("flags %v, want %v", got, want)
	}
	if set.Len() != 4 {
		t.Errorf("Len = %d, want 4", set.Len())
	}
	if r := set.Evaluate("color", evaluator.KindString, nil); r.Value != "green" {
		t.Errorf("color by key = %v, want the last definition's green", r.Value)
	}
	if len(problems) != 1 || !strings.Contains(problems[0].String(), `flag "size" of flag set "web" is defined again (first at /flags/3)`) {
		t.Errorf("problems %v, want one about size in web", problems)
	}
}

// TestCompactForms: variants and targeting are kept compactly, and their
// accessors still tell {} from null from absent.
func TestCompactForms(t *testing.T) {
	doc := `{"flags":{
	  "many":{"state":"ENABLED","variants":{"v0":0,"v1":1,"v2":2,"v3":3,"v4":4,"v5":5,"v6":6,"v7":7,"v8":8,"v9":9},"defaultVariant":"v9",
	    "targeting":{"if":[{"<":[{"var":"n"},5]},"v3",null]}},
	  "empty":{"state":"ENABLED","variants":{},"defaultVariant":"","targeting":{}},
	  "none":{"state":"ENABLED","defaultVariant":"","targeting":null}
	}}`
	p, err := evaluator.NewParser(evaluator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	set, _, err := p.Parse("doc.json", []byte(doc), evaluator.FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	many, _ := set.Flag("many")
	for i := range 10 {
		name := fmt.Sprintf("v%d", i)
		if v, ok := many.Variant(name); !ok || v != float64(i) {
			t.Errorf("Variant(%s) = %v, %v", name, v, ok)
		}
	}
	if _, ok := many.Variant("v10"); ok {
		t.Error("Variant(v10) found")
	}
	if m := many.Variants(); len(m) != 10 || m["v4"] != float64(4) || many.VariantCount() != 10 {
		t.Errorf("Variants() = %v", m)
	}
	if r := set.Evaluate("many", evaluator.KindInt, map[string]any{"n": 1}); r.Value != int64(3) || r.Variant != "v3" {
		t.Errorf("many for n=1: %+v", r)
	}
	rule, present := many.Targeting()
	data, _ := many.TargetingJSON()
	if !present || string(data) != `{"if":[{"\u003c":[{"var":"n"},5]},"v3",null]}` {
		t.Errorf("TargetingJSON = %s, %v", data, present)
	}
	if m, ok := rule.(map[string]any); !ok || len(m["if"].([]any)) != 3 {
		t.Errorf("Targeting() = %#v", rule)
	}

	empty, _ := set.Flag("empty")
	if m := empty.Variants(); m == nil || len(m) != 0 {
		t.Errorf("variants {} gave %#v, want an empty map", m)
	}
	if data, present := empty.TargetingJSON(); !present || string(data) != "{}" {
		t.Errorf("targeting {}: %s, %v", data, present)
	}
	none, _ := set.Flag("none")
	if m := none.Variants(); m != nil {
		t.Errorf("no variants gave %#v, want nil", m)
	}
	if data, present := none.TargetingJSON(); !present || string(data) != "null" {
		t.Errorf("targeting null: %s, %v", data, present)
	}
	if rule, present := none.Targeting(); !present || rule != nil {
		t.Errorf("Targeting() of null: %v, %v", rule, present)
	}
}

// TestFlagSetIDAsFlagdStoresIt: a flag's flag set is its own flagSetId,
// even null, else its document's; flagd's store keeps no flag whose
// flagSetId is "" or whose key is "" (recorded from flagd bbb05d4: such a
// flag is not found by any selector and is in no listing), which is a
// warning (an error under strict) naming the pointer of the flagSetId.
func TestFlagSetIDAsFlagdStoresIt(t *testing.T) {
	doc := `{"metadata":{"flagSetId":"x","team":null},"flags":{
	  "inherits":{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on"},
	  "nulled":{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on","metadata":{"flagSetId":null}},
	  "numeric":{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on","metadata":{"flagSetId":7}},
	  "emptied":{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on","metadata":{"flagSetId":""}},
	  "":{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on"}
	}}`
	for _, strict := range []bool{false, true} {
		p, err := evaluator.NewParser(evaluator.Options{Strict: strict})
		if err != nil {
			t.Fatal(err)
		}
		if strict {
			only := `{"flags":{"emptied":{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on","metadata":{"flagSetId":""}}}}`
			if _, _, err := p.Parse("doc.json", []byte(only), evaluator.FormatJSON); err == nil {
				t.Error("strict: an empty flagSetId was accepted")
			}
			continue
		}
		set, problems, err := p.Parse("doc.json", []byte(doc), evaluator.FormatJSON)
		if err != nil {
			t.Fatal(err)
		}
		for key, want := range map[string]struct {
			set      string
			storable bool
		}{
			"inherits": {"x", true},
			"nulled":   {"", true},
			"numeric":  {"", true},
			"emptied":  {"", false},
			"":         {"x", false},
		} {
			f, ok := set.Flag(key)
			if ok != want.storable {
				t.Errorf("flag %q served %v, want %v (flagd stores it: %v)", key, ok, want.storable, want.storable)
			}
			if !ok {
				continue
			}
			if f.FlagSetID() != want.set {
				t.Errorf("%q: flag set %q; want %q", key, f.FlagSetID(), want.set)
			}
			if dm := f.DocumentMetadata(); len(dm) != 2 || dm["flagSetId"] != "x" {
				t.Errorf("%q: DocumentMetadata %v", key, dm)
			}
		}
		var found bool
		for _, pr := range problems {
			if pr.Pointer == "/flags/emptied/metadata/flagSetId" && strings.Contains(pr.Message, "flagd does not serve the flag") {
				found = true
			}
		}
		if !found {
			t.Errorf("problems %v, want a warning at /flags/emptied/metadata/flagSetId", problems)
		}
	}
}
