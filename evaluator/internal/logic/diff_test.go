package logic

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sync"
	"testing"

	jsonlogic "github.com/diegoholiveira/jsonlogic/v3"
)

// The reference library keeps custom operators in a global registry; the
// test registers flagd's operators there once, backed by the same leaf
// functions the compiled nodes call, so that the comparison covers how
// JSONLogic evaluates around them.
var registerOracle = sync.OnceFunc(func() {
	jsonlogic.AddOperator(opStartsWith, func(values, _ any) any {
		vals, ok := values.([]any)
		if !ok {
			return nil
		}
		return stringAffix(true, vals)
	})
	jsonlogic.AddOperator(opEndsWith, func(values, _ any) any {
		vals, ok := values.([]any)
		if !ok {
			return nil
		}
		return stringAffix(false, vals)
	})
	jsonlogic.AddOperator(opSemVer, func(values, _ any) any {
		vals, ok := values.([]any)
		if !ok {
			return nil
		}
		return semVer(vals)
	})
	jsonlogic.AddOperator(opFractional, func(values, data any) any {
		vals, ok := values.([]any)
		if !ok {
			return nil
		}
		return fractional(vals, data, false)
	})
})

// oracle evaluates a rule with the reference library on the data flagd
// would build.
func oracle(rule any, env Env) (result any, err error) {
	registerOracle()
	data := map[string]any{}
	for k, v := range env.Context {
		data[k] = v
	}
	data[flagdKey] = map[string]any{"flagKey": env.FlagKey, "timestamp": float64(env.Timestamp)}
	// The library re-panics panics that are not errors; none are expected,
	// but a crash here must say what rule caused it.
	defer func() {
		if r := recover(); r != nil {
			result, err = nil, fmt.Errorf("oracle panicked: %v", r)
		}
	}()
	return jsonlogic.ApplyInterface(deepCopy(rule), data)
}

// sameValue compares results, taking NaN as equal to NaN and int 0 as
// distinct from float64 0 (as the library does).
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || (math.IsNaN(x) && math.IsNaN(y)))
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func checkAgainstOracle(t *testing.T, rule any, env Env) {
	t.Helper()
	want, wantErr := oracle(rule, env)
	prog, _ := Compile(rule, Config{})
	got, gotErr := prog.Eval(env)
	if (wantErr != nil) != (gotErr != nil) || !sameValue(got, want) {
		r, _ := json.Marshal(rule)
		d, _ := json.Marshal(env.Context)
		t.Fatalf("rule %s\ndata %s\n got %#v (err %v)\nwant %#v (err %v)", r, d, got, gotErr, want, wantErr)
	}
	// Evaluating twice gives the same answer: nothing is mutated.
	again, againErr := prog.Eval(env)
	if (againErr != nil) != (gotErr != nil) || !sameValue(again, got) {
		t.Fatalf("second evaluation differs: %#v vs %#v", again, got)
	}
}

// gen builds rules and data from fuzz input.
type gen struct {
	b   []byte
	pos int
}

func (g *gen) next() int {
	if g.pos >= len(g.b) {
		return 0
	}
	v := int(g.b[g.pos])
	g.pos++
	return v
}

func (g *gen) pick(n int) int { return g.next() % n }

var fuzzOps = []string{
	"var", "var", "var", "==", "===", "!=", "!==", "<", "<=", ">", ">=", "and", "or", "!", "!!",
	"if", "?:", "in", "cat", "substr", "+", "-", "*", "/", "%", "min", "max", "abs", "merge",
	"missing", "missing_some", "map", "filter", "reduce", "all", "none", "some", "set",
	"contains_all", "contains_any", "contains_none", "starts_with", "ends_with", "sem_ver",
	"fractional", "nope", "",
}

var fuzzStrings = []string{"", "a", "b", "abc", " x ", "1", "2.5", "-1", "true", "null",
	"email", "user.name", "arr.1", "$flagd.flagKey", "$flagd.timestamp", "targetingKey",
	"nested.deep.x", "current", "accumulator", "items", "1.2.3", "v2.0.0", "=", ">=", "^", "~", "@x.com",
	"1e400", "0x10", " ", ".", "a..b", "inf", "NaN"}

