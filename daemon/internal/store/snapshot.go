package store

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vexilhq/vexil/evaluator"
)

// SourceState is what a snapshot knows about one configured source.
type SourceState struct {
	// Name is the source's name, as configured.
	Name string
	// Delivered reports that the source has delivered a document that was
	// loaded, or a removal, at least once: it has flags to serve (or
	// deliberately none).
	Delivered bool
	// Received reports that the source has delivered a document at least
	// once, loaded or rejected, or a removal: it has answered. flagd counts
	// a source as ready once it has read its document, whether or not the
	// document loads.
	Received bool
	// Outage reports that the source's latest update was an outage: the
	// flags it last delivered keep serving.
	Outage bool
	// Removed reports that the source's flags were deliberately removed.
	Removed bool
	// LastError describes the latest failed update (an outage or a rejected
	// document); it is cleared when a document is loaded or the source is
	// removed.
	LastError string
	// Problems are those of the latest document the source delivered: its
	// warnings when it was loaded, every problem when it was rejected. Each
	// names the source, the flag and a JSON pointer. Shared: do not modify.
	Problems []evaluator.Problem
	// Flags is the number of flags the source serves.
	Flags int
	// Updated is when the source last delivered anything; Loaded is when
	// the flags it serves were loaded (or removed).
	Updated time.Time
	Loaded  time.Time
	// Rejected counts the documents the source delivered that were rejected.
	Rejected int
}

// entry is one flag of one source. Entries are immutable apart from their
// lazily built metadata, and are shared between snapshots for as long as
// the flag's definition does not change.
type entry struct {
	flag *evaluator.Flag
	key  string
	set  string // flag set id, "" for none
	src  int    // the source's priority: its index in Config.Sources
	// srcMeta is the metadata of an evaluation selected by source: the
	// flag's, over the selector's {"source": name}.
	srcMeta atomic.Pointer[evaluator.Metadata]
	// noSetMeta is the metadata of an evaluation selected by "flagSetId=".
	noSetMeta atomic.Pointer[evaluator.Metadata]
}

// sourceMetadata returns the metadata flagd answers for a flag selected by
// its source: {"source": name} overlaid with the flag's metadata.
func (e *entry) sourceMetadata(name string) evaluator.Metadata {
	return e.selectionMetadata(&e.srcMeta, selectorKeySource, name)
}

// noSetMetadata is the metadata of an evaluation selected by "flagSetId="
// (the flags of no flag set): the flag's, over {"flagSetId": NoFlagSetID}.
func (e *entry) noSetMetadata() evaluator.Metadata {
	return e.selectionMetadata(&e.noSetMeta, selectorKeyFlagSetID, NoFlagSetID)
}

// selectionMetadata is the flag's metadata over {key: value} (nothing when
// value is empty), as flagd merges a flag's metadata into its selection's;
// it is built once, into cache.
func (e *entry) selectionMetadata(cache *atomic.Pointer[evaluator.Metadata], key, value string) evaluator.Metadata {
	if m := cache.Load(); m != nil {
		return *m
	}
	fm := e.flag.Metadata()
	m := make(evaluator.Metadata, len(fm)+1)
	if value != "" {
		m[key] = value
	}
	for k, v := range fm {
		if v != nil {
			m[k] = v
		}
	}
	cache.Store(&m)
	return m
}

// sourceData is one source's part of a snapshot. Immutable.
type sourceData struct {
	entries map[flagID]*entry // by flag set and key
	// byKey holds, for each key, the entry a lookup by key alone finds in
	// this source: of the flag sets that define the key, the greatest id.
	byKey   map[string]*entry
	version uint64 // counts the changes of entries
	state   SourceState
}

// layout is what every snapshot of a store shares.
type layout struct {
	names []string
	index map[string]int
	now   func() time.Time
}

