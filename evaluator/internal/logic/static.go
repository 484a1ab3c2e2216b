package logic

// What can be known of a rule without evaluating it, for the parser's
// lint: whether a part reads nothing from the evaluation data (and so has
// one value, computed here by the same nodes evaluation uses), JSONLogic's
// truth, and which operators always yield a boolean.

// Truthy reports whether JSONLogic takes v as true.
func Truthy(v any) bool { return isTrue(v) }

// Constant returns the value of a rule that reads nothing from the
// evaluation data (no "var", "missing", "missing_some", "fractional" nor
// anything that names variables at evaluation time), computed as
// evaluation computes it; false when the rule may read data, or fails.
// Integers are returned as float64, as decoded JSON holds them.
func Constant(rule any) (any, bool) {
	switch x := rule.(type) {
	case nil, bool, float64, string:
		return x, true
	case []any:
		if plainArray(x, 0) {
			return x, true // evaluates to itself
		}
	case map[string]any:
	default:
		return nil, false
	}
	budget := maxConstantNodes
	if readsData(rule, 0, &budget) {
		return nil, false
	}
	c := &compiler{dynamic: true}
	p := &Program{root: c.compile(rule)}
	v, err := p.Eval(Env{})
	if err != nil {
		return nil, false
	}
	if i, ok := v.(int); ok {
		v = float64(i)
	}
	return v, true
}

// plainArray reports whether a holds only scalars and such arrays, which
// evaluate to themselves.
func plainArray(a []any, depth int) bool {
	if depth > maxConstantDepth || len(a) > maxConstantNodes {
		return false
	}
	for _, e := range a {
		switch x := e.(type) {
		case nil, bool, float64, string:
		case []any:
			if !plainArray(x, depth+1) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// maxConstantDepth bounds the nesting Constant looks into, and
// maxConstantNodes the values: larger rules are taken as reading data (a
// rule's $refs, expanded, may hold exponentially many).
const (
	maxConstantDepth = 64
	maxConstantNodes = 10000
)

// readsData reports whether a rule may read the evaluation data, or is
// deeper or larger than Constant looks (budget counts the values left).
func readsData(rule any, depth int, budget *int) bool {
	*budget--
	if depth > maxConstantDepth || *budget < 0 {
		return true
	}
	switch x := rule.(type) {
	case map[string]any:
		if len(x) != 1 {
			return false // a literal
		}
		for op, args := range x {
			switch op {
			case "var", "missing", "missing_some", "set", opFractional:
				return true
			}
			if !knownOps[op] {
				return true // fails when reached: not a constant
			}
			return readsData(args, depth+1, budget)
		}
	case []any:
		for _, e := range x {
			if readsData(e, depth+1, budget) {
				return true
			}
		}
	}
	return false
}

// IsBooleanOperator reports whether op always yields a boolean (when it
// does not fail): the comparisons, "!", "!!", "in" and the "contains_"
// operators.
func IsBooleanOperator(op string) bool {
	switch op {
	case "==", "!=", "===", "!==", "<", "<=", ">", ">=", "!", "!!", "in",
		"contains_all", "contains_any", "contains_none":
		return true
	}
	return false
}
