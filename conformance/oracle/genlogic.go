package oracle

import (
	"fmt"
	"math/rand/v2"
	"strconv"
)

// logicOps are the JSONLogic operators and flagd's custom ones the
// generator uses.
var logicOps = []string{
	"var", "missing", "missing_some", "if", "?:", "==", "===", "!=", "!==", "!", "!!",
	"or", "and", ">", ">=", "<", "<=", "max", "min", "+", "-", "*", "/", "%",
	"map", "filter", "reduce", "all", "none", "some", "merge", "in", "cat", "substr", "log",
	"fractional", "sem_ver", "starts_with", "ends_with",
}

// exprGen makes random JSONLogic expressions.
type exprGen struct {
	r *rand.Rand
	// strs collects the string literals used, as candidate variant names.
	strs []string
}

func (g *exprGen) intn(n int) int        { return g.r.IntN(n) }
func (g *exprGen) chance(p float64) bool { return g.r.Float64() < p }

func pick[T any](g *exprGen, xs []T) T { return xs[g.intn(len(xs))] }

var ctxKeys = []string{"x", "y", "n", "s", "b", "arr", "obj", "targetingKey", "email", "version", "locale", "age", "tags", "nil", "ünï", "user"}

var varPaths = []string{"x", "y", "n", "s", "b", "arr", "obj", "obj.a", "obj.b.c", "targetingKey", "email",
	"version", "locale", "age", "tags", "tags.0", "arr.1", "nil", "missingKey", "ünï", "user.name", "user.id",
	"$flagd.flagKey", "$flagd.nope", "", "x.y", "arr.10"} // not $flagd.timestamp: it changes between runs

// scalar literals, some as raw JSON to keep their formatting.
func (g *exprGen) numLit() any {
	return pick(g, []any{0, 1, -1, 2, 3, 5, 10, 100, 1.5, -2.5, 0.1, raw("1.0"), raw("1e2"), raw("1e21"),
		raw("12345678901234567890"), raw("9007199254740993"), raw("-0"), raw("1e-7"), 7, 42, 3.14159})
}

func (g *exprGen) strLit() any {
	s := pick(g, []string{"", "a", "b", "ab", "abc", "on", "off", "1", "10", "1.5", "-3", "0", "1e3", " 2 ",
		"true", "false", "null", "alice", "bob@example.com", "@example.com", "ünïcödé", "😀", "Hello", "1.2.3",
		"v2.0.0-beta.1", "x", "y", "[1,2]", "{}", "NaN", "Infinity"})
	g.strs = append(g.strs, s)
	return s
}

func (g *exprGen) literal() any {
	switch g.intn(10) {
	case 0, 1, 2:
		return g.numLit()
	case 3, 4, 5:
		return g.strLit()
	case 6:
		return pick(g, []any{true, false})
	case 7:
		return nil
	case 8:
		return pick(g, []any{[]any{}, []any{1, 2, 3}, []any{"a", "b"}, []any{1, "a", nil, true}, []any{[]any{1}, []any{2, 3}}})
	default:
		return pick(g, []any{obj{}, obj{{"a", 1}}, obj{{"b", obj{{"c", "d"}}}}})
	}
}

func (g *exprGen) varRef() any {
	p := pick(g, varPaths)
	switch g.intn(8) {
	case 0:
		return obj{{"var", []any{p}}}
	case 1:
		return obj{{"var", []any{p, g.literal()}}}
	case 2:
		return obj{{"var", pick(g, []any{[]any{}, 0, 1, nil, []any{nil}, true, []any{p, 1, 2}})}}
	default:
		return obj{{"var", p}}
	}
}

// operand is a literal, a var or a nested expression.
func (g *exprGen) operand(depth int) any {
	switch n := g.intn(10); {
	case n < 4:
		return g.literal()
	case n < 7 || depth <= 0:
		return g.varRef()
	default:
		return g.expr(depth - 1)
	}
}

func (g *exprGen) operands(depth, min, max int) []any {
	n := min + g.intn(max-min+1)
	out := make([]any, 0, n)
	for range n {
		out = append(out, g.operand(depth))
	}
	return out
}

// expr is a random expression of a random operator.
func (g *exprGen) expr(depth int) any {
	return g.op(pick(g, logicOps), depth)
}

