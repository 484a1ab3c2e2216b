// Package logic compiles JSONLogic rules, with flagd's custom operators, into
// trees of nodes that evaluate without decoding JSON. Its semantics are those
// of github.com/diegoholiveira/jsonlogic/v3 (the version flagd uses), which
// the package's differential fuzz test holds it to: same results, and an
// error exactly where the library reports one.
//
// [Program.Explain] applies a program as [Program.Eval] does and records a
// [Trace] of the operators it reaches (explain.go); Eval never traces.
//
// The package is pure: no goroutines, I/O, logging or mutable globals.
package logic

import (
	"fmt"
	"sort"
	"strconv"
	"sync"
)

type node interface {
	eval(data any) any
	// explain is eval, telling t what it does (explain.go). Evaluation
	// never calls it.
	explain(data any, t *tracer) any
}

// Config selects behaviour that flagd has changed over time.
type Config struct {
	// FractionalCBOR selects the newer fractional bucketing that hashes the
	// CBOR encoding of the bucketing value (testbed tag @fractional-v3).
	FractionalCBOR bool
	// InternValue and InternString, when set, are given every string
	// constant and every variable path of the rule, and what they return
	// is kept instead: a parser compiling many rules keeps one copy of the
	// strings they share. The program does not keep them.
	InternValue  func(any) any
	InternString func(string) string
	// Roots, when set, recycles the programs' per-evaluation data holders;
	// nil allocates one per evaluation. Share one among many programs: a
	// pool of its own per program would keep a holder (and the pool's
	// per-processor storage) for every program evaluated since the last
	// collection, which for 50,000 rules under load is megabytes, and
	// every collection walks every pool.
	Roots *Roots
	// RefName, when set, is asked for every object and array of the rule
	// whether it stands where a {"$ref": name} stood (the rule is compiled
	// after its references are replaced); the names it gives are kept for
	// Explain, by JSON pointer. Evaluation does not read them.
	RefName func(v any) (name string, ok bool)
}

// Roots recycles per-evaluation data holders for the programs compiled
// with it. It is safe for concurrent use; the zero value is ready.
type Roots struct{ pool sync.Pool }

// Program is a compiled rule. It is immutable and safe for concurrent use.
type Program struct {
	root node
	cfg  Config
	// clock is set when the rule may read "$flagd.timestamp".
	clock bool
	// refs names the $refs replaced in the rule, by the JSON pointer of
	// what replaced them (for Explain).
	refs map[string]string
}

// NeedsClock reports whether the rule may read "$flagd.timestamp"; when it
// cannot, Env.Timestamp is not read.
func (p *Program) NeedsClock() bool { return p.clock }

// Diagnostic is something about a rule that is likely a mistake but that
// the reference implementation accepts (an unknown operator fails only when
// it is reached).
type Diagnostic struct {
	// Pointer is a JSON pointer relative to the rule.
	Pointer string
	Message string
}

// Compile compiles a rule decoded by encoding/json. It does not fail: parts
// that the library would reject when reached fail when reached. The
// diagnostics name the unknown operators.
func Compile(rule any, cfg Config) (*Program, []Diagnostic) {
	// The nodes keep the configuration that changes what they compute.
	c := &compiler{cfg: Config{FractionalCBOR: cfg.FractionalCBOR}, internValue: cfg.InternValue, internString: cfg.InternString, refName: cfg.RefName}
	n := c.compile(rule)
	sort.Slice(c.diags, func(i, j int) bool { return c.diags[i].Pointer < c.diags[j].Pointer })
	return &Program{root: n, cfg: Config{FractionalCBOR: cfg.FractionalCBOR, Roots: cfg.Roots}, clock: c.clock, refs: c.refs}, c.diags
}

// interned is c.internValue's copy of a string value, or v.
func (c *compiler) interned(v any) any {
	if _, ok := v.(string); ok && c.internValue != nil {
		return c.internValue(v)
	}
	return v
}

// internedString is c.internString's copy of s, or s.
func (c *compiler) internedString(s string) string {
	if c.internString == nil {
		return s
	}
	return c.internString(s)
}

// Eval applies the program. The returned value is in the JSON value domain
// (plus int); err is an *EvalError where the library would fail.
func (p *Program) Eval(env Env) (result any, err error) {
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(*EvalError)
			if !ok {
				e = &EvalError{Msg: fmt.Sprint(r)}
			}
			result, err = nil, e
		}
	}()
	// Nothing keeps a root past Eval: values read from it are exposed as
	// plain maps.
	var r *root
	if pool := p.cfg.Roots; pool != nil {
		if r, _ = pool.pool.Get().(*root); r == nil {
			r = &root{}
		}
		defer func() {
			*r = root{}
			pool.pool.Put(r)
		}()
	} else {
		r = &root{}
	}
	r.env = env
	return p.root.eval(r), nil
}

type compiler struct {
	cfg          Config
	internValue  func(any) any
	internString func(string) string
	diags        []Diagnostic
	// dynamic is set while compiling values produced at evaluation time;
	// they carry no diagnostics.
	dynamic bool
	// clock is set once anything may read the whole data or
	// "$flagd.timestamp".
	clock   bool
	path    []byte
	refName func(any) (string, bool)
	refs    map[string]string
}

