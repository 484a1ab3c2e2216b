package store

import (
	"slices"
	"strings"

	"github.com/vexilhq/vexil/evaluator"
)

// Explain explains the evaluation Evaluate(sel, key, kind, ctx) makes: the
// same result (metadata included), the flag's source, and the definitions
// of the key that lower-priority sources hold and that this one hides.
func (s *Snapshot) Explain(sel Selector, key string, kind evaluator.Kind, ctx map[string]any) evaluator.Explanation {
	e := s.lookup(sel, key)
	if e == nil {
		return evaluator.Explanation{Result: s.Evaluate(sel, key, kind, ctx), Kind: kind, Context: ctx}
	}
	x := e.flag.Explain(kind, ctx, s.lay.now)
	switch {
	case sel.kind == selectSource:
		x.Result.Metadata = e.sourceMetadata(sel.value)
	case sel.kind == selectFlagSet && sel.value == "":
		x.Result.Metadata = e.noSetMetadata()
	}
	x.Source = s.lay.names[e.src]
	x.Shadowed = s.shadowed(e)
	return x
}

// shadowed lists the definitions of e's key in sources of lower priority
// than e's, by source priority (highest first) and flag set.
func (s *Snapshot) shadowed(e *entry) []evaluator.Definition {
	var out []evaluator.Definition
	for i := e.src - 1; i >= 0; i-- {
		sd := s.srcs[i]
		var found []*entry
		if sd.multiSet() {
			for id, c := range sd.entries {
				if id.key == e.key {
					found = append(found, c)
				}
			}
			slices.SortFunc(found, func(a, b *entry) int { return strings.Compare(a.set, b.set) })
		} else if c := sd.byKey[e.key]; c != nil {
			found = append(found, c)
		}
		for _, c := range found {
			dv, _ := c.flag.DefaultVariant()
			out = append(out, evaluator.Definition{Source: s.lay.names[i], FlagSetID: c.set, State: c.flag.State(), DefaultVariant: dv})
		}
	}
	return out
}
