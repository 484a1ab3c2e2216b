package logic

import "strings"

// Env is what one evaluation sees: the caller's context (already in the
// JSON value domain, see Normalize) and the properties flagd injects under
// "$flagd".
type Env struct {
	Context   map[string]any
	FlagKey   string
	Timestamp int64
	// FlagKeyValue, when set, is FlagKey already held in an interface, so
	// that reading it does not allocate.
	FlagKeyValue any
}

// root stands for the evaluation data at the top level: the context with
// "$flagd" set to {"flagKey", "timestamp"}, without copying the context.
type root struct {
	env   Env
	flagd map[string]any
	whole map[string]any
}

func (r *root) get(key string) any {
	if key == flagdKey {
		return r.flagdMap()
	}
	return r.env.Context[key]
}

func (r *root) flagdMap() map[string]any {
	if r.flagd == nil {
		r.flagd = map[string]any{"flagKey": r.env.FlagKey, "timestamp": float64(r.env.Timestamp)}
	}
	return r.flagd
}

// materialize builds the data object as one map, for rules that read the
// whole of it.
func (r *root) materialize() map[string]any {
	if r.whole == nil {
		m := make(map[string]any, len(r.env.Context)+1)
		for k, v := range r.env.Context {
			m[k] = v
		}
		m[flagdKey] = r.flagdMap()
		r.whole = m
	}
	return r.whole
}

const flagdKey = "$flagd"

// expose turns internal data into a plain value.
func expose(v any) any {
	if r, ok := v.(*root); ok {
		return r.materialize()
	}
	return v
}

// getVar is the "var" operator applied to its already-evaluated argument.
func getVar(values, data any) any {
	if values == nil {
		if !isPrimitive(data) {
			return nil
		}
		return data
	}
	var path string
	var def any
	switch x := values.(type) {
	case string:
		if x == "" {
			return expose(data)
		}
		path = x
	case float64, int:
		path = toStr(x)
	case []any:
		if len(x) == 0 {
			return expose(data)
		}
		if len(x) == 2 {
			def = x[1]
		}
		path = asString(x[0])
	default:
		path = asString(values)
	}
	if data == nil {
		return def
	}
	return walk(strings.Split(path, "."), def, data)
}

func walk(parts []string, def, data any) any {
	cur := data
	for _, part := range parts {
		if part == "" {
			continue
		}
		switch c := cur.(type) {
		case *root:
			cur = c.get(part)
		case map[string]any:
			cur = c[part]
		case []any:
			pos := int(toNum(part))
			if pos < 0 || pos >= len(c) {
				return def
			}
			cur = c[pos]
		default:
			return def
		}
		if cur == nil {
			return def
		}
	}
	return expose(cur)
}

// varPath is a "var" whose argument is a constant path: split once.
type varPath struct {
	parts []string
	def   any
	// flagKey and timestamp short-cut "$flagd.flagKey" / "$flagd.timestamp".
	special int
}

const (
	specialNone = iota
	specialFlagKey
	specialTimestamp
)

func (n *varPath) eval(data any) any {
	if data == nil {
		return n.def
	}
	if r, ok := data.(*root); ok && n.special != specialNone {
		if n.special == specialFlagKey {
			if r.env.FlagKeyValue != nil {
				return r.env.FlagKeyValue
			}
			return r.env.FlagKey
		}
		return float64(r.env.Timestamp)
	}
	return walk(n.parts, n.def, data)
}

// mayReadClock reports whether the path can reach "$flagd.timestamp" or
// the whole data.
func (n *varPath) mayReadClock() bool {
	var first, second string
	count := 0
	for _, p := range n.parts {
		if p == "" {
			continue
		}
		switch count {
		case 0:
			first = p
		case 1:
			second = p
		}
		count++
	}
	switch {
	case count == 0:
		return true // the whole data
	case first != flagdKey:
		return false
	case count == 1:
		return true // the "$flagd" object
	}
	return second == "timestamp"
}

func newVarPath(path string, def any) *varPath {
	parts := strings.Split(path, ".")
	n := &varPath{parts: parts, def: def}
	if len(parts) == 2 && parts[0] == flagdKey {
		switch parts[1] {
		case "flagKey":
			n.special = specialFlagKey
		case "timestamp":
			n.special = specialTimestamp
		}
	}
	return n
}
