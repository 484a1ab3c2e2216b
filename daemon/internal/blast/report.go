package blast

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
)

// Report is the blast radius of a change: its JSON form is what
// `vexil diff --output json` prints and POST /api/v1/diff answers.
type Report struct {
	// Contexts is the number of contexts evaluated.
	Contexts int `json:"contexts"`
	// Flags are the flags whose definitions differ, sorted by key, then
	// flag set.
	Flags []FlagReport `json:"flags"`
}

// FlagReport is what a change does to one flag.
type FlagReport struct {
	Key       string `json:"key"`
	FlagSetID string `json:"flagSetId,omitempty"`
	// Change is "added", "removed" or "changed".
	Change string `json:"change"`
	// The sources that serve the old and the new definition.
	OldSource string `json:"oldSource,omitempty"`
	NewSource string `json:"newSource,omitempty"`
	// Evaluated is the number of contexts evaluated under both
	// definitions; Changed, of those, the number whose answer changed: a
	// different variant, or the same variant with another value.
	Evaluated int `json:"evaluated"`
	Changed   int `json:"changed"`
	// Transitions are the changes, most frequent first (then by variant
	// names, no variant first).
	Transitions []Transition `json:"transitions"`
	// Unchanged counts the contexts that kept their answer, per variant,
	// most frequent first.
	Unchanged []Unchanged `json:"unchanged"`
	// Examples are the first contexts (in input order) of each
	// transition, in the order of Transitions.
	Examples []Example `json:"examples"`
}

// Transition is how many contexts went from one variant to another. A
// variant is its name, or null where the flag is absent, disabled, has no
// variant to answer (no default variant) or errs.
type Transition struct {
	From  *string `json:"from"`
	To    *string `json:"to"`
	Count int     `json:"count"`
	// ValueChanged is set when From and To are the same variant, whose
	// value changed.
	ValueChanged bool `json:"valueChanged,omitempty"`
}

// Unchanged is how many contexts got the same answer before and after.
type Unchanged struct {
	Variant *string `json:"variant"`
	Count   int     `json:"count"`
}

// Example is one context that changed.
type Example struct {
	From *string `json:"from"`
	To   *string `json:"to"`
	// Index is the context's place among the contexts, from 0.
	Index   int             `json:"index"`
	Context json.RawMessage `json:"context"`
}

// compact returns a copy of a JSON text without insignificant space.
func compact(text []byte) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, text); err != nil {
		return json.RawMessage(bytes.Clone(text))
	}
	return b.Bytes()
}

// compareNames orders variants, no variant first.
func compareNames(a, b *string) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	return cmp.Compare(*a, *b)
}

// report merges the workers' tallies.
func (r *run) report(contexts int, tallies []*tally) *Report {
	rep := &Report{Contexts: contexts, Flags: make([]FlagReport, 0, len(r.plans))}
	for pi := range r.plans {
		p := &r.plans[pi]
		fr := FlagReport{
			Key: p.diff.Key, FlagSetID: p.diff.FlagSetID, Change: p.diff.Change(),
			OldSource: p.diff.OldSource, NewSource: p.diff.NewSource,
			Evaluated: contexts, Transitions: []Transition{}, Unchanged: []Unchanged{}, Examples: []Example{},
		}
		exByCell := map[int][]Example{}
		for cell := range p.n * p.n {
			var count int64
			var ex []Example
			for _, t := range tallies {
				count += t.counts[p.off+cell]
				ex = append(ex, t.ex[p.off+cell]...)
			}
			if count == 0 {
				continue
			}
			from, to := cell/p.n, cell%p.n
			if !p.changed[cell] {
				fr.Unchanged = append(fr.Unchanged, Unchanged{Variant: p.name(from), Count: int(count)})
				continue
			}
			fr.Changed += int(count)
			fr.Transitions = append(fr.Transitions, Transition{
				From: p.name(from), To: p.name(to), Count: int(count), ValueChanged: from == to,
			})
			slices.SortFunc(ex, func(a, b Example) int { return cmp.Compare(a.Index, b.Index) })
			exByCell[from*p.n+to] = ex[:min(len(ex), int(r.examples))]
		}
		slices.SortFunc(fr.Transitions, func(a, b Transition) int {
			if c := cmp.Compare(b.Count, a.Count); c != 0 {
				return c
			}
			if c := compareNames(a.From, b.From); c != 0 {
				return c
			}
			return compareNames(a.To, b.To)
		})
		slices.SortFunc(fr.Unchanged, func(a, b Unchanged) int {
			if c := cmp.Compare(b.Count, a.Count); c != 0 {
				return c
			}
			return compareNames(a.Variant, b.Variant)
		})
		for _, tr := range fr.Transitions {
			fr.Examples = append(fr.Examples, exByCell[p.cellOf(tr.From)*p.n+p.cellOf(tr.To)]...)
		}
		rep.Flags = append(rep.Flags, fr)
	}
	return rep
}

// cellOf returns the number of a variant name (0 for nil).
func (p *plan) cellOf(name *string) int {
	if name == nil {
		return 0
	}
	return p.index[*name]
}
