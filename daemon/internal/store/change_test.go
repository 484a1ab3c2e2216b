package store

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
)

type diff = map[string]ChangeType

const (
	w = ChangeWrite
	u = ChangeUpdate
	d = ChangeDelete
)

func TestChanges(t *testing.T) {
	bDoc := string(readFile(t, srcB))
	tests := []struct {
		name string
		// setup is loaded first (file names), then the update.
		setup  []string
		update syncsources.Update
		flags  []FlagChange
		views  map[string]diff // selector -> For(selector)
	}{
		{
			name:   "first load: every flag is written",
			update: syncsources.Update{Source: srcA, Data: readFile(t, srcA)},
			flags:  []FlagChange{{"", "dupe", w}, {"", "flagA", w}, {"setC", "onlyA", w}, {"setC", "shadowed", w}},
			views: map[string]diff{
				"":               {"dupe": w, "flagA": w, "onlyA": w, "shadowed": w},
				"flagSetId=":     {"dupe": w, "flagA": w},
				"flagSetId=setC": {"onlyA": w, "shadowed": w},
				srcA:             {"dupe": w, "flagA": w, "onlyA": w, "shadowed": w},
				srcB:             nil,
			},
		},
		{
			name:   "written, updated, deleted; changes shadowed by a higher source and unchanged flags left out",
			setup:  []string{srcA, srcB, srcC},
			update: syncsources.Update{Source: srcA, Data: readFile(t, "testdata/a2.json")},
			flags:  []FlagChange{{"", "added", w}, {"", "flagA", u}, {"setC", "onlyA", d}},
			views: map[string]diff{
				"":               {"added": w, "flagA": u, "onlyA": d},
				"flagSetId=":     {"added": w, "flagA": u},
				"flagSetId=setC": {"onlyA": d},
				"flagSetId=setB": nil,
				srcA:             {"added": w, "flagA": u, "onlyA": d},
				srcB:             nil,
				srcC:             nil,
			},
		},
		{
			name:   "the same document, reformatted: nothing changed",
			setup:  []string{srcA, srcB, srcC},
			update: syncsources.Update{Source: srcA, Data: readFile(t, "testdata/a-reformatted.yaml"), Format: evaluator.FormatYAML},
			views:  map[string]diff{"": nil, srcA: nil, "flagSetId=setC": nil},
		},
		{
			name:   "a higher source shadows a flag",
			setup:  []string{srcA, srcB},
			update: syncsources.Update{Source: srcC, Data: readFile(t, srcC)},
			flags:  []FlagChange{{"setC", "flagC", w}, {"setC", "shadowed", u}},
			views: map[string]diff{
				"":               {"flagC": w, "shadowed": u},
				"flagSetId=setC": {"flagC": w, "shadowed": u},
				srcA:             {"shadowed": d},
				srcC:             {"flagC": w, "shadowed": w},
			},
		},
		{
			name:   "removal uncovers the shadowed flag",
			setup:  []string{srcA, srcB, srcC},
			update: syncsources.Update{Source: srcC, Removed: true},
			flags:  []FlagChange{{"setC", "flagC", d}, {"setC", "shadowed", u}},
			views: map[string]diff{
				"":               {"flagC": d, "shadowed": u},
				"flagSetId=setC": {"flagC": d, "shadowed": u},
				srcA:             {"shadowed": w},
				srcC:             {"flagC": d, "shadowed": d},
			},
		},
		{
			name:   "document metadata changes every flag of the document",
			setup:  []string{srcA, srcB, srcC},
			update: syncsources.Update{Source: srcB, Data: []byte(strings.Replace(bDoc, `"src": "b"`, `"src": "b", "v": 2`, 1))},
			flags:  []FlagChange{{"setB", "dupe", u}, {"setB", "flagB", u}, {"setC", "moved", u}},
			views: map[string]diff{
				"":           {"dupe": u, "flagB": u, "moved": u},
				"flagSetId=": nil,
				srcA:         nil,
			},
		},
		{
			name:   "a flag moves to another flag set",
			setup:  []string{srcA, srcB, srcC},
			update: syncsources.Update{Source: srcB, Data: []byte(strings.Replace(bDoc, `"flagSetId": "setC"`, `"flagSetId": "setD"`, 1))},
			flags:  []FlagChange{{"setC", "moved", d}, {"setD", "moved", w}},
			views: map[string]diff{
				"":               {"moved": u},
				"flagSetId=setC": {"moved": d},
				"flagSetId=setD": {"moved": w},
				srcB:             {"moved": u},
			},
		},
		{
			name:   "outage",
			setup:  []string{srcA},
			update: syncsources.Update{Source: srcA, Err: context.DeadlineExceeded},
			views:  map[string]diff{"": nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newTestStore(srcA, srcB, srcC)
			for _, f := range tt.setup {
				load(t, st, f, f)
			}
			c, err := st.Apply(tt.update)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Flags(); !reflect.DeepEqual(got, tt.flags) {
				t.Errorf("Flags() = %v, want %v", got, tt.flags)
			}
			for expr, want := range tt.views {
				if got := c.For(mustSelector(t, expr)); !reflect.DeepEqual(got, want) {
					t.Errorf("For(%q) = %v, want %v", expr, got, want)
				}
			}
		})
	}
}

