package jsonenc

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// TestAppend: values encoding/json encodes in its own ways, and those
// Append declines.
func TestAppend(t *testing.T) {
	for _, v := range []any{
		nil, true, false, 0.0, -0.0, 1.0, -1.5, 1e20, 1e21, 1.5e-7, 1e-6, 123456789.125, math.MaxFloat64, math.SmallestNonzeroFloat64,
		"", "plain", "<a&b>", "quote\" back\\slash", "\b\f\n\r\t\x00\x1f\x7f", "\u2028\u2029", "é✓😀", "bad\xffutf8\xc3",
		[]any{}, []any{1.0, "x", nil, []any{true}}, []any(nil), int64(-42), map[string]any(nil),
		map[string]any{}, map[string]any{"b": 1.0, "a": map[string]any{"z": []any{}, "<": "&"}, "": nil},
	} {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := Append(nil, v, 1000)
		if !ok || !bytes.Equal(got, want) {
			t.Errorf("%#v: got %s (%v), want %s", v, got, ok, want)
		}
	}
	for _, v := range []any{math.NaN(), math.Inf(1), 3, json.Number("1"), map[string]string{}} {
		if _, ok := Append(nil, v, 1000); ok {
			t.Errorf("%#v: encoded, want refused", v)
		}
	}
	// Nesting beyond the limit is declined.
	deep := any("x")
	for range 3 {
		deep = []any{deep}
	}
	if _, ok := Append(nil, deep, 2); ok {
		t.Error("nesting 3 deep encoded with a limit of 2")
	}
	if _, ok := Append(nil, deep, 3); !ok {
		t.Error("nesting 3 deep declined with a limit of 3")
	}
}

// FuzzAppend: for any JSON document, the encoding equals
// encoding/json's Marshal of the decoded value.
func FuzzAppend(f *testing.F) {
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
		got, ok := Append(nil, v, 1000)
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("%s:\ngot  %s (%v)\nwant %s", data, got, ok, want)
		}
	})
}