// argsOddly returns args as flagd will receive them: mostly as an array,
// sometimes as a lone value or too few/too many.
func (g *exprGen) argsOddly(args []any, depth int) any {
	switch g.intn(12) {
	case 0:
		if len(args) > 0 {
			return args[0] // a lone argument, not an array
		}
		return nil
	case 1:
		if len(args) > 0 {
			return args[:len(args)-1] // one missing
		}
	case 2:
		return append(args, g.operand(depth)) // one too many
	case 3:
		return []any{}
	}
	return args
}

// op is an expression of operator op with arguments fit for it, now and
// then odd ones.
func (g *exprGen) op(op string, depth int) any {
	o := func(args any) any { return obj{{op, args}} }
	switch op {
	case "var":
		return g.varRef()
	case "missing":
		return o(pick(g, []any{
			[]any{pick(g, varPaths), pick(g, varPaths)}, pick(g, varPaths), []any{[]any{"x", "y"}}, []any{}, []any{1, nil},
			[]any{"x", "missingKey", "obj.a"}, []any{obj{{"merge", []any{[]any{"x"}, "y"}}}},
		}))
	case "missing_some":
		return o(pick(g, []any{
			[]any{1, []any{"x", "y"}}, []any{0, []any{}}, []any{"1", []any{"x"}}, []any{2, []any{"x", "y", "missingKey"}},
			[]any{1}, []any{1, "x"}, []any{nil, []any{"x"}}, []any{5, []any{"x", "y"}}, []any{-1, []any{"missingKey"}},
		}))
	case "if", "?:":
		n := 3
		if op == "if" {
			n = pick(g, []int{0, 1, 2, 3, 3, 3, 4, 5, 5})
		} else if g.chance(0.2) {
			n = pick(g, []int{1, 2, 4})
		}
		args := []any{}
		for i := range n {
			if i%2 == 0 && i < n-1 {
				args = append(args, g.operand(depth))
			} else {
				args = append(args, g.branch())
			}
		}
		if g.chance(0.1) && n > 0 {
			return o(args[0])
		}
		return o(args)
	case "==", "===", "!=", "!==":
		return o(g.argsOddly(g.operands(depth, 2, 2), depth))
	case "!", "!!":
		if g.chance(0.4) {
			return o(g.operand(depth))
		}
		return o(g.operands(depth, 0, 2))
	case "or", "and":
		return o(g.operands(depth, 0, 4))
	case ">", ">=", "<", "<=":
		return o(g.operands(depth, 1, 4)) // 3: between
	case "max", "min":
		if g.chance(0.15) {
			return o(g.operand(depth))
		}
		return o(g.operands(depth, 0, 4))
	case "+", "*":
		if g.chance(0.15) {
			return o(g.operand(depth))
		}
		return o(g.operands(depth, 0, 4))
	case "-":
		return o(g.operands(depth, 0, 3))
	case "/", "%":
		return o(g.argsOddly(g.operands(depth, 2, 2), depth))
	case "map", "filter", "all", "none", "some":
		arr := pick(g, []any{g.arrayOperand(depth), g.operand(depth)})
		lambda := g.lambda(op)
		switch g.intn(10) {
		case 0:
			return o([]any{arr})
		case 1:
			return o(arr)
		case 2:
			return o([]any{arr, lambda, g.literal()})
		}
		return o([]any{arr, lambda})
	case "reduce":
		arr := g.arrayOperand(depth)
		fn := pick(g, []any{
			obj{{"+", []any{obj{{"var", "current"}}, obj{{"var", "accumulator"}}}}},
			obj{{"*", []any{obj{{"var", "current"}}, obj{{"var", "accumulator"}}}}},
			obj{{"cat", []any{obj{{"var", "accumulator"}}, obj{{"var", "current"}}}}},
			obj{{"max", []any{obj{{"var", "current"}}, obj{{"var", "accumulator"}}}}},
			obj{{"var", "current.a"}},
		})
		switch g.intn(8) {
		case 0:
			return o([]any{arr, fn})
		case 1:
			return o([]any{arr})
		}
		return o([]any{arr, fn, pick(g, []any{0, 1, "", nil, []any{}, g.literal()})})
	case "merge":
		return o(g.operands(depth, 0, 3))
	case "in":
		hay := pick(g, []any{g.strLit(), []any{"a", "b", 1, nil}, g.varRef(), g.literal(), "alice,bob", []any{}})
		args := []any{g.operand(depth), hay}
		if g.chance(0.15) {
			return o(g.argsOddly(args, depth))
		}
		return o(args)
	case "cat":
		if g.chance(0.15) {
			return o(g.operand(depth))
		}
		return o(g.operands(depth, 0, 4))
	case "substr":
		s := pick(g, []any{g.strLit(), g.varRef(), g.literal(), "abcdef", "ünïcödé😀"})
		args := []any{s, pick(g, []any{0, 1, 2, -1, -3, 10, "1", 1.5, nil, -10})}
		if g.chance(0.6) {
			args = append(args, pick(g, []any{0, 1, 2, -1, -2, 10, "2", nil, 2.5}))
		}
		if g.chance(0.15) {
			return o(g.argsOddly(args, depth))
		}
		return o(args)
	case "log":
		if g.chance(0.5) {
			return o(g.operand(depth))
		}
		return o([]any{g.operand(depth)})
	case "fractional":
		return g.fractional(depth)
	case "sem_ver":
		return g.semver()
	case "starts_with", "ends_with":
		subj := pick(g, []any{obj{{"var", "email"}}, obj{{"var", "s"}}, g.varRef(), g.strLit(), g.literal()})
		pre := pick(g, []any{"a", "ali", "@example.com", "com", "", "ünï", "1", 1, nil, []any{"a"}, obj{{"var", "s"}}})
		args := []any{subj, pre}
		if g.chance(0.25) {
			return o(g.argsOddly(args, depth))
		}
		return o(args)
	}
	panic("unknown op " + op)
}

