package blast_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/vexilhq/vexil/daemon/internal/blast"
	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
)

// A kill switch: whom does disabling the flag flip?
func Example() {
	load := func(state string) *store.Snapshot {
		st := store.New(store.Config{Sources: []string{"flags.json"}})
		doc := `{"flags":{"checkout":{"state":"` + state + `","variants":{"new":true,"old":false},"defaultVariant":"old",
			"targeting":{"if":[{"==":[{"var":"plan"},"pro"]},"new",null]}}}}`
		if _, err := st.Apply(syncsources.Update{Source: "flags.json", Data: []byte(doc), Format: evaluator.FormatJSON}); err != nil {
			panic(err)
		}
		return st.Current()
	}
	contexts := blast.NewLineReader(strings.NewReader(`{"plan":"pro"}
{"plan":"free"}
{"plan":"pro"}
`))
	rep, err := blast.Run(context.Background(), blast.Compare(load("ENABLED"), load("DISABLED")), contexts, blast.Config{})
	if err != nil {
		panic(err)
	}
	for _, f := range rep.Flags {
		fmt.Printf("%s (%s): %d of %d contexts change\n", f.Key, f.Change, f.Changed, f.Evaluated)
		for _, t := range f.Transitions {
			fmt.Printf("  %s -> %v: %d\n", *t.From, t.To, t.Count)
		}
	}
	// Output:
	// checkout (changed): 3 of 3 contexts change
	//   new -> <nil>: 2
	//   old -> <nil>: 1
}
