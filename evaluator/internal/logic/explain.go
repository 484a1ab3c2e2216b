package logic

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/vexilhq/vexil/evaluator/internal/ops"
)

// Explain.
//
// Every node type has an explain method beside eval: it evaluates its
// operands through the tracer (which records a Trace node for each
// operator reached, in order, with their values) and then computes its
// result as eval does. The eager operators (opNode, fractionalNode) take
// their result from eval itself, run again on the same data: rules are
// pure, so it is the value evaluation computes, by evaluation's own code,
// at the price of evaluating each operand once more per level (explain
// only). The operators that choose what to evaluate (if, and, or, var,
// the iterators) mirror eval step by step with the same helpers (isTrue,
// getVar, solveVars, applyDynamic's compile). The evaluator's
// differential and fuzz tests hold explain's results to evaluation's.
// Evaluation never reaches this file: Program.Eval calls eval alone, and
// no eval method looks at a tracer.

// Trace is one operator of a rule as Explain reached it.
type Trace struct {
	// Op is the operator ("if", "==", "var", "fractional", ...), or "$ref"
	// for the place of a replaced {"$ref": name}, whose one child (if any)
	// is what the evaluator holds.
	Op string
	// Pointer is the JSON pointer of the operator's object in the rule,
	// "" for parts built at evaluation time (Dynamic).
	Pointer string
	Dynamic bool
	// Args are the operator's evaluated arguments, when it has any.
	Args    []any
	HasArgs bool
	Result  any
	// Error is the failure raised here, which ended the evaluation;
	// Failed marks it and the operators it ended, which have no result.
	Error    string
	Failed   bool
	Children []*Trace
	// Ref is the evaluator a "$ref" names.
	Ref string
	// Branch is for "if": "then" (Clause is the index of the branch
	// taken), "else", or "none" (no condition held and there is no else).
	Branch string
	Clause int
	// VarPath and Found are for "var": the path looked up, and whether
	// the data has a non-null value there (else the default, if any).
	VarPath string
	Found   bool
	// Fractional is set for "fractional" when its data is an object.
	Fractional *ops.FractionalDetail
	// SemVer is set for "sem_ver": the operands as versions.
	SemVer *SemVerDetail
	// Elided counts the operators below this one that were evaluated but
	// not traced, past the trace's size limit.
	Elided int
}

// SemVerDetail is how sem_ver read its operands.
type SemVerDetail struct {
	Version, Target           string
	VersionValid, TargetValid bool
	Operator                  any
}

// DefaultMaxTrace is the number of operators a trace records when Explain
// is given no limit; past it, evaluation goes on untraced.
const DefaultMaxTrace = 10000

// Explain applies the program as Eval does, and returns the trace of what
// it did: a node per operator reached, in order. The result and error are
// Eval's. maxNodes bounds the trace (0: DefaultMaxTrace).
func (p *Program) Explain(env Env, maxNodes int) (result any, trace *Trace, err error) {
	if maxNodes <= 0 {
		maxNodes = DefaultMaxTrace
	}
	t := &tracer{refs: p.refs, max: maxNodes}
	top := &Trace{Op: "rule"}
	t.stack = []*Trace{top}
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(*EvalError)
			if !ok {
				e = &EvalError{Msg: fmt.Sprint(r)}
			}
			if len(t.stack) > 1 {
				t.stack[len(t.stack)-1].Error = e.Msg
			} else {
				top.Error = e.Msg
			}
			for _, open := range t.stack {
				open.Failed = true
			}
			result, err = nil, e
			trace = t.root(top, nil)
		}
	}()
	r := &root{env: env}
	result = t.visit(p.root, r)
	top.Result = expose(result)
	return result, t.root(top, result), nil
}

type tracer struct {
	stack   []*Trace // open nodes; stack[0] is the synthetic top
	nodes   int
	max     int
	refs    map[string]string
	path    []byte
	dynamic int
}

// root is the trace to return: the rule's one operator, or a "rule" node
// over what it holds (none for a constant, several past a "$ref").
func (t *tracer) root(top *Trace, result any) *Trace {
	if len(top.Children) == 1 && top.Error == "" {
		return top.Children[0]
	}
	return top
}

