package evaluator_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vexilhq/vexil/evaluator"
)

// refChainDoc writes a document whose evaluators e1..eN double at each
// step: e1 is {"var": "x"} (2 nodes) and each next one is
// {"or": [{"$ref": prev}, {"$ref": prev}]}, so eK expands to 2^(K+1)-2
// nodes. Each flag named in refs has the targeting {"if": [{"$ref": eK},
// "on", "off"]}, K its value.
func refChainDoc(levels int, refs map[string]int, asArray bool) []byte {
	var b strings.Builder
	b.WriteString(`{"$evaluators": {"e1": {"var": "x"}`)
	for i := 2; i <= levels; i++ {
		fmt.Fprintf(&b, `, "e%d": {"or": [{"$ref":"e%d"}, {"$ref":"e%d"}]}`, i, i-1, i-1)
	}
	b.WriteString(`}, "flags": `)
	if asArray {
		b.WriteString("[")
	} else {
		b.WriteString("{")
	}
	n := 0
	for key, level := range refs {
		if n > 0 {
			b.WriteString(", ")
		}
		n++
		def := fmt.Sprintf(`{"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off", "targeting": {"if": [{"$ref": "e%d"}, "on", "off"]}}`, level)
		if asArray {
			def = fmt.Sprintf(`{"key": %q, %s`, key, def[1:])
		} else {
			def = fmt.Sprintf("%q: %s", key, def)
		}
		b.WriteString(def)
	}
	if asArray {
		b.WriteString("]}")
	} else {
		b.WriteString("}}")
	}
	return []byte(b.String())
}

func mustParser(t *testing.T, opts evaluator.Options) *evaluator.Parser {
	t.Helper()
	p, err := evaluator.NewParser(opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// loadErrors returns the errors a parse reported, or fails when it
// succeeded.
func loadErrors(t *testing.T, set *evaluator.FlagSet, problems []evaluator.Problem, err error) []evaluator.Problem {
	t.Helper()
	var le *evaluator.LoadError
	if !errors.As(err, &le) {
		t.Fatalf("the document loaded (%d flags, error %v), want it rejected", set.Len(), err)
	}
	var errs []evaluator.Problem
	for _, p := range problems {
		if p.Severity == evaluator.SeverityError {
			errs = append(errs, p)
		}
	}
	return errs
}

// TestRefBombRejected: a chain of evaluators each referring twice to the
// one before expands to 2^(N+1) nodes. The 22- and 40-level documents (a
// few KB) used to be compiled as full trees (5 s and 1.2 GB at 22 levels;
// no end at 40); they are rejected, naming the flag and the $refs.
func TestRefBombRejected(t *testing.T) {
	p := mustParser(t, evaluator.Options{})
	for _, levels := range []int{22, 40, 100} {
		for _, asArray := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d levels, array %v", levels, asArray), func(t *testing.T) {
				doc := refChainDoc(levels, map[string]int{"bomb": levels, "fine": 3}, asArray)
				set, problems, err := p.Parse("bomb.json", doc, evaluator.FormatJSON)
				errs := loadErrors(t, set, problems, err)
				if len(errs) != 1 {
					t.Fatalf("errors %v, want one", errs)
				}
				e := errs[0]
				ptr := "/flags/bomb/targeting/if/0"
				if asArray {
					ptr = "/flags/0/targeting/if/0"
					if !strings.Contains(string(doc), `[{"key": "bomb"`) {
						ptr = "/flags/1/targeting/if/0"
					}
				}
				chain := fmt.Sprintf(`(via $ref "e%d" → "e%d" → "e%d" → "e%d" → "e%d" → … → "e1")`, levels, levels-1, levels-2, levels-3, levels-4)
				if e.FlagKey != "bomb" || e.Pointer != ptr || e.Source != "bomb.json" ||
					!strings.HasPrefix(e.Message, "$ref expansion exceeds 100000 nodes per flag: its $refs bring in ") ||
					!strings.HasSuffix(e.Message, chain) {
					t.Errorf("got %+v, want flag bomb at %s, with %s", e, ptr, chain)
				}
			})
		}
	}
}

// TestRefBudgetPerDocument: flags each within the budget per flag, but
// together over the document's, reject the document, in Parse and in
// ParseReusing alike (flags reused count too).
func TestRefBudgetPerDocument(t *testing.T) {
	p := mustParser(t, evaluator.Options{})
	// e15 expands to 65,534 nodes: 15 flags bring in 983,010, 16 flags
	// 1,048,544, over 1,000,000.
	refs := map[string]int{}
	for i := range 15 {
		refs[fmt.Sprintf("f%02d", i)] = 15
	}
	doc15 := refChainDoc(15, refs, false)
	set15, _, err := p.Parse("x", doc15, evaluator.FormatJSON)
	if err != nil {
		t.Fatalf("15 flags: %v", err)
	}
	refs["f15"] = 15
	doc16 := refChainDoc(15, refs, false)
	want := `$ref expansion exceeds 1000000 nodes over all flags: their $refs bring in 1048544 (the most: 65534, in flag "f00")`
	for name, parse := range map[string]func() (*evaluator.FlagSet, []evaluator.Problem, error){
		"Parse": func() (*evaluator.FlagSet, []evaluator.Problem, error) {
			return p.Parse("x", doc16, evaluator.FormatJSON)
		},
		"ParseReusing": func() (*evaluator.FlagSet, []evaluator.Problem, error) {
			return p.ParseReusing("x", doc16, evaluator.FormatJSON, previousOf(set15))
		},
		"array": func() (*evaluator.FlagSet, []evaluator.Problem, error) {
			return p.Parse("x", refChainDoc(15, refs, true), evaluator.FormatJSON)
		},
	} {
		set, problems, err := parse()
		errs := loadErrors(t, set, problems, err)
		if len(errs) != 1 || errs[0].Pointer != "/flags" || errs[0].Message != want {
			t.Errorf("%s: errors %v, want one at /flags: %s", name, errs, want)
		}
	}
}

// TestSharedRefsWithinBudget: a rule that refers to shared evaluators,
// 65,534 nodes once expanded, loads as before: its targeting is the
// expanded tree (what flagd serves) and it evaluates.
func TestSharedRefsWithinBudget(t *testing.T) {
	p := mustParser(t, evaluator.Options{})
	set, problems, err := p.Parse("x", refChainDoc(15, map[string]int{"f": 15}, false), evaluator.FormatJSON)
	if err != nil || len(problems) != 0 {
		t.Fatalf("error %v, problems %v", err, problems)
	}
	f, _ := set.Flag("f")
	expanded := `{"var":"x"}`
	for range 14 {
		expanded = `{"or":[` + expanded + `,` + expanded + `]}`
	}
	want := `{"if":[` + expanded + `,"on","off"]}`
	if got, _ := f.TargetingJSON(); string(got) != want {
		t.Errorf("targeting is %d bytes, want the %d of the expanded rule", len(got), len(want))
	}
	for ctx, variant := range map[string]string{"on": "on", "": "off"} {
		r := set.Evaluate("f", evaluator.KindBool, map[string]any{"x": ctx})
		if r.Variant != variant {
			t.Errorf("x=%q: %+v, want variant %s", ctx, r, variant)
		}
	}
}
