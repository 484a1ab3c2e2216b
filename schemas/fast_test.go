package schemas

import (
	"encoding/json"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The tests of the fast path. Its one rule is soundness: whenever
// quickValidFlag or quickValidRule says true, both our schemas and the flagd
// ones accept the value. The generators below build valid flags and rules
// of the shapes the fast path knows, then nudge them: change one small thing
// (a string, a number, a name, an element too many or too few), so that the
// values fall on both sides of the boundary.

var (
	// semverPattern and namePattern are the patterns of the schemas, run
	// with Go's regexp as the library runs them.
	semverPattern = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)
	namePattern   = regexp.MustCompile(`^.{1,}$`)

	// fastOps are the operators the fast path knows.
	fastOps = []string{
		"var", "if", "==", "===", "!=", "!==", "<", "<=", ">", ">=", "in", "and", "or", "!", "!!",
		"cat", "+", "-", "*", "/", "%", "min", "max", "merge", "substr", "starts_with", "ends_with",
		"sem_ver", "fractional", "map", "filter", "all", "none", "some", "reduce", "missing", "missing_some",
	}
	// Values a nudge may put in place of a string, a number or a name.
	trickyStrings = []string{
		"", "on", "x", "ENABLED", "DISABLED", "enabled", "Enabled", "ENABLED ", "$flagd.timestamp",
		"$flagd.flagKey", "$flagd.", "$flagd.timestampx", "$flagd.timestamp\n", "$flagd.x\ny", "$flagd",
		"$flagdx", "flagd.x", "1.2.3", "0.0.0", "1.2.3-rc.1+b.7", "1.2.3-0", "1.2.3-01", "1.2.3-0a",
		"1.2.3-a..b", "1.2.3-", "1.2.3+", "1.2.3+b", "1.2.3+01", "1.2.3\n", " 1.2.3", "01.2.3", "1.2",
		"1.2.3.4", "v1.2.3", "1.2.3-ä", "=", "!=", ">", "<", ">=", "<=", "~", "^", "==", "*", "a\nb",
		"a\rb", "a\tb", "\x7f", "a\u0085", "a\u2028", "a\u2029", "\u00e9t\u00e9", "\ufeff", "\xff",
		"$ref", "var", "if", "key",
	}
	trickyNumbers = []any{0.0, 1.0, -1.0, 0.5, -0.5, 25.0, 100.0, 1e3, 1e21, 9007199254740992.0, 9007199254740994.0, "5"}
	trickyNames   = []string{"", "x", "a\nb", "a\u2028", "\x01", "key", "$ref", "var", "Var", "if", "missing",
		"some", "state", "variants", "targeting", "metadata", "defaultVariant", "description", "\u00fcber", "a b"}
)

func genValidScalar(r *rand.Rand) any {
	switch r.IntN(6) {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return pick(r, []float64{0, 1, 2.5, -3, 1e6})
	default:
		return pick(r, []string{"on", "off", "@vexil.dev", "", "x\ny", "1.2.3", "$flagd.other"})
	}
}

// genValidOperand makes an operand that both schemas accept.
func genValidOperand(r *rand.Rand, depth int) any {
	switch n := r.IntN(10); {
	case n < 4 || depth > 3:
		return genValidScalar(r)
	case n < 5:
		// Arrays are not looked into, so anything goes inside.
		return []any{genValidScalar(r), map[string]any{}, map[string]any{"$ref": 1}}[:r.IntN(4)]
	case n < 6:
		return map[string]any{"$ref": pick(r, []string{"shared", ""})}
	default:
		return genValidRule(r, depth+1)
	}
}

func genValidOperands(r *rand.Rand, depth, lo, hi int) []any {
	n := lo + r.IntN(hi-lo+1)
	out := make([]any, n)
	for i := range out {
		out[i] = genValidOperand(r, depth)
	}
	return out
}

