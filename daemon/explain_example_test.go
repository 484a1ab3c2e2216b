package daemon_test

import (
	"fmt"

	"github.com/vexilhq/vexil/daemon"
	"github.com/vexilhq/vexil/evaluator"
)

// MarshalExplanation is the JSON a daemon's POST /api/v1/explain answers
// (and `vexil explain --output json` prints) for an explanation.
func ExampleMarshalExplanation() {
	doc := `{"flags":{"beta":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off",
	  "targeting":{"if":[{"var":"beta"},"on"]}}}}`
	p, _ := evaluator.NewParser(evaluator.Options{})
	set, _, _ := p.Parse("flags.json", []byte(doc), evaluator.FormatJSON)
	data, _ := daemon.MarshalExplanation(set.Explain("beta", evaluator.KindAny, map[string]any{"beta": true}))
	fmt.Println(string(data))
	// Output:
	// {"flagKey":"beta","variant":"on","value":true,"reason":"TARGETING_MATCH","source":"","state":"ENABLED","defaultVariant":"off","type":"any","context":{"beta":true},"trace":{"op":"if","args":[true],"result":"on","children":[{"op":"var","pointer":"/if/0","args":["beta"],"result":true,"children":[],"path":"beta","found":true}],"branch":"then","clause":1}}
}
