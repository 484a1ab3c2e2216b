package evaluator_test

import (
	"fmt"

	"github.com/vexilhq/vexil/evaluator"
)

func Example() {
	doc := []byte(`{
	  "flags": {
	    "new-checkout": {
	      "state": "ENABLED",
	      "variants": {"on": true, "off": false},
	      "defaultVariant": "off",
	      "targeting": {"if": [{"ends_with": [{"var": "email"}, "@example.com"]}, "on"]}
	    }
	  }
	}`)
	p, err := evaluator.NewParser(evaluator.Options{})
	if err != nil {
		panic(err)
	}
	set, warnings, err := p.Parse("flags.json", doc, evaluator.FormatJSON)
	if err != nil {
		panic(err)
	}
	fmt.Println("warnings:", len(warnings))

	r := set.Evaluate("new-checkout", evaluator.KindBool, map[string]any{"email": "ana@example.com"})
	fmt.Println(r.Value, r.Variant, r.Reason)

	r = set.Evaluate("new-checkout", evaluator.KindString, nil)
	fmt.Println(r.Reason, r.Err.Code)
	// Output:
	// warnings: 0
	// true on TARGETING_MATCH
	// ERROR TYPE_MISMATCH
}

func ExampleParser_Parse_problems() {
	doc := []byte(`{"flags": {"banner": {"state": "ENABLED", "variants": {"on": true, "off": "no"}, "defaultVariant": "maybe"}}}`)
	p, _ := evaluator.NewParser(evaluator.Options{})
	_, problems, err := p.Parse("banner.json", doc, evaluator.FormatJSON)
	for _, pr := range problems {
		fmt.Println(pr.Severity, pr)
	}
	fmt.Println(err != nil)
	// Output:
	// error banner.json:1:82: flags/banner/defaultVariant: defaultVariant "maybe" is not one of the variants (off, on)
	// warning banner.json:1:43: flags/banner/variants: variants mix types: "off" is string, "on" is boolean
	// true
}

// Locate maps JSON pointers, as problems carry them, to lines and columns
// of the document's text.
func ExampleLocate() {
	doc := []byte(`{
  "flags": {
    "banner": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on",
               "targeting": {"if": [{"var": "beta"}, "yes", null]}}
  }
}`)
	pos := evaluator.Locate(doc, evaluator.FormatJSON, []string{"/flags/banner/targeting/if/1"})
	fmt.Println(pos["/flags/banner/targeting/if/1"])
	// Output:
	// {4 54}
}