func genValidVersion(r *rand.Rand) any {
	if r.IntN(3) == 0 {
		return map[string]any{"var": pick(r, []any{"app.version", "$flagd.flagKey", 1, []any{"v", "1.0.0"}})}
	}
	return pick(r, versions)
}

// genValidRule makes a rule object with one operator that both schemas
// accept.
func genValidRule(r *rand.Rand, depth int) map[string]any {
	op := pick(r, fastOps)
	var arg any
	switch op {
	case "var":
		arg = pick(r, []any{"email", "user.id", "", "$flagd.timestamp", "$flagd.flagKey", "flagd.x",
			[]any{"email", "x"}, []any{"n", 1.0}, 1.0, nil, []any{}, map[string]any{}})
	case "if":
		arg = genValidOperands(r, depth, 1, 4)
	case "or", "and", "+", "-", "max", "min", "merge", "cat":
		arg = genValidOperands(r, depth, 1, 3)
	case "==", "===", "!=", "!==", ">", ">=", "%", "/", "in", "map", "filter", "all", "none", "some":
		arg = genValidOperands(r, depth, 2, 2)
	case "<", "<=", "substr":
		arg = genValidOperands(r, depth, 2, 3)
	case "*":
		arg = genValidOperands(r, depth, 2, 4)
	case "reduce":
		arg = genValidOperands(r, depth, 3, 3)
	case "!", "!!":
		if r.IntN(2) == 0 {
			arg = genValidOperand(r, depth)
		} else {
			arg = []any{genValidOperand(r, depth)}
		}
	case "missing":
		arg = []any{"a", "b"}[:r.IntN(3)]
	case "missing_some":
		arg = []any{float64(r.IntN(3)), []any{"a", "b"}[:r.IntN(3)]}
	case "starts_with", "ends_with":
		a := make([]any, 2)
		for i := range a {
			if r.IntN(2) == 0 || depth > 3 {
				a[i] = pick(r, []string{"@vexil.dev", "", "x"})
			} else {
				a[i] = genValidRule(r, depth+1)
			}
		}
		arg = a
	case "sem_ver":
		arg = []any{genValidVersion(r), pick(r, semOps), genValidVersion(r)}
	case "fractional":
		var a []any
		if r.IntN(2) == 0 {
			if depth > 3 {
				a = append(a, map[string]any{"var": "id"})
			} else {
				a = append(a, genValidRule(r, depth+1))
			}
		}
		for n := r.IntN(4); n >= 0; n-- {
			b := []any{genValidOperand(r, depth+1)}
			switch r.IntN(5) {
			case 0:
			case 1:
				if depth > 3 {
					b = append(b, 1.0)
				} else {
					b = append(b, genValidRule(r, depth+1))
				}
			default:
				b = append(b, pick(r, []float64{0, 1, 25, 50, 100, 1e3}))
			}
			a = append(a, b)
		}
		arg = a
	}
	return map[string]any{op: arg}
}

// genValidFlag makes a flag definition that both schemas accept.
func genValidFlag(r *rand.Rand) map[string]any {
	names := []string{"on", "off", "a", "b", "\u00fcber", "a b", "x-1"}
	variants := map[string]any{}
	kind := r.IntN(4)
	for n := 1 + r.IntN(3); n > 0; n-- {
		var val any
		switch kind {
		case 0:
			val = r.IntN(2) == 0
		case 1:
			val = pick(r, []string{"red", "", "#00f"})
		case 2:
			val = pick(r, []float64{0, 1, 2.5, -3})
		default:
			val = pick(r, []any{map[string]any{}, map[string]any{"limit": 10.0, "tags": []any{"a", nil}}})
		}
		variants[pick(r, names)] = val
	}
	f := map[string]any{
		"state":    pick(r, []string{"ENABLED", "DISABLED"}),
		"variants": variants,
	}
	if r.IntN(3) > 0 {
		f["defaultVariant"] = pick(r, []any{"on", "a", nil, ""})
	}
	switch r.IntN(4) {
	case 0:
	case 1:
		f["targeting"] = map[string]any{}
	default:
		f["targeting"] = genValidRule(r, 0)
	}
	if r.IntN(4) == 0 {
		f["metadata"] = map[string]any{"owner": pick(r, []any{"team", 1.0, true})}
	}
	if r.IntN(4) == 0 {
		f["key"] = pick(r, []any{"flag", "k\u00e9y"})
	}
	if r.IntN(8) == 0 {
		f["description"] = pick(r, []any{"text", []any{1.0}, map[string]any{"a": nil}})
	}
	return f
}

