// Package blast measures the blast radius of a change to a daemon's flags:
// given the flags before and after (two store snapshots, each the merge of
// its sources by flagd's rules) and a stream of evaluation contexts, it
// finds every flag whose definition differs (by evaluator.Flag.Fingerprint),
// evaluates every context under both definitions, and reports per flag how
// many contexts change variant, the transitions between variants with their
// counts, and the first few contexts of each transition.
//
// [Run] spreads the contexts over GOMAXPROCS workers in chunks; each worker
// decodes its contexts and evaluates them with evaluator.Flag.Evaluate into
// counters of its own, merged at the end, so that the report is the same
// whatever the number of workers. `vexil diff` and the daemon's
// POST /api/v1/diff both use it.
package blast

import (
	"context"
	"errors"
	"io"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/evaluator"
)

// The kinds of change of a flag.
const (
	Added   = "added"
	Removed = "removed"
	Changed = "changed"
)

// FlagDiff is one flag whose definition differs between two flag stores:
// its definition before (Old) and after (New), nil where it is absent.
type FlagDiff struct {
	Key       string
	FlagSetID string // "" for none
	Old, New  *evaluator.Flag
	// The names of the sources that serve the definitions.
	OldSource, NewSource string
}

// Change is Added, Removed or Changed.
func (d FlagDiff) Change() string {
	switch {
	case d.Old == nil:
		return Added
	case d.New == nil:
		return Removed
	}
	return Changed
}

// Compare returns the flags whose definitions differ between two
// snapshots: every distinct flag (flag set, key) either serves, the
// definition of the highest-priority source that defines it, compared by
// fingerprint. They are sorted by key, then flag set.
func Compare(old, new *store.Snapshot) []FlagDiff {
	type id struct{ set, key string }
	byID := map[id]*FlagDiff{}
	var out []*FlagDiff
	for _, l := range old.Listing(store.Selector{}) {
		d := &FlagDiff{Key: l.Flag.Key(), FlagSetID: l.Flag.FlagSetID(), Old: l.Flag, OldSource: l.Source}
		byID[id{d.FlagSetID, d.Key}] = d
		out = append(out, d)
	}
	for _, l := range new.Listing(store.Selector{}) {
		k := id{l.Flag.FlagSetID(), l.Flag.Key()}
		if d := byID[k]; d != nil {
			d.New, d.NewSource = l.Flag, l.Source
			continue
		}
		out = append(out, &FlagDiff{Key: k.key, FlagSetID: k.set, New: l.Flag, NewSource: l.Source})
	}
	var diffs []FlagDiff
	for _, d := range out {
		if d.Old != nil && d.New != nil && d.Old.Fingerprint() == d.New.Fingerprint() {
			continue
		}
		diffs = append(diffs, *d)
	}
	slices.SortFunc(diffs, func(a, b FlagDiff) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return strings.Compare(a.FlagSetID, b.FlagSetID)
	})
	return diffs
}

// DefaultExamples is how many example contexts a report keeps per
// transition when Config.Examples is 0.
const DefaultExamples = 3

// Config configures Run.
type Config struct {
	// Workers is the number of goroutines that evaluate; 0 means
	// runtime.GOMAXPROCS(0).
	Workers int
	// Examples is how many contexts to keep per transition, the first ones
	// in input order; 0 means DefaultExamples, a negative number none; at
	// most 255.
	Examples int
	// ChunkSize is how many contexts a worker takes at a time; 0 means 256.
	ChunkSize int
	// Now is the time "$flagd.timestamp" holds in every evaluation, the
	// same under both definitions; zero means the time Run starts.
	Now time.Time
}