// noteRef records the name of the $ref that v replaced, if any, at the
// current pointer.
func (c *compiler) noteRef(v any) {
	if c.refName == nil {
		return
	}
	if name, ok := c.refName(v); ok {
		if c.refs == nil {
			c.refs = map[string]string{}
		}
		c.refs[string(c.path)] = name
	}
}

// The compiler tracks the JSON pointer of what it compiles in a byte
// stack, so that only diagnostics pay for pointer strings.

func (c *compiler) pushKey(key string) int {
	mark := len(c.path)
	c.path = append(c.path, '/')
	for i := 0; i < len(key); i++ {
		switch key[i] {
		case '~':
			c.path = append(c.path, '~', '0')
		case '/':
			c.path = append(c.path, '~', '1')
		default:
			c.path = append(c.path, key[i])
		}
	}
	return mark
}

func (c *compiler) pushIndex(i int) int {
	mark := len(c.path)
	c.path = append(c.path, '/')
	c.path = strconv.AppendInt(c.path, int64(i), 10)
	return mark
}

func (c *compiler) pop(mark int) { c.path = c.path[:mark] }

func (c *compiler) compileAt(i int, v any) node {
	mark := c.pushIndex(i)
	defer c.pop(mark)
	return c.compile(v)
}

func (c *compiler) compileApplyAt(i int, m map[string]any) node {
	mark := c.pushIndex(i)
	defer c.pop(mark)
	return c.compileApply(m)
}

// compile gives a value's meaning as an operand: what the library's
// parseValues makes of it.
func (c *compiler) compile(v any) node {
	switch x := v.(type) {
	case map[string]any:
		return c.compileApply(x)
	case []any:
		if len(x) == 0 {
			return constNode{x}
		}
		c.noteRef(x)
		elems := make([]node, len(x))
		allConst := true
		for i, e := range x {
			mark := c.pushIndex(i)
			elems[i] = c.compile(e)
			c.pop(mark)
			if _, ok := elems[i].(constNode); !ok {
				allConst = false
			}
		}
		if allConst {
			// A fresh copy per evaluation is not needed: nothing mutates.
			out := make([]any, len(elems))
			for i, e := range elems {
				out[i] = e.(constNode).v
			}
			return constNode{out}
		}
		return &arrayNode{elems: elems}
	}
	return constNode{c.interned(v)}
}

// compileApply gives a map's meaning as a rule: what the library's apply
// makes of it.
func (c *compiler) compileApply(m map[string]any) node {
	c.noteRef(m)
	if len(m) != 1 {
		// Several keys: a literal. None: an empty object.
		return constNode{m}
	}
	for op, args := range m {
		mark := c.pushKey(op)
		n := c.compileOp(op, args)
		c.pop(mark)
		return n
	}
	panic("unreachable")
}

type constNode struct{ v any }

func (n constNode) eval(any) any { return n.v }

type arrayNode struct{ elems []node }

func (n *arrayNode) eval(data any) any {
	out := make([]any, len(n.elems))
	for i, e := range n.elems {
		out[i] = e.eval(data)
	}
	return out
}

// failNode fails when reached.
type failNode struct{ op, msg string }

func (n failNode) eval(any) any {
	panic(&EvalError{Msg: n.msg})
}

// argBuf holds evaluated arguments on the stack.
type argBuf [8]any

// args is an operator's argument as the library's parseValues sees it.
type args struct {
	whole node
	// elems is set when the raw argument is a non-empty array, so that the
	// elements can be evaluated without building a slice.
	elems []node
	// empty is set when the raw argument is an empty array.
	empty bool
}

func (c *compiler) args(raw any) args {
	a := args{whole: c.compile(raw)}
	if s, ok := raw.([]any); ok {
		if len(s) == 0 {
			a.empty = true
		} else if an, ok := a.whole.(*arrayNode); ok {
			a.elems = an.elems
		}
	}
	return a
}

// eval evaluates the argument. When it is (or evaluates to) an array, vals
// holds its elements, using buf when it can; otherwise one holds the value.
func (a *args) eval(data any, buf *argBuf) (vals []any, one any, isSlice bool) {
	if a.elems != nil && len(a.elems) <= len(buf) {
		for i, e := range a.elems {
			buf[i] = e.eval(data)
		}
		return buf[:len(a.elems)], nil, true
	}
	v := a.whole.eval(data)
	if s, ok := v.([]any); ok {
		return s, nil, true
	}
	return nil, v, false
}

// value evaluates the argument as one value.
func (a *args) value(data any) any {
	return a.whole.eval(data)
}

// list evaluates the argument and asserts that it is an array.
func (a *args) list(data any, buf *argBuf) []any {
	vals, one, ok := a.eval(data, buf)
	if !ok {
		asSlice(one)
	}
	return vals
}

// evalDynamic evaluates a value produced at evaluation time as an operand
// (the library's parseValues on it).
func evalDynamic(v any, data any, cfg Config) any {
	switch v.(type) {
	case map[string]any, []any:
		c := &compiler{cfg: cfg, dynamic: true}
		return c.compile(v).eval(data)
	}
	return v
}

// applyDynamic is the library's apply on a value produced at evaluation
// time: it must be an object.
func applyDynamic(v any, data any, cfg Config) any {
	m, ok := v.(map[string]any)
	if !ok {
		fail("expected a rule object, got %s", typeName(v))
	}
	c := &compiler{cfg: cfg, dynamic: true}
	return c.compileApply(m).eval(data)
}
