package logic

import (
	"bytes"
	"math"
	"strings"
)

// Operators lists every operator the compiler knows, for validation.
var knownOps = map[string]bool{
	"and": true, "or": true, "filter": true, "map": true, "reduce": true, "all": true,
	"none": true, "some": true, "in": true, "missing": true, "missing_some": true,
	"var": true, "set": true, "cat": true, "substr": true, "merge": true, "if": true,
	"?:": true, "max": true, "min": true, "+": true, "-": true, "*": true, "/": true,
	"%": true, "abs": true, "!": true, "!!": true, "===": true, "!==": true, "<": true,
	"<=": true, ">": true, ">=": true, "==": true, "!=": true, "contains_all": true,
	"contains_any": true, "contains_none": true,
	opFractional: true, opSemVer: true, opStartsWith: true, opEndsWith: true,
}

// IsOperator reports whether name is an operator that rules may use.
func IsOperator(name string) bool { return knownOps[name] }

const (
	opFractional = "fractional"
	opSemVer     = "sem_ver"
	opStartsWith = "starts_with"
	opEndsWith   = "ends_with"
)

func (c *compiler) compileOp(op string, raw any) node {
	switch op {
	case "var":
		return c.compileVar(raw)
	case "and", "or":
		return c.compileAndOr(op == "and", raw)
	case "if", "?:":
		return c.compileIf(op, raw)
	case "filter", "map", "reduce", "all", "none", "some":
		return c.compileIter(op, raw)
	case opFractional:
		return newFractionalNode(c.args(raw), raw, c.cfg.FractionalCBOR)
	}
	code, ok := simpleOps[op]
	if code == opMissing || code == opMissingSome || code == opSet {
		c.clock = true // they read variables named at evaluation time
	}
	if !ok {
		if !c.dynamic {
			c.diags = append(c.diags, Diagnostic{Pointer: string(c.path), Message: "unknown operator \"" + op + "\""})
		}
		return failNode{op: op, msg: "the operator \"" + op + "\" is not supported"}
	}
	return &opNode{code: code, a: c.args(raw), cfg: c.cfg}
}

// ---- var ----

type varNode struct{ a args }

func (n *varNode) eval(data any) any { return getVar(n.a.value(data), data) }

func (c *compiler) compileVar(raw any) node {
	n := c.compileVarNode(raw)
	if vp, ok := n.(*varPath); !ok || vp.mayReadClock() {
		c.clock = true
	}
	return n
}

func (c *compiler) compileVarNode(raw any) node {
	switch x := raw.(type) {
	case string:
		if x != "" {
			return newVarPath(c.internedString(x), nil)
		}
	case []any:
		// ["path"] or ["path", default] with constant parts.
		if (len(x) == 1 || len(x) == 2) && isConstPath(x[0]) {
			var def any
			if len(x) == 2 {
				if !isConstant(x[1]) {
					break
				}
				def = x[1]
			}
			return newVarPath(c.internedString(x[0].(string)), def)
		}
	}
	return &varNode{a: c.args(raw)}
}

func isConstPath(v any) bool {
	s, ok := v.(string)
	return ok && s != ""
}

// isConstant reports whether parseValues leaves v as it is.
func isConstant(v any) bool {
	switch x := v.(type) {
	case nil, bool, float64, string:
		return true
	case []any:
		return len(x) == 0
	}
	return false
}

// ---- and / or ----

type andOrNode struct {
	and   bool
	elems []node
	bad   string // the raw argument is not an array
}

func (c *compiler) compileAndOr(and bool, raw any) node {
	s, ok := raw.([]any)
	if !ok {
		op := "or"
		if and {
			op = "and"
		}
		return failNode{op: op, msg: "and/or expects an array, got " + typeName(raw)}
	}
	n := &andOrNode{and: and, elems: make([]node, len(s))}
	for i, e := range s {
		n.elems[i] = c.compileAt(i, e)
	}
	return n
}

func (n *andOrNode) eval(data any) any {
	var last any
	for _, e := range n.elems {
		last = e.eval(data)
		if isTrue(last) != n.and {
			return last
		}
	}
	return last
}