// genValidFlagSet makes a flag set that both schemas accept: an object of
// flags or, for the daemon only, an array of flags.
func genValidFlagSet(r *rand.Rand) map[string]any {
	doc := map[string]any{}
	n := 1 + r.IntN(3)
	if r.IntN(3) == 0 {
		var flags []any
		for i := 0; i < n; i++ {
			f := genValidFlag(r)
			f["key"] = "flag-" + strconv.Itoa(i)
			flags = append(flags, f)
		}
		doc["flags"] = flags
	} else {
		flags := map[string]any{}
		for i := 0; i < n; i++ {
			flags[pick(r, []string{"flag-", "\u00fcber-", "a b-"})+strconv.Itoa(i)] = genValidFlag(r)
		}
		doc["flags"] = flags
	}
	if r.IntN(2) == 0 {
		doc["$evaluators"] = map[string]any{"shared": genValidRule(r, 1), "other": map[string]any{}}
	}
	if r.IntN(4) == 0 {
		doc["metadata"] = map[string]any{"flagSetId": "set", "version": 2.0}
	}
	if r.IntN(4) == 0 {
		doc["$schema"] = "https://flagd.dev/schema/v0/flags.json"
	}
	return doc
}

// nudge changes doc, a fresh copy, in one small way and returns it.
func nudge(r *rand.Rand, doc any) any {
	var paths [][]any
	var walk func(v any, path []any)
	walk = func(v any, path []any) {
		paths = append(paths, slices.Clone(path))
		switch v := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(v)) {
				walk(v[k], append(path, k))
			}
		case []any:
			for i, e := range v {
				walk(e, append(path, i))
			}
		}
	}
	walk(doc, nil)
	path := pick(r, paths)
	return setPath(doc, path, nearValue(r, getPath(doc, path)))
}

func getPath(doc any, path []any) any {
	for _, p := range path {
		switch p := p.(type) {
		case string:
			doc = doc.(map[string]any)[p]
		case int:
			doc = doc.([]any)[p]
		}
	}
	return doc
}

func setPath(doc any, path []any, v any) any {
	if len(path) == 0 {
		return v
	}
	parent := getPath(doc, path[:len(path)-1])
	switch p := path[len(path)-1].(type) {
	case string:
		parent.(map[string]any)[p] = v
	case int:
		parent.([]any)[p] = v
	}
	return doc
}