var fuzzNumbers = []float64{0, 1, -1, 2, 2.5, -0.5, 100, 1e21, 3, 1e300}

func (g *gen) literal(depth int) any {
	switch g.pick(9) {
	case 0:
		return nil
	case 1:
		return g.pick(2) == 0
	case 2, 3:
		return fuzzNumbers[g.pick(len(fuzzNumbers))]
	case 4, 5, 6:
		return fuzzStrings[g.pick(len(fuzzStrings))]
	case 7:
		if depth <= 0 {
			return "a"
		}
		n := g.pick(4)
		out := make([]any, n)
		for i := range out {
			out[i] = g.literal(depth - 1)
		}
		return out
	default:
		if depth <= 0 {
			return 1.0
		}
		n := g.pick(3)
		m := map[string]any{}
		for i := 0; i < n; i++ {
			m[fuzzStrings[g.pick(len(fuzzStrings))]] = g.literal(depth - 1)
		}
		return m
	}
}

func (g *gen) rule(depth int) any {
	if depth <= 0 || g.pick(3) == 0 {
		return g.literal(1)
	}
	op := fuzzOps[g.pick(len(fuzzOps))]
	var args any
	switch g.pick(6) {
	case 0:
		args = g.rule(depth - 1)
	default:
		n := g.pick(5)
		list := make([]any, n)
		for i := range list {
			list[i] = g.rule(depth - 1)
		}
		args = list
	}
	if op == "var" && g.pick(2) == 0 {
		args = fuzzStrings[g.pick(len(fuzzStrings))]
	}
	return map[string]any{op: args}
}

func (g *gen) context() map[string]any {
	ctx := map[string]any{
		"a":        g.literal(2),
		"b":        g.literal(2),
		"email":    []any{"x@y.com", "ballmer@macrosoft.com", "", 5.0}[g.pick(4)],
		"user":     map[string]any{"name": g.literal(1)},
		"arr":      []any{1.0, "two", g.literal(1)},
		"nested":   map[string]any{"deep": map[string]any{"x": g.literal(1)}},
		"integers": []any{1.0, 2.0, 3.0, 4.0},
		"version":  []any{"1.2.3", "v2.0.0", "2.0.0-alpha", 1.2, "bad"}[g.pick(5)],
		// Objects that fractional may get as its data inside "map" and
		// the like, where flagd decodes "$flagd" to find the flag key.
		"items": []any{
			map[string]any{"targetingKey": "t", "$flagd": []any{
				map[string]any{"flagKey": "F"}, map[string]any{"FlagKey": "F"},
				map[string]any{"flagKey": "F", "timestamp": 1.5}, map[string]any{"flagKey": 5.0},
				map[string]any{"flagkey": "F", "FLAGKEY": "G"}, "F", nil,
			}[g.pick(7)]},
			g.literal(1),
		},
	}
	switch g.pick(3) {
	case 0:
		ctx["targetingKey"] = []any{"user-1", "", 5.0}[g.pick(3)]
	case 1:
		ctx["$flagd"] = "spoofed"
	}
	if g.pick(4) == 0 {
		return nil
	}
	return ctx
}

func FuzzDifferential(f *testing.F) {
	for _, seed := range [][]byte{
		{}, {1, 2, 3}, {7, 3, 4, 1, 9, 2, 5, 1, 8}, []byte("jsonlogic"),
		[]byte{14, 1, 2, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
		[]byte("the quick brown fox jumps over the lazy dog 0123456789"),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		g := &gen{b: b}
		rule := g.rule(4)
		env := Env{Context: g.context(), FlagKey: "flag-" + fuzzStrings[g.pick(len(fuzzStrings))], Timestamp: 1700000000}
		checkAgainstOracle(t, rule, env)
	})
}