// ---- if ----

type ifNode struct {
	clauses []node
	cfg     Config
	op      string // "if" or "?:", for explain
}

func (c *compiler) compileIf(op string, raw any) node {
	s, ok := raw.([]any)
	if !ok {
		return failNode{op: op, msg: "if expects an array, got " + typeName(raw)}
	}
	if len(s) == 0 {
		return constNode{nil}
	}
	n := &ifNode{clauses: make([]node, len(s)), cfg: c.cfg, op: op}
	for i, e := range s {
		n.clauses[i] = c.compileAt(i, e)
	}
	return n
}

func (n *ifNode) eval(data any) any {
	l := len(n.clauses)
	for i := 0; i < l-1; i += 2 {
		if isTrue(n.clauses[i].eval(data)) {
			return n.clause(i+1, data)
		}
	}
	if l%2 == 1 {
		return n.clause(l-1, data)
	}
	return nil
}

// clause evaluates a branch; an object it yields is applied once more, as
// the library does.
func (n *ifNode) clause(i int, data any) any {
	v := n.clauses[i].eval(data)
	if m, ok := v.(map[string]any); ok {
		return applyDynamic(m, data, n.cfg)
	}
	return v
}

// ---- the eager operators ----

type opCode int

const (
	opIn opCode = iota
	opMissing
	opMissingSome
	opSet
	opCat
	opSubstr
	opMerge
	opMax
	opMin
	opAdd
	opSub
	opMul
	opDiv
	opMod
	opAbs
	opNot
	opNotNot
	opStrictEq
	opStrictNe
	opLt
	opLe
	opGt
	opGe
	opEq
	opNe
	opContainsAll
	opContainsAny
	opContainsNone
	opSemVerCode
	opStartsWithCode
	opEndsWithCode
)

var simpleOps = map[string]opCode{
	"in": opIn, "missing": opMissing, "missing_some": opMissingSome, "set": opSet,
	"cat": opCat, "substr": opSubstr, "merge": opMerge, "max": opMax, "min": opMin,
	"+": opAdd, "-": opSub, "*": opMul, "/": opDiv, "%": opMod, "abs": opAbs,
	"!": opNot, "!!": opNotNot, "===": opStrictEq, "!==": opStrictNe, "<": opLt,
	"<=": opLe, ">": opGt, ">=": opGe, "==": opEq, "!=": opNe,
	"contains_all": opContainsAll, "contains_any": opContainsAny, "contains_none": opContainsNone,
	opSemVer: opSemVerCode, opStartsWith: opStartsWithCode, opEndsWith: opEndsWithCode,
}

type opNode struct {
	code opCode
	a    args
	cfg  Config
}