// Snapshot is an immutable view of the merged flags of every source. It is
// safe for concurrent use; reading it takes no lock.
//
// Flags are identified by flag set id and key. When several sources define
// the same flag (the same key in the same flag set), the source configured
// later wins. A query without a selector sees, for each key, the flag of
// the highest-priority source that defines that key in any flag set; with
// a flag-set selector it sees that set's flags; with a source selector, the
// flags of that source that no higher-priority source shadows.
//
// flagd keeps only the winning definition of a flag, so when the winning
// source drops it, flagd serves none until the shadowed source delivers
// again; Vexil keeps every source's flags and serves the shadowed
// definition at once.
type Snapshot struct {
	gen             uint64
	lay             *layout
	srcs            []*sourceData // by priority
	ready, received bool
	// byKey holds, for each key, the entry of the highest-priority source
	// that defines it (in any flag set).
	byKey map[string]*entry
	// bySet holds, for each flag set and key, the entry of the
	// highest-priority source that defines it.
	bySet map[string]map[string]*entry

	// Lists sorted on first use.
	all     atomic.Pointer[[]*evaluator.Flag]
	perSet  sync.Map // flag set id -> *[]*evaluator.Flag
	perSrc  []atomic.Pointer[[]*evaluator.Flag]
	states  []SourceState
	flagCnt int
}

func newSnapshot(gen uint64, lay *layout, srcs []*sourceData, byKey map[string]*entry, bySet map[string]map[string]*entry) *Snapshot {
	s := &Snapshot{gen: gen, lay: lay, srcs: srcs, byKey: byKey, bySet: bySet, ready: true, received: true}
	s.perSrc = make([]atomic.Pointer[[]*evaluator.Flag], len(srcs))
	s.states = make([]SourceState, len(srcs))
	for i, sd := range srcs {
		s.states[i] = sd.state
		if !sd.state.Delivered {
			s.ready = false
		}
		if !sd.state.Received {
			s.received = false
		}
	}
	for _, m := range bySet {
		s.flagCnt += len(m)
	}
	return s
}

// Generation numbers the snapshots a store publishes: 0 for the empty one
// it starts with, then one more for each update applied.
func (s *Snapshot) Generation() uint64 { return s.gen }

// Ready reports whether every configured source has delivered its flags at
// least once (a loaded document or a removal). Once it is true it stays
// true: an outage or a rejected document leaves the last good flags
// serving. A store with no sources is ready.
func (s *Snapshot) Ready() bool { return s.ready }

// Received reports whether every configured source has delivered a
// document at least once, loaded or rejected, or a removal. This is
// flagd's readiness (its /readyz and the first event of an EventStream):
// a source that delivered only rejected documents serves no flags, yet
// counts. Once it is true it stays true. A store with no sources has.
func (s *Snapshot) Received() bool { return s.received }

// Sources returns the state of each configured source, in priority order
// (lowest first). The slice is a copy.
func (s *Snapshot) Sources() []SourceState { return slices.Clone(s.states) }

// Len returns the number of distinct flags: (flag set, key) pairs.
func (s *Snapshot) Len() int { return s.flagCnt }

// lookup returns the entry a query for key sees, as flagd's store.Get does
// (core/pkg/store/store.go).
func (s *Snapshot) lookup(sel Selector, key string) *entry {
	switch sel.kind {
	case selectAll:
		return s.byKey[key]
	case selectFlagSet:
		return s.bySet[sel.value][key]
	}
	i, ok := s.lay.index[sel.value]
	if !ok {
		return nil
	}
	// flagd's store takes the first match of its key+source index, ordered
	// by flag set id: of the flag sets in which the source defines key and
	// no higher-priority source shadows it, the least.
	e := s.srcs[i].byKey[key]
	if e == nil {
		return nil
	}
	if !s.srcs[i].multiSet() {
		if s.bySet[e.set][key] != e {
			return nil // shadowed by a higher-priority source
		}
		return e
	}
	return s.sourceExtreme(i, key, -1)
}

