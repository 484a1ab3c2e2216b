package provider

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"

	"github.com/open-feature/go-sdk/openfeature"

	"github.com/vexilhq/vexil/evaluator"
)

// snapshot is one set of flags evaluated locally, with the context every
// evaluation starts from.
type snapshot struct {
	set  *evaluator.FlagSet
	base map[string]any // the enriched sync context; nil for none
}

// local evaluates flags locally, from the latest snapshot.
type local struct {
	p      *Provider
	parser *evaluator.Parser
	snap   atomic.Pointer[snapshot]
}

func newLocal(p *Provider) (*local, error) {
	parser, err := evaluator.NewParser(evaluator.Options{FractionalCBOR: p.cfg.FractionalCBOR})
	if err != nil {
		return nil, err
	}
	return &local{p: p, parser: parser}, nil
}

// evaluate evaluates a flag in the latest snapshot. The caller's context
// is merged over the snapshot's base context.
func (l *local) evaluate(_ context.Context, key string, kind evaluator.Kind, flat openfeature.FlattenedContext) result {
	s := l.snap.Load()
	if s == nil {
		return failed(openfeature.NewProviderNotReadyResolutionError("no flags received yet"))
	}
	ctx := map[string]any(flat)
	if len(s.base) > 0 {
		ctx = make(map[string]any, len(s.base)+len(flat))
		maps.Copy(ctx, s.base)
		maps.Copy(ctx, flat)
	}
	return localResult(s.set.Evaluate(key, kind, ctx))
}

// lost keeps the flags: local evaluation goes on while disconnected.
func (l *local) lost() {}

// apply parses a full document and swaps it in. It returns the keys of the
// flags that changed (added, removed or modified) since the previous
// snapshot, and whether the document was accepted; a rejected document
// keeps the previous snapshot.
func (l *local) apply(source string, data []byte, format evaluator.Format, syncContext map[string]any) ([]string, error) {
	set, _, err := l.parser.Parse(source, data, format)
	if err != nil {
		return nil, fmt.Errorf("flag document rejected: %w", err)
	}
	next := &snapshot{set: set, base: l.enrich(syncContext)}
	prev := l.snap.Swap(next)
	if prev == nil {
		return nil, nil
	}
	return changedKeys(prev.set, set), nil
}

// enrich maps a sync context to the base context of evaluations.
func (l *local) enrich(syncContext map[string]any) map[string]any {
	f := l.p.cfg.Enricher
	if f == nil {
		return syncContext
	}
	ec := f(syncContext)
	if ec == nil {
		return nil
	}
	out := ec.Attributes()
	if tk := ec.TargetingKey(); tk != "" {
		out[openfeature.TargetingKey] = tk
	}
	return out
}

// changedKeys returns the sorted keys of the flags that differ between two
// sets: added, removed, or whose fingerprint changed.
func changedKeys(a, b *evaluator.FlagSet) []string {
	var out []string
	for _, f := range a.Flags() {
		g, ok := b.Flag(f.Key())
		if !ok || f.Fingerprint() != g.Fingerprint() {
			out = append(out, f.Key())
		}
	}
	for _, g := range b.Flags() {
		if _, ok := a.Flag(g.Key()); !ok {
			out = append(out, g.Key())
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
