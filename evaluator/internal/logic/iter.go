package logic

import "strings"

// iterNode covers filter, map, reduce, all, none and some. These read their
// raw arguments: the subject is evaluated only when it is a rule, and the
// per-element logic of filter, all, none and some first has variables
// substituted (the library's solveVars), which can change its meaning, so it
// is rebuilt at evaluation time; map and reduce use precompiled logic.
type iterNode struct {
	op   string
	raw  []any
	cfg  Config
	subj node // compiled raw[0] when it is an object
	body node // compiled raw[1] for map (operand) and reduce (rule)
	init node // compiled raw[2] for reduce when it is an object
	bad  string
}

func (c *compiler) compileIter(op string, raw any) node {
	s, ok := raw.([]any)
	if !ok {
		return failNode{op: op, msg: op + " expects an array, got " + typeName(raw)}
	}
	c.clock = true // substituted variables are looked up at evaluation time
	n := &iterNode{op: op, raw: s, cfg: c.cfg}
	if len(s) > 0 {
		if m, ok := s[0].(map[string]any); ok {
			n.subj = c.compileApplyAt(0, m)
		}
	}
	if len(s) > 1 {
		switch op {
		case "map":
			n.body = c.compileAt(1, s[1])
		case "reduce":
			if m, ok := s[1].(map[string]any); ok {
				n.body = c.compileApplyAt(1, m)
			} else {
				n.body = failNode{op: "reduce", msg: "reduce expects a rule object, got " + typeName(s[1])}
			}
		default:
			// Compiled for diagnostics only; evaluation rebuilds it.
			c.compileAt(1, s[1])
		}
	}
	if op == "reduce" && len(s) > 2 {
		if m, ok := s[2].(map[string]any); ok {
			n.init = c.compileApplyAt(2, m)
		}
	}
	return n
}

// subject is the library's extractSubject.
func (n *iterNode) subject(data any) any {
	first := index(n.raw, 0)
	if s, ok := first.([]any); ok {
		return s
	}
	if n.subj != nil {
		return n.subj.eval(data)
	}
	return nil
}

func (n *iterNode) eval(data any) any {
	switch n.op {
	case "filter", "map":
		if len(n.raw) < 2 {
			return []any{}
		}
		subject := n.subject(data)
		if subject == nil {
			return []any{}
		}
		items := asSlice(subject)
		if n.op == "map" {
			out := make([]any, 0, len(items))
			for _, it := range items {
				out = append(out, n.body.eval(it))
			}
			return out
		}
		logic := solveVars(n.raw[1], data, n.cfg)
		body := dynamicOperand(logic, n.cfg)
		out := make([]any, 0, len(items)/2)
		for _, it := range items {
			if isTrue(body.eval(it)) {
				out = append(out, it)
			}
		}
		return out
	case "reduce":
		return n.reduce(data)
	case "all":
		subject := n.subject(data)
		if !isTrue(subject) {
			return false
		}
		for _, it := range asSlice(subject) {
			cond := solveVars(index(n.raw, 1), it, n.cfg)
			if !isTrue(applyDynamic(cond, it, n.cfg)) {
				return false
			}
		}
		return true
	case "none":
		subject := n.subject(data)
		if !isTrue(subject) {
			return true
		}
		cond := solveVars(index(n.raw, 1), data, n.cfg)
		for _, it := range asSlice(subject) {
			if isTrue(applyDynamic(cond, it, n.cfg)) {
				return false
			}
		}
		return true
	default: // some
		subject := n.subject(data)
		if !isTrue(subject) {
			return false
		}
		logic := solveVars(index(n.raw, 1), data, n.cfg)
		for _, it := range asSlice(subject) {
			cond := solveVars(logic, it, n.cfg)
			if isTrue(applyDynamic(cond, it, n.cfg)) {
				return true
			}
		}
		return false
	}
}

func (n *iterNode) reduce(data any) any {
	if len(n.raw) < 3 {
		return float64(0)
	}
	initial := n.raw[2]
	if n.init != nil {
		initial = n.init.eval(data)
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
	subject := n.subject(data)
	if subject == nil {
		return float64(0)
	}
	ctx := map[string]any{"current": float64(0), "accumulator": acc, "valueType": valueType}
	for _, it := range asSlice(subject) {
		if it == nil {
			continue
		}
		ctx["current"] = it
		v := n.body.eval(ctx)
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

func dynamicOperand(v any, cfg Config) node {
	c := &compiler{cfg: cfg, dynamic: true}
	return c.compile(v)
}

// solveVars is the library's substitution of variables into a rule: every
// {"var": X} that resolves to a non-null value is replaced by that value,
// except paths that are "" or start with ".".
func solveVars(v any, data any, cfg Config) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for key, val := range x {
			if key == "var" {
				if s, ok := val.(string); ok && (s == "" || strings.HasPrefix(s, ".")) {
					out["var"] = val
					continue
				}
				if r := getVar(evalDynamic(val, data, cfg), data); r != nil {
					return r
				}
				out["var"] = val
			} else {
				out[key] = solveVars(val, data, cfg)
			}
		}
		return out
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			out = append(out, solveVars(e, data, cfg))
		}
		return out
	}
	return v
}
