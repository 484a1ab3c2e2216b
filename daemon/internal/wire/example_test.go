package wire_test

import (
	"fmt"

	"github.com/vexilhq/vexil/daemon/internal/wire"
	"github.com/vexilhq/vexil/evaluator"
)

func Example() {
	p, err := evaluator.NewParser(evaluator.Options{})
	if err != nil {
		panic(err)
	}
	set, _, err := p.Parse("example.json", []byte(`{
	  "flags": {
	    "page-size": {
	      "state": "ENABLED",
	      "variants": {"small": 10, "large": 50},
	      "defaultVariant": "small",
	      "targeting": {"if": [{"==": [{"var": "plan"}, "pro"]}, "large", null]}
	    },
	    "beta": {"state": "DISABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"}
	  }
	}`), evaluator.FormatJSON)
	if err != nil {
		panic(err)
	}
	ctx := map[string]any{"plan": "pro"}

	// ResolveInt: int64 values are strings in JSON.
	msg, cerr := wire.ResolveV1(evaluator.KindInt, set.Evaluate("page-size", evaluator.KindInt, ctx))
	if cerr != nil {
		panic(cerr)
	}
	out, _ := wire.MarshalJSON(msg)
	fmt.Println(string(out))

	// An unknown flag: the Connect error the daemon sends instead.
	_, cerr = wire.ResolveV1(evaluator.KindBool, set.Evaluate("nope", evaluator.KindBool, ctx))
	fmt.Println(cerr.Code(), string(wire.ErrorJSON(cerr)))

	// ResolveAll: numbers are doubles; a disabled flag has its zero value.
	out, _ = wire.MarshalJSON(wire.ResolveAllV1(set, ctx))
	fmt.Println(string(out))

	// Output:
	// {"value":"50","reason":"TARGETING_MATCH","variant":"large","metadata":{}}
	// not_found {"code":"not_found","message":"Flag not found"}
	// {"flags":{"beta":{"reason":"DISABLED","variant":"","boolValue":false,"metadata":{}},"page-size":{"reason":"TARGETING_MATCH","variant":"large","doubleValue":50,"metadata":{}}},"metadata":{}}
}
