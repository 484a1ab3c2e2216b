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