// Run evaluates every context of in under the old and the new definition
// of each flag of diffs, and reports the differences. A context that is
// not a JSON object stops it with a *ContextError naming the first such
// context in input order; so does an error of the input. It returns
// ctx.Err() when ctx ends first.
func Run(ctx context.Context, diffs []FlagDiff, in Input, cfg Config) (*Report, error) {
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	examples := cfg.Examples
	switch {
	case examples == 0:
		examples = DefaultExamples
	case examples < 0:
		examples = 0
	}
	examples = min(examples, 255)
	chunkSize := cfg.ChunkSize
	if chunkSize <= 0 {
		chunkSize = 256
	}
	now := cfg.Now
	if now.IsZero() {
		now = time.Now()
	}
	clock := func() time.Time { return now }

	plans, cells := makePlans(diffs, clock)
	r := &run{plans: plans, cells: cells, examples: uint8(examples), clock: clock, in: in}

	work := make(chan *chunk, workers)
	free := make(chan *chunk, 2*workers+1)
	tallies := make([]*tally, workers)
	var wg sync.WaitGroup
	for w := range workers {
		tallies[w] = r.newTally()
		wg.Go(func() {
			for c := range work {
				r.process(tallies[w], c)
				select {
				case free <- c:
				default:
				}
			}
		})
	}

	count, readErr := r.produce(ctx, work, free, chunkSize)
	close(work)
	wg.Wait()

	// The first error in input order: a context's, else the input's.
	var first *tally
	for _, t := range tallies {
		if t.err != nil && (first == nil || t.errAt < first.errAt) {
			first = t
		}
	}
	if first != nil {
		return nil, first.err
	}
	if readErr != nil {
		return nil, readErr
	}
	return r.report(count, tallies), nil
}

// plan is how one flag diff is counted: its variants numbered (0 for no
// variant), and a count per pair of old and new variant.
type plan struct {
	diff  FlagDiff
	names []string // variant i is names[i-1]
	index map[string]int
	// oldAt and newAt are the variant a side always answers, -1 when it
	// depends on the context.
	oldAt, newAt int
	n            int    // len(names)+1
	off          int    // where its cells start in a tally
	changed      []bool // per cell (from*n+to): does the context change?
	valueDiffers []bool // per variant: is its value different after?
}

// makePlans numbers the variants of each diff and lays out the counters.
func makePlans(diffs []FlagDiff, clock func() time.Time) ([]plan, int) {
	plans := make([]plan, len(diffs))
	cells := 0
	for i, d := range diffs {
		p := &plans[i]
		p.diff = d
		seen := map[string]bool{}
		for _, f := range []*evaluator.Flag{d.Old, d.New} {
			if f == nil {
				continue
			}
			for name := range f.Variants() {
				if !seen[name] {
					seen[name] = true
					p.names = append(p.names, name)
				}
			}
		}
		slices.Sort(p.names)
		p.n = len(p.names) + 1
		p.index = make(map[string]int, len(p.names))
		for j, name := range p.names {
			p.index[name] = j + 1
		}
		p.valueDiffers = make([]bool, p.n)
		for j, name := range p.names {
			var ov, nv any
			var oin, nin bool
			if d.Old != nil {
				ov, oin = d.Old.Variant(name)
			}
			if d.New != nil {
				nv, nin = d.New.Variant(name)
			}
			p.valueDiffers[j+1] = oin && nin && !reflect.DeepEqual(ov, nv)
		}
		p.changed = make([]bool, p.n*p.n)
		for from := range p.n {
			for to := range p.n {
				p.changed[from*p.n+to] = from != to || from > 0 && p.valueDiffers[from]
			}
		}
		p.oldAt, p.newAt = p.constant(d.Old, clock), p.constant(d.New, clock)
		p.off = cells
		cells += p.n * p.n
	}
	return plans, cells
}

// constant returns the variant f answers whatever the context, or -1 when
// that depends on the context.
func (p *plan) constant(f *evaluator.Flag, clock func() time.Time) int {
	if f == nil {
		return 0
	}
	if f.Disabled() || !f.HasTargeting() {
		return p.variantOf(f.Evaluate(evaluator.KindAny, nil, clock))
	}
	return -1
}