// branch is an if result: mostly a variant name.
func (g *exprGen) branch() any {
	if g.chance(0.75) {
		return pick(g, []any{"on", "off", "a", "b", "x", "missing-variant"})
	}
	return pick(g, []any{nil, 1, true, 1.5, []any{"on"}, obj{{"var", "s"}}})
}

func (g *exprGen) arrayOperand(depth int) any {
	return pick(g, []any{
		[]any{1, 2, 3}, []any{"a", "b"}, []any{}, []any{1, "2", nil, true}, []any{obj{{"a", 1}}, obj{{"a", 2}}},
		obj{{"var", "arr"}}, obj{{"var", "tags"}}, obj{{"var", "missingKey"}}, obj{{"var", "s"}},
		obj{{"merge", []any{[]any{1}, 2, obj{{"var", "arr"}}}}},
	})
}

func (g *exprGen) lambda(op string) any {
	return pick(g, []any{
		obj{{">", []any{obj{{"var", ""}}, 1}}},
		obj{{"==", []any{obj{{"var", ""}}, "a"}}},
		obj{{"*", []any{obj{{"var", ""}}, 2}}},
		obj{{"var", "a"}},
		obj{{"var", ""}},
		obj{{"cat", []any{obj{{"var", ""}}, "!"}}},
		obj{{"!", obj{{"var", ""}}}},
		true, 1, nil,
	})
}

func (g *exprGen) fractional(depth int) any {
	var buckets []any
	n := pick(g, []int{1, 2, 2, 3, 4, 0})
	names := []any{"on", "off", "a", "b", "x"}
	for i := range n {
		var name any = names[i%len(names)]
		if g.chance(0.1) {
			name = pick(g, []any{1, nil, true, "missing-variant"})
		}
		w := pick(g, []any{50, 25, 1, 3, 7, 100, 0, 33, 34})
		if g.chance(0.12) {
			w = pick(g, []any{-5, 1.5, "50", nil, raw("1e2")})
		}
		b := []any{name, w}
		if g.chance(0.1) {
			b = pick(g, [][]any{{name}, {name, w, 3}, {}})
		}
		buckets = append(buckets, b)
	}
	var args []any
	switch g.intn(6) {
	case 0, 1:
		args = buckets
	case 2:
		args = append([]any{obj{{"var", "email"}}}, buckets...)
	case 3:
		args = append([]any{obj{{"cat", []any{obj{{"var", "$flagd.flagKey"}}, obj{{"var", "targetingKey"}}}}}}, buckets...)
	case 4:
		args = append([]any{pick(g, []any{obj{{"var", "n"}}, obj{{"var", "x"}}, 42, nil, true, obj{{"var", "missingKey"}}})}, buckets...)
	default:
		args = append([]any{pick(g, []any{"static-key", "", "ünï"})}, buckets...)
	}
	if g.chance(0.05) {
		return obj{{"fractional", pick(g, []any{nil, "a", 1})}}
	}
	return obj{{"fractional", args}}
}