func TestUnchangedFlagsAreReused(t *testing.T) {
	st := loadAll(t, srcA, srcB, srcC)
	before := st.Current()
	c := load(t, st, srcA, "testdata/a-reformatted.yaml")
	if c.HasFlagChanges() {
		t.Errorf("changes: %v", c.Flags())
	}
	after := st.Current()
	for _, sel := range []Selector{{}, SourceSelector(srcA)} {
		for _, key := range []string{"flagA", "dupe", "onlyA"} {
			f1, _ := before.Flag(sel, key)
			f2, _ := after.Flag(sel, key)
			if f1 != f2 {
				t.Errorf("%q: a new compiled flag for an unchanged definition", key)
			}
		}
	}
	if before.srcs[0].byKey["flagA"] != after.srcs[0].byKey["flagA"] {
		t.Error("entry not reused")
	}
	// A changed flag is replaced; the others are kept.
	load(t, st, srcA, "testdata/a2.json")
	last := st.Current()
	if f1, _ := after.Flag(Selector{}, "flagA"); f1 == must(last.Flag(Selector{}, "flagA")) {
		t.Error("changed flag not replaced")
	}
	if f1, _ := after.Flag(FlagSetSelector(""), "dupe"); f1 != must(last.Flag(FlagSetSelector(""), "dupe")) {
		t.Error("unchanged flag replaced")
	}
}

func must(f *evaluator.Flag, ok bool) *evaluator.Flag {
	if !ok {
		panic("no flag")
	}
	return f
}