// variantOf returns the number of the variant a result answers; 0 for
// none (disabled, no default, an error).
func (p *plan) variantOf(r evaluator.Result) int {
	if r.NoValue {
		return 0
	}
	return p.index[r.Variant]
}

// chunk is a run of contexts, their texts one after another.
type chunk struct {
	first int // the ordinal of the first context
	text  []byte
	ends  []int // where each context's text ends
	pos   []int // each context's position in the input
}

// run is one Run's shared, read-only state.
type run struct {
	plans    []plan
	cells    int
	examples uint8
	clock    func() time.Time
	in       Input
	failed   atomic.Bool
}

// tally is one worker's counters.
type tally struct {
	counts []int64
	kept   []uint8 // examples kept, per cell
	ex     map[int][]Example
	err    error
	errAt  int // the ordinal of the context of err
	// ctx is the map contexts are decoded into, reused: evaluation keeps
	// nothing of a context.
	ctx map[string]any
	// names are the contexts' member names, interned.
	names map[string]string
}

func (r *run) newTally() *tally {
	return &tally{counts: make([]int64, r.cells), kept: make([]uint8, r.cells), ex: map[int][]Example{}, ctx: map[string]any{}, names: map[string]string{}}
}

// produce reads the input into chunks for the workers, and returns how
// many contexts it read and the input's error.
func (r *run) produce(ctx context.Context, work, free chan *chunk, size int) (int, error) {
	count := 0
	var c *chunk
	for {
		if r.failed.Load() {
			return count, nil
		}
		if c == nil {
			select {
			case c = <-free:
				c.text, c.ends, c.pos = c.text[:0], c.ends[:0], c.pos[:0]
			default:
				c = &chunk{ends: make([]int, 0, size), pos: make([]int, 0, size)}
			}
			c.first = count
		}
		text, pos, err := r.in.Next()
		if err == nil {
			c.text = append(c.text, text...)
			c.ends = append(c.ends, len(c.text))
			c.pos = append(c.pos, pos)
			count++
			if len(c.ends) < size {
				continue
			}
		}
		if len(c.ends) > 0 {
			select {
			case work <- c:
			case <-ctx.Done():
				return count, ctx.Err()
			}
			c = nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return count, ctx.Err()
			}
			return count, err
		}
		if err := ctx.Err(); err != nil {
			return count, err
		}
	}
}

// process decodes and evaluates a chunk's contexts into t.
func (r *run) process(t *tally, c *chunk) {
	start := 0
	for i, end := range c.ends {
		text := c.text[start:end]
		start = end
		m, err := decodeContextInto(text, t.ctx, t.names)
		if err != nil {
			ord := c.first + i
			if t.err == nil || ord < t.errAt {
				t.err, t.errAt = &ContextError{Where: r.in.Describe(c.pos[i]), Err: err}, ord
			}
			r.failed.Store(true)
			return
		}
		for pi := range r.plans {
			p := &r.plans[pi]
			from, to := p.oldAt, p.newAt
			if from < 0 {
				from = p.variantOf(p.diff.Old.Evaluate(evaluator.KindAny, m, r.clock))
			}
			if to < 0 {
				to = p.variantOf(p.diff.New.Evaluate(evaluator.KindAny, m, r.clock))
			}
			cell := from*p.n + to
			t.counts[p.off+cell]++
			if p.changed[cell] && t.kept[p.off+cell] < r.examples {
				t.kept[p.off+cell]++
				t.ex[p.off+cell] = append(t.ex[p.off+cell], Example{
					From: p.name(from), To: p.name(to), Index: c.first + i, Context: compact(text),
				})
			}
		}
	}
}

// name returns variant i's name, nil for none.
func (p *plan) name(i int) *string {
	if i == 0 {
		return nil
	}
	return &p.names[i-1]
}
