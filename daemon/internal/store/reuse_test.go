package store

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
)

// bigDoc writes n boolean flags; flag i's default is on when on(i).
func editDoc(n int, skip int, on func(int) bool) []byte {
	var b strings.Builder
	b.WriteString(`{"flags":{`)
	first := true
	for i := range n {
		if i == skip {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		dv := "off"
		if on(i) {
			dv = "on"
		}
		fmt.Fprintf(&b, `"f%d":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":%q}`, i, dv)
	}
	b.WriteString(`}}`)
	return []byte(b.String())
}

// An edit of a few flags of a large document reuses the other flags' entries
// and reports exactly the flags that changed.
func TestApplyEditReusesFlags(t *testing.T) {
	st := New(Config{Sources: []string{"a"}})
	apply := func(data []byte) Change {
		t.Helper()
		c, err := st.Apply(syncsources.Update{Source: "a", Data: data, Format: evaluator.FormatJSON})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	apply(editDoc(200, -1, func(int) bool { return false }))
	before := st.Current()
	// f3 flips, f7 goes, f200 is new.
	c := apply(editDoc(201, 7, func(i int) bool { return i == 3 }))
	want := []FlagChange{{Key: "f200", Type: ChangeWrite}, {Key: "f3", Type: ChangeUpdate}, {Key: "f7", Type: ChangeDelete}}
	got := c.Flags()
	if !reflect.DeepEqual(sortedChanges(got), sortedChanges(want)) {
		t.Fatalf("changes %v, want %v", got, want)
	}
	after := st.Current()
	if after.Len() != 200 {
		t.Fatalf("%d flags, want 200", after.Len())
	}
	for i := range 201 {
		key := fmt.Sprintf("f%d", i)
		f, ok := after.Flag(Selector{}, key)
		if ok != (i != 7) {
			t.Fatalf("%s present: %v", key, ok)
		}
		if !ok {
			continue
		}
		dv, _ := f.DefaultVariant()
		if (dv == "on") != (i == 3) {
			t.Fatalf("%s: default %q", key, dv)
		}
		if old, _ := before.Flag(Selector{}, key); i != 3 && i < 200 && old != f {
			t.Fatalf("%s was compiled again", key)
		}
	}
	// The same document again changes nothing.
	if c := apply(editDoc(201, 7, func(i int) bool { return i == 3 })); c.HasFlagChanges() {
		t.Fatalf("an unchanged document reports %v", c.Flags())
	}
}

func sortedChanges(cs []FlagChange) map[string]ChangeType {
	m := map[string]ChangeType{}
	for _, c := range cs {
		m[c.Key] = c.Type
	}
	return m
}

// TestBuildEntries: whether buildEntries edits a copy of the previous
// entries or builds them anew, it keeps the entry of every flag whose
// definition did not change and names exactly the flags that changed.
func TestBuildEntries(t *testing.T) {
	parse := func(n, skip int, on func(int) bool) []*evaluator.Flag {
		t.Helper()
		set, _, err := testParser().Parse("a", editDoc(n, skip, on), evaluator.FormatJSON)
		if err != nil {
			t.Fatal(err)
		}
		return set.Flags()
	}
	none := func(int) bool { return false }
	base, _ := buildEntries(nil, parse(200, -1, none), 0)
	tests := []struct {
		name  string
		flags []*evaluator.Flag
		want  map[string]ChangeType
	}{
		{"unchanged", parse(200, -1, none), map[string]ChangeType{}},
		{"one updated", parse(200, -1, func(i int) bool { return i == 3 }), map[string]ChangeType{"f3": ChangeUpdate}},
		{"one new", parse(201, -1, none), map[string]ChangeType{"f200": ChangeWrite}},
		{"one gone", parse(200, 7, none), map[string]ChangeType{"f7": ChangeDelete}},
		{"many updated", parse(200, -1, func(i int) bool { return i%2 == 0 }), func() map[string]ChangeType {
			m := map[string]ChangeType{}
			for i := 0; i < 200; i += 2 {
				m[fmt.Sprintf("f%d", i)] = ChangeUpdate
			}
			return m
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, ids := buildEntries(base, tt.flags, 0)
			got := map[string]ChangeType{}
			for _, id := range ids {
				if ct, ok := compare(base[id], entries[id]); ok {
					got[id.key] = ct
				}
			}
			if !reflect.DeepEqual(got, tt.want) || len(ids) != len(tt.want) {
				t.Fatalf("changes %v (ids %v), want %v", got, ids, tt.want)
			}
			if len(entries) != len(tt.flags) {
				t.Fatalf("%d entries, want %d", len(entries), len(tt.flags))
			}
			for _, f := range tt.flags {
				id := flagID{set: f.FlagSetID(), key: f.Key()}
				e := entries[id]
				if e == nil || e.flag.Fingerprint() != f.Fingerprint() {
					t.Fatalf("%s: entry %v", f.Key(), e)
				}
				if _, changed := tt.want[f.Key()]; !changed && e != base[id] {
					t.Fatalf("%s: unchanged but a new entry", f.Key())
				}
			}
			if len(ids) == 0 && fmt.Sprintf("%p", entries) != fmt.Sprintf("%p", base) {
				t.Error("no change, but not the previous entries")
			}
		})
	}
}
