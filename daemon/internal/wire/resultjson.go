package wire

import (
	"strconv"

	"github.com/vexilhq/vexil/evaluator"
)

// AppendResolve appends the JSON MarshalJSON gives the answer ResolveV1
// (with v2, ResolveV2) builds for r, straight from the result: without
// the message, and without converting the value and metadata to Structs.
// ok is false where that answer is an error, and for any value it does not
// know to encode exactly so (AppendJSON declines it, or structpb refuses
// it): the caller then builds the message.
func AppendResolve(out []byte, kind evaluator.Kind, v2 bool, r *evaluator.Result) ([]byte, bool) {
	if r.Err != nil || !v2 && r.NoValue && r.Reason != evaluator.ReasonDisabled {
		return out, false
	}
	ok := true
	out = append(out, '{')
	if !v2 || !r.NoValue {
		start := len(out)
		out = append(out, `"value":`...)
		switch kind {
		case evaluator.KindBool:
			v, isBool := r.Value.(bool)
			if v2 && !isBool {
				out = out[:start]
				break
			}
			out = strconv.AppendBool(out, v)
		case evaluator.KindString:
			v, isString := r.Value.(string)
			if v2 && !isString {
				out = out[:start]
				break
			}
			out, ok = appendString(out, v)
		case evaluator.KindInt:
			out = append(out, '"')
			out = strconv.AppendInt(out, IntValue(r.Value), 10)
			out = append(out, '"')
		case evaluator.KindFloat:
			out, ok = appendFloat(out, FloatValue(r.Value))
		case evaluator.KindObject:
			m, _ := r.Value.(map[string]any)
			out, ok = appendMap(out, m, 0)
		default:
			return out, false
		}
		if !ok {
			return out, false
		}
		if len(out) > start {
			out = append(out, ',')
		}
	}
	out = append(out, `"reason":`...)
	if out, ok = appendString(out, string(r.Reason)); !ok {
		return out, false
	}
	if !v2 || r.Variant != "" && !r.NoValue {
		out = append(out, `,"variant":`...)
		if out, ok = appendString(out, r.Variant); !ok {
			return out, false
		}
	}
	out = append(out, `,"metadata":`...)
	if out, ok = appendMap(out, r.Metadata, 0); !ok {
		return out, false
	}
	return append(out, '}'), true
}

// appendMap appends a JSON object (nil is empty) as appendStruct appends
// the Struct structpb.NewStruct makes of it: its keys sorted.
func appendMap(out []byte, m map[string]any, depth int) ([]byte, bool) {
	return appendObject(out, m, depth, appendAnyValue)
}

// appendAnyValue appends a JSON value as appendValue appends the Value
// structpb.NewValue makes of it; it declines the types the evaluator does
// not give.
func appendAnyValue(out []byte, v any, depth int) ([]byte, bool) {
	if depth > fastMaxOutDepth {
		return out, false
	}
	switch x := v.(type) {
	case nil:
		return append(out, "null"...), true
	case bool:
		return strconv.AppendBool(out, x), true
	case float64:
		return appendFloat(out, x)
	case int64:
		return appendFloat(out, float64(x))
	case string:
		return appendString(out, x)
	case map[string]any:
		return appendMap(out, x, depth)
	case []any:
		out = append(out, '[')
		ok := true
		for i, e := range x {
			if i > 0 {
				out = append(out, ',')
			}
			if out, ok = appendAnyValue(out, e, depth+1); !ok {
				return out, false
			}
		}
		return append(out, ']'), true
	}
	return out, false
}
