package wire

import (
	"bytes"
	"fmt"
	"math"
	"testing"

	"github.com/vexilhq/vexil/evaluator"
)

// TestAppendResolve: AppendResolve gives the bytes MarshalJSON gives the
// message ResolveV1 or ResolveV2 builds, and declines where that is an
// error or a value it cannot encode.
func TestAppendResolve(t *testing.T) {
	meta := evaluator.Metadata{"flagSetId": "set", "n": 2.5, "i": int64(-3), "ok": true, "nil": nil,
		"list": []any{1.0, "<&>", map[string]any{"z": 1.0, "a": []any{}}}, "esc": "a\"b\\\n\u2028é"}
	values := []any{nil, true, false, "s", "\x01é", 0.0, -0.0, 1e21, 1e-7, 3.0, int64(7), int64(math.MaxInt64),
		map[string]any{"b": 1.0, "a": map[string]any{"x": nil}}, []any{1.0}, math.NaN(), "\xff",
		map[string]any{"\xff": 1.0}, map[string]any{"u": uint8(1)}}
	kinds := []evaluator.Kind{evaluator.KindBool, evaluator.KindString, evaluator.KindInt, evaluator.KindFloat, evaluator.KindObject}
	var results []evaluator.Result
	for _, v := range values {
		for _, md := range []evaluator.Metadata{nil, {}, meta, {"bad": math.Inf(1)}} {
			results = append(results,
				evaluator.Result{FlagKey: "k", Value: v, Variant: "on", Reason: evaluator.ReasonStatic, Metadata: md},
				evaluator.Result{FlagKey: "k", Value: v, Variant: "", Reason: evaluator.ReasonTargetingMatch, Metadata: md},
				evaluator.Result{FlagKey: "k", Reason: evaluator.ReasonDisabled, NoValue: true, Metadata: md},
				evaluator.Result{FlagKey: "k", Reason: evaluator.ReasonDefault, Variant: "x", NoValue: true, Metadata: md},
			)
		}
	}
	results = append(results, evaluator.Result{FlagKey: "k", Reason: evaluator.ReasonError, NoValue: true,
		Err: &evaluator.Error{Code: evaluator.CodeFlagNotFound}})
	answered := 0
	for i, r := range results {
		for _, kind := range kinds {
			for _, v2 := range []bool{false, true} {
				name := fmt.Sprintf("result %d %s v2=%v", i, kind, v2)
				build := ResolveV1
				if v2 {
					build = ResolveV2
				}
				msg, cerr := build(kind, r)
				got, ok := AppendResolve(nil, kind, v2, &r)
				if !ok {
					continue
				}
				answered++
				if cerr != nil {
					t.Fatalf("%s: AppendResolve gave %s where the builder fails: %v", name, got, cerr)
				}
				want, err := MarshalJSON(msg)
				if err != nil {
					t.Fatalf("%s: AppendResolve gave %s where protojson fails: %v", name, got, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%s:\n got %s\nwant %s", name, got, want)
				}
			}
		}
	}
	if answered < len(results) {
		t.Errorf("AppendResolve answered %d of %d", answered, len(results)*len(kinds)*2)
	}
}