// multiSet reports whether the source defines some key in more than one
// flag set (an array document can).
func (sd *sourceData) multiSet() bool { return len(sd.entries) != len(sd.byKey) }

// sourceExtreme returns, of the flag sets in which source i defines key
// and no higher-priority source shadows it, the entry of the least (sign
// -1) or the greatest (sign 1) flag set. It looks at every flag set.
func (s *Snapshot) sourceExtreme(i int, key string, sign int) *entry {
	var best *entry
	for set, m := range s.bySet {
		if c := m[key]; c != nil && c.src == i && (best == nil || compareSets(set, best.set)*sign > 0) {
			best = c
		}
	}
	return best
}

// nilSetRank is where the flags of no flag set sort among flag set ids.
// flagd files them under a random UUID drawn at startup, so their place
// varies from run to run; sorting them as if their id were "8" puts them
// where that UUID most often falls: after the ids below "8" (those that
// start with a digit under 8, or punctuation), before the others.
const nilSetRank = "8"

// compareSets orders flag set ids as flagd's store does, "" standing for
// no flag set (see nilSetRank).
func compareSets(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "":
		if b < nilSetRank {
			return 1
		}
		return -1
	case b == "":
		if a < nilSetRank {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// lastListed returns the entry of key that Listing(sel) has last: of the
// flag sets that define key and that the selector sees, the greatest.
func (s *Snapshot) lastListed(sel Selector, key string) *entry {
	switch sel.kind {
	case selectFlagSet:
		return s.bySet[sel.value][key]
	case selectAll:
		// Each source's greatest flag set of key; the greatest of those is
		// the greatest of all, whichever source serves it.
		var last *entry
		for _, sd := range s.srcs {
			if c := sd.byKey[key]; c != nil && (last == nil || compareSets(c.set, last.set) > 0) {
				last = c
			}
		}
		if last == nil {
			return nil
		}
		return s.bySet[last.set][key]
	}
	i, ok := s.lay.index[sel.value]
	if !ok {
		return nil
	}
	e := s.srcs[i].byKey[key]
	if e == nil {
		return nil
	}
	if s.bySet[e.set][key] == e {
		return e
	}
	if !s.srcs[i].multiSet() {
		return nil // shadowed by a higher-priority source
	}
	return s.sourceExtreme(i, key, 1)
}

// Flag returns the flag a query for key sees through the selector. Without
// a selector, that is the flag of the highest-priority source that defines
// the key, whatever its flag set.
func (s *Snapshot) Flag(sel Selector, key string) (*evaluator.Flag, bool) {
	if e := s.lookup(sel, key); e != nil {
		return e.flag, true
	}
	return nil, false
}

// FlagSource returns the name of the source of the flag Flag returns.
// flagd's sync payloads carry it in each flag's "source" member.
func (s *Snapshot) FlagSource(sel Selector, key string) (string, bool) {
	if e := s.lookup(sel, key); e != nil {
		return s.lay.names[e.src], true
	}
	return "", false
}

// Metadata returns the metadata flagd answers for a selection (the
// top-level metadata of ResolveAll and of OFREP bulk evaluation, and of an
// evaluation of a flag that is not found): the selector's own key and value
// ({"flagSetId": id} or {"source": uri}), empty without a selector. It is
// not the flag set's metadata, which flagd merges into each flag's. The map
// is the caller's.
func (s *Snapshot) Metadata(sel Selector) evaluator.Metadata { return sel.metadata() }

// Evaluate evaluates the flag Flag(sel, key) returns. When there is none
// the result is FLAG_NOT_FOUND with the selection's metadata. With a source
// selector the result's metadata also holds {"source": uri}, as in flagd.
func (s *Snapshot) Evaluate(sel Selector, key string, kind evaluator.Kind, ctx map[string]any) evaluator.Result {
	e := s.lookup(sel, key)
	if e == nil {
		return evaluator.Result{
			FlagKey:  key,
			Reason:   evaluator.ReasonError,
			NoValue:  true,
			Err:      &evaluator.Error{Code: evaluator.CodeFlagNotFound, FlagKey: key, Message: "flag not found"},
			Metadata: sel.metadata(),
		}
	}
	r := e.flag.Evaluate(kind, ctx, s.lay.now)
	switch {
	case sel.kind == selectSource:
		r.Metadata = e.sourceMetadata(sel.value)
	case sel.kind == selectFlagSet && sel.value == "":
		r.Metadata = e.noSetMetadata()
	}
	return r
}

// Flags returns the flags flagd's ResolveAll and OFREP bulk evaluation
// list for the selector (store.GetAll), in their order: one per distinct
// flag (flag set, key) the selector sees, sorted by flag set id (the
// flags of no flag set where compareSets puts them) and key. So without a selector a key defined in two flag sets appears
// twice. flagd's Resolver.ResolveAllValues evaluates each listed flag as
// the type of its own default variant but looks its key up again: callers
// evaluate by key ([Snapshot.Evaluate]), which without a selector finds the
// flag of the highest-priority source, so a listed flag of another type
// answers a type mismatch, as in flagd. With a selector no key appears
// twice. The slice is shared: do not modify it.
func (s *Snapshot) Flags(sel Selector) []*evaluator.Flag {
	var cached *atomic.Pointer[[]*evaluator.Flag]
	switch sel.kind {
	case selectAll:
		cached = &s.all
	case selectFlagSet:
		if len(s.bySet[sel.value]) == 0 {
			return nil
		}
		if p, ok := s.perSet.Load(sel.value); ok {
			return *p.(*[]*evaluator.Flag)
		}
		out := flagsOf(s.listed(sel))
		p, _ := s.perSet.LoadOrStore(sel.value, &out)
		return *p.(*[]*evaluator.Flag)
	default:
		i, ok := s.lay.index[sel.value]
		if !ok {
			return nil
		}
		cached = &s.perSrc[i]
	}
	if p := cached.Load(); p != nil {
		return *p
	}
	out := flagsOf(s.listed(sel))
	cached.Store(&out)
	return out
}

// Listed is one flag of a listing, and the name of the source it comes
// from.
type Listed struct {
	Flag   *evaluator.Flag
	Source string
}

// Listing returns what Flags returns, each flag with the name of its
// source. The slice is the caller's.
func (s *Snapshot) Listing(sel Selector) []Listed {
	es := s.listed(sel)
	out := make([]Listed, len(es))
	for i, e := range es {
		out[i] = Listed{Flag: e.flag, Source: s.lay.names[e.src]}
	}
	return out
}

// listed returns the entries the selector sees, sorted by flag set and
// key (flagd's store.GetAll).
func (s *Snapshot) listed(sel Selector) []*entry {
	var es []*entry
	switch sel.kind {
	case selectAll:
		for _, m := range s.bySet {
			for _, e := range m {
				es = append(es, e)
			}
		}
	case selectFlagSet:
		for _, e := range s.bySet[sel.value] {
			es = append(es, e)
		}
	default:
		i, ok := s.lay.index[sel.value]
		if !ok {
			return nil
		}
		for id, e := range s.srcs[i].entries {
			if s.bySet[id.set][id.key] == e {
				es = append(es, e)
			}
		}
	}
	slices.SortFunc(es, func(a, b *entry) int {
		if c := compareSets(a.set, b.set); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	return es
}

// flagsOf returns the entries' flags.
func flagsOf(es []*entry) []*evaluator.Flag {
	if len(es) == 0 {
		return nil
	}
	out := make([]*evaluator.Flag, len(es))
	for i, e := range es {
		out[i] = e.flag
	}
	return out
}

// FlagSets returns the flag set ids that hold at least one flag, sorted;
// "" stands for the flags that belong to no flag set.
func (s *Snapshot) FlagSets() []string {
	out := make([]string, 0, len(s.bySet))
	for id := range s.bySet {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}
