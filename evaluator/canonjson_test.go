package evaluator

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// TestAppendRuleJSON: values encoding/json encodes in its own ways.
func TestAppendRuleJSON(t *testing.T) {
	for _, v := range []any{
		nil, true, false, 0.0, -0.0, 1.0, -1.5, 1e20, 1e21, 1.5e-7, 1e-6, 123456789.125, math.MaxFloat64, math.SmallestNonzeroFloat64,
		"", "plain", "<a&b>", "quote\" back\\slash", "\b\f\n\r\t\x00\x1f\x7f", "\u2028\u2029", "é✓😀", "bad\xffutf8\xc3",
		[]any{}, []any{1.0, "x", nil, []any{true}},
		map[string]any{}, map[string]any{"b": 1.0, "a": map[string]any{"z": []any{}, "<": "&"}, "": nil},
	} {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendRuleJSON(nil, v)
		if !ok || !bytes.Equal(got, want) {
			t.Errorf("%#v: got %s (%v), want %s", v, got, ok, want)
		}
	}
	for _, v := range []any{math.NaN(), math.Inf(1), 3, json.Number("1"), map[string]string{}} {
		if _, ok := appendRuleJSON(nil, v); ok {
			t.Errorf("%#v: encoded, want refused", v)
		}
	}
}

// FuzzAppendRuleJSON: for any JSON document, the encoding equals
// encoding/json's Marshal of the decoded value.
func FuzzAppendRuleJSON(f *testing.F) {
	for _, s := range []string{
		`{"if":[{"in":["@example.com",{"var":"email"}]},"on","off"]}`,
		`{"fractional":[{"var":"targetingKey"},["a",50],["b",50]]}`,
		`[1e21, 1e-7, -0, 0.1, 123456789012345678901234567890, "\u2028<>&\ud800"]`,
		`"\u0000\u001f\"\\"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			return
		}
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendRuleJSON(nil, v)
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("%s:\ngot  %s (%v)\nwant %s", data, got, ok, want)
		}
	})
}