var semverOps = []any{"=", "!=", "<", "<=", ">", ">=", "^", "~", "==", "", "x", nil, 1}
var semvers = []any{"1.2.3", "v1.2.3", "1.2", "1", "1.2.3-alpha", "1.2.3-alpha.1", "1.2.3+build.5", "2.0.0",
	"0.0.1", "1.10.0", "01.2.3", "x.y.z", "", "1.2.3.4", "V1.2.3", 1, 1.2, nil, "1.2.3-rc.1+b"}

func (g *exprGen) semver() any {
	subj := pick(g, []any{obj{{"var", "version"}}, obj{{"var", "version"}}, pick(g, semvers), g.varRef()})
	args := []any{subj, pick(g, semverOps[:8]), pick(g, semvers)}
	if g.chance(0.2) {
		args[1] = pick(g, semverOps)
	}
	if g.chance(0.15) {
		return obj{{"sem_ver", g.argsOddly(args, 0)}}
	}
	return obj{{"sem_ver", args}}
}

// candidateNames are variant names a targeting result may equal.
var candidateNames = []string{"", "0", "1", "2", "3", "-1", "1.5", "0.5", "true", "false", "null", "a", "b",
	"ab", "on", "off", "x", "alice", "[object Object]", "1,2", "NaN", "Infinity", "undefined", "10", "abc"}

func (g *exprGen) contextValue() any {
	switch g.intn(9) {
	case 0, 1:
		return g.numLit()
	case 2, 3:
		return g.strLit()
	case 4:
		return pick(g, []any{true, false, nil})
	case 5:
		return pick(g, []any{[]any{1, 2, 3}, []any{"a", "b"}, []any{}, []any{1, "a", nil}, []any{obj{{"a", 1}}}})
	case 6:
		return pick(g, []any{obj{{"a", 1}, {"b", obj{{"c", "d"}}}}, obj{}, obj{{"name", "ünï"}, {"id", 7}}})
	default:
		return pick(g, semvers)
	}
}

// context is an evaluation context.
func (g *exprGen) context() obj {
	var c obj
	n := 2 + g.intn(6)
	seen := map[string]bool{}
	for range n {
		k := pick(g, ctxKeys)
		if seen[k] {
			continue
		}
		seen[k] = true
		v := g.contextValue()
		switch k {
		case "targetingKey":
			v = pick(g, []any{"user-1", "user-2", "alice", "", "ünï😀", 42, nil, "bob@example.com"})
		case "email":
			v = pick(g, []any{"alice@example.com", "bob@example.org", "", 7, nil})
		case "version":
			v = pick(g, semvers)
		case "user":
			v = obj{{"name", pick(g, []any{"alice", "bob", 1})}, {"id", g.numLit()}}
		}
		c = append(c, kv{k, v})
	}
	return c
}

func fmtKey(prefix string, i int) string { return fmt.Sprintf("%s%02d", prefix, i) }

// numberForms are the ways numbers print (cat gives a number's shortest
// form, %v style).
var numberForms = []string{"1e+21", "1e21", "1.2345678901234567e+19", "12345678901234567890", "9007199254740992",
	"9007199254740993", "100", "0.1", "1e-07", "1e-7", "-0", "3.14159", "42", "7", "5", "-2.5", "4", "6", "8", "9",
	"0.30000000000000004", "3.5", "2.5", "-3", "-2", "20", "1000", "1e+2", "Infinity", "-Infinity"}

// stringForms are the string forms of a context value's scalars.
func stringForms(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case int:
		return []string{strconv.Itoa(x)}
	case float64:
		return []string{strconv.FormatFloat(x, 'f', -1, 64), strconv.FormatFloat(x, 'g', -1, 64)}
	case raw:
		return []string{string(x)}
	case bool:
		return []string{strconv.FormatBool(x)}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, stringForms(e)...)
		}
		return out
	case obj:
		var out []string
		for _, m := range x {
			out = append(out, stringForms(m.V)...)
		}
		return out
	}
	return nil
}

// literalForms are the string forms of the literals in an expression, and
// of pairs of them concatenated.
func literalForms(e any) []string {
	var lits []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case obj:
			for _, m := range x {
				walk(m.V)
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		default:
			lits = append(lits, stringForms(v)...)
		}
	}
	walk(e)
	out := append([]string{}, lits...)
	for i := 0; i+1 < len(lits) && i < 6; i++ {
		out = append(out, lits[i]+lits[i+1])
	}
	return out
}
