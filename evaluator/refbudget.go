package evaluator

import (
	"strconv"
	"strings"
)

// The budget on $ref expansion.
//
// A $ref is replaced by its evaluator, which may hold $refs in turn. The
// resolved rules share their evaluators, but a flag's compiled rule, its
// JSON (the targeting the sync service sends: flagd substitutes $refs in
// the text, so its rule is the expanded tree) and its fingerprint are
// trees: a chain of evaluators each referring twice to the one before
// doubles at each step, and forty of them, a 2 KB document, expand to 2^41
// nodes. So before a flag is compiled, the nodes its $refs bring in are
// counted, in time linear in the document (each evaluator's expanded size
// is computed once, from those of the evaluators it refers to), and a
// document over the budget is rejected.

const (
	// maxRefNodesPerFlag bounds the nodes the $refs of one flag's
	// targeting bring in: the expanded sizes of the evaluators they name,
	// every JSON value (object, array, string, number, boolean, null)
	// counting one.
	maxRefNodesPerFlag = 100_000
	// minRefNodesPerDocument and docBytesPerRefNode bound the nodes the
	// $refs of all a document's flags bring in: 1,000,000, or one per 4
	// bytes of the document when that is more.
	minRefNodesPerDocument = 1_000_000
	docBytesPerRefNode     = 4
	// sizeCap keeps the counts from overflowing: a larger count is sizeCap.
	sizeCap = 1 << 62
)

// addSize adds two counts of at most sizeCap, saturating at sizeCap.
func addSize(a, b int64) int64 {
	if b >= sizeCap-a {
		return sizeCap
	}
	return a + b
}

// refNodeBudget is the budget of the document being built.
func (b *builder) refNodeBudget() int64 {
	return max(minRefNodesPerDocument, b.docLen/docBytesPerRefNode)
}

// expandedSize counts the nodes of v once every $ref to a resolved
// evaluator is replaced by it, from the sizes of the evaluators resolved.
func (r *refResolver) expandedSize(v any) int64 {
	switch x := v.(type) {
	case map[string]any:
		if name, ok := refName(x); ok && r.state[name] == 2 {
			return r.size[name]
		}
		n := int64(1)
		for _, e := range x {
			n = addSize(n, r.expandedSize(e))
		}
		return n
	case []any:
		n := int64(1)
		for _, e := range x {
			n = addSize(n, r.expandedSize(e))
		}
		return n
	}
	return 1
}

// broughtIn counts the nodes the $refs in v bring in: the expanded sizes
// of the resolved evaluators they name.
func (r *refResolver) broughtIn(v any) int64 {
	var n int64
	switch x := v.(type) {
	case map[string]any:
		if name, ok := refName(x); ok {
			if r.state[name] == 2 {
				return r.size[name]
			}
			return 0
		}
		for _, e := range x {
			if mayHoldRef(e) {
				n = addSize(n, r.broughtIn(e))
			}
		}
	case []any:
		for _, e := range x {
			if mayHoldRef(e) {
				n = addSize(n, r.broughtIn(e))
			}
		}
	}
	return n
}

// heaviestRef finds the $ref in v naming the largest resolved evaluator
// (the first in key order of equals): the tokens of its pointer below v,
// and its name; "" when v holds none.
func (r *refResolver) heaviestRef(v any) (toks []string, name string) {
	var best int64 = -1
	var walk func(v any, path []string)
	walk = func(v any, path []string) {
		switch x := v.(type) {
		case map[string]any:
			if n, ok := refName(x); ok {
				if r.state[n] == 2 && r.size[n] > best {
					best, name, toks = r.size[n], n, append([]string(nil), path...)
				}
				return
			}
			for _, k := range refKeys(x) {
				walk(x[k], append(path, k))
			}
		case []any:
			for i, e := range x {
				if mayHoldRef(e) {
					walk(e, append(path, strconv.Itoa(i)))
				}
			}
		}
	}
	walk(v, nil)
	return toks, name
}

// refChain describes the chain of $refs that brings in the most from the
// evaluator name: "e40" → "e39" → … → "e1".
func (r *refResolver) refChain(name string) string {
	const shown = 5
	var names []string
	for seen := map[string]bool{}; name != "" && !seen[name]; {
		seen[name] = true
		names = append(names, strconv.Quote(name))
		_, name = r.heaviestRef(r.defs[name])
	}
	if len(names) > shown+1 {
		names = append(append(names[:shown:shown], "…"), names[len(names)-1])
	}
	return strings.Join(names, " → ")
}

// checkRefBudget counts the nodes the $refs of a flag (the definition v,
// at ptr; flagd substitutes them anywhere in it) bring in, and reports the
// flag when they are over maxRefNodesPerFlag; ok is false then.
func (b *builder) checkRefBudget(key, ptr string, v any) (n int64, ok bool) {
	if !mayHoldRef(v) || len(b.refs.defs) == 0 {
		return 0, true
	}
	if n = b.refs.broughtIn(v); n <= maxRefNodesPerFlag {
		return n, true
	}
	toks, name := b.refs.heaviestRef(v)
	p := ptr
	for _, tok := range toks {
		p += "/" + escapeToken(tok)
	}
	b.add(SeverityError, key, p, "$ref expansion exceeds %d nodes per flag: its $refs bring in %s (via $ref %s)",
		maxRefNodesPerFlag, sizeString(n), b.refs.refChain(name))
	return n, false
}

// sizeString formats a count, sizeCap as "more than" it.
func sizeString(n int64) string {
	if n >= sizeCap {
		return "more than " + strconv.FormatInt(sizeCap, 10)
	}
	return strconv.FormatInt(n, 10)
}
