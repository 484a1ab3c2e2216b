package store

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
)

// The sources of the fixture, in priority order. a.json has no flag set
// but two flags in setC; b.json is setB, with one flag moved to setC;
// c.json is setC, and shadows a's "shadowed".
const (
	srcA = "testdata/a.json"
	srcB = "testdata/b.json"
	srcC = "testdata/c.json"
)

var testParser = sync.OnceValue(func() *evaluator.Parser {
	p, err := evaluator.NewParser(evaluator.Options{})
	if err != nil {
		panic(err)
	}
	return p
})

var testTime = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func newTestStore(sources ...string) *Store {
	return New(Config{Sources: sources, Parser: testParser(), Now: func() time.Time { return testTime }})
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// load applies file as the document of source.
func load(t testing.TB, st *Store, source, file string) Change {
	t.Helper()
	c, err := st.Apply(syncsources.Update{Source: source, Data: readFile(t, file), Format: evaluator.FormatForPath(file)})
	if err != nil {
		t.Fatalf("Apply(%s <- %s): %v", source, file, err)
	}
	return c
}

func loadAll(t testing.TB, order ...string) *Store {
	t.Helper()
	st := newTestStore(srcA, srcB, srcC)
	for _, src := range order {
		load(t, st, src, src)
	}
	return st
}

// describe names a flag as "set/key@src", src being its document's "src"
// metadata.
func describe(f *evaluator.Flag) string {
	return fmt.Sprintf("%s/%s@%v", f.FlagSetID(), f.Key(), f.Metadata()["src"])
}

func mustSelector(t testing.TB, expr string) Selector {
	t.Helper()
	sel, err := ParseSelector(expr)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

// loadOrders are the orders the fixture is loaded in: the result must not
// depend on it (flagd's store tests do the same).
var loadOrders = [][]string{
	{srcA, srcB, srcC},
	{srcC, srcB, srcA},
	{srcB, srcA, srcC},
	{srcB, srcC, srcA},
	{srcA, srcB, srcC, srcA},
	{srcC, srcA, srcB, srcC, srcA},
}

func TestLookup(t *testing.T) {
	tests := []struct {
		sel  string
		key  string
		want string // describe(flag), "" for not found
	}{
		// No selector: the highest-priority source defining the key, in
		// any flag set.
		{"", "flagA", "/flagA@a"},
		{"", "dupe", "setB/dupe@b"},
		{"", "onlyA", "setC/onlyA@a"},
		{"", "shadowed", "setC/shadowed@c"},
		{"", "moved", "setC/moved@b"},
		{"", "flagC", "setC/flagC@c"},
		{"", "missing", ""},
		// Flag-set selectors: (flag set, key) is the identity.
		{"flagSetId=", "dupe", "/dupe@a"},
		{"flagSetId=", "flagB", ""},
		{"flagSetId=setB", "dupe", "setB/dupe@b"},
		{"flagSetId=setB", "moved", ""}, // the flag's own flagSetId wins over its document's
		{"flagSetId=setC", "moved", "setC/moved@b"},
		{"flagSetId=setC", "shadowed", "setC/shadowed@c"},
		{"flagSetId=setC", "onlyA", "setC/onlyA@a"},
		{"flagSetId=setX", "flagA", ""},
		// Source selectors: the source's flags that no higher-priority
		// source shadows.
		{"source=" + srcA, "dupe", "/dupe@a"},
		{srcA, "dupe", "/dupe@a"},
		{srcA, "onlyA", "setC/onlyA@a"},
		{srcA, "shadowed", ""},
		{srcA, "flagB", ""},
		{srcC, "shadowed", "setC/shadowed@c"},
		{"source=" + srcB, "moved", "setC/moved@b"},
		{"source=unknown", "flagA", ""},
		{"source=", "flagA", ""},
	}
	for _, order := range loadOrders {
		st := loadAll(t, order...)
		snap := st.Current()
		for _, tt := range tests {
			sel := mustSelector(t, tt.sel)
			f, ok := snap.Flag(sel, tt.key)
			got := ""
			if ok {
				got = describe(f)
			}
			if got != tt.want {
				t.Errorf("order %v: Flag(%q, %q) = %q, want %q", order, tt.sel, tt.key, got, tt.want)
			}
			src, ok := snap.FlagSource(sel, tt.key)
			if ok != (tt.want != "") || ok && src != "testdata/"+f.Metadata()["src"].(string)+".json" {
				t.Errorf("order %v: FlagSource(%q, %q) = %q, %v", order, tt.sel, tt.key, src, ok)
			}
			r := snap.Evaluate(sel, tt.key, evaluator.KindAny, nil)
			if tt.want == "" {
				if r.Err == nil || r.Err.Code != evaluator.CodeFlagNotFound || r.Reason != evaluator.ReasonError || !r.NoValue || r.FlagKey != tt.key {
					t.Errorf("order %v: Evaluate(%q, %q) = %+v, want FLAG_NOT_FOUND", order, tt.sel, tt.key, r)
				}
			} else if r.Err != nil || r.Value == nil {
				t.Errorf("order %v: Evaluate(%q, %q) = %+v", order, tt.sel, tt.key, r)
			}
		}
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		sel  string
		want []string
	}{
		// One entry per (flag set, key), sorted, each the flag of its own
		// flag set, as flagd's store.GetAll lists them: "/dupe" stays a's
		// (flagd's ResolveAll then evaluates it by key, as b's).
		{"", []string{"/dupe@a", "/flagA@a", "setB/dupe@b", "setB/flagB@b", "setC/flagC@c", "setC/moved@b", "setC/onlyA@a", "setC/shadowed@c"}},
		{"flagSetId=", []string{"/dupe@a", "/flagA@a"}},
		{"flagSetId=setB", []string{"setB/dupe@b", "setB/flagB@b"}},
		{"flagSetId=setC", []string{"setC/flagC@c", "setC/moved@b", "setC/onlyA@a", "setC/shadowed@c"}},
		{"flagSetId=setX", nil},
		{srcA, []string{"/dupe@a", "/flagA@a", "setC/onlyA@a"}},
		{"source=" + srcB, []string{"setB/dupe@b", "setB/flagB@b", "setC/moved@b"}},
		{"source=" + srcC, []string{"setC/flagC@c", "setC/shadowed@c"}},
		{"source=nope", nil},
	}
	for _, order := range loadOrders {
		snap := loadAll(t, order...).Current()
		for _, tt := range tests {
			sel := mustSelector(t, tt.sel)
			for range 2 { // the second call is served from the cache
				var got []string
				for _, f := range snap.Flags(sel) {
					got = append(got, describe(f))
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("order %v: Flags(%q) = %q, want %q", order, tt.sel, got, tt.want)
				}
			}
		}
		if got, want := snap.Len(), 8; got != want {
			t.Errorf("Len() = %d, want %d", got, want)
		}
		if got, want := snap.FlagSets(), []string{"", "setB", "setC"}; !slices.Equal(got, want) {
			t.Errorf("FlagSets() = %q, want %q", got, want)
		}
	}
}

func TestMetadata(t *testing.T) {
	snap := loadAll(t, srcA, srcB, srcC).Current()
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(NoFlagSetID) {
		t.Errorf("NoFlagSetID %q is not a random UUID", NoFlagSetID)
	}
	tests := []struct {
		sel, key string
		want     evaluator.Metadata
	}{
		// A flag's metadata: its document's, overlaid with its own.
		{"", "flagA", evaluator.Metadata{"src": "a"}},
		{"", "moved", evaluator.Metadata{"src": "b", "flagSetId": "setC", "owner": "team-b"}},
		{"flagSetId=setB", "dupe", evaluator.Metadata{"src": "b", "flagSetId": "setB"}},
		// A source selector adds {"source": uri} (flagd's Selector.ToMetadata
		// under the flag's metadata).
		{srcA, "flagA", evaluator.Metadata{"src": "a", "source": srcA}},
		{srcA, "onlyA", evaluator.Metadata{"src": "a", "flagSetId": "setC", "source": srcA}},
		// Not found: the selection's metadata.
		{"", "missing", evaluator.Metadata{}},
		{"flagSetId=setB", "missing", evaluator.Metadata{"flagSetId": "setB"}},
		// "flagSetId=": flagd names its id of the flags of no flag set, a
		// UUID drawn at startup (conformance/oracle/testdata/*-sets,
		// sets/selector: "metadata":{"flagSetId":"<uuid>"}).
		{"flagSetId=", "missing", evaluator.Metadata{"flagSetId": NoFlagSetID}},
		{"flagSetId=", "flagA", evaluator.Metadata{"src": "a", "flagSetId": NoFlagSetID}},
		{srcC, "missing", evaluator.Metadata{"source": srcC}},
	}
	for _, tt := range tests {
		sel := mustSelector(t, tt.sel)
		for range 2 {
			if got := snap.Evaluate(sel, tt.key, evaluator.KindAny, nil).Metadata; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Evaluate(%q, %q).Metadata = %v, want %v", tt.sel, tt.key, got, tt.want)
			}
		}
	}
	for expr, want := range map[string]evaluator.Metadata{
		"":               {},
		"flagSetId=setC": {"flagSetId": "setC"},
		"flagSetId=":     {"flagSetId": NoFlagSetID},
		srcB:             {"source": srcB},
	} {
		if got := snap.Metadata(mustSelector(t, expr)); !reflect.DeepEqual(got, want) {
			t.Errorf("Metadata(%q) = %v, want %v", expr, got, want)
		}
	}
}

func TestEvaluate(t *testing.T) {
	snap := loadAll(t, srcA, srcB, srcC).Current()
	r := snap.Evaluate(Selector{}, "flagC", evaluator.KindString, map[string]any{"tier": "gold"})
	if r.Value != "#00f" || r.Variant != "blue" || r.Reason != evaluator.ReasonTargetingMatch {
		t.Errorf("targeting match: %+v", r)
	}
	r = snap.Evaluate(Selector{}, "flagC", evaluator.KindString, nil)
	if r.Value != "#f00" || r.Reason != evaluator.ReasonDefault {
		t.Errorf("targeting default: %+v", r)
	}
	r = snap.Evaluate(FlagSetSelector(""), "dupe", evaluator.KindBool, nil)
	if r.Value != true || r.Reason != evaluator.ReasonStatic {
		t.Errorf("static: %+v", r)
	}
	r = snap.Evaluate(Selector{}, "dupe", evaluator.KindBool, nil)
	if r.Value != false {
		t.Errorf("highest priority: %+v", r)
	}
	r = snap.Evaluate(Selector{}, "dupe", evaluator.KindString, nil)
	if r.Err == nil || r.Err.Code != evaluator.CodeTypeMismatch {
		t.Errorf("type mismatch: %+v", r)
	}
}

func TestUnknownSource(t *testing.T) {
	st := newTestStore(srcA)
	if _, err := st.Apply(syncsources.Update{Source: "other", Data: readFile(t, srcA)}); err == nil {
		t.Fatal("no error for an unknown source")
	}
	if g := st.Current().Generation(); g != 0 {
		t.Errorf("generation %d after a refused update", g)
	}
}

func TestDuplicateSourceNames(t *testing.T) {
	st := newTestStore(srcA, srcB, srcA)
	if n := len(st.Current().Sources()); n != 2 {
		t.Fatalf("%d sources, want 2", n)
	}
	load(t, st, srcA, srcA)
	load(t, st, srcB, srcB)
	if f, _ := st.Current().Flag(Selector{}, "dupe"); describe(f) != "setB/dupe@b" {
		t.Errorf("a name listed twice counts at its first place: got %s", describe(f))
	}
}

func TestRejectedUpdate(t *testing.T) {
	st := newTestStore(srcA, srcB)
	load(t, st, srcA, srcA)
	before := st.Current()

	c, err := st.Apply(syncsources.Update{Source: srcA, Data: readFile(t, "testdata/invalid.json"), Format: evaluator.FormatJSON})
	var le *evaluator.LoadError
	if !errors.As(err, &le) {
		t.Fatalf("Apply(invalid) error = %v, want *evaluator.LoadError", err)
	}
	if c.Event != EventRejected || c.HasFlagChanges() || c.For(Selector{}) != nil || c.Flags() != nil {
		t.Errorf("change = %+v, want a rejection with no flag changes", c)
	}
	after := st.Current()
	if after.Generation() != before.Generation()+1 || c.New != after || c.Old != before {
		t.Errorf("generations %d -> %d", before.Generation(), after.Generation())
	}
	// The last good flags keep serving, the very same ones.
	for _, key := range []string{"flagA", "dupe", "onlyA", "shadowed"} {
		f1, _ := before.Flag(Selector{}, key)
		f2, ok := after.Flag(Selector{}, key)
		if !ok || f1 != f2 {
			t.Errorf("flag %q changed after a rejected update", key)
		}
	}
	if r := after.Evaluate(Selector{}, "flagA", evaluator.KindBool, nil); r.Value != false || r.Err != nil {
		t.Errorf("flagA = %+v", r)
	}
	st0 := after.Sources()[0]
	if !st0.Delivered || st0.Outage || st0.Rejected != 1 || st0.Flags != 4 || st0.LastError == "" || !strings.Contains(st0.LastError, "maybe") {
		t.Errorf("state = %+v", st0)
	}
	var found bool
	for _, p := range st0.Problems {
		if p.Severity == evaluator.SeverityError && p.Source == srcA && p.FlagKey == "flagA" && p.Pointer == "/flags/flagA/defaultVariant" {
			found = true
		}
	}
	if !found {
		t.Errorf("problems = %+v, want the default variant's, with source, flag and pointer", st0.Problems)
	}

	// A rejected first document leaves the source undelivered.
	if _, err := st.Apply(syncsources.Update{Source: srcB, Data: []byte(`{"flags": 1}`)}); err == nil {
		t.Fatal("no error")
	}
	if s := st.Current().Sources()[1]; s.Delivered || s.Rejected != 1 || st.Current().Ready() {
		t.Errorf("state = %+v, ready = %v", s, st.Current().Ready())
	}

	// A good document clears the error but keeps the count.
	load(t, st, srcA, "testdata/a2.json")
	s := st.Current().Sources()[0]
	if s.LastError != "" || s.Rejected != 1 || s.Flags != 4 || len(s.Problems) != 0 {
		t.Errorf("state after recovery = %+v", s)
	}
}

func TestOutage(t *testing.T) {
	st := newTestStore(srcA, srcC)
	load(t, st, srcA, srcA)
	load(t, st, srcC, srcC)
	before := st.Current()
	c, err := st.Apply(syncsources.Update{Source: srcC, Err: errors.New("file deleted")})
	if err != nil {
		t.Fatal(err)
	}
	if c.Event != EventOutage || c.HasFlagChanges() {
		t.Errorf("change = %+v", c)
	}
	after := st.Current()
	if !after.Ready() {
		t.Error("an outage made the store not ready")
	}
	if f, _ := after.Flag(Selector{}, "shadowed"); describe(f) != "setC/shadowed@c" {
		t.Errorf("shadowed = %s, want c's last good flag", describe(f))
	}
	s := after.Sources()[1]
	if !s.Outage || s.LastError != "file deleted" || !s.Delivered || s.Flags != 2 || !s.Updated.Equal(testTime) {
		t.Errorf("state = %+v", s)
	}
	if before.Sources()[1].Outage {
		t.Error("the old snapshot changed")
	}
	// Recovery.
	load(t, st, srcC, srcC)
	if s := st.Current().Sources()[1]; s.Outage || s.LastError != "" {
		t.Errorf("state after recovery = %+v", s)
	}
}

func TestRemoval(t *testing.T) {
	st := loadAll(t, srcA, srcB, srcC)
	c, err := st.Apply(syncsources.Update{Source: srcC, Removed: true})
	if err != nil {
		t.Fatal(err)
	}
	snap := st.Current()
	if c.Event != EventRemoved || !snap.Ready() {
		t.Errorf("event %v, ready %v", c.Event, snap.Ready())
	}
	if _, ok := snap.Flag(Selector{}, "flagC"); ok {
		t.Error("flagC still served")
	}
	// The flag c shadowed is a's again.
	if f, _ := snap.Flag(Selector{}, "shadowed"); describe(f) != "setC/shadowed@a" {
		t.Errorf("shadowed = %s", describe(f))
	}
	if f, ok := snap.Flag(SourceSelector(srcA), "shadowed"); !ok || describe(f) != "setC/shadowed@a" {
		t.Error("a's shadowed not selectable by source")
	}
	s := snap.Sources()[2]
	if !s.Removed || s.Flags != 0 || !s.Delivered {
		t.Errorf("state = %+v", s)
	}
	want := []FlagChange{{"setC", "flagC", ChangeDelete}, {"setC", "shadowed", ChangeUpdate}}
	if got := c.Flags(); !reflect.DeepEqual(got, want) {
		t.Errorf("Flags() = %v, want %v", got, want)
	}
	// Loading it again restores it.
	load(t, st, srcC, srcC)
	if f, _ := st.Current().Flag(Selector{}, "shadowed"); describe(f) != "setC/shadowed@c" {
		t.Errorf("shadowed = %s", describe(f))
	}
}

func TestReadiness(t *testing.T) {
	st := newTestStore(srcA, srcB)
	steps := []struct {
		u     syncsources.Update
		ready bool
	}{
		{syncsources.Update{Source: srcA, Err: errors.New("not there yet")}, false},
		{syncsources.Update{Source: srcA, Data: readFile(t, srcA)}, false},
		{syncsources.Update{Source: srcB, Data: []byte("{")}, false},
		{syncsources.Update{Source: srcB, Data: readFile(t, srcB)}, true},
		{syncsources.Update{Source: srcB, Err: errors.New("down")}, true},
		{syncsources.Update{Source: srcA, Data: []byte("{")}, true},
		{syncsources.Update{Source: srcA, Removed: true}, true},
	}
	if st.Current().Ready() {
		t.Fatal("ready before any update")
	}
	for i, step := range steps {
		st.Apply(step.u)
		if got := st.Current().Ready(); got != step.ready {
			t.Errorf("step %d: Ready() = %v, want %v", i, got, step.ready)
		}
	}
	if !New(Config{}).Current().Ready() {
		t.Error("a store without sources is not ready")
	}
}

func TestSourceStates(t *testing.T) {
	st := newTestStore(srcA, srcB)
	load(t, st, srcB, srcB)
	want := []SourceState{
		{Name: srcA},
		{Name: srcB, Delivered: true, Received: true, Flags: 3, Updated: testTime, Loaded: testTime, Problems: nil},
	}
	got := st.Current().Sources()
	for i := range got {
		if len(got[i].Problems) == 0 {
			got[i].Problems = nil
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Sources() = %+v, want %+v", got, want)
	}
	// Warnings are kept.
	c, err := st.Apply(syncsources.Update{Source: srcA, Data: []byte(`{"flags": {"x": {"variants": {"on": true}, "defaultVariant": "on"}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if s := c.New.Sources()[0]; len(s.Problems) == 0 || s.Problems[0].Severity != evaluator.SeverityWarning || s.Problems[0].Source != srcA {
		t.Errorf("warnings = %+v", s.Problems)
	}
}

func TestGenerations(t *testing.T) {
	st := newTestStore(srcA)
	for i := 1; i <= 3; i++ {
		c := load(t, st, srcA, srcA)
		if c.New.Generation() != uint64(i) || c.Old.Generation() != uint64(i-1) || st.Current() != c.New {
			t.Fatalf("update %d: generations %d -> %d", i, c.Old.Generation(), c.New.Generation())
		}
	}
}

// applySet applies a parsed flag set as the document of source.
func (s *Store) applySet(source string, set *evaluator.FlagSet) Change {
	idx := s.lay.index[source]
	base := s.cur.Load().srcs[idx]
	p := pending{ev: EventLoaded, flags: set.Flags(), base: base.version}
	p.entries, p.ids = buildEntries(base.entries, p.flags, idx)
	c, _ := s.commit(source, idx, p)
	return c
}

// TestInterleavedUpdates: two updates of one source prepared against the
// same snapshot; the second is compared again when it commits.
func TestInterleavedUpdates(t *testing.T) {
	st := newTestStore(srcA)
	p1 := st.prepare(syncsources.Update{Source: srcA, Data: readFile(t, srcA)}, 0)
	p2 := st.prepare(syncsources.Update{Source: srcA, Data: readFile(t, "testdata/a2.json")}, 0)
	if _, err := st.commit(srcA, 0, p1); err != nil {
		t.Fatal(err)
	}
	c, err := st.commit(srcA, 0, p2)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]ChangeType{"added": ChangeWrite, "flagA": ChangeUpdate, "onlyA": ChangeDelete, "shadowed": ChangeUpdate}
	if got := c.For(Selector{}); !reflect.DeepEqual(got, want) {
		t.Errorf("For() = %v, want %v", got, want)
	}
	if n := len(st.Current().Flags(Selector{})); n != 4 {
		t.Errorf("%d flags, want 4", n)
	}
}

func TestRemoveUndelivered(t *testing.T) {
	st := newTestStore(srcA)
	c, err := st.Apply(syncsources.Update{Source: srcA, Removed: true})
	if err != nil || c.HasFlagChanges() || !c.New.Ready() {
		t.Errorf("change %+v, err %v", c, err)
	}
	load(t, st, srcA, srcA)
	c, _ = st.Apply(syncsources.Update{Source: srcA, Removed: true})
	c2, _ := st.Apply(syncsources.Update{Source: srcA, Removed: true})
	if len(c.Flags()) != 4 || c2.HasFlagChanges() || st.Current().Len() != 0 {
		t.Errorf("removal: %v then %v", c.Flags(), c2.Flags())
	}
}

// TestKeyInSeveralFlagSetsOfOneSource: one document defining a key in two
// flag sets serves both, each through its flag-set selector, and a change
// to one of them is a change of that flag only.
func TestKeyInSeveralFlagSetsOfOneSource(t *testing.T) {
	doc := func(webDefault string) []byte {
		return []byte(`{"flags":[
		  {"key":"color","metadata":{"flagSetId":"web"},"state":"ENABLED","variants":{"red":"red","blue":"blue"},"defaultVariant":"` + webDefault + `"},
		  {"key":"color","metadata":{"flagSetId":"mobile"},"state":"ENABLED","variants":{"red":"red","blue":"blue"},"defaultVariant":"blue"}
		]}`)
	}
	st := New(Config{Sources: []string{"one"}})
	if _, err := st.Apply(syncsources.Update{Source: "one", Data: doc("red"), Format: evaluator.FormatJSON}); err != nil {
		t.Fatal(err)
	}
	snap := st.Current()
	// flagd lists both for the source too (store.GetAll by source).
	if snap.Len() != 2 || len(snap.Flags(SourceSelector("one"))) != 2 || len(snap.Flags(Selector{})) != 2 {
		t.Fatalf("Len %d, source flags %d, all %d; want 2, 2, 2", snap.Len(), len(snap.Flags(SourceSelector("one"))), len(snap.Flags(Selector{})))
	}
	if got := snap.Sources()[0].Flags; got != 2 {
		t.Errorf("the source serves %d flags, want 2", got)
	}
	for set, want := range map[string]string{"web": "red", "mobile": "blue"} {
		if r := snap.Evaluate(FlagSetSelector(set), "color", evaluator.KindString, nil); r.Value != want {
			t.Errorf("color in %s = %v, want %s", set, r.Value, want)
		}
	}
	// Without a selector: the greatest flag set id.
	if r := snap.Evaluate(Selector{}, "color", evaluator.KindString, nil); r.Value != "red" {
		t.Errorf("color = %v, want web's red", r.Value)
	}
	// By source: the least (flagd answers mobile's, the first match of its
	// key+source index).
	if r := snap.Evaluate(SourceSelector("one"), "color", evaluator.KindString, nil); r.Value != "blue" {
		t.Errorf("color from source one = %v, want mobile's blue", r.Value)
	}

	c, err := st.Apply(syncsources.Update{Source: "one", Data: doc("blue"), Format: evaluator.FormatJSON})
	if err != nil {
		t.Fatal(err)
	}
	want := []FlagChange{{FlagSetID: "web", Key: "color", Type: ChangeUpdate}}
	if got := c.Flags(); !reflect.DeepEqual(got, want) {
		t.Errorf("changes %v, want %v", got, want)
	}
	if got := c.For(FlagSetSelector("mobile")); got != nil {
		t.Errorf("mobile sees changes %v, want none", got)
	}
	if r := st.Current().Evaluate(FlagSetSelector("web"), "color", evaluator.KindString, nil); r.Value != "blue" {
		t.Errorf("color in web = %v after the change, want blue", r.Value)
	}
}

// TestUnstorableFlags: flagd's store keeps no flag whose flagSetId is ""
// (its own or its document's) or whose key is "": such a flag is found by
// no selector and listed nowhere (recorded from flagd bbb05d4), while a
// null flagSetId on the flag puts it in no flag set.
func TestUnstorableFlags(t *testing.T) {
	st := New(Config{Sources: []string{"a.yaml", "b.json"}})
	docs := map[string]string{
		"a.yaml": `{"metadata":{"flagSetId":"x"},"flags":{
		  "e":{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on","metadata":{"flagSetId":""}},
		  "n":{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on","metadata":{"flagSetId":null}},
		  "o":{"state":"ENABLED","variants":{"on":1},"defaultVariant":"on"}}}`,
		"b.json": `{"metadata":{"flagSetId":""},"flags":{
		  "p":{"state":"ENABLED","variants":{"s":"str"},"defaultVariant":"s"},
		  "o":{"state":"ENABLED","variants":{"s":"bo"},"defaultVariant":"s","metadata":{"flagSetId":"x"}},
		  "":{"state":"ENABLED","variants":{"s":"empty"},"defaultVariant":"s","metadata":{"flagSetId":"x"}}}}`,
	}
	for _, src := range []string{"a.yaml", "b.json"} {
		if _, err := st.Apply(syncsources.Update{Source: src, Data: []byte(docs[src]), Format: evaluator.FormatJSON}); err != nil {
			t.Fatal(err)
		}
	}
	snap := st.Current()
	for _, tt := range []struct {
		sel  string
		want []string
	}{
		{"", []string{"/n@a.yaml", "x/o@b.json"}},
		{"flagSetId=", []string{"/n@a.yaml"}},
		{"flagSetId=x", []string{"x/o@b.json"}},
		{"source=a.yaml", []string{"/n@a.yaml"}},
		{"source=b.json", []string{"x/o@b.json"}},
	} {
		sel := mustSelector(t, tt.sel)
		var got []string
		for _, l := range snap.Listing(sel) {
			got = append(got, l.Flag.FlagSetID()+"/"+l.Flag.Key()+"@"+l.Source)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Listing(%q) = %q, want %q", tt.sel, got, tt.want)
		}
		for _, key := range []string{"e", "p", ""} {
			if _, ok := snap.Flag(sel, key); ok {
				t.Errorf("Flag(%q, %q) found", tt.sel, key)
			}
		}
	}
	if got := snap.Sources(); got[0].Flags != 2 || got[1].Flags != 1 {
		t.Errorf("sources serve %d and %d flags, want 2 and 1", got[0].Flags, got[1].Flags)
	}
}

// TestNoFlagSetOrder: flagd files the flags of no flag set under a UUID
// drawn at startup, so they sort before most flag set ids but after those
// below "8" (digits 0-7, punctuation): where a key is defined in both, the
// one listed last (which sync payloads and change events keep) and the
// one a key lookup in one source finds follow that order.
func TestNoFlagSetOrder(t *testing.T) {
	for _, tt := range []struct {
		set      string
		nilFirst bool
	}{
		{"setA", true}, {"A", true}, {"9", true}, {"abc", true},
		{"1", false}, {"07", false}, {"-x", false},
	} {
		doc := `{"flags":[
		  {"key":"k","state":"ENABLED","variants":{"v":"none"},"defaultVariant":"v"},
		  {"key":"k","metadata":{"flagSetId":"` + tt.set + `"},"state":"ENABLED","variants":{"v":"set"},"defaultVariant":"v"}]}`
		st := New(Config{Sources: []string{"one"}})
		if _, err := st.Apply(syncsources.Update{Source: "one", Data: []byte(doc), Format: evaluator.FormatJSON}); err != nil {
			t.Fatal(err)
		}
		snap := st.Current()
		var order []string
		for _, l := range snap.Listing(Selector{}) {
			order = append(order, l.Flag.FlagSetID())
		}
		want := []string{"", tt.set}
		if !tt.nilFirst {
			want = []string{tt.set, ""}
		}
		if !slices.Equal(order, want) {
			t.Errorf("set %q: listing order %q, want %q", tt.set, order, want)
		}
		// A lookup without a selector finds the last; by source, the first.
		last, first := "set", "none"
		if !tt.nilFirst {
			last, first = "none", "set"
		}
		if r := snap.Evaluate(Selector{}, "k", evaluator.KindString, nil); r.Value != last {
			t.Errorf("set %q: k = %v, want %s", tt.set, r.Value, last)
		}
		if r := snap.Evaluate(SourceSelector("one"), "k", evaluator.KindString, nil); r.Value != first {
			t.Errorf("set %q: k from the source = %v, want %s", tt.set, r.Value, first)
		}
	}
}

// TestReceived: a store has received from every source once each has
// delivered a document, loaded or rejected (flagd's readiness: its file
// source is ready once it has read the file, valid or not), while Ready
// waits for loaded flags; an outage counts for neither.
func TestReceived(t *testing.T) {
	good := []byte(`{"flags":{"f":{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on"}}}`)
	tests := []struct {
		name          string
		updates       []syncsources.Update
		ready, receiv bool
	}{
		{"nothing yet", nil, false, false},
		{"an outage", []syncsources.Update{{Source: "a", Err: errors.New("missing")}}, false, false},
		{"a rejected document", []syncsources.Update{{Source: "a", Data: []byte(`{"flags":{`)}}, false, true},
		{"an outage after a rejection", []syncsources.Update{{Source: "a", Data: []byte(`{"flags":{`)}, {Source: "a", Err: errors.New("gone")}}, false, true},
		{"a loaded document", []syncsources.Update{{Source: "a", Data: good}}, true, true},
		{"a rejection after a load", []syncsources.Update{{Source: "a", Data: good}, {Source: "a", Data: []byte(`{`)}}, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := New(Config{Sources: []string{"a"}})
			for _, u := range tc.updates {
				_, _ = st.Apply(u)
			}
			snap := st.Current()
			if snap.Ready() != tc.ready || snap.Received() != tc.receiv || snap.Sources()[0].Received != tc.receiv {
				t.Errorf("Ready %v, Received %v (source %v); want %v, %v", snap.Ready(), snap.Received(), snap.Sources()[0].Received, tc.ready, tc.receiv)
			}
		})
	}
}
