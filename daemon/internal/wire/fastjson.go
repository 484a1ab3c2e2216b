package wire

import (
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
	evaluationv2 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2"
)

// AppendJSON appends m as MarshalJSON renders it, hand-encoded for the
// evaluation answers (each Resolve response of flagd.evaluation.v1 and v2,
// and v1's ResolveAllResponse), several times faster than protojson. ok is
// false for any other message, or a value it does not know to encode
// exactly as protojson does (a non-finite number, invalid UTF-8, a value
// nested deeper than 64): MarshalJSON then uses protojson. A fuzz test
// holds the two equal.
func AppendJSON(out []byte, m proto.Message) ([]byte, bool) {
	return appendResponse(out, m)
}

func appendResponse(out []byte, msg proto.Message) ([]byte, bool) {
	ok := true
	switch m := msg.(type) {
	case *evaluationv1.ResolveBooleanResponse:
		out = append(out, `{"value":`...)
		out = strconv.AppendBool(out, m.Value)
		return appendTail(out, m.Reason, &m.Variant, m.Metadata)
	case *evaluationv1.ResolveStringResponse:
		out = append(out, `{"value":`...)
		if out, ok = appendString(out, m.Value); !ok {
			return out, false
		}
		return appendTail(out, m.Reason, &m.Variant, m.Metadata)
	case *evaluationv1.ResolveIntResponse:
		out = append(out, `{"value":"`...)
		out = strconv.AppendInt(out, m.Value, 10)
		out = append(out, '"')
		return appendTail(out, m.Reason, &m.Variant, m.Metadata)
	case *evaluationv1.ResolveFloatResponse:
		out = append(out, `{"value":`...)
		if out, ok = appendFloat(out, m.Value); !ok {
			return out, false
		}
		return appendTail(out, m.Reason, &m.Variant, m.Metadata)
	case *evaluationv1.ResolveObjectResponse:
		out = append(out, `{"value":`...)
		if out, ok = appendStruct(out, m.Value, 0); !ok {
			return out, false
		}
		return appendTail(out, m.Reason, &m.Variant, m.Metadata)
	case *evaluationv1.ResolveAllResponse:
		return appendResolveAll(out, m)
	case *evaluationv2.ResolveBooleanResponse:
		out = append(out, '{')
		if m.Value != nil {
			out = append(out, `"value":`...)
			out = strconv.AppendBool(out, *m.Value)
			out = append(out, ',')
		}
		return appendTailV2(out, m.Reason, m.Variant, m.Metadata)
	case *evaluationv2.ResolveStringResponse:
		out = append(out, '{')
		if m.Value != nil {
			out = append(out, `"value":`...)
			if out, ok = appendString(out, *m.Value); !ok {
				return out, false
			}
			out = append(out, ',')
		}
		return appendTailV2(out, m.Reason, m.Variant, m.Metadata)
	case *evaluationv2.ResolveIntResponse:
		out = append(out, '{')
		if m.Value != nil {
			out = append(out, `"value":"`...)
			out = strconv.AppendInt(out, *m.Value, 10)
			out = append(out, `",`...)
		}
		return appendTailV2(out, m.Reason, m.Variant, m.Metadata)
	case *evaluationv2.ResolveFloatResponse:
		out = append(out, '{')
		if m.Value != nil {
			out = append(out, `"value":`...)
			if out, ok = appendFloat(out, *m.Value); !ok {
				return out, false
			}
			out = append(out, ',')
		}
		return appendTailV2(out, m.Reason, m.Variant, m.Metadata)
	case *evaluationv2.ResolveObjectResponse:
		out = append(out, '{')
		if m.Value != nil {
			out = append(out, `"value":`...)
			if out, ok = appendStruct(out, m.Value, 0); !ok {
				return out, false
			}
			out = append(out, ',')
		}
		return appendTailV2(out, m.Reason, m.Variant, m.Metadata)
	}
	return out, false
}

// appendTail appends the reason, variant and metadata fields of a version
// 1 answer, after its value, and closes it.
func appendTail(out []byte, reason string, variant *string, meta *structpb.Struct) ([]byte, bool) {
	out = append(out, ',')
	return appendTailV2(out, reason, variant, meta)
}

// appendTailV2 appends the reason, the variant when not nil, and the
// metadata, and closes the object.
func appendTailV2(out []byte, reason string, variant *string, meta *structpb.Struct) ([]byte, bool) {
	ok := true
	out = append(out, `"reason":`...)
	if out, ok = appendString(out, reason); !ok {
		return out, false
	}
	if variant != nil {
		out = append(out, `,"variant":`...)
		if out, ok = appendString(out, *variant); !ok {
			return out, false
		}
	}
	out = append(out, `,"metadata":`...)
	if meta == nil {
		out = append(out, "null"...)
	} else if out, ok = appendStruct(out, meta, 0); !ok {
		return out, false
	}
	return append(out, '}'), true
}

// fastMaxOutDepth bounds the nesting of the values the fast path encodes;
// deeper ones go to connect-go.
const fastMaxOutDepth = 64

// appendStruct appends s as protojson does: its fields sorted by key.
func appendStruct(out []byte, s *structpb.Struct, depth int) ([]byte, bool) {
	if s == nil {
		return out, false
	}
	return appendObject(out, s.Fields, depth, appendValue)
}

// appendObject appends m as a JSON object, its keys sorted (as protojson
// and encoding/json write them), each value with appendV at depth+1.
func appendObject[V any](out []byte, m map[string]V, depth int, appendV func([]byte, V, int) ([]byte, bool)) ([]byte, bool) {
	if depth > fastMaxOutDepth {
		return out, false
	}
	out = append(out, '{')
	var keysBuf [16]string
	keys := keysBuf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ok := true
	for i, k := range keys {
		if i > 0 {
			out = append(out, ',')
		}
		if out, ok = appendString(out, k); !ok {
			return out, false
		}
		out = append(out, ':')
		if out, ok = appendV(out, m[k], depth+1); !ok {
			return out, false
		}
	}
	return append(out, '}'), true
}

