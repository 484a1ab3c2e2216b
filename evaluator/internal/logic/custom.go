package logic

import (
	"encoding/json"

	"github.com/vexilhq/vexil/evaluator/internal/ops"
)

// Custom operators receive their evaluated argument and the data, as flagd
// registers them with the library. Bad input makes them yield null, never
// fail.

func stringAffix(prefix bool, vals []any) any {
	if prefix {
		return ops.StartsWith(vals)
	}
	return ops.EndsWith(vals)
}

func semVer(vals []any) any { return ops.SemVer(vals) }

type fractionalNode struct {
	a    args
	cbor bool
	// rest holds the entries after the first argument, read once, when
	// they are constants.
	rest *ops.Buckets
	// cat is set when the first argument is a "cat" of listed operands:
	// its string is then hashed from a stack buffer, never built.
	cat *opNode
}

func newFractionalNode(a args, raw any, cbor bool) *fractionalNode {
	n := &fractionalNode{a: a, cbor: cbor}
	list, ok := raw.([]any)
	if !ok || len(list) < 2 || len(a.elems) != len(list) {
		return n
	}
	entries := make([]any, 0, len(list)-1)
	for _, e := range a.elems[1:] {
		c, ok := e.(constNode)
		if !ok {
			return n
		}
		entries = append(entries, c.v)
	}
	b := ops.ParseBuckets(entries)
	n.rest = &b
	if c, ok := a.elems[0].(*opNode); ok && c.code == opCat && len(c.a.elems) > 0 && len(c.a.elems) <= len(argBuf{}) && !cbor {
		n.cat = c
	}
	return n
}

// evalCat hashes the bucketing string built by a first argument "cat"
// exactly as FractionalV2 would hash the string cat yields.
func (n *fractionalNode) evalCat(data any) any {
	var buf argBuf
	parts := n.cat.a.list(data, &buf)
	var text [128]byte
	by := appendCat(text[:0], parts) // fails where cat fails, first
	if _, _, isObj := fractionalData(data); !isObj {
		return nil
	}
	return n.rest.Pick(ops.HashBytes(by))
}

func (n *fractionalNode) eval(data any) any {
	if n.cat != nil {
		return n.evalCat(data)
	}
	var buf argBuf
	vals, _, ok := n.a.eval(data, &buf)
	if !ok {
		return nil
	}
	if n.rest != nil && len(vals) == len(n.a.elems) {
		// The first argument decides whether it is the bucketing value.
		if hash, done, ok := n.hashFirst(vals[0], data); done {
			if !ok {
				return nil
			}
			return n.rest.Pick(hash)
		}
	}
	return fractional(vals, data, n.cbor)
}

// hashFirst hashes the bucketing value when the first argument is not a
// bucket entry; done is false when the general path must decide.
func (n *fractionalNode) hashFirst(first, data any) (hash uint32, done, ok bool) {
	flagKey, ctx, isObj := fractionalData(data)
	if !isObj {
		return 0, true, false
	}
	if n.cbor {
		switch first.(type) {
		case nil, []any:
			return 0, false, false
		}
		h, err := ops.HashV3(first)
		return h, true, err == nil
	}
	switch f := first.(type) {
	case string:
		return ops.HashString(f), true, true
	case nil:
		tk, isStr := ctx["targetingKey"].(string)
		if !isStr || tk == "" {
			return 0, true, false
		}
		return ops.HashConcat(flagKey, tk), true, true
	}
	return 0, false, false
}

// fractional is flagd's fractional operator on its evaluated argument. Its
// data must be an object: at the top level, the context with "$flagd".
func fractional(vals []any, data any, cbor bool) any {
	flagKey, ctx, ok := fractionalData(data)
	if !ok {
		return nil
	}
	if cbor {
		return ops.FractionalV3(vals, flagKey, ctx["targetingKey"])
	}
	return ops.FractionalV2(vals, flagKey, ctx["targetingKey"])
}

// fractionalData finds the flag key and the context the way flagd's
// fractional reads its data argument.
func fractionalData(data any) (string, map[string]any, bool) {
	switch d := data.(type) {
	case *root:
		return d.env.FlagKey, d.env.Context, true
	case map[string]any:
		return nestedFlagKey(d), d, true
	}
	return "", nil, false
}

// flagdProperties is what flagd decodes a data object's "$flagd" member
// into to find the flag key.
type flagdProperties struct {
	FlagKey   string `json:"flagKey"`
	Timestamp int64  `json:"timestamp"`
}

// nestedFlagKey is the flag key fractional finds in a data object other
// than the top-level one (an element of "map", "filter", ...): flagd
// encodes its "$flagd" member and decodes it into flagdProperties, so the
// field names match in any case ("FlagKey"), the last of several matching
// names wins, and any member of the wrong type (a timestamp of 1.5, "x" or
// 1e21, a flag key that is not a string) leaves the key empty.
func nestedFlagKey(d map[string]any) string {
	p, present := d[flagdKey]
	if !present {
		return ""
	}
	if m, ok := p.(map[string]any); ok && len(m) == 1 {
		// The usual shape, {"flagKey": "..."}, decoded without encoding.
		if k, ok := m["flagKey"].(string); ok {
			return k
		}
	}
	b, err := json.Marshal(p)
	if err != nil {
		return ""
	}
	var props flagdProperties
	if json.Unmarshal(b, &props) != nil {
		return ""
	}
	return props.FlagKey
}