// visit explains n, whose JSON pointer is t.path.
func (t *tracer) visit(n node, data any) any {
	if t.nodes >= t.max {
		t.stack[len(t.stack)-1].Elided++
		return n.eval(data)
	}
	if t.refs != nil && t.dynamic == 0 {
		if name, ok := t.refs[string(t.path)]; ok {
			tr := t.open("$ref")
			tr.Ref = name
			v := n.explain(data, t)
			t.close(tr, v)
			return v
		}
	}
	return n.explain(data, t)
}

// visitAt visits n at the pointer's next token.
func (t *tracer) visitAt(tok string, n node, data any) any {
	mark := t.push(tok)
	v := t.visit(n, data)
	t.path = t.path[:mark]
	return v
}

func (t *tracer) visitIndex(i int, n node, data any) any {
	return t.visitAt(strconv.Itoa(i), n, data)
}

// visitDynamic explains a node built at evaluation time.
func (t *tracer) visitDynamic(n node, data any) any {
	t.dynamic++
	v := t.visit(n, data)
	t.dynamic--
	return v
}

func (t *tracer) push(tok string) int {
	mark := len(t.path)
	t.path = append(t.path, '/')
	t.path = append(t.path, strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")...)
	return mark
}

// open starts the trace node of an operator, as the last child of the
// innermost open one.
func (t *tracer) open(op string) *Trace {
	t.nodes++
	tr := &Trace{Op: op, Dynamic: t.dynamic > 0}
	if t.dynamic == 0 {
		tr.Pointer = string(t.path)
	}
	parent := t.stack[len(t.stack)-1]
	parent.Children = append(parent.Children, tr)
	t.stack = append(t.stack, tr)
	return tr
}

func (t *tracer) close(tr *Trace, result any) {
	tr.Result = expose(result)
	t.stack = t.stack[:len(t.stack)-1]
}

func setArgs(tr *Trace, vals []any, one any, isSlice bool) {
	tr.HasArgs = true
	if isSlice {
		tr.Args = make([]any, len(vals))
		for i, v := range vals {
			tr.Args[i] = expose(v)
		}
	} else {
		tr.Args = []any{expose(one)}
	}
}

// explain is args.eval through the tracer; op is the operator's key.
func (a *args) explain(data any, buf *argBuf, t *tracer, op string) (vals []any, one any, isSlice bool) {
	mark := t.push(op)
	defer func() { t.path = t.path[:mark] }()
	if a.elems != nil && len(a.elems) <= len(buf) {
		for i, e := range a.elems {
			buf[i] = t.visitIndex(i, e, data)
		}
		return buf[:len(a.elems)], nil, true
	}
	v := t.visit(a.whole, data)
	if s, ok := v.([]any); ok {
		return s, nil, true
	}
	return nil, v, false
}

func (n constNode) explain(any, *tracer) any { return n.v }

func (n *arrayNode) explain(data any, t *tracer) any {
	out := make([]any, len(n.elems))
	for i, e := range n.elems {
		out[i] = t.visitIndex(i, e, data)
	}
	return out
}

func (n failNode) explain(data any, t *tracer) any {
	t.open(n.op)
	return n.eval(data)
}

func (n *varPath) explain(data any, t *tracer) any {
	tr := t.open("var")
	path := strings.Join(n.parts, ".")
	tr.HasArgs = true
	tr.Args = []any{path}
	if n.def != nil {
		tr.Args = append(tr.Args, n.def)
	}
	v := n.eval(data)
	tr.VarPath = path
	tr.Found = n.special != specialNone && isRootData(data) || data != nil && walk(n.parts, nil, data) != nil
	t.close(tr, v)
	return v
}

func isRootData(data any) bool {
	_, ok := data.(*root)
	return ok
}

func (n *varNode) explain(data any, t *tracer) any {
	tr := t.open("var")
	mark := t.push("var")
	arg := t.visit(n.a.whole, data)
	t.path = t.path[:mark]
	setArgs(tr, nil, arg, false)
	if s, ok := arg.([]any); ok {
		tr.Args = slices.Clone(s)
	}
	v := getVar(arg, data)
	// The path, and whether it is found without the default.
	probe := arg
	if s, ok := arg.([]any); ok && len(s) == 2 {
		probe = s[:1]
	}
	tr.VarPath = fmt.Sprint(probe)
	switch x := probe.(type) {
	case string:
		tr.VarPath = x
	case []any:
		if len(x) > 0 {
			if s, ok := x[0].(string); ok {
				tr.VarPath = s
			}
		} else {
			tr.VarPath = ""
		}
	case nil:
		tr.VarPath = ""
	}
	tr.Found = getVar(probe, data) != nil
	t.close(tr, v)
	return v
}

func (n *andOrNode) explain(data any, t *tracer) any {
	op := "or"
	if n.and {
		op = "and"
	}
	tr := t.open(op)
	mark := t.push(op)
	tr.HasArgs = true
	var last any
	for i, e := range n.elems {
		last = t.visitIndex(i, e, data)
		tr.Args = append(tr.Args, expose(last))
		if isTrue(last) != n.and {
			break
		}
	}
	t.path = t.path[:mark]
	t.close(tr, last)
	return last
}

func (n *ifNode) explain(data any, t *tracer) any {
	tr := t.open(n.op)
	mark := t.push(n.op)
	tr.HasArgs = true
	v, branch, clause := n.explainClauses(data, t, tr)
	t.path = t.path[:mark]
	tr.Branch, tr.Clause = branch, clause
	t.close(tr, v)
	return v
}

// explainClauses is ifNode.eval through the tracer; the args it records
// are the conditions' values.
func (n *ifNode) explainClauses(data any, t *tracer, tr *Trace) (v any, branch string, clause int) {
	l := len(n.clauses)
	for i := 0; i < l-1; i += 2 {
		c := t.visitIndex(i, n.clauses[i], data)
		tr.Args = append(tr.Args, expose(c))
		if isTrue(c) {
			tr.Branch, tr.Clause = "then", i+1 // kept should the branch fail
			return n.explainClause(i+1, data, t), "then", i + 1
		}
	}
	if l%2 == 1 {
		tr.Branch, tr.Clause = "else", l-1
		return n.explainClause(l-1, data, t), "else", l - 1
	}
	return nil, "none", -1
}

func (n *ifNode) explainClause(i int, data any, t *tracer) any {
	v := t.visitIndex(i, n.clauses[i], data)
	if m, ok := v.(map[string]any); ok {
		return explainApplyDynamic(m, data, n.cfg, t)
	}
	return v
}

// explainApplyDynamic is applyDynamic through the tracer.
func explainApplyDynamic(v any, data any, cfg Config, t *tracer) any {
	m, ok := v.(map[string]any)
	if !ok {
		fail("expected a rule object, got %s", typeName(v))
	}
	c := &compiler{cfg: cfg, dynamic: true}
	return t.visitDynamic(c.compileApply(m), data)
}

// opNames names the eager operators.
var opNames = func() map[opCode]string {
	m := make(map[opCode]string, len(simpleOps))
	for name, code := range simpleOps {
		m[code] = name
	}
	return m
}()

func (n *opNode) explain(data any, t *tracer) any {
	op := opNames[n.code]
	tr := t.open(op)
	var buf argBuf
	vals, one, ok := n.a.explain(data, &buf, t, op)
	setArgs(tr, vals, one, ok)
	if n.code == opSemVerCode && ok && len(vals) == 3 {
		d := &SemVerDetail{Operator: vals[1]}
		d.Version, d.VersionValid = ops.SemVerVersion(vals[0])
		d.Target, d.TargetValid = ops.SemVerVersion(vals[2])
		tr.SemVer = d
	}
	// The result is eval's own: evaluation's code, run again on the same
	// data (rules are pure), so explain pays twice and evaluation nothing.
	v := n.eval(data)
	t.close(tr, v)
	return v
}

func (n *fractionalNode) explain(data any, t *tracer) any {
	tr := t.open(opFractional)
	var buf argBuf
	vals, one, ok := n.a.explain(data, &buf, t, opFractional)
	setArgs(tr, vals, one, ok)
	if ok {
		if flagKey, ctx, isObj := fractionalData(data); isObj {
			d := ops.ExplainFractional(vals, flagKey, ctx["targetingKey"], n.cbor)
			tr.Fractional = &d
		}
	}
	v := n.eval(data) // as for opNode

	t.close(tr, v)
	return v
}

func (n *iterNode) explain(data any, t *tracer) any {
	tr := t.open(n.op)
	mark := t.push(n.op)
	v := n.explainIter(data, t, tr)
	t.path = t.path[:mark]
	t.close(tr, v)
	return v
}

// explainSubject is subject through the tracer.
func (n *iterNode) explainSubject(data any, t *tracer, tr *Trace) any {
	first := index(n.raw, 0)
	var s any
	if l, ok := first.([]any); ok {
		s = l
	} else if n.subj != nil {
		s = t.visitIndex(0, n.subj, data)
	}
	tr.HasArgs = true
	tr.Args = []any{expose(s)}
	return s
}

// explainIter is iterNode.eval through the tracer.
func (n *iterNode) explainIter(data any, t *tracer, tr *Trace) any {
	switch n.op {
	case "filter", "map":
		if len(n.raw) < 2 {
			return []any{}
		}
		subject := n.explainSubject(data, t, tr)
		if subject == nil {
			return []any{}
		}
		items := asSlice(subject)
		if n.op == "map" {
			out := make([]any, 0, len(items))
			for _, it := range items {
				out = append(out, t.visitIndex(1, n.body, it))
			}
			return out
		}
		logic := solveVars(n.raw[1], data, n.cfg)
		body := dynamicOperand(logic, n.cfg)
		out := make([]any, 0, len(items)/2)
		for _, it := range items {
			if isTrue(t.visitDynamic(body, it)) {
				out = append(out, it)
			}
		}
		return out
	case "reduce":
		return n.explainReduce(data, t, tr)
	case "all":
		subject := n.explainSubject(data, t, tr)
		if !isTrue(subject) {
			return false
		}
		for _, it := range asSlice(subject) {
			cond := solveVars(index(n.raw, 1), it, n.cfg)
			if !isTrue(explainApplyDynamic(cond, it, n.cfg, t)) {
				return false
			}
		}
		return true
	case "none":
		subject := n.explainSubject(data, t, tr)
		if !isTrue(subject) {
			return true
		}
		cond := solveVars(index(n.raw, 1), data, n.cfg)
		for _, it := range asSlice(subject) {
			if isTrue(explainApplyDynamic(cond, it, n.cfg, t)) {
				return false
			}
		}
		return true
	default: // some
		subject := n.explainSubject(data, t, tr)
		if !isTrue(subject) {
			return false
		}
		logic := solveVars(index(n.raw, 1), data, n.cfg)
		for _, it := range asSlice(subject) {
			cond := solveVars(logic, it, n.cfg)
			if isTrue(explainApplyDynamic(cond, it, n.cfg, t)) {
				return true
			}
		}
		return false
	}
}

// explainReduce is reduce through the tracer.
func (n *iterNode) explainReduce(data any, t *tracer, tr *Trace) any {
	if len(n.raw) < 3 {
		return float64(0)
	}
	initial := n.raw[2]
	if n.init != nil {
		initial = t.visitIndex(2, n.init, data)
	}
	var acc any
	var valueType string
	switch x := initial.(type) {
	case bool:
		acc, valueType = x, "bool"
	case float64, int:
		acc, valueType = toNum(x), "number"
	case string:
		acc, valueType = x, "string"
	default:
		fail("reduce: unsupported initial value %s", typeName(n.raw[2]))
	}
	subject := n.explainSubject(data, t, tr)
	if subject == nil {
		return float64(0)
	}
	ctx := map[string]any{"current": float64(0), "accumulator": acc, "valueType": valueType}
	for _, it := range asSlice(subject) {
		if it == nil {
			continue
		}
		ctx["current"] = it
		v := t.visitIndex(1, n.body, ctx)
		switch valueType {
		case "bool":
			ctx["accumulator"] = isTrue(v)
		case "number":
			ctx["accumulator"] = toNum(v)
		case "string":
			ctx["accumulator"] = toStr(v)
		}
	}
	return ctx["accumulator"]
}
