package wire

import (
	"bytes"
	"math"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
	evaluationv2 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2"
)

// answers builds every message AppendJSON encodes from the inputs.
func answers(meta *structpb.Struct, s string, f float64, n int64, b bool) []proto.Message {
	ps, pf, pn, pb := &s, &f, &n, &b
	return []proto.Message{
		&evaluationv1.ResolveBooleanResponse{Value: b, Reason: s, Variant: s, Metadata: meta},
		&evaluationv1.ResolveStringResponse{Value: s, Reason: "STATIC", Variant: "v", Metadata: meta},
		&evaluationv1.ResolveIntResponse{Value: n, Reason: "STATIC", Variant: "v", Metadata: meta},
		&evaluationv1.ResolveFloatResponse{Value: f, Reason: "STATIC", Variant: "v", Metadata: meta},
		&evaluationv1.ResolveObjectResponse{Value: meta, Reason: "STATIC", Variant: "v", Metadata: &structpb.Struct{}},
		&evaluationv2.ResolveBooleanResponse{Value: pb, Reason: "STATIC", Variant: ps, Metadata: meta},
		&evaluationv2.ResolveBooleanResponse{Reason: "DEFAULT", Metadata: meta},
		&evaluationv2.ResolveStringResponse{Value: ps, Reason: s, Variant: ps, Metadata: meta},
		&evaluationv2.ResolveIntResponse{Value: pn, Reason: "STATIC", Metadata: meta},
		&evaluationv2.ResolveFloatResponse{Value: pf, Reason: "STATIC", Variant: ps, Metadata: meta},
		&evaluationv2.ResolveObjectResponse{Value: meta, Reason: "STATIC", Metadata: nil},
		&evaluationv1.ResolveAllResponse{Flags: map[string]*evaluationv1.AnyFlag{
			s:   {Reason: "STATIC", Variant: s, Value: &evaluationv1.AnyFlag_BoolValue{BoolValue: b}, Metadata: meta},
			"f": {Reason: "TARGETING_MATCH", Variant: "v", Value: &evaluationv1.AnyFlag_DoubleValue{DoubleValue: f}, Metadata: &structpb.Struct{}},
			"o": {Reason: "STATIC", Variant: "v", Value: &evaluationv1.AnyFlag_ObjectValue{ObjectValue: meta}, Metadata: meta},
			"s": {Reason: "STATIC", Variant: "v", Value: &evaluationv1.AnyFlag_StringValue{StringValue: s}},
			"e": {Reason: "ERROR"},
		}, Metadata: meta},
	}
}

// checkAppendJSON requires AppendJSON to agree with protojson whenever it
// answers, and to answer for inputs it must know.
func checkAppendJSON(t *testing.T, meta *structpb.Struct, s string, f float64, n int64, b bool) {
	t.Helper()
	mustAnswer := utf8.ValidString(s) && !math.IsNaN(f) && !math.IsInf(f, 0)
	for _, m := range answers(meta, s, f, n, b) {
		want, err := marshalJSONSlow(m)
		got, ok := AppendJSON(nil, m)
		if !ok {
			if mustAnswer && err == nil && meta != nil && structOK(meta) {
				t.Fatalf("%T: AppendJSON declined %s", m, want)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%T: AppendJSON gave %s where protojson fails: %v", m, got, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%T:\n got %s\nwant %s", m, got, want)
		}
	}
}

// structOK reports whether every string and number of s is one AppendJSON
// must encode (valid UTF-8, finite), within its depth.
func structOK(s *structpb.Struct) bool {
	var ok func(v *structpb.Value, depth int) bool
	ok = func(v *structpb.Value, depth int) bool {
		if depth > 60 {
			return false
		}
		switch k := v.GetKind().(type) {
		case *structpb.Value_StringValue:
			return utf8.ValidString(k.StringValue)
		case *structpb.Value_NumberValue:
			return !math.IsNaN(k.NumberValue) && !math.IsInf(k.NumberValue, 0)
		case *structpb.Value_StructValue:
			for key, e := range k.StructValue.GetFields() {
				if !utf8.ValidString(key) || !ok(e, depth+1) {
					return false
				}
			}
		case *structpb.Value_ListValue:
			for _, e := range k.ListValue.GetValues() {
				if !ok(e, depth+1) {
					return false
				}
			}
		case nil:
			return false
		}
		return true
	}
	return ok(structpb.NewStructValue(s), 0)
}

func TestAppendJSON(t *testing.T) {
	meta, err := structpb.NewStruct(map[string]any{
		"flagSetId": "set", "n": 1e21, "small": 1e-7, "neg": -0.0, "tenth": 0.1, "big": 9007199254740993.0,
		"s": "<>&\u2028\"\\\x01\t", "nested": map[string]any{"a": []any{1, "x", nil, true, map[string]any{}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []float64{0, -0.0, 1, 0.1, 1e21, 1e20, 1e-6, 1e-7, 123456789.125, -5e-324, math.MaxFloat64} {
		checkAppendJSON(t, meta, "v\u00e9\n", f, -1<<63, true)
	}
	checkAppendJSON(t, &structpb.Struct{}, "", math.NaN(), 0, false) // NaN: declined
	checkAppendJSON(t, meta, "\xff", 1, 1, false)                    // invalid UTF-8: declined
}

func FuzzAppendJSONMatchesProtojson(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":[true,null,"x"],"c":{"d":1e21}}`), "STATIC", 0.5, int64(3), true)
	f.Add([]byte(`{}`), "\u2028<&>", 1e-7, int64(-1), false)
	f.Fuzz(func(t *testing.T, data []byte, s string, fl float64, n int64, b bool) {
		meta := &structpb.Struct{}
		if err := protojson.Unmarshal(data, meta); err != nil {
			meta = &structpb.Struct{}
		}
		checkAppendJSON(t, meta, s, fl, n, b)
	})
}