// TestDifferentialCorpus runs a fixed set of rules, each chosen to reach a
// quirk of the reference library, against it.
func TestDifferentialCorpus(t *testing.T) {
	ctx := map[string]any{
		"email": "ballmer@macrosoft.com", "num": 3.0, "s": " padded ", "arr": []any{1.0, "2", nil},
		"obj": map[string]any{"var": "email"}, "pies": []any{map[string]any{"filling": "apple"}},
		"integers": []any{1.0, 2.0, 3.0}, "user": map[string]any{"name": "jack"}, "targetingKey": "tk",
		"multi": map[string]any{"a": 1.0, "b": 2.0},
	}
	rules := []string{
		`{"if":[{"in":["@macrosoft.com",{"var":"email"}]},"on","off"]}`,
		`{"if":[true,{"var":"obj"}]}`,
		`{"if":[true,{"var":"multi"}]}`,
		`{"if":[false,1,{"var":"user"}]}`,
		`{"cat":["a",{"var":"s"}," "]}`,
		`{"cat":[{"var":"s"}]}`,
		`{"cat":"x"}`,
		`{"cat":5}`,
		`{"cat":["a",true]}`,
		`{"in":[1,["1",2]]}`,
		`{"in":[1,[true]]}`,
		`{"in":["a",[["a","c"]]]}`,
		`{"in":[2,[[1,3]]]}`,
		`{"in":[{"var":"obj"},[{"var":"obj"}]]}`,
		`{"in":["x","xyz"]}`,
		`{"in":[1,"xyz"]}`,
		`{"in":[]}`,
		`{"-":[]}`,
		`{"===":[{"-":[]},0]}`,
		`{"/":[]}`,
		`{"+":"3"}`,
		`{"+":null}`,
		`{"*":5}`,
		`{"%":[1,0]}`,
		`{"substr":["abcdef",4,-3]}`,
		`{"substr":["abcdef",-2]}`,
		`{"substr":["abcdef",1,2,3]}`,
		`{"var":["missing","dflt"]}`,
		`{"var":["missing"]}`,
		`{"var":[5]}`,
		`{"var":true}`,
		`{"var":null}`,
		`{"var":""}`,
		`{"var":"."}`,
		`{"var":"arr.1"}`,
		`{"var":"arr.x"}`,
		`{"var":"arr.-1"}`,
		`{"var":"num.x"}`,
		`{"var":"$flagd.flagKey"}`,
		`{"var":"$flagd"}`,
		`{"var":{"cat":["em","ail"]}}`,
		`{"missing":["email","nope",["x"]]}`,
		`{"missing":"nope"}`,
		`{"missing":5}`,
		`{"missing_some":[1,["email","nope"]]}`,
		`{"missing_some":[2,["email","nope"]]}`,
		`{"map":[{"var":"integers"},{"*":[{"var":""},2]}]}`,
		`{"map":[[1,2],{"var":""}]}`,
		`{"map":["abc",1]}`,
		`{"filter":[{"var":"integers"},{"%":[{"var":""},2]}]}`,
		`{"filter":[{"var":"integers"},{">":[{"var":""},{"var":"num"}]}]}`,
		`{"reduce":[{"var":"integers"},{"+":[{"var":"current"},{"var":"accumulator"}]},0]}`,
		`{"reduce":[{"var":"integers"},{"cat":[{"var":"current"},{"var":"accumulator"}]},""]}`,
		`{"reduce":[{"var":"integers"},{"var":"current"},true]}`,
		`{"reduce":[{"var":"integers"},{"var":"current"},null]}`,
		`{"reduce":[{"var":"arr"},5,0]}`,
		`{"reduce":[[],5,0]}`,
		`{"all":[[1,2,3],{">":[{"var":""},0]}]}`,
		`{"all":[[],{">":[{"var":""},0]}]}`,
		`{"all":["abc",{">":[{"var":""},0]}]}`,
		`{"some":[{"var":"pies"},{"==":[{"var":"filling"},"apple"]}]}`,
		`{"some":[[1,2],{"==":[{"var":"num"},3]}]}`,
		`{"none":[[-3,-2],{">":[{"var":""},0]}]}`,
		`{"none":[[1],{"var":"email"}]}`,
		`{"merge":[[1,2],3,[[4]]]}`,
		`{"merge":null}`,
		`{"merge":"a"}`,
		`{"max":[1,"3",2]}`,
		`{"max":[]}`,
		`{"min":[1,true]}`,
		`{"abs":-2}`,
		`{"abs":[]}`,
		`{"!":[]}`,
		`{"!":[0,1]}`,
		`{"!!":"0"}`,
		`{"and":[1,"",2]}`,
		`{"and":[]}`,
		`{"and":true}`,
		`{"or":[0,false,"x"]}`,
		`{"or":[{"nope":1},1]}`,
		`{"or":[1,{"nope":1}]}`,
		`{"<":[1,2,3]}`,
		`{"<=":["a","b"]}`,
		`{">":[{"var":"arr"},0]}`,
		`{">=":[null,0]}`,
		`{"==":[null,null]}`,
		`{"==":["1",1]}`,
		`{"==":[true,"1"]}`,
		`{"==":5}`,
		`{"!=":[1]}`,
		`{"===":[1]}`,
		`{"!==":[1,"1"]}`,
		`{"set":[{"var":"multi"},"c",{"+":[1,2]}]}`,
		`{"set":[1]}`,
		`{"set":[{"var":"multi"},5,1]}`,
		`{"contains_all":[[1,"a"],["a",1.0]]}`,
		`{"contains_any":[[{"var":"obj"}],[{"var":"obj"}]]}`,
		`{"contains_none":[1,2]}`,
		`{"?:":[true,1,2]}`,
		`{"if":[]}`,
		`{"if":5}`,
		`{"if":[1]}`,
		`{"if":[0,1]}`,
		`{"nope":[1]}`,
		`{"a":1,"b":2}`,
		`{}`,
		`[{"var":"email"},1,[]]`,
		`[]`,
		`"plain"`,
		`{"fractional":[{"cat":[{"var":"$flagd.flagKey"},{"var":"user.name"}]},["clubs",25],["diamonds",25],["hearts",25],["spades",25]]}`,
		`{"fractional":[["heads"],["tails",1]]}`,
		`{"fractional":[{"cat":[" ",{"var":"user.name"}," "]},["a",1],["b",1],["c",1]]}`,
		`{"fractional":[{"cat":[{"var":"num"}]},["a",1],["b",1],["c",1]]}`,
		`{"fractional":[{"cat":[{"var":"s"}]},["a",1],["b",1],["c",1]]}`,
		`{"fractional":[{"cat":["x",true]},["a",1],["b",1]]}`,
		`{"fractional":[{"cat":[{"var":"nothing"},{"var":"arr.0"}]},["a",1],["b",0],["c",3]]}`,
		`{"fractional":[{"cat":["x",{"var":"user"}]},["a",1],["b",1]]}`,
		`{"map":[[1,2],{"fractional":[{"cat":["k",{"var":""}]},["a",1],["b",1]]}]}`,
		`{"map":[[true],{"fractional":[{"cat":["k",{"var":""}]},["a",1],["b",1]]}]}`,
		`{"fractional":[{"var":"missing"},["a",1]]}`,
		`{"fractional":[["a",{"if":[true,2,0]}],[{"var":"email"},1]]}`,
		`{"fractional":5}`,
		`{"map":[{"var":"items"},{"fractional":[["a",1],["b",1],["c",1]]}]}`,
		`{"map":[{"var":"items"},{"fractional":[null,["a",1],["b",1],["c",1]]}]}`,
		`{"sem_ver":[{"var":"num"},">","1.0.0"]}`,
		`{"starts_with":[{"var":"email"},"ball"]}`,
		`{"ends_with":[{"var":"num"},"3"]}`,
	}
	for _, text := range rules {
		var rule any
		if err := json.Unmarshal([]byte(text), &rule); err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		t.Run(text, func(t *testing.T) {
			checkAgainstOracle(t, rule, Env{Context: ctx, FlagKey: "flag", Timestamp: 1700000000})
		})
	}
}
