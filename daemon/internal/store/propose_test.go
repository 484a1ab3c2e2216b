package store

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
)

func listing(snap *Snapshot) []string {
	var out []string
	for _, l := range snap.Listing(Selector{}) {
		out = append(out, describe(l.Flag)+" from "+l.Source)
	}
	return out
}

// TestPropose: Propose gives the change Apply would make, and makes none.
func TestPropose(t *testing.T) {
	st := loadAll(t, srcA, srcB, srcC)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	before, changes := st.Subscribe(ctx)

	u := syncsources.Update{Source: srcA, Data: readFile(t, "testdata/a2.json"), Format: evaluator.FormatJSON}
	proposed, err := st.Propose(u)
	if err != nil {
		t.Fatal(err)
	}
	if st.Current() != before || proposed.Old != before {
		t.Fatal("Propose changed the store, or did not start from its current snapshot")
	}
	select {
	case c := <-changes:
		t.Fatalf("Propose delivered a change: %+v", c.Flags())
	default:
	}

	applied, err := st.Apply(u)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(proposed.Flags(), applied.Flags()) || len(applied.Flags()) == 0 {
		t.Errorf("proposed changes %v, applied %v", proposed.Flags(), applied.Flags())
	}
	if got, want := listing(proposed.New), listing(applied.New); !reflect.DeepEqual(got, want) {
		t.Errorf("proposed flags %v, applied %v", got, want)
	}

	// A rejected document: the error and its problems; the source's flags
	// stay.
	bad := syncsources.Update{Source: srcB, Data: readFile(t, "testdata/invalid.json"), Format: evaluator.FormatJSON}
	c, err := st.Propose(bad)
	var le *evaluator.LoadError
	if !errors.As(err, &le) || c.Event != EventRejected || len(c.New.Sources()[1].Problems) == 0 {
		t.Errorf("Propose(invalid) = %v, %v; want a LoadError and problems", c.Event, err)
	}
	if got, want := listing(c.New), listing(st.Current()); !reflect.DeepEqual(got, want) {
		t.Errorf("after a rejected proposal: %v, want %v", got, want)
	}

	if _, err := st.Propose(syncsources.Update{Source: "nope"}); err == nil {
		t.Error("Propose to an unknown source: no error")
	}
}