func (n *opNode) eval(data any) any {
	var buf argBuf
	switch n.code {
	case opEq, opNe:
		v := n.a.list(data, &buf)
		r := len(v) >= 2 && equals(v[0], v[1])
		return r != (n.code == opNe)
	case opStrictEq, opStrictNe:
		vals, _, ok := n.a.eval(data, &buf)
		r := ok && strictEquals(vals)
		return r != (n.code == opStrictNe)
	case opLt, opLe, opGt, opGe:
		return compare(n.code, n.a.list(data, &buf))
	case opIn:
		return in(n.a.list(data, &buf))
	case opNot, opNotNot:
		vals, one, ok := n.a.eval(data, &buf)
		var t bool
		if ok && len(vals) > 0 {
			t = isTrue(vals[0])
		} else if ok {
			t = false
		} else {
			t = isTrue(one)
		}
		return t == (n.code == opNotNot)
	case opCat:
		vals, one, ok := n.a.eval(data, &buf)
		if !ok {
			if s, isStr := one.(string); isStr {
				return s
			}
			asSlice(one)
		}
		return cat(vals)
	case opStartsWithCode, opEndsWithCode:
		vals, _, ok := n.a.eval(data, &buf)
		if !ok {
			return nil
		}
		return stringAffix(n.code == opStartsWithCode, vals)
	case opSemVerCode:
		vals, _, ok := n.a.eval(data, &buf)
		if !ok {
			return nil
		}
		return semVer(vals)
	case opAdd:
		vals, one, ok := n.a.eval(data, &buf)
		if !ok {
			return toNum(one)
		}
		switch len(vals) {
		case 0:
			return float64(0)
		case 1:
			return toNum(vals[0])
		}
		sum := float64(0)
		for _, v := range vals {
			sum += toNum(v)
		}
		return sum
	case opSub:
		vals := n.a.list(data, &buf)
		switch len(vals) {
		case 0:
			return 0
		case 1:
			return -1 * toNum(vals[0])
		}
		r := toNum(vals[0])
		for _, v := range vals[1:] {
			r -= toNum(v)
		}
		return r
	case opMul:
		vals := n.a.list(data, &buf)
		r := float64(1)
		for _, v := range vals {
			r *= toNum(v)
		}
		return r
	case opDiv:
		vals := n.a.list(data, &buf)
		if len(vals) == 0 {
			return 0
		}
		r := toNum(vals[0])
		for _, v := range vals[1:] {
			r = r / toNum(v)
		}
		return r
	case opMod:
		vals := n.a.list(data, &buf)
		return math.Mod(toNum(index(vals, 0)), toNum(index(vals, 1)))
	case opAbs:
		vals, one, ok := n.a.eval(data, &buf)
		if ok {
			return math.Abs(toNum(index(vals, 0)))
		}
		return math.Abs(toNum(one))
	case opMax, opMin:
		vals := n.a.list(data, &buf)
		if len(vals) == 0 {
			return nil
		}
		r := toNum(vals[0])
		for _, v := range vals[1:] {
			x := toNum(v)
			if (n.code == opMax && x > r) || (n.code == opMin && r > x) {
				r = x
			}
		}
		return r
	case opMerge:
		vals, one, ok := n.a.eval(data, &buf)
		if !ok {
			if isPrimitive(one) {
				return []any{one}
			}
			asSlice(one)
		}
		return merge(vals)
	case opSubstr:
		return substr(n.a.list(data, &buf))
	case opMissing:
		vals, one, ok := n.a.eval(data, &buf)
		if !ok {
			if s, isStr := one.(string); isStr {
				vals = []any{s}
			} else {
				asSlice(one)
			}
		}
		missing := make([]any, 0)
		for _, v := range vals {
			if getVar(evalDynamic(v, data, n.cfg), data) == nil {
				missing = append(missing, v)
			}
		}
		return missing
	case opMissingSome:
		vals := n.a.list(data, &buf)
		need := int(toNum(index(vals, 0)))
		keys := asSlice(index(vals, 1))
		missing := make([]any, 0)
		found := 0
		for _, v := range keys {
			if getVar(evalDynamic(v, data, n.cfg), data) == nil {
				missing = append(missing, v)
			} else {
				found++
			}
		}
		if need > found {
			return missing
		}
		return make([]any, 0)
	case opSet:
		vals := n.a.list(data, &buf)
		if len(vals) < 3 {
			if len(vals) == 0 {
				return nil
			}
			return vals[0]
		}
		obj, ok := vals[0].(map[string]any)
		if !ok {
			return vals[0]
		}
		prop := asString(vals[1])
		out := deepCopy(obj).(map[string]any)
		out[prop] = evalDynamic(vals[2], data, n.cfg)
		return out
	case opContainsAll, opContainsAny, opContainsNone:
		vals, _, ok := n.a.eval(data, &buf)
		return contains(n.code, vals, ok)
	}
	panic("unreachable")
}

func strictEquals(vals []any) bool {
	if len(vals) < 2 {
		return false
	}
	a, b := vals[0], vals[1]
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if kind(a) != kind(b) {
		return false
	}
	return equals(a, b)
}

