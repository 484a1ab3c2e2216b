package evaluator_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/internal/testenv"
)

// explainKinds are the kinds the equality tests ask for.
var explainKinds = []evaluator.Kind{evaluator.KindAny, evaluator.KindBool, evaluator.KindString, evaluator.KindInt, evaluator.KindFloat, evaluator.KindObject}

// sameAsEvaluate fails unless Explain gives Evaluate's result for every
// flag of set, kind and context, and its JSON encodes.
func sameAsEvaluate(t *testing.T, name string, set *evaluator.FlagSet, ctxs []map[string]any) int {
	t.Helper()
	n := 0
	for _, fl := range set.Flags() {
		for _, ctx := range ctxs {
			for _, kind := range explainKinds {
				want := fl.Evaluate(kind, ctx, fixedClock(1700000000))
				x := fl.Explain(kind, ctx, fixedClock(1700000000))
				if !reflect.DeepEqual(x.Result, want) {
					t.Fatalf("%s: flag %q as %s, context %v:\nexplain  %+v (%v)\nevaluate %+v (%v)", name, fl.Key(), kind, ctx, x.Result, x.Result.Err, want, want.Err)
				}
				if _, err := json.Marshal(x); err != nil {
					t.Fatalf("%s: flag %q: the explanation does not encode: %v", name, fl.Key(), err)
				}
				n++
			}
		}
	}
	return n
}

// TestExplainAgreesOnTestbedFlags: for every flag of the flagd testbed's
// flag documents (both fractional hashings), and contexts made of the
// variables their rules read and the constants they hold, Explain gives
// exactly Evaluate's result.
func TestExplainAgreesOnTestbedFlags(t *testing.T) {
	dir := testenv.Testbed.Path(t)
	paths, _ := filepath.Glob(filepath.Join(dir, "flags", "*.json"))
	more, _ := filepath.Glob(filepath.Join(dir, "evaluator", "flags", "*.json"))
	paths = append(append(paths, more...), "testdata/flags.json", "testdata/explain/flags.json")
	if len(paths) < 5 {
		t.Fatalf("only %d documents in %s", len(paths), dir)
	}
	total, flags := 0, 0
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, cbor := range []bool{false, true} {
			p, _ := evaluator.NewParser(evaluator.Options{FractionalCBOR: cbor, Now: fixedClock(1700000000)})
			set, _, err := p.Parse(path, data, evaluator.FormatAuto)
			if err != nil {
				continue // a document the testbed means to be rejected
			}
			flags += set.Len()
			total += sameAsEvaluate(t, filepath.Base(path), set, contextsFor(set, 60))
		}
	}
	t.Logf("%d flags, %d evaluations compared", flags, total)
	if flags < 50 {
		t.Errorf("only %d flags compared", flags)
	}
}

// contextsFor makes n contexts (seeded) from the variables the set's rules
// read and the constants they hold, and some of other types.
func contextsFor(set *evaluator.FlagSet, n int) []map[string]any {
	paths := map[string]bool{"targetingKey": true, "email": true}
	consts := []any{nil, true, false, 0.0, 1.0, -3.5, 18.0, "", "1.2.3", "2.1.0", "v3.0.0-rc.1", "user-1",
		"ana@example.com", []any{"a", 1.0}, map[string]any{"k": "v"}}
	for _, fl := range set.Flags() {
		rule, ok := fl.Targeting()
		if !ok {
			continue
		}
		walkRule(rule, func(v any) {
			switch x := v.(type) {
			case map[string]any:
				if p, ok := x["var"]; ok {
					switch y := p.(type) {
					case string:
						paths[y] = true
					case []any:
						if len(y) > 0 {
							if s, ok := y[0].(string); ok {
								paths[s] = true
							}
						}
					}
				}
			case string, float64, bool:
				consts = append(consts, x)
			}
		})
	}
	keys := make([]string, 0, len(paths))
	for p := range paths {
		keys = append(keys, p)
	}
	sort.Strings(keys)
	rng := rand.New(rand.NewPCG(1, 2))
	out := []map[string]any{{}, nil}
	for range n {
		ctx := map[string]any{}
		for _, k := range keys {
			if rng.IntN(3) == 0 {
				continue
			}
			v := consts[rng.IntN(len(consts))]
			parts := strings.Split(k, ".")
			if parts[0] == "" || parts[0] == "$flagd" {
				continue
			}
			m := ctx
			for _, part := range parts[:len(parts)-1] {
				next, ok := m[part].(map[string]any)
				if !ok {
					next = map[string]any{}
					m[part] = next
				}
				m = next
			}
			m[parts[len(parts)-1]] = v
		}
		out = append(out, ctx)
	}
	return out
}

func walkRule(v any, f func(any)) {
	f(v)
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			walkRule(e, f)
		}
	case []any:
		for _, e := range x {
			walkRule(e, f)
		}
	}
}