// nearValue returns a value close to old: of the same type but slightly
// different, or of another type with similar meaning, or old with one
// member or element more or less.
func nearValue(r *rand.Rand, old any) any {
	if r.IntN(10) == 0 {
		return pick(r, []any{nil, true, 1.0, "x", []any{}, map[string]any{}, map[string]any{"$ref": "shared"}})
	}
	switch old := old.(type) {
	case string:
		switch r.IntN(4) {
		case 0:
			return old + pick(r, []string{"\n", "x", ".0", "-"})
		case 1:
			if old != "" {
				return old[:len(old)-1]
			}
		}
		return pick(r, trickyStrings)
	case float64:
		return pick(r, trickyNumbers)
	case bool:
		return pick(r, []any{!old, nil, "true"})
	case nil:
		return pick(r, []any{false, map[string]any{}, []any{}, "null"})
	case []any:
		out := slices.Clone(old)
		switch {
		case len(out) > 0 && r.IntN(3) == 0:
			i := r.IntN(len(out))
			return slices.Delete(out, i, i+1)
		case len(out) > 0 && r.IntN(2) == 0:
			return append(out, out[r.IntN(len(out))])
		case len(out) == 1 && r.IntN(2) == 0:
			return out[0]
		}
		return append(out, pick(r, []any{nil, "x", 1.0, map[string]any{}, map[string]any{"var": "x"}}))
	case map[string]any:
		out := maps.Clone(old)
		keys := slices.Sorted(maps.Keys(out))
		switch {
		case len(keys) > 0 && r.IntN(3) == 0:
			delete(out, pick(r, keys))
		case len(keys) > 0 && r.IntN(2) == 0:
			k := pick(r, keys)
			v := out[k]
			delete(out, k)
			out[pick(r, append(slices.Clone(trickyNames), operators...))] = v
		case r.IntN(2) == 0:
			out[pick(r, append(slices.Clone(trickyNames), operators...))] = pick(r, []any{"x", 1.0, []any{1.0, 2.0}, map[string]any{"var": "x"}})
		default:
			return []any{old}
		}
		return out
	}
	return old
}