func compare(code opCode, v []any) bool {
	if len(v) < 2 {
		return false
	}
	a, b := v[0], v[1]
	if len(v) == 3 {
		c := v[2]
		switch code {
		case opLt:
			return less(a, b) && less(b, c)
		case opLe:
			return (less(a, b) || equals(a, b)) && (less(b, c) || equals(b, c))
		case opGt:
			return less(c, b) && less(b, a)
		default:
			return (less(c, b) || equals(c, b)) && (less(b, a) || equals(b, a))
		}
	}
	switch code {
	case opLt:
		return less(a, b)
	case opLe:
		return less(a, b) || equals(a, b)
	case opGt:
		return less(b, a)
	default:
		return less(b, a) || equals(b, a)
	}
}

func in(vals []any) bool {
	a := index(vals, 0)
	var b any
	if len(vals) > 1 {
		b = vals[1]
	}
	if s, ok := b.(string); ok {
		return strings.Contains(s, asString(a))
	}
	list, ok := b.([]any)
	if !ok {
		return false
	}
	for _, e := range list {
		if r, ok := e.([]any); ok {
			if toNum(index(r, 0)) <= toNum(a) && toNum(index(r, 1)) >= toNum(a) {
				return true
			}
			continue
		}
		if isNumber(a) {
			n := toNum(e)
			if f, ok := a.(float64); ok && n == f {
				return true
			}
			continue
		}
		if sameDynamic(e, a) {
			return true
		}
	}
	return false
}

func cat(vals []any) any {
	if len(vals) == 1 {
		return toStr(vals[0])
	}
	var buf [64]byte
	return string(appendCat(buf[:0], vals))
}

// appendCat appends what "cat" yields for its evaluated arguments: one
// argument as a string, several concatenated with surrounding white space
// trimmed (as the library does).
func appendCat(dst []byte, vals []any) []byte {
	if len(vals) == 1 {
		return append(dst, toStr(vals[0])...)
	}
	start := len(dst)
	for _, v := range vals {
		dst = append(dst, toStr(v)...)
	}
	trimmed := bytes.TrimSpace(dst[start:])
	n := copy(dst[start:], trimmed)
	return dst[:start+n]
}

func merge(vals []any) any {
	if len(vals) == 0 {
		return []any{}
	}
	out := make([]any, 0, len(vals))
	for _, v := range vals {
		if s, ok := v.([]any); ok {
			out = append(out, s...)
		} else {
			out = append(out, v)
		}
	}
	return out
}

func substr(vals []any) any {
	runes := []rune(toStr(index(vals, 0)))
	from := int(toNum(index(vals, 1)))
	length := len(runes)
	if from < 0 {
		from = length + from
	}
	if from < 0 || from > length {
		return string(runes)
	}
	if len(vals) == 3 {
		length = int(toNum(vals[2]))
	}
	var to int
	if length < 0 {
		length = len(runes) + length
		to = length
	} else {
		to = from + length
	}
	if to > len(runes) {
		to = len(runes)
	}
	if to < from || to < 0 {
		fail("substr: slice bounds out of range [%d:%d]", from, to)
	}
	return string(runes[from:to])
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

func contains(code opCode, vals []any, ok bool) bool {
	empty := code == opContainsNone // the answer when the input is unusable
	if !ok || len(vals) != 2 {
		return empty
	}
	search, ok1 := vals[0].([]any)
	check, ok2 := vals[1].([]any)
	if !ok1 || search == nil || !ok2 || check == nil {
		return empty
	}
	switch code {
	case opContainsAll:
		for _, c := range check {
			if !containsElement(search, c) {
				return false
			}
		}
		return true
	case opContainsAny:
		for _, c := range check {
			if containsElement(search, c) {
				return true
			}
		}
		return false
	default:
		for _, c := range check {
			if containsElement(search, c) {
				return false
			}
		}
		return true
	}
}

func containsElement(list []any, e any) bool {
	for _, item := range list {
		if looseSame(item, e) {
			return true
		}
	}
	return false
}

// looseSame is the contains_* comparison: identical values, or numbers of
// equal value.
func looseSame(a, b any) bool {
	if isNumber(a) && isNumber(b) {
		return toNum(a) == toNum(b)
	}
	return sameDynamic(a, b)
}
