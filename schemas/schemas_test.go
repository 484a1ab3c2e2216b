package schemas

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/vexilhq/vexil/internal/testenv"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current results")

func newValidator(t testing.TB) *Validator {
	t.Helper()
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// refDir locates the flagd reference schemas and their test documents:
// $FLAGD_SCHEMAS_DIR, or ../../shared/flagd-schemas. When the variable is
// unset and the default is absent the test is skipped; when it is set and
// wrong the test fails.
func refDir(t testing.TB) string {
	t.Helper()
	return testenv.Schemas.Path(t)
}

func decodeFile(t testing.TB, path string) any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := decode(data, false)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc
}

func decode(data []byte, useNumber bool) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if useNumber {
		dec.UseNumber()
	}
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("data after the JSON value")
	}
	return doc, nil
}

func jsonFiles(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// declaredKinds returns the kinds a flag document from the reference tests
// is meant for, going by its "$schema" member the way those tests do: a
// document that declares flagd.json only makes sense to the daemon, any
// other one to both the daemon and providers.
func declaredKinds(doc any) []Kind {
	if m, ok := doc.(map[string]any); ok {
		if s, _ := m["$schema"].(string); strings.HasSuffix(s, "flagd.json") {
			return []Kind{KindFlagd}
		}
	}
	return []Kind{KindFlags, KindFlagd}
}

func TestReferencePositive(t *testing.T) {
	dir := filepath.Join(refDir(t), "json", "test")
	v := newValidator(t)
	for _, tc := range []struct {
		sub   string
		kinds func(doc any) []Kind
	}{
		{"flagd/positive", func(any) []Kind { return []Kind{KindFlagd} }},
		{"flags/positive", declaredKinds},
		{"targeting/positive", func(any) []Kind { return []Kind{KindTargeting} }},
	} {
		files := jsonFiles(t, filepath.Join(dir, tc.sub))
		if len(files) == 0 {
			t.Errorf("no documents in %s", tc.sub)
		}
		for _, file := range files {
			doc := decodeFile(t, file)
			for _, kind := range tc.kinds(doc) {
				t.Run(tc.sub+"/"+filepath.Base(file)+"/"+kind.String(), func(t *testing.T) {
					if ps := v.Validate(kind, doc); len(ps) != 0 {
						t.Errorf("want no problems, got %q", ps)
					}
				})
			}
		}
	}
}

// wantPointers lists, for some of the reference negative documents, the
// exact pointers of the problems they must produce.
var wantPointers = map[string][]string{
	"flags/negative/empty-variants.json":                      {"/flags/myBoolFlag/variants"},
	"flags/negative/malformed-flag.json":                      {"/flags/not-a-flag"},
	"flags/negative/missing-variants.json":                    {"/flags/myBoolFlag"},
	"flags/negative/mixed-variant-types.ffconfig.json":        {"/flags/myBoolFlag/variants"},
	"flags/negative/state-set-incorrectly.json":               {"/flags/myBoolFlag/state"},
	"flags/negative/with-array-flags.json":                    {"/flags"},
	"flags/negative/with-invalid-flag-metadata.json":          {"/flags/myBoolFlag/metadata/invalid"},
	"flags/negative/with-invalid-flag-set-metadata.json":      {"/metadata/invalid"},
	"flags/negative/with-invalid-targeting.json":              {"/flags/targetedFlag/targeting/not-a-real-rule"},
	"targeting/negative/fractional-decimal-weighting.json":    {"/fractional/1/1"},
	"targeting/negative/fractional-invalid-bucketing.json":    {"/fractional/0"},
	"targeting/negative/fractional-invalid-weighting.json":    {"/fractional/1/1"},
	"targeting/negative/fractional-negative-weighting.json":   {"/fractional/1/1"},
	"targeting/negative/invalid-ends-with-param.json":         {"/if/0/ends_with/1"},
	"targeting/negative/invalid-flagd-props.json":             {"/if/0/==/0/var"},
	"targeting/negative/invalid-starts-with-param.json":       {"/if/0/starts_with/1"},
	"targeting/negative/sem-ver-invalid-range-specifier.json": {"/if/0/sem_ver/1"},
	"targeting/negative/sem-ver-invalid-ver-expression.json":  {"/if/0/sem_ver/2"},
}

func TestReferenceNegative(t *testing.T) {
	dir := filepath.Join(refDir(t), "json", "test")
	v := newValidator(t)
	seen := 0
	for _, tc := range []struct {
		sub  string
		kind Kind
	}{
		{"flagd/negative", KindFlagd},
		{"flags/negative", KindFlags},
		{"targeting/negative", KindTargeting},
	} {
		for _, file := range jsonFiles(t, filepath.Join(dir, tc.sub)) {
			name := tc.sub + "/" + filepath.Base(file)
			doc := decodeFile(t, file)
			t.Run(name, func(t *testing.T) {
				ps := v.Validate(tc.kind, doc)
				if len(ps) == 0 {
					t.Fatal("want problems, got none")
				}
				for _, p := range ps {
					if p.Message == "" || strings.HasPrefix(p.Pointer, "#") {
						t.Errorf("malformed problem %q", p)
					}
				}
				want, ok := wantPointers[name]
				if !ok {
					t.Logf("problems: %q", ps)
					return
				}
				seen++
				var got []string
				for _, p := range ps {
					got = append(got, p.Pointer)
				}
				if !slices.Equal(got, want) {
					t.Errorf("pointers = %q, want %q (problems %q)", got, want, ps)
				}
			})
		}
	}
	if seen != len(wantPointers) {
		t.Errorf("checked %d of the %d documents listed in wantPointers", seen, len(wantPointers))
	}
}

func TestMessages(t *testing.T) {
	dir := filepath.Join(refDir(t), "json", "test")
	v := newValidator(t)
	for file, want := range map[string]Problem{
		"flags/negative/state-set-incorrectly.json": {"/flags/myBoolFlag/state",
			`state: must be "ENABLED" or "DISABLED"`},
		"flags/negative/mixed-variant-types.ffconfig.json": {"/flags/myBoolFlag/variants",
			"variants: values must all be boolean, all string, all number or all object"},
		"flags/negative/with-invalid-targeting.json": {"/flags/targetedFlag/targeting/not-a-real-rule",
			"not-a-real-rule: unknown operator"},
		"flags/negative/with-array-flags.json": {"/flags",
			"flags: must be an object keyed by flag key"},
	} {
		ps := v.Validate(KindFlags, decodeFile(t, filepath.Join(dir, file)))
		if len(ps) != 1 || ps[0] != want {
			t.Errorf("%s: got %q, want [%q]", file, ps, want)
		}
	}
}

// TestExamples checks the reference examples. One of them deliberately
// holds rules that the targeting schema rejects ("fail" branches), so the
// requirement is: an example validates unless the reference schema rejects it
// too.
func TestExamples(t *testing.T) {
	root := refDir(t)
	files := jsonFiles(t, filepath.Join(root, "json", "examples"))
	if len(files) == 0 {
		t.Skip("no examples in the reference schemas")
	}
	v := newValidator(t)
	ref := compileReference(t, root)
	for _, file := range files {
		doc := decodeFile(t, file)
		for _, kind := range declaredKinds(doc) {
			t.Run(filepath.Base(file)+"/"+kind.String(), func(t *testing.T) {
				ps := v.Validate(kind, doc)
				refErr := ref[kind].Validate(doc)
				switch {
				case refErr == nil && len(ps) != 0:
					t.Errorf("want no problems, got %q", ps)
				case refErr != nil && len(ps) == 0:
					t.Errorf("the reference schema rejects it but we do not: %v", refErr)
				case len(ps) != 0:
					t.Logf("rejected, as by the reference schema: %q", ps)
				}
			})
		}
	}
	minimal := filepath.Join(root, "json", "examples", "minimal.json")
	if _, err := os.Stat(minimal); err == nil {
		if ps := v.Validate(KindFlags, decodeFile(t, minimal)); len(ps) != 0 {
			t.Errorf("minimal.json: %q", ps)
		}
	}
}

// compileReference compiles the flagd reference schemas, read from dir, with
// the same library, for comparison.
func compileReference(t testing.TB, dir string) [len(kindFiles)]*jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	ids := map[string]string{}
	for _, name := range kindFiles {
		f, err := os.Open(filepath.Join(dir, "json", name))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		id, _ := doc.(map[string]any)["$id"].(string)
		if id == "" {
			t.Fatalf("reference %s has no $id", name)
		}
		ids[name] = id
		if err := c.AddResource(id, doc); err != nil {
			t.Fatal(err)
		}
	}
	var out [len(kindFiles)]*jsonschema.Schema
	for k, name := range kindFiles {
		sch, err := c.Compile(ids[name])
		if err != nil {
			t.Fatal(err)
		}
		out[k] = sch
	}
	return out
}