// roundTripNumbers is roundTrip with numbers decoded as json.Number.
func roundTripNumbers(t testing.TB, v any) any {
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := decode(data, true)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// soundness checks values against both our schemas (with the fast path
// off) and the flagd ones whenever the fast path claims them valid.
type soundness struct {
	t   testing.TB
	v   *Validator
	ref [len(kindFiles)]*jsonschema.Schema
	// counts, for the report: claimed valid by the fast path, and checked
	// values the library accepts
	claimed, accepted, checked int
}

func newSoundness(t testing.TB) *soundness {
	return &soundness{t: t, v: newValidator(t), ref: compileReference(t, refDir(t))}
}

// expectValid fails the test unless both schemas of kind accept doc.
func (s *soundness) expectValid(what string, kind Kind, doc any) {
	s.t.Helper()
	ours := s.v.validate(kind, doc, false)
	theirs := s.ref[kind].Validate(doc)
	if len(ours) != 0 || theirs != nil {
		data, _ := json.Marshal(doc)
		s.t.Errorf("the fast path accepts %s, but %v says: ours %q, reference %v\n%s", what, kind, ours, theirs, data)
	}
}

// flag checks the soundness of quickValidFlag for f under the name key, in
// an object of flags and in a daemon flag array. It returns whether the
// fast path proved f in the object.
func (s *soundness) flag(key string, f any) bool {
	s.t.Helper()
	s.checked++
	inMap := quickName(key) && quickValidFlag(f, false)
	doc := map[string]any{"flags": map[string]any{key: f}}
	if inMap {
		s.claimed++
		s.expectValid("flag "+strconv.Quote(key), KindFlags, doc)
		s.expectValid("flag "+strconv.Quote(key), KindFlagd, doc)
		s.accepted++
	} else if len(s.v.validate(KindFlags, doc, false)) == 0 {
		s.accepted++
	}
	if quickValidFlag(f, true) {
		s.expectValid("listed flag", KindFlagd, map[string]any{"flags": []any{f}})
		if m, _ := f.(map[string]any); m == nil || m["key"] == nil {
			s.t.Errorf("the fast path accepts a listed flag without key: %v", f)
		}
	}
	return inMap
}

// rule checks the soundness of quickValidRule for x as a whole targeting
// rule and as a shared rule named name.
func (s *soundness) rule(name string, x any) bool {
	s.t.Helper()
	s.checked++
	if !quickValidRule(x) {
		if len(s.v.validate(KindTargeting, x, false)) == 0 {
			s.accepted++
		}
		return false
	}
	s.claimed++
	s.accepted++
	s.expectValid("a rule", KindTargeting, x)
	if quickName(name) {
		s.expectValid("a shared rule", KindFlags, map[string]any{"flags": map[string]any{}, "$evaluators": map[string]any{name: x}})
	}
	return true
}

// document checks every flag and shared rule of doc that the fast path
// claims valid, and that Validate gives the same with and without it.
func (s *soundness) document(doc any) {
	s.t.Helper()
	for kind := range kindFiles {
		k := Kind(kind)
		fast, slow := s.v.validate(k, doc, true), s.v.validate(k, doc, false)
		if !reflect.DeepEqual(fast, slow) {
			data, _ := json.Marshal(doc)
			s.t.Errorf("%v: with the fast path %q, without %q\n%s", k, fast, slow, data)
		}
	}
	s.flag("f", doc)
	s.rule("r", doc)
	root, _ := doc.(map[string]any)
	switch fs := root["flags"].(type) {
	case map[string]any:
		for k, f := range fs {
			s.flag(k, f)
		}
	case []any:
		for _, f := range fs {
			s.flag("f", f)
		}
	}
	if ev, ok := root["$evaluators"].(map[string]any); ok {
		for k, x := range ev {
			s.rule(k, x)
		}
	}
	checkStrings(s.t, doc)
}

// checkStrings compares isSemver and quickName with the patterns they stand
// for on every string in v, names included.
func checkStrings(t testing.TB, v any) {
	t.Helper()
	check := func(str string) {
		if got, want := isSemver(str), semverPattern.MatchString(str); got != want {
			t.Errorf("isSemver(%q) = %v, the pattern says %v", str, got, want)
		}
		if quickName(str) && !namePattern.MatchString(str) {
			t.Errorf("quickName(%q) is true but the pattern does not match", str)
		}
	}
	switch v := v.(type) {
	case string:
		check(v)
	case map[string]any:
		for k, e := range v {
			check(k)
			checkStrings(t, e)
		}
	case []any:
		for _, e := range v {
			checkStrings(t, e)
		}
	}
}

// TestQuickValidSound generates valid flags and rules and nudged ones, and
// checks every one that the fast path claims valid against both schemas.
func TestQuickValidSound(t *testing.T) {
	s := newSoundness(t)
	n := 4000
	if testing.Short() {
		n = 400
	}
	r := rand.New(rand.NewPCG(5, 6))
	var flags, rules [2]struct{ claimed, checked, accepted int }
	count := func(c *struct{ claimed, checked, accepted int }, before [3]int) {
		c.claimed += s.claimed - before[0]
		c.checked += s.checked - before[1]
		c.accepted += s.accepted - before[2]
	}
	for i := 0; i < n; i++ {
		numbers := roundTrip
		if i%3 == 0 {
			numbers = roundTripNumbers
		}
		nudged := i % 4 // one in four left as generated
		var f, x any = genValidFlag(r), genValidRule(r, 0)
		for j := 0; j < nudged; j++ {
			f, x = nudge(r, f), nudge(r, x)
		}
		key := "flag"
		class := min(nudged, 1)
		if class == 1 && r.IntN(10) == 0 {
			key = pick(r, trickyNames)
		}
		before := [3]int{s.claimed, s.checked, s.accepted}
		s.flag(key, numbers(t, f))
		count(&flags[class], before)
		before = [3]int{s.claimed, s.checked, s.accepted}
		s.rule(key, numbers(t, x))
		count(&rules[class], before)

	}
	// The old generators, which make other mistakes.
	for i := 0; i < n/2; i++ {
		s.flag("flag", roundTrip(t, genFlag(r)))
		s.rule("rule", roundTrip(t, genRule(r, 0)))
	}
	for i, what := range []string{"as generated", "nudged"} {
		t.Logf("flags %s: %d, the library accepts %d, the fast path proves %d", what, flags[i].checked, flags[i].accepted, flags[i].claimed)
		t.Logf("rules %s: %d, the library accepts %d, the fast path proves %d", what, rules[i].checked, rules[i].accepted, rules[i].claimed)
	}
	t.Logf("all: %d checked, %d accepted by the library, %d proven by the fast path", s.checked, s.accepted, s.claimed)
	// Valid flags and rules as generated are all of known shapes.
	if flags[0] != (struct{ claimed, checked, accepted int }{flags[0].checked, flags[0].checked, flags[0].checked}) {
		t.Errorf("flags as generated: %+v; want all accepted and proven", flags[0])
	}
	if rules[0] != (struct{ claimed, checked, accepted int }{rules[0].checked, rules[0].checked, rules[0].checked}) {
		t.Errorf("rules as generated: %+v; want all accepted and proven", rules[0])
	}
	// The nudged ones must fall on both sides.
	for _, c := range []struct{ claimed, checked, accepted int }{flags[1], rules[1]} {
		if c.claimed < c.checked/10 || c.checked-c.accepted < c.checked/10 {
			t.Errorf("nudged: %+v; want both many proven and many rejected", c)
		}
	}
}

// TestQuickValidCases pins down a few answers of the fast path at the edges
// of the schemas.
func TestQuickValidCases(t *testing.T) {
	s := newSoundness(t)
	for _, tc := range []struct {
		rule string
		want bool
	}{
		{`{}`, true},
		{`{"var": "email"}`, true},
		{`{"var": "$flagd.timestamp"}`, true},
		{`{"var": "$flagd.other"}`, false}, // invalid
		{`{"var": "$flagd.other\nx"}`, false},
		{`{"var": 1}`, true},
		{`{"var": ["a", {"b": []}]}`, true},
		{`{"var": {}}`, true},
		{`{"$ref": "shared"}`, false}, // invalid as a whole rule
		{`{"==": [{"$ref": "shared"}, 1]}`, true},
		{`{"==": [{"$ref": 1}, 1]}`, false}, // invalid
		{`{"==": [{}, 1]}`, false},          // invalid: {} fits two forms
		{`{"==": [[{}], 1]}`, true},         // arrays are not looked into
		{`{"==": [1]}`, false},
		{`{"==": [1, 2, 3]}`, false},
		{`{"<": [1, 2, 3]}`, true},
		{`{"*": [1]}`, false},
		{`{"cat": []}`, false},
		{`{"!": [1, 2]}`, true},
		{`{"!": {}}`, false},
		{`{"!": [{}]}`, true},
		{`{"if": [true, "a", "b"], "==": [1, 1]}`, false}, // valid, but not proven
		{`{"starts_with": [{"var": "email"}, "@x"]}`, true},
		{`{"starts_with": [1, "@x"]}`, false},
		{`{"starts_with": [{"$ref": "x"}, "@x"]}`, false},
		{`{"sem_ver": [{"var": "v"}, "^", "1.2.3-rc.1+b.7"]}`, true},
		{`{"sem_ver": ["1.2.3", "^", "1.02.3"]}`, false},
		{`{"sem_ver": ["1.2.3", "==", "1.2.3"]}`, false},
		{`{"sem_ver": [{"var": "v", "x": 1}, "=", "1.2.3"]}`, false},
		{`{"fractional": [{"var": "id"}, ["a", 50], ["b", 50]]}`, true},
		{`{"fractional": [["a", 50], ["b"]]}`, true},
		{`{"fractional": [{"var": "id"}]}`, true},
		{`{"fractional": [["a", {"var": "w"}]]}`, true},
		{`{"fractional": ["id", ["a", 50]]}`, false},
		{`{"fractional": [["a", 2.5]]}`, false},
		{`{"fractional": [["a", -1]]}`, false},
		{`{"fractional": [["a", {"$ref": "w"}]]}`, false},
		{`{"fractional": [[{}, 1]]}`, false},
		{`{"fractional": []}`, false},
		{`{"some": [[1], {"var": ""}]}`, true},
		{`{"missing_some": [1, ["a"]]}`, true},
		{`{"missing": ["a", 1]}`, false},
	} {
		for _, useNumber := range []bool{false, true} {
			doc, err := decode([]byte(tc.rule), useNumber)
			if err != nil {
				t.Fatal(err)
			}
			if got := quickValidRule(doc); got != tc.want {
				t.Errorf("quickValidRule(%s) = %v, want %v (useNumber %v)", tc.rule, got, tc.want, useNumber)
			}
			s.rule("r", doc)
		}
	}
	for _, tc := range []struct {
		flag   string
		listed bool
		want   bool
	}{
		{`{"state": "ENABLED", "variants": {"on": true}}`, false, true},
		{`{"state": "ENABLED", "variants": {"on": true}}`, true, false}, // no key
		{`{"key": "f", "state": "ENABLED", "variants": {"on": true}}`, true, true},
		{`{"key": "", "state": "ENABLED", "variants": {"on": true}}`, true, false},
		{`{"key": 1, "state": "ENABLED", "variants": {"on": true}}`, false, true},
		{`{"state": "ENABLED", "variants": {}}`, false, false},
		{`{"state": "ENABLED", "variants": {"a": 1, "b": "x"}}`, false, false},
		{`{"state": "ENABLED", "variants": {"a": {}, "b": {"c": [1]}}}`, false, true},
		{`{"state": "ENABLED", "variants": {"a\nb": true}}`, false, false},
		{`{"state": "ENABLED", "variants": {"a": null}}`, false, false},
		{`{"state": "enabled", "variants": {"a": true}}`, false, false},
		{`{"state": "ENABLED", "variants": {"a": true}, "defaultVariant": 1}`, false, false},
		{`{"state": "ENABLED", "variants": {"a": true}, "defaultVariant": null, "targeting": {}}`, false, true},
		{`{"state": "ENABLED", "variants": {"a": true}, "targeting": {"$ref": "x"}}`, false, false},
		{`{"state": "ENABLED", "variants": {"a": true}, "metadata": {"n": 1, "b": false, "s": ""}}`, false, true},
		{`{"state": "ENABLED", "variants": {"a": true}, "metadata": {"n": null}}`, false, false},
		{`{"state": "ENABLED", "variants": {"a": true}, "extra": [1, {"x": null}]}`, false, true},
	} {
		doc, err := decode([]byte(tc.flag), false)
		if err != nil {
			t.Fatal(err)
		}
		if got := quickValidFlag(doc, tc.listed); got != tc.want {
			t.Errorf("quickValidFlag(%s, %v) = %v, want %v", tc.flag, tc.listed, got, tc.want)
		}
		s.flag("f", doc)
	}
	// Go values that encoding/json does not produce are left to the library.
	for _, x := range []any{
		map[string]any{"var": []any{int64(1)}},
		map[string]any{"==": []any{1, 2}},
		map[string]any{"in": []any{"x", []string{"a"}}},
	} {
		if quickValidRule(x) {
			t.Errorf("quickValidRule(%#v) = true", x)
		}
	}
	if quickValidFlag(map[string]any{"state": "ENABLED", "variants": map[string]any{"a": true}, "x": map[string]string{}}, false) {
		t.Error("quickValidFlag accepts a flag holding a map[string]string")
	}
}

func TestSemverAndNames(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	alphabet := []string{"0", "1", "9", "01", ".", ".", ".", "-", "+", "a", "Z", "-rc", "\n", "\u00e9", " ", "\xff", "\u2028"}
	for _, s := range trickyStrings {
		checkStrings(t, s)
	}
	for i := 0; i < 200000; i++ {
		var b []byte
		if r.IntN(2) == 0 {
			b = append(b, pick(r, versions)...)
		}
		for n := r.IntN(8); n > 0; n-- {
			b = append(b, pick(r, alphabet)...)
		}
		checkStrings(t, string(b))
	}
}

// TestQuickValidAllocs checks that the fast path allocates nothing.
func TestQuickValidAllocs(t *testing.T) {
	doc, err := decode(genFlags(100), false)
	if err != nil {
		t.Fatal(err)
	}
	root := doc.(map[string]any)
	flags := root["flags"].(map[string]any)
	allocs := testing.AllocsPerRun(10, func() {
		for k, f := range flags {
			if !quickName(k) || !quickValidFlag(f, false) {
				t.Fatal("a benchmark flag is not proven valid")
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run", allocs)
	}
}

// TestBenchmarkDocumentFastPath reports which share of the benchmark flags
// the fast path proves valid: all of them.
func TestBenchmarkDocumentFastPath(t *testing.T) {
	doc, err := decode(genFlags(10_000), false)
	if err != nil {
		t.Fatal(err)
	}
	root := doc.(map[string]any)
	proven := 0
	flags := root["flags"].(map[string]any)
	for k, f := range flags {
		if quickName(k) && quickValidFlag(f, false) {
			proven++
		}
	}
	for _, x := range root["$evaluators"].(map[string]any) {
		if !quickValidRule(x) {
			t.Errorf("shared rule %v not proven valid", x)
		}
	}
	t.Logf("%d of %d flags proven valid by the fast path", proven, len(flags))
	if proven != len(flags) {
		t.Errorf("only %d of %d flags proven valid", proven, len(flags))
	}
}

// fuzzSeeds adds the test documents and generated flags and rules to the
// corpus of a fuzz target working on JSON text.
func fuzzSeeds(f *testing.F) {
	patterns := []string{filepath.Join("testdata", "*.json")}
	dir, set := os.LookupEnv("FLAGD_SCHEMAS_DIR")
	if !set {
		dir = filepath.Join("..", "..", "shared", "flagd-schemas")
	}
	patterns = append(patterns, filepath.Join(dir, "json", "test", "*", "*", "*.json"), filepath.Join(dir, "json", "examples", "*.json"))
	for _, pattern := range patterns {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
	}
	r := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 100; i++ {
		var v any = genValidFlag(r)
		switch i % 3 {
		case 1:
			v = genValidRule(r, 0)
		case 2:
			v = map[string]any{"flags": map[string]any{"f": genValidFlag(r), "g": nudge(r, genValidFlag(r))},
				"$evaluators": map[string]any{"r": nudge(r, genValidRule(r, 0))}}
		}
		if i%2 == 1 {
			v = nudge(r, v)
		}
		data, _ := json.Marshal(v)
		f.Add(data)
	}
}

// FuzzQuickValid takes JSON text as a flag, as a rule and as a flag set, and
// checks all that the fast path claims valid against both schemas, as well
// as the equality of Validate's results with and without the fast path.
func FuzzQuickValid(f *testing.F) {
	fuzzSeeds(f)
	s := newSoundness(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		s.t = t
		for _, useNumber := range []bool{false, true} {
			doc, err := decode(data, useNumber)
			if err != nil {
				return
			}
			s.document(doc)
		}
	})
}

// FuzzQuickValidGenerated generates a valid flag set from the two seeds,
// nudges it a few times, and checks it like FuzzQuickValid.
func FuzzQuickValidGenerated(f *testing.F) {
	for i := uint64(0); i < 20; i++ {
		f.Add(i, i*7919, uint8(i))
	}
	s := newSoundness(f)
	f.Fuzz(func(t *testing.T, seed1, seed2 uint64, nudges uint8) {
		s.t = t
		r := rand.New(rand.NewPCG(seed1, seed2))
		var doc any
		if r.IntN(3) == 0 {
			doc = genValidRule(r, 0)
		} else {
			doc = genValidFlagSet(r)
		}
		for i := 0; i < int(nudges%4); i++ {
			doc = nudge(r, doc)
		}
		if seed1%2 == 0 {
			doc = roundTrip(t, doc)
		} else {
			doc = roundTripNumbers(t, doc)
		}
		s.document(doc)
	})
}
