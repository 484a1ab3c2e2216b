package wire_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/vexilhq/vexil/daemon/internal/wire"
	"github.com/vexilhq/vexil/evaluator"
)

// emptyNameDoc has flags whose defaultVariant is "", null or missing while
// a variant is named "": flagd types such a flag by that variant in its
// ResolveAll answers, though it has no default variant.
const emptyNameDoc = `{"flags": {
  "empty-name-default": {"state": "ENABLED", "variants": {"a": "A", "": "E"}, "defaultVariant": ""},
  "empty-name-absent": {"state": "ENABLED", "variants": {"a": true, "": false}},
  "empty-name-null": {"state": "ENABLED", "variants": {"a": 1, "": 2}, "defaultVariant": null},
  "empty-name-disabled": {"state": "DISABLED", "variants": {"a": "A", "": "E"}, "defaultVariant": ""},
  "empty-name-targeted": {"state": "ENABLED", "variants": {"a": {"k": 1}, "": {"k": 2}}, "defaultVariant": "",
    "targeting": {"if": [{"var": "pick"}, "a", null]}},
  "empty-name-selected": {"state": "ENABLED", "variants": {"a": "A", "": "E"}, "defaultVariant": "", "targeting": ""},
  "no-empty-name": {"state": "ENABLED", "variants": {"a": "A"}, "defaultVariant": ""}
}}`

// TestResolveAllEmptyVariantName holds the ResolveAll answers of both
// services to the answers flagd bbb05d4 gave for emptyNameDoc (recorded
// over Connect JSON; keys sorted as MarshalJSON writes them).
func TestResolveAllEmptyVariantName(t *testing.T) {
	set := parse(t, emptyNameDoc)
	evaluate := func(ctx map[string]any) func(string, evaluator.Kind) evaluator.Result {
		return func(key string, kind evaluator.Kind) evaluator.Result { return set.Evaluate(key, kind, ctx) }
	}
	for _, tc := range []struct {
		name   string
		ctx    map[string]any
		v1, s1 string
	}{
		{
			name: "no context",
			v1: `{"flags":{` +
				`"empty-name-absent":{"reason":"ERROR","variant":"","boolValue":false,"metadata":{}},` +
				`"empty-name-default":{"reason":"ERROR","variant":"","stringValue":"","metadata":{}},` +
				`"empty-name-disabled":{"reason":"DISABLED","variant":"","stringValue":"","metadata":{}},` +
				`"empty-name-null":{"reason":"ERROR","variant":"","doubleValue":0,"metadata":{}},` +
				`"empty-name-selected":{"reason":"TARGETING_MATCH","variant":"","stringValue":"E","metadata":{}},` +
				`"empty-name-targeted":{"reason":"ERROR","variant":"","objectValue":{},"metadata":{}}` +
				`},"metadata":{}}`,
			s1: `{"flags":{` +
				`"empty-name-absent":{"reason":"FALLBACK","variant":"","boolValue":false},` +
				`"empty-name-default":{"reason":"FALLBACK","variant":"","stringValue":""},` +
				`"empty-name-disabled":{"reason":"DISABLED","variant":"","stringValue":""},` +
				`"empty-name-null":{"reason":"FALLBACK","variant":"","doubleValue":0},` +
				`"empty-name-selected":{"reason":"TARGETING_MATCH","variant":"","stringValue":"E"},` +
				`"empty-name-targeted":{"reason":"FALLBACK","variant":"","objectValue":{}}` +
				`}}`,
		},
		{
			name: "targeting picks a",
			ctx:  map[string]any{"pick": true},
			v1: `{"flags":{` +
				`"empty-name-absent":{"reason":"ERROR","variant":"","boolValue":false,"metadata":{}},` +
				`"empty-name-default":{"reason":"ERROR","variant":"","stringValue":"","metadata":{}},` +
				`"empty-name-disabled":{"reason":"DISABLED","variant":"","stringValue":"","metadata":{}},` +
				`"empty-name-null":{"reason":"ERROR","variant":"","doubleValue":0,"metadata":{}},` +
				`"empty-name-selected":{"reason":"TARGETING_MATCH","variant":"","stringValue":"E","metadata":{}},` +
				`"empty-name-targeted":{"reason":"TARGETING_MATCH","variant":"a","objectValue":{"k":1},"metadata":{}}` +
				`},"metadata":{}}`,
			s1: `{"flags":{` +
				`"empty-name-absent":{"reason":"FALLBACK","variant":"","boolValue":false},` +
				`"empty-name-default":{"reason":"FALLBACK","variant":"","stringValue":""},` +
				`"empty-name-disabled":{"reason":"DISABLED","variant":"","stringValue":""},` +
				`"empty-name-null":{"reason":"FALLBACK","variant":"","doubleValue":0},` +
				`"empty-name-selected":{"reason":"TARGETING_MATCH","variant":"","stringValue":"E"},` +
				`"empty-name-targeted":{"reason":"TARGETING_MATCH","variant":"a","objectValue":{"k":1}}` +
				`}}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v1, err := wire.MarshalJSON(wire.ResolveAllV1Of(set.Flags(), evaluate(tc.ctx)))
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, v1, tc.v1) {
				t.Errorf("flagd.evaluation.v1 ResolveAll\n got %s\nwant %s", v1, tc.v1)
			}
			s1, err := wire.MarshalJSON(wire.ResolveAllSchemaV1Of(set.Flags(), evaluate(tc.ctx)))
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, s1, tc.s1) {
				t.Errorf("schema.v1 ResolveAll\n got %s\nwant %s", s1, tc.s1)
			}
		})
	}
}

// jsonEqual compares JSON texts as values: key order and number format
// aside.
func jsonEqual(t *testing.T, got []byte, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want invalid JSON %s: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}
