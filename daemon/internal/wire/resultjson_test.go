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
		answered += checkAppendResolve(t, fmt.Sprintf("result %d", i), r)
	}
	if answered < len(results) {
		t.Errorf("AppendResolve answered %d of %d", answered, len(results)*10)
	}
}

// checkAppendResolve requires AppendResolve to give, for every kind and
// version, what the builder's message encodes to whenever it answers; it
// returns how often it answered.
func checkAppendResolve(t *testing.T, name string, r evaluator.Result) (answered int) {
	t.Helper()
	for _, kind := range []evaluator.Kind{evaluator.KindBool, evaluator.KindString, evaluator.KindInt, evaluator.KindFloat, evaluator.KindObject} {
		for _, v2 := range []bool{false, true} {
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
				t.Fatalf("%s %s v2=%v: AppendResolve gave %s where the builder fails: %v", name, kind, v2, got, cerr)
			}
			want, err := MarshalJSON(msg)
			if err != nil {
				t.Fatalf("%s %s v2=%v: AppendResolve gave %s where protojson fails: %v", name, kind, v2, got, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s %s v2=%v:\n got %s\nwant %s", name, kind, v2, got, want)
			}
		}
	}
	return answered
}

// FuzzAppendResolve: AppendResolve agrees with the builders and
// MarshalJSON on generated values and metadata.
func FuzzAppendResolve(f *testing.F) {
	f.Add("on", "k\u00e9", 2.5, int64(3), true, uint8(0))
	f.Add("", "\xff", math.Inf(1), int64(-1), false, uint8(255))
	f.Fuzz(func(t *testing.T, variant, s string, fl float64, n int64, b bool, pick uint8) {
		values := []any{nil, b, s, fl, n, map[string]any{s: fl, "n": n}, []any{s, b, nil}, map[string]any{"o": map[string]any{s: []any{fl}}}}
		meta := evaluator.Metadata{"flagSetId": s, "v": values[int(pick)%len(values)]}
		reasons := []evaluator.Reason{evaluator.ReasonStatic, evaluator.ReasonDisabled, evaluator.ReasonDefault, evaluator.Reason(s)}
		r := evaluator.Result{FlagKey: "k", Value: values[int(pick>>3)%len(values)], Variant: variant,
			Reason: reasons[int(pick>>6)%len(reasons)], NoValue: pick&4 != 0, Metadata: meta}
		if pick&2 != 0 {
			r.Metadata = nil
		}
		checkAppendResolve(t, "fuzz", r)
	})
}