func TestSubscribe(t *testing.T) {
	st := newTestStore(srcA, srcB, srcC)
	ctx, cancel := context.WithCancel(context.Background())
	first, ch := st.Subscribe(ctx)
	if first != st.Current() {
		t.Fatal("Subscribe did not return the current snapshot")
	}
	c1 := load(t, st, srcA, srcA)
	got := <-ch
	if got.Old != first || got.New != c1.New || got.Merged != 1 || got.Source != srcA || got.Event != EventLoaded {
		t.Errorf("first change = %+v", got)
	}
	// A subscriber that does not read never blocks updates: its changes
	// are merged.
	load(t, st, srcB, srcB)
	load(t, st, srcC, srcC)
	st.Apply(syncsources.Update{Source: srcC, Removed: true})
	last := load(t, st, srcA, "testdata/a2.json")
	got = <-ch
	if got.Old != c1.New || got.New != last.New || got.Merged != 4 || got.Source != srcA {
		t.Errorf("merged change: old %d new %d merged %d", got.Old.Generation(), got.New.Generation(), got.Merged)
	}
	want := diff{"added": w, "dupe": u, "flagA": u, "flagB": w, "moved": w, "onlyA": d, "shadowed": u}
	if v := got.For(Selector{}); !reflect.DeepEqual(v, want) {
		t.Errorf("merged For() = %v, want %v", v, want)
	}
	wantFlags := []FlagChange{{"", "added", w}, {"", "flagA", u}, {"setB", "dupe", w}, {"setB", "flagB", w}, {"setC", "moved", w}, {"setC", "onlyA", d}, {"setC", "shadowed", u}}
	if f := got.Flags(); !reflect.DeepEqual(f, wantFlags) {
		t.Errorf("merged Flags() = %v, want %v", f, wantFlags)
	}
	// A flag removed and restored, merged: no change.
	st.Apply(syncsources.Update{Source: srcB, Removed: true})
	load(t, st, srcB, srcB)
	got = <-ch
	if got.Merged != 2 || got.For(Selector{}) != nil || got.Flags() != nil {
		t.Errorf("removed and restored: %v", got.For(Selector{}))
	}
	cancel()
	select {
	case _, open := <-ch:
		if open {
			t.Error("change after cancel")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed after cancel")
	}
	// Updates go on without the subscriber.
	load(t, st, srcA, srcA)
}

func TestSubscribeInOrder(t *testing.T) {
	st := newTestStore(srcA)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	prev, ch := st.Subscribe(ctx)
	done := make(chan struct{})
	var last *Snapshot
	go func() {
		defer close(done)
		for c := range ch {
			if c.Old != prev {
				t.Errorf("change from generation %d, want %d", c.Old.Generation(), prev.Generation())
			}
			prev = c.New
			if c.New.Generation() == 200 {
				last = c.New
				return
			}
		}
	}()
	files := []string{srcA, "testdata/a2.json"}
	for i := range 200 {
		load(t, st, srcA, files[i%2])
	}
	<-done
	if last != st.Current() {
		t.Error("last change is not the current snapshot")
	}
}

func TestEventString(t *testing.T) {
	for e, want := range map[Event]string{EventLoaded: "loaded", EventRejected: "rejected", EventOutage: "outage", EventRemoved: "removed", 0: "unknown", 9: "unknown"} {
		if e.String() != want {
			t.Errorf("%d: %q, want %q", e, e.String(), want)
		}
	}
}

// TestChangeForKeysInSeveralFlagSets: as flagd's configuration_change
// events (without a selector, with source=b.json and with flagSetId=setA
// recorded from flagd bbb05d4), a key defined in several flag sets
// changes for a subscriber when the flag its listing has last changes,
// which without a selector is the flag of the greatest flag set id, not
// the one a lookup of the key finds: a change to b.json's "f" (no flag
// set) is not seen without a selector, since set setA also defines "f".
func TestChangeForKeysInSeveralFlagSets(t *testing.T) {
	a := `{"metadata":{"flagSetId":"setA"},"flags":{"f":{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on"}}}`
	b := func(dv string) []byte {
		return []byte(`{"flags":{"f":{"state":"ENABLED","variants":{"x":"x","y":"y"},"defaultVariant":"` + dv + `"},` +
			`"g":{"state":"ENABLED","variants":{"x":"x","y":"y"},"defaultVariant":"` + dv + `"}}}`)
	}
	st := New(Config{Sources: []string{"a.json", "b.json"}})
	for src, doc := range map[string][]byte{"a.json": []byte(a), "b.json": b("x")} {
		if _, err := st.Apply(syncsources.Update{Source: src, Data: doc, Format: evaluator.FormatJSON}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := st.Apply(syncsources.Update{Source: "b.json", Data: b("y"), Format: evaluator.FormatJSON})
	if err != nil {
		t.Fatal(err)
	}
	for sel, want := range map[Selector]map[string]ChangeType{
		{}:                        {"g": ChangeUpdate},
		SourceSelector("b.json"):  {"f": ChangeUpdate, "g": ChangeUpdate},
		FlagSetSelector("setA"):   nil,
		FlagSetSelector(""):       {"f": ChangeUpdate, "g": ChangeUpdate},
		SourceSelector("a.json"):  nil,
		SourceSelector("unknown"): nil,
	} {
		if got := c.For(sel); !reflect.DeepEqual(got, want) {
			t.Errorf("For(%q) = %v, want %v", sel, got, want)
		}
	}
}