// FuzzExplain: for any document and context, Explain gives Evaluate's
// result for every flag and kind, and its explanation encodes as JSON.
func FuzzExplain(f *testing.F) {
	ctxSeeds := []string{`{}`, `{"email":"ana@example.com","targetingKey":"user-1"}`, `{"appVersion":"2.1.0","plan":"pro","age":17}`,
		`{"user":{"country":"DE"},"id":"id-07","n":1}`}
	docs, _ := filepath.Glob("testdata/explain/*.json")
	docs = append(docs, "testdata/flags.json")
	for i, path := range docs {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, []byte(ctxSeeds[i%len(ctxSeeds)]), i%2 == 0)
	}
	f.Add([]byte(`{"flags":{"f":{"state":"ENABLED","variants":{"a":1,"b":2},"defaultVariant":"a","targeting":{"fractional":[{"var":"x"},["a",1],["b",1]]}}}}`), []byte(`{"x":[1,{"y":null}]}`), true)
	f.Add([]byte(`{"flags":{"f":{"state":"ENABLED","variants":{"a":1},"defaultVariant":"a","targeting":{"reduce":[{"var":"l"},{"+":[{"var":"current"},{"var":"accumulator"}]},0]}}}}`), []byte(`{"l":[1,2,3]}`), false)
	f.Add([]byte(`{"flags":{"f":{"state":"ENABLED","variants":{"a":1},"defaultVariant":"a","targeting":{"some":[{"var":"l"},{"==":[{"var":""},2]}]}}}}`), []byte(`{"l":[1,2,3]}`), false)
	parsers := map[bool]*evaluator.Parser{}
	for _, cbor := range []bool{false, true} {
		p, err := evaluator.NewParser(evaluator.Options{FractionalCBOR: cbor, Now: fixedClock(1700000000)})
		if err != nil {
			f.Fatal(err)
		}
		parsers[cbor] = p
	}
	f.Fuzz(func(t *testing.T, doc, rawCtx []byte, cbor bool) {
		var ctx map[string]any
		if json.Unmarshal(rawCtx, &ctx) != nil {
			return
		}
		set, _, err := parsers[cbor].Parse("fuzz", doc, evaluator.FormatAuto)
		if err != nil {
			return
		}
		sameAsEvaluate(t, "fuzz", set, []map[string]any{ctx})
	})
}

// explainCases are the golden explanations of testdata/explain.
var explainCases = []struct {
	name, flag, ctx string
	cbor            bool
}{
	{"if-then", "if-else", `{"plan":"pro"}`, false},
	{"if-else-if", "if-else", `{"plan":"free","age":16}`, false},
	{"if-none", "if-else", `{"plan":"free","age":30}`, false},
	{"segment-in", "segment", `{"email":"bo@example.com"}`, false},
	{"segment-out", "segment", `{"email":"dee@example.com"}`, false},
	{"fractional-v2", "rollout", `{"email":"ana@example.com"}`, false},
	{"fractional-cbor", "rollout", `{"email":"ana@example.com"}`, true},
	{"fractional-implicit", "rollout-implicit", `{"targetingKey":"user-42"}`, false},
	{"fractional-no-key", "rollout-implicit", `{}`, false},
	{"sem-ver", "version-gate", `{"appVersion":"2.3.1"}`, false},
	{"sem-ver-invalid", "version-gate", `{"appVersion":"two"}`, false},
	{"ref-staff", "refs", `{"email":"eve@vexil.example"}`, false},
	{"ref-list", "refs", `{"email":"cy@example.com"}`, false},
	{"var-missing", "var-missing", `{}`, false},
	{"var-nested", "var-missing", `{"user":{"country":"DE"}}`, false},
	{"disabled", "disabled", `{}`, false},
	{"error-variant", "error-variant", `{"beta":true}`, false},
	{"parse-error", "parse-error", `{"n":1}`, false},
	{"static", "static", `{}`, false},
	{"not-found", "nope", `{}`, false},
	{"long-values", "long-values", `{"id":"id-12"}`, false},
}

// TestExplainGolden: the explanations of representative flags, as JSON,
// against testdata/explain/*.golden (go test -run TestExplainGolden -update
// rewrites them).
func TestExplainGolden(t *testing.T) {
	data, err := os.ReadFile("testdata/explain/flags.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range explainCases {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := evaluator.NewParser(evaluator.Options{FractionalCBOR: tc.cbor, Now: fixedClock(1700000000)})
			set, _, err := p.Parse("flags.json", data, evaluator.FormatJSON)
			if err != nil {
				t.Fatal(err)
			}
			var ctx map[string]any
			if err := json.Unmarshal([]byte(tc.ctx), &ctx); err != nil {
				t.Fatal(err)
			}
			x := set.Explain(tc.flag, evaluator.KindAny, ctx)
			if want := set.Evaluate(tc.flag, evaluator.KindAny, ctx); !reflect.DeepEqual(x.Result, want) {
				t.Fatalf("explain %+v, evaluate %+v", x.Result, want)
			}
			got, err := json.MarshalIndent(x, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", "explain", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -run TestExplainGolden -update writes it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs:\n%s", golden, got)
			}
		})
	}
}

func ExampleFlagSet_Explain() {
	doc := `{"flags":{"beta":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off",
	  "targeting":{"if":[{"ends_with":[{"var":"email"},"@vexil.example"]},"on"]}}}}`
	p, _ := evaluator.NewParser(evaluator.Options{})
	set, _, _ := p.Parse("flags.json", []byte(doc), evaluator.FormatJSON)
	x := set.Explain("beta", evaluator.KindBool, map[string]any{"email": "ana@vexil.example"})
	fmt.Println(x.Result.Variant, x.Result.Reason)
	fmt.Println(x.Trace.Op, x.Trace.Branch, x.Trace.Children[0].Op, x.Trace.Children[0].Result)
	// Output:
	// on TARGETING_MATCH
	// if then ends_with true
}