// TestEquivalentToReference validates the reference test documents, the
// examples, our testdata and thousands of generated documents against both
// our schemas and the flagd ones, and requires the same verdicts.
func TestEquivalentToReference(t *testing.T) {
	root := refDir(t)
	v := newValidator(t)
	ref := compileReference(t, root)

	var docs []any
	for _, pattern := range []string{"json/test/*/*/*.json", "json/examples/*.json"} {
		files, _ := filepath.Glob(filepath.Join(root, pattern))
		for _, f := range files {
			docs = append(docs, decodeFile(t, f))
		}
	}
	for _, f := range jsonFiles(t, "testdata") {
		docs = append(docs, decodeFile(t, f))
	}
	n := 4000
	if testing.Short() {
		n = 400
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < n; i++ {
		docs = append(docs, roundTrip(t, genFlagSet(r)), roundTrip(t, genRule(r, 0)))
	}
	// Near-valid documents: valid ones with one small change, on both sides
	// of the fast path's boundary, some with numbers as json.Number.
	for i := 0; i < n/2; i++ {
		numbers := roundTrip
		if i%2 == 0 {
			numbers = roundTripNumbers
		}
		docs = append(docs, numbers(t, nudge(r, genValidFlagSet(r))), numbers(t, nudge(r, genValidRule(r, 0))))
	}

	// Mutants of the hand-written documents: one value replaced, removed or
	// added somewhere.
	base := slices.Clone(docs)
	for i := 0; i < n; i++ {
		docs = append(docs, mutate(r, roundTrip(t, pick(r, base))))
	}

	mismatches := 0
	var valid [len(kindFiles)]int
	for i, doc := range docs {
		for kind := range kindFiles {
			k := Kind(kind)
			ours := v.Validate(k, doc)
			if slow := v.validate(k, doc, false); !reflect.DeepEqual(ours, slow) {
				data, _ := json.Marshal(doc)
				t.Errorf("doc %d, %v: with the fast path %q, without %q\n%s", i, k, ours, slow, data)
			}
			theirs := ref[k].Validate(doc)
			if theirs == nil {
				valid[k]++
			}
			if (len(ours) == 0) != (theirs == nil) {
				mismatches++
				if mismatches <= 10 {
					data, _ := json.Marshal(doc)
					t.Errorf("doc %d, %v: ours %q, reference %v\n%s", i, k, ours, theirs, data)
				}
			}
		}
	}
	if mismatches > 0 {
		t.Errorf("%d verdicts differ", mismatches)
	}
	// The comparison only means something if both verdicts are common.
	for k, n := range valid {
		t.Logf("%v: %d of %d documents valid", Kind(k), n, len(docs))
		if n < len(docs)/20 || n > len(docs)*19/20 {
			t.Errorf("%v: %d of %d documents valid; the generators need rebalancing", Kind(k), n, len(docs))
		}
	}
}

// mutate changes doc, a fresh copy, in one random place and returns it.
func mutate(r *rand.Rand, doc any) any {
	// Collect the containers, then change one of them.
	var nodes []any
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			nodes = append(nodes, v)
			for _, c := range v {
				walk(c)
			}
		case []any:
			nodes = append(nodes, v)
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(doc)
	if len(nodes) == 0 {
		return genScalar(r)
	}
	replacement := func() any {
		switch r.IntN(4) {
		case 0:
			return genScalar(r)
		case 1:
			return genRule(r, 2)
		case 2:
			return genFlag(r)
		default:
			return genOperand(r, 2)
		}
	}
	switch node := pick(r, nodes).(type) {
	case map[string]any:
		keys := slices.Sorted(maps.Keys(node))
		switch {
		case len(keys) == 0 || r.IntN(4) == 0:
			node[pick(r, append(slices.Clone(operators), "state", "variants", "key", "targeting", "", "x"))] = replacement()
		case r.IntN(3) == 0:
			delete(node, pick(r, keys))
		default:
			node[pick(r, keys)] = replacement()
		}
	case []any:
		if len(node) > 0 {
			node[r.IntN(len(node))] = replacement()
		}
	}
	return doc
}

// roundTrip turns a generated value into what encoding/json would decode.
func roundTrip(t testing.TB, v any) any {
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := decode(data, false)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// The generators below build documents that are mostly well-formed but now
// and then wrong in one place (about one node in twenty), to probe the edges
// of both schemas.

var (
	operators = []string{
		"var", "missing", "missing_some", "if", "==", "===", "!=", "!==", ">", ">=", "%", "/",
		"map", "filter", "all", "none", "some", "in", "substr", "<", "<=", "*", "!", "!!", "or", "and",
		"+", "-", "max", "min", "merge", "cat", "reduce", "starts_with", "ends_with", "sem_ver", "fractional",
	}
	oddKeys = []string{"not-an-op", "", "$ref", "Var", "IF", "a\nb"}
	strs    = []string{
		"", "on", "off", "email", "@vexil.dev", "$flagd.timestamp", "$flagd.flagKey", "$flagd.other",
		"$flagd.", "$flagd", "$flagd.\nx", "x\n", "1.2.3", "1.2", "01.2.3", "1.2.3-rc.1+b.7", "v1.2.3",
		"=", "!=", "~", "^", "*", ">=", "ENABLED", "DISABLED", "enabled",
	}
	varPaths = []string{"email", "user.id", "", "$flagd.timestamp", "$flagd.flagKey", "$flagd", "$flagd.\nx", "flagd.x"}
	versions = []string{"1.2.3", "0.0.0", "1.2.3-rc.1+b.7", "10.20.30-alpha"}
	badVers  = []string{"1.2", "01.2.3", "v1.2.3", "1.2.3.4", ""}
	semOps   = []string{"=", "!=", ">", "<", ">=", "<=", "~", "^"}
	// operand counts that each operator accepts, as [min, max]; max -1 is
	// unbounded
	arity = map[string][2]int{
		"if": {1, -1}, "==": {2, 2}, "===": {2, 2}, "!=": {2, 2}, "!==": {2, 2}, ">": {2, 2}, ">=": {2, 2},
		"%": {2, 2}, "/": {2, 2}, "map": {2, 2}, "filter": {2, 2}, "all": {2, 2}, "none": {2, 2},
		"some": {2, 2}, "in": {2, 2}, "substr": {2, 3}, "<": {2, 3}, "<=": {2, 3}, "*": {2, -1},
		"or": {1, -1}, "and": {1, -1}, "+": {1, -1}, "-": {1, -1}, "max": {1, -1}, "min": {1, -1},
		"merge": {1, -1}, "cat": {1, -1}, "reduce": {3, 3}, "starts_with": {2, 2}, "ends_with": {2, 2},
	}
)

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// oops is true once in a while: time to make a mistake.
func oops(r *rand.Rand) bool { return r.IntN(20) == 0 }

func genScalar(r *rand.Rand) any {
	switch r.IntN(8) {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return pick(r, []float64{0, 1, 25, -1, 2.5, 1e6, -0.5, 100})
	default:
		return pick(r, strs)
	}
}

func genOperand(r *rand.Rand, depth int) any {
	switch n := r.IntN(10); {
	case n < 5 || depth > 3:
		return genScalar(r)
	case n < 6:
		return []any{genOperand(r, depth+1), map[string]any{"bogus": 1}}
	case n < 7:
		if oops(r) {
			return pick(r, []any{map[string]any{}, map[string]any{"$ref": 3}, map[string]any{"$ref": "x", "var": "y"}})
		}
		return map[string]any{"$ref": "shared"}
	default:
		return genRule(r, depth+1)
	}
}

func genOperands(r *rand.Rand, depth, count int) []any {
	out := make([]any, count)
	for i := range out {
		out[i] = genOperand(r, depth)
	}
	return out
}

// genStringOperand makes an operand of starts_with and ends_with.
func genStringOperand(r *rand.Rand, depth int) any {
	if oops(r) {
		return genOperand(r, depth)
	}
	if r.IntN(2) == 0 {
		return pick(r, strs)
	}
	return genRule(r, depth+1)
}

func genVersion(r *rand.Rand) any {
	switch {
	case oops(r):
		return pick(r, []any{pick(r, badVers), 1, map[string]any{"var": "v", "in": 1}, map[string]any{"$ref": "shared"}})
	case r.IntN(3) == 0:
		return map[string]any{"var": pick(r, varPaths)}
	default:
		return pick(r, versions)
	}
}

func genBucket(r *rand.Rand, depth int) any {
	bucket := []any{genOperand(r, depth+1)}
	switch {
	case oops(r):
		return pick(r, []any{[]any{}, append(bucket, 1, 2), append(bucket, pick(r, []any{-5, 2.5, "5", map[string]any{"$ref": "shared"}}))})
	case r.IntN(5) == 0:
		return bucket
	case r.IntN(5) == 0:
		return append(bucket, genRule(r, depth+1))
	default:
		return append(bucket, pick(r, []any{0, 25, 100, 1e3}))
	}
}

func genArgs(r *rand.Rand, op string, depth int) any {
	switch op {
	case "var":
		switch r.IntN(4) {
		case 0:
			return []any{pick(r, varPaths), genScalar(r)}
		case 1:
			return genScalar(r)
		default:
			return pick(r, varPaths)
		}
	case "missing":
		if oops(r) {
			return []any{"a", 1}
		}
		return []any{"a", "b"}[:r.IntN(3)]
	case "missing_some":
		if oops(r) {
			return pick(r, []any{[]any{1}, []any{"1", []any{"a"}}, []any{1, []any{2}}, []any{1, []any{}, 3}})
		}
		return []any{r.IntN(3), []any{"a", "b"}[:r.IntN(3)]}
	case "sem_ver":
		args := []any{genVersion(r), pick(r, semOps), genVersion(r)}
		if oops(r) {
			return pick(r, []any{args[:2], append(args, "x"), []any{args[0], "*", args[2]}})
		}
		return args
	case "fractional":
		var out []any
		if r.IntN(2) == 0 {
			if oops(r) {
				out = append(out, pick(r, []any{"id", 1, map[string]any{"$ref": "shared"}}))
			} else {
				out = append(out, genRule(r, depth+1))
			}
		}
		for i := 1 + r.IntN(3); i > 0; i-- {
			out = append(out, genBucket(r, depth))
		}
		if oops(r) {
			out = nil
		}
		return out
	case "!", "!!":
		if r.IntN(2) == 0 {
			return genOperand(r, depth+1)
		}
		return []any{genOperand(r, depth+1)}
	case "starts_with", "ends_with":
		n := 2
		if oops(r) {
			n = r.IntN(4)
		}
		out := make([]any, n)
		for i := range out {
			out[i] = genStringOperand(r, depth)
		}
		return out
	}
	if oops(r) {
		return genOperands(r, depth, r.IntN(5))
	}
	a := arity[op]
	n := a[0]
	if a[1] < 0 {
		n += r.IntN(3)
	} else {
		n += r.IntN(a[1] - a[0] + 1)
	}
	return genOperands(r, depth, n)
}

func genRule(r *rand.Rand, depth int) map[string]any {
	if r.IntN(40) == 0 {
		return map[string]any{}
	}
	op := pick(r, operators)
	if oops(r) {
		op = pick(r, oddKeys)
	}
	rule := map[string]any{op: genArgs(r, op, depth)}
	if r.IntN(10) == 0 {
		// A second operator: from the same family or, now and then, not.
		second := pick(r, operators)
		if fam, _ := operatorFamily(op); !oops(r) {
			for _, o := range operators {
				if f, _ := operatorFamily(o); f == fam && r.IntN(2) == 0 {
					second = o
				}
			}
		}
		rule[second] = genArgs(r, second, depth)
	}
	return rule
}

func genVariants(r *rand.Rand) map[string]any {
	gens := []func() any{
		func() any { return r.IntN(2) == 0 },
		func() any { return pick(r, strs) },
		func() any { return pick(r, []float64{1, 2.5, -3}) },
		func() any { return map[string]any{"k": genScalar(r)} },
		func() any { return pick(r, []any{nil, []any{1}}) },
	}
	typed := gens[r.IntN(4)]
	out := map[string]any{}
	if oops(r) {
		return out
	}
	for i := 1 + r.IntN(3); i > 0; i-- {
		name := pick(r, []string{"on", "off", "a", "b", "c"})
		if oops(r) {
			name = pick(r, []string{"", "x\ny"})
		}
		if oops(r) {
			out[name] = pick(r, gens)()
		} else {
			out[name] = typed()
		}
	}
	return out
}

func genFlag(r *rand.Rand) map[string]any {
	f := map[string]any{
		"state":    pick(r, []any{"ENABLED", "DISABLED"}),
		"variants": genVariants(r),
	}
	if oops(r) {
		f["state"] = pick(r, []any{"enabled", 1, nil})
	}
	if oops(r) {
		delete(f, pick(r, []string{"state", "variants"}))
	}
	if r.IntN(2) == 0 {
		f["defaultVariant"] = pick(r, []any{"on", "a", nil})
		if oops(r) {
			f["defaultVariant"] = pick(r, []any{1, true})
		}
	}
	if r.IntN(2) == 0 {
		if oops(r) {
			f["targeting"] = genOperand(r, 0)
		} else {
			f["targeting"] = genRule(r, 0)
		}
	}
	if r.IntN(5) == 0 {
		f["metadata"] = map[string]any{"owner": pick(r, []any{"team", 1, true})}
		if oops(r) {
			f["metadata"] = pick(r, []any{map[string]any{"n": nil}, map[string]any{"n": []any{}}, "x"})
		}
	}
	return f
}

func genFlagSet(r *rand.Rand) any {
	if r.IntN(40) == 0 {
		return genScalar(r)
	}
	doc := map[string]any{}
	n := r.IntN(4)
	switch r.IntN(6) {
	case 0:
		flags := []any{}
		for ; n > 0; n-- {
			f := genFlag(r)
			f["key"] = "flag-" + strconv.Itoa(n)
			if oops(r) {
				f["key"] = pick(r, []any{"", 1, nil})
			}
			if oops(r) {
				delete(f, "key")
			}
			flags = append(flags, f)
		}
		doc["flags"] = flags
	case 1:
		if r.IntN(3) == 0 {
			doc["flags"] = genScalar(r)
		}
	default:
		flags := map[string]any{}
		for ; n > 0; n-- {
			key := "flag-" + strconv.Itoa(n)
			if oops(r) {
				key = pick(r, []string{"", "a\nb"})
			}
			f := genFlag(r)
			if r.IntN(10) == 0 {
				f["key"] = pick(r, []any{"k", "", 1})
			}
			flags[key] = f
			if oops(r) {
				flags[key] = genScalar(r)
			}
		}
		doc["flags"] = flags
	}
	if r.IntN(3) == 0 {
		ev := map[string]any{"shared": genRule(r, 1)}
		if oops(r) {
			ev[pick(r, []string{"", "x"})] = genOperand(r, 1)
		}
		doc["$evaluators"] = ev
	}
	if r.IntN(4) == 0 {
		doc["metadata"] = map[string]any{
			"flagSetId": pick(r, []any{"set", 1, true}),
			"version":   pick(r, []any{"1", 2.5}),
		}
		if oops(r) {
			doc["metadata"] = map[string]any{"flagSetId": nil}
		}
	}
	return doc
}

// TestGolden validates each testdata/NAME.KIND.json as KIND and compares
// the problems with testdata/NAME.KIND.golden; -update rewrites the golden
// files.
func TestGolden(t *testing.T) {
	v := newValidator(t)
	files := jsonFiles(t, "testdata")
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, file := range files {
		base := strings.TrimSuffix(filepath.Base(file), ".json")
		kindName := filepath.Ext(base)
		var kind Kind = -1
		for k, name := range kindFiles {
			if name == strings.TrimPrefix(kindName, ".")+".json" {
				kind = Kind(k)
			}
		}
		if kind < 0 {
			t.Errorf("%s: name must end in .flagd.json, .flags.json or .targeting.json", file)
			continue
		}
		t.Run(base, func(t *testing.T) {
			var got strings.Builder
			ps := v.Validate(kind, decodeFile(t, file))
			for _, p := range ps {
				got.WriteString(p.String() + "\n")
			}
			if len(ps) == 0 {
				got.WriteString("(no problems)\n")
			}
			golden := strings.TrimSuffix(file, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got.String() != string(want) {
				t.Errorf("problems differ from %s (run with -update to accept):\n--- got\n%s--- want\n%s", golden, got.String(), want)
			}
		})
	}
}

func TestNumbers(t *testing.T) {
	v := newValidator(t)
	src := []byte(`{"fractional": [["a", 25], ["b", 2.5], ["c", 1e2], ["d", -0]]}`)
	for _, useNumber := range []bool{false, true} {
		doc, err := decode(src, useNumber)
		if err != nil {
			t.Fatal(err)
		}
		ps := v.Validate(KindTargeting, doc)
		want := []Problem{{"/fractional/1/1", "fractional[1][1]: weight must be a non-negative integer or a rule object"}}
		if !reflect.DeepEqual(ps, want) {
			t.Errorf("useNumber=%v: got %q, want %q", useNumber, ps, want)
		}
	}
}

func TestOddInputs(t *testing.T) {
	v := newValidator(t)
	for _, tc := range []struct {
		kind Kind
		doc  any
		want []Problem
	}{
		{KindFlags, nil, []Problem{{"", "must be an object, not null"}}},
		{KindTargeting, "x", []Problem{{"", "must be a rule object"}}},
		{KindFlags, map[string]any{}, []Problem{{"", `missing required property "flags"`}}},
		{KindFlagd, map[string]any{"flags": map[string]string{}}, []Problem{{"/flags", "flags: a Go value of type map[string]string is not decoded JSON"}}},
		{Kind(7), map[string]any{}, []Problem{{"", "unknown schema kind Kind(7)"}}},
		{KindFlags, map[string]any{"flags": map[string]any{"a/b~c": map[string]any{"state": "on", "variants": map[string]any{"x": 1}}}},
			[]Problem{{"/flags/a~1b~0c/state", `state: must be "ENABLED" or "DISABLED"`}}},
	} {
		if got := v.Validate(tc.kind, tc.doc); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Validate(%v, %#v) = %q, want %q", tc.kind, tc.doc, got, tc.want)
		}
	}
}

// TestFastPathMatchesLibrary checks that validating large documents with
// the fast path, which hands only the flags and rules it cannot prove valid
// to the library, reports exactly what the library reports for the whole
// document, pointers into flag arrays included.
func TestFastPathMatchesLibrary(t *testing.T) {
	v := newValidator(t)
	r := rand.New(rand.NewPCG(3, 4))
	flags := map[string]any{}
	var list []any
	evaluators := map[string]any{"": 1}
	for i := 0; i < 2500; i++ {
		var f any
		switch i % 3 {
		case 0:
			f = genFlag(r)
		case 1:
			f = genValidFlag(r)
		default:
			f = nudge(r, genValidFlag(r))
		}
		flags["flag-"+strconv.Itoa(i)] = f
		list = append(list, f)
		if i%10 == 0 {
			evaluators["rule-"+strconv.Itoa(i)] = nudge(r, genValidRule(r, 0))
		}
	}
	flags[""] = map[string]any{"state": "ENABLED", "variants": map[string]any{"on": true}}
	flags["a\nb"] = map[string]any{"state": "ENABLED", "variants": map[string]any{"on": true}}
	meta := map[string]any{"flagSetId": []any{}}
	fast, slow := 0, 0
	for _, tc := range []struct {
		kind Kind
		doc  any
		many bool // whether to expect many problems
	}{
		{KindFlagd, roundTrip(t, map[string]any{"flags": flags, "metadata": meta, "$evaluators": evaluators}), true},
		{KindFlags, roundTrip(t, map[string]any{"flags": flags, "metadata": meta}), true},
		{KindFlagd, roundTrip(t, map[string]any{"flags": list, "metadata": meta, "$evaluators": evaluators}), true},
		{KindFlags, roundTrip(t, map[string]any{"flags": list}), false},
		{KindFlagd, roundTripNumbers(t, map[string]any{"flags": list, "$schema": 1}), true},
		{KindFlagd, roundTrip(t, map[string]any{"flags": list[:0]}), false},
		{KindFlagd, roundTrip(t, map[string]any{"flags": map[string]any{}, "$evaluators": map[string]any{}}), false},
	} {
		if root, ok := tc.doc.(map[string]any); ok {
			switch fs := root["flags"].(type) {
			case map[string]any:
				for k, f := range fs {
					if quickName(k) && quickValidFlag(f, false) {
						fast++
					} else {
						slow++
					}
				}
			case []any:
				for _, f := range fs {
					if quickValidFlag(f, true) {
						fast++
					} else {
						slow++
					}
				}
			}
		}
		want := v.validate(tc.kind, tc.doc, false)
		got := v.validate(tc.kind, tc.doc, true)
		if tc.many && len(want) < 100 {
			t.Errorf("%v: only %d problems; the test wants many", tc.kind, len(want))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%v: %d problems with the fast path, %d without", tc.kind, len(got), len(want))
			for i := 0; i < len(want) || i < len(got); i++ {
				if i >= len(want) || i >= len(got) || want[i] != got[i] {
					t.Errorf("first difference at %d: %q vs %q", i, got[i:min(i+1, len(got))], want[i:min(i+1, len(want))])
					break
				}
			}
		}
	}
	t.Logf("flags proven by the fast path: %d, left to the library: %d", fast, slow)
	if fast < 1000 || slow < 1000 {
		t.Errorf("want many flags on each side of the fast path: %d proven, %d not", fast, slow)
	}
}

func TestConcurrentUse(t *testing.T) {
	v := newValidator(t)
	doc := decodeFile(t, filepath.Join("testdata", "provider-map.flags.json"))
	want := v.Validate(KindFlags, doc)
	done := make(chan []Problem)
	for i := 0; i < 8; i++ {
		go func() { done <- v.Validate(KindFlags, doc) }()
	}
	for i := 0; i < 8; i++ {
		if got := <-done; !reflect.DeepEqual(got, want) {
			t.Errorf("concurrent result differs: %q", got)
		}
	}
}

func TestFS(t *testing.T) {
	for _, name := range kindFiles {
		data, err := FS.ReadFile("json/" + name)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if doc["$id"] != baseURI+name {
			t.Errorf("%s: $id = %v, want %s", name, doc["$id"], baseURI+name)
		}
	}
}

// resolve reports whether the JSON pointer ptr names a value in doc.
func resolve(doc any, ptr string) bool {
	if ptr == "" {
		return true
	}
	if !strings.HasPrefix(ptr, "/") {
		return false
	}
	cur := doc
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch node := cur.(type) {
		case map[string]any:
			next, ok := node[tok]
			if !ok {
				return false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(node) {
				return false
			}
			cur = node[i]
		default:
			return false
		}
	}
	return true
}

func FuzzValidate(f *testing.F) {
	for _, s := range []string{
		`{"flags":{"f":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on"}}}`,
		`{"flags":[{"key":"f","state":"DISABLED","variants":{"a":1}}]}`,
		`{"flags":{"f":{"state":"ENABLED","variants":{"a":"x"},"targeting":{"if":[{"in":["@x",{"var":"email"}]},"a",null]}}}}`,
		`{"fractional":[{"var":"id"},["a",50],["b",50]]}`,
		`{"sem_ver":[{"var":"v"},"^","1.0.0"],"x":1}`,
		`{"==":[{"$ref":"r"},{}],"<":[1,2]}`,
		`[1,"two",null]`,
	} {
		f.Add([]byte(s))
	}
	seeds := []string{filepath.Join("testdata", "*.json")}
	// With the reference schemas at hand, also start from their test
	// documents and compare verdicts.
	var ref *[len(kindFiles)]*jsonschema.Schema
	dir, required := testenv.Schemas.Lookup()
	if required || testenv.Schemas.Present(dir) {
		r := compileReference(f, dir)
		ref = &r
		seeds = append(seeds, filepath.Join(dir, "json", "test", "*", "*", "*.json"))
	}
	for _, pattern := range seeds {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
	}
	v := newValidator(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := decode(data, false)
		if err != nil {
			return
		}
		for kind := range kindFiles {
			k := Kind(kind)
			first := v.Validate(k, doc)
			if again := v.Validate(k, doc); !reflect.DeepEqual(first, again) {
				t.Fatalf("%v: not deterministic: %q then %q", k, first, again)
			}
			if slow := v.validate(k, doc, false); !reflect.DeepEqual(first, slow) {
				t.Errorf("%v: with the fast path %q, without %q", k, first, slow)
			}
			for _, p := range first {
				if p.Message == "" || !resolve(doc, p.Pointer) {
					t.Errorf("%v: problem %q does not point into the document", k, p)
				}
			}
			if ref != nil && (len(first) == 0) != (ref[k].Validate(doc) == nil) {
				t.Errorf("%v: ours %q, reference %v", k, first, ref[k].Validate(doc))
			}
		}
	})
}

// genFlags writes a flagd configuration with n flags: plain boolean flags,
// flags targeted by an email rule, fractional rollouts, and string, number
// and object flags.
func genFlags(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"$schema":"https://vexil.dev/schemas/v0/flagd.json","flags":{`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"flag-%06d":`, i)
		switch i % 10 {
		case 0, 1, 2, 3:
			b.WriteString(`{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on"}`)
		case 4, 5, 6:
			b.WriteString(`{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off",` +
				`"targeting":{"if":[{"in":["@faas.com",{"var":"email"}]},"on","off"]}}`)
		case 7:
			b.WriteString(`{"state":"ENABLED","variants":{"red":"#f00","blue":"#00f"},"defaultVariant":"red",` +
				`"targeting":{"fractional":[{"var":"email"},["red",50],["blue",50]]}}`)
		case 8:
			b.WriteString(`{"state":"DISABLED","variants":{"low":1,"high":2.5},"defaultVariant":"low"}`)
		case 9:
			b.WriteString(`{"state":"ENABLED","variants":{"a":{"limit":10},"b":{"limit":20}},"defaultVariant":"a",` +
				`"metadata":{"owner":"team-` + strconv.Itoa(i%7) + `"}}`)
		}
	}
	b.WriteString(`},"$evaluators":{"faas":{"in":["@faas.com",{"var":"email"}]}}}`)
	return b.Bytes()
}

func BenchmarkValidate100kFlags(b *testing.B) {
	const n = 100_000
	v := newValidator(b)
	doc, err := decode(genFlags(n), false)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if ps := v.Validate(KindFlagd, doc); len(ps) != 0 {
			b.Fatalf("unexpected problems: %q", ps[:min(len(ps), 3)])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/flag")
}

func BenchmarkDecodeAndValidate100kFlags(b *testing.B) {
	const n = 100_000
	v := newValidator(b)
	data := genFlags(n)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		doc, err := decode(data, false)
		if err != nil {
			b.Fatal(err)
		}
		if ps := v.Validate(KindFlagd, doc); len(ps) != 0 {
			b.Fatalf("unexpected problems: %q", ps[:min(len(ps), 3)])
		}
	}
}

// BenchmarkReferenceSchemas10kFlags validates 10,000 flags against the flagd
// schemas themselves, for comparison with BenchmarkValidate100kFlags.
func BenchmarkReferenceSchemas10kFlags(b *testing.B) {
	const n = 10_000
	ref := compileReference(b, refDir(b))
	doc, err := decode(genFlags(n), false)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := ref[KindFlagd].Validate(doc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/flag")
}
