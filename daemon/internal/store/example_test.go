package store_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
)

func Example() {
	st := store.New(store.Config{Sources: []string{"base.json", "override.json"}})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, changes := st.Subscribe(ctx)

	st.Apply(syncsources.Update{Source: "base.json", Data: []byte(`{
	  "flags": {
	    "banner": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"},
	    "theme": {"state": "ENABLED", "variants": {"dark": "dark", "light": "light"}, "defaultVariant": "light"}
	  }
	}`)})
	fmt.Println("ready:", st.Current().Ready())

	// The later source wins.
	st.Apply(syncsources.Update{Source: "override.json", Data: []byte(`{
	  "flags": {"banner": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}}
	}`)})
	snap := st.Current()
	fmt.Println("ready:", snap.Ready())
	r := snap.Evaluate(store.Selector{}, "banner", evaluator.KindBool, nil)
	fmt.Println("banner:", r.Value, r.Reason)

	// A rejected document changes no flag.
	_, err := st.Apply(syncsources.Update{Source: "override.json", Data: []byte(`{"flags": {"banner": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "maybe"}}}`)})
	var le *evaluator.LoadError
	fmt.Println("rejected:", errors.As(err, &le))
	fmt.Println("banner:", st.Current().Evaluate(store.Selector{}, "banner", evaluator.KindBool, nil).Value)
	state := st.Current().Sources()[1]
	for _, p := range state.Problems {
		fmt.Println(state.Name, "rejected", state.Rejected, "-", p.Severity, p)
	}

	// Selectors: by source, or by flag set.
	sel, _ := store.ParseSelector("source=base.json")
	fmt.Println("base.json banner:", st.Current().Evaluate(sel, "banner", evaluator.KindBool, nil).Err.Code)
	fmt.Println("base.json theme:", st.Current().Evaluate(sel, "theme", evaluator.KindString, nil).Value)

	// The subscriber did not read: its three changes come merged.
	c := <-changes
	fmt.Println("merged:", c.Merged, c.For(store.Selector{}))
	// Output:
	// ready: false
	// ready: true
	// banner: true STATIC
	// rejected: true
	// banner: true
	// override.json rejected 1 - error override.json:1:69: flags/banner/defaultVariant: defaultVariant "maybe" is not one of the variants (on)
	// base.json banner: FLAG_NOT_FOUND
	// base.json theme: light
	// merged: 3 map[banner:write theme:write]
}