// appendValue appends v as protojson does.
func appendValue(out []byte, v *structpb.Value, depth int) ([]byte, bool) {
	if v == nil || depth > fastMaxOutDepth {
		return out, false
	}
	switch k := v.Kind.(type) {
	case *structpb.Value_NullValue:
		return append(out, "null"...), true
	case *structpb.Value_BoolValue:
		return strconv.AppendBool(out, k.BoolValue), true
	case *structpb.Value_NumberValue:
		return appendFloat(out, k.NumberValue)
	case *structpb.Value_StringValue:
		return appendString(out, k.StringValue)
	case *structpb.Value_StructValue:
		return appendStruct(out, k.StructValue, depth)
	case *structpb.Value_ListValue:
		if k.ListValue == nil {
			return out, false
		}
		out = append(out, '[')
		ok := true
		for i, e := range k.ListValue.Values {
			if i > 0 {
				out = append(out, ',')
			}
			if out, ok = appendValue(out, e, depth+1); !ok {
				return out, false
			}
		}
		return append(out, ']'), true
	}
	return out, false
}

// appendFloat appends a finite double as protojson does (like
// encoding/json: 'f' format, 'e' below 1e-6 and from 1e21, with a
// one-digit negative exponent unpadded). Non-finite numbers are refused.
func appendFloat(out []byte, n float64) ([]byte, bool) {
	if math.IsNaN(n) || math.IsInf(n, 0) {
		return out, false
	}
	format := byte('f')
	if abs := math.Abs(n); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	out = strconv.AppendFloat(out, n, format, -1, 64)
	if format == 'e' {
		l := len(out)
		if l >= 4 && out[l-4] == 'e' && out[l-3] == '-' && out[l-2] == '0' {
			out[l-2] = out[l-1]
			out = out[:l-1]
		}
	}
	return out, true
}

// appendString appends s quoted as protojson does: only '"', '\\' and
// control characters are escaped (\b \f \n \r \t, else \u00XX). Invalid
// UTF-8 is refused.
func appendString(out []byte, s string) ([]byte, bool) {
	out = append(out, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				return out, false
			}
			i += n
			continue
		}
		if c >= ' ' && c != '"' && c != '\\' {
			i++
			continue
		}
		out = append(out, s[start:i]...)
		switch c {
		case '"', '\\':
			out = append(out, '\\', c)
		case '\b':
			out = append(out, '\\', 'b')
		case '\f':
			out = append(out, '\\', 'f')
		case '\n':
			out = append(out, '\\', 'n')
		case '\r':
			out = append(out, '\\', 'r')
		case '\t':
			out = append(out, '\\', 't')
		default:
			const hex = "0123456789abcdef"
			out = append(out, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	out = append(out, s[start:]...)
	return append(out, '"'), true
}

// appendResolveAll appends {"flags":{key:AnyFlag...},"metadata":{...}},
// the flags sorted by key as protojson sorts map entries.
func appendResolveAll(out []byte, m *evaluationv1.ResolveAllResponse) ([]byte, bool) {
	ok := true
	out = append(out, `{"flags":{`...)
	keys := make([]string, 0, len(m.Flags))
	for k := range m.Flags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			out = append(out, ',')
		}
		if out, ok = appendString(out, k); !ok {
			return out, false
		}
		out = append(out, ':')
		if out, ok = appendAnyFlag(out, m.Flags[k]); !ok {
			return out, false
		}
	}
	out = append(out, `},"metadata":`...)
	if m.Metadata == nil {
		out = append(out, "null"...)
	} else if out, ok = appendStruct(out, m.Metadata, 0); !ok {
		return out, false
	}
	return append(out, '}'), true
}

// appendAnyFlag appends one flag of ResolveAll: reason, variant, the set
// member of the value oneof, metadata (field order).
func appendAnyFlag(out []byte, f *evaluationv1.AnyFlag) ([]byte, bool) {
	if f == nil {
		return out, false
	}
	ok := true
	out = append(out, `{"reason":`...)
	if out, ok = appendString(out, f.Reason); !ok {
		return out, false
	}
	out = append(out, `,"variant":`...)
	if out, ok = appendString(out, f.Variant); !ok {
		return out, false
	}
	switch v := f.Value.(type) {
	case nil:
	case *evaluationv1.AnyFlag_BoolValue:
		out = append(out, `,"boolValue":`...)
		out = strconv.AppendBool(out, v.BoolValue)
	case *evaluationv1.AnyFlag_StringValue:
		out = append(out, `,"stringValue":`...)
		if out, ok = appendString(out, v.StringValue); !ok {
			return out, false
		}
	case *evaluationv1.AnyFlag_DoubleValue:
		out = append(out, `,"doubleValue":`...)
		if out, ok = appendFloat(out, v.DoubleValue); !ok {
			return out, false
		}
	case *evaluationv1.AnyFlag_ObjectValue:
		if v.ObjectValue == nil {
			return out, false
		}
		out = append(out, `,"objectValue":`...)
		if out, ok = appendStruct(out, v.ObjectValue, 0); !ok {
			return out, false
		}
	default:
		return out, false
	}
	out = append(out, `,"metadata":`...)
	if f.Metadata == nil {
		out = append(out, "null"...)
	} else if out, ok = appendStruct(out, f.Metadata, 0); !ok {
		return out, false
	}
	return append(out, '}'), true
}
