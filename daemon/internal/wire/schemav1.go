package wire

import (
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/vexilhq/vexil/evaluator"
	schemav1 "github.com/vexilhq/vexil/schemas/gen/schema/v1"
)

// The deprecated schema.v1.Service (flagd's OldFlagEvaluationService,
// flag_evaluator.go) differs from flagd.evaluation.v1 in three ways: the
// header-to-context mappings are not applied (the caller's to leave out);
// a flag that resolves to no value is answered with reason FALLBACK, the
// zero value and no variant (flagd's evaluator tells only the versioned
// services to answer FLAG_NOT_FOUND); and ResolveAll has no metadata, and
// lists the flags whose default value is not typed (no default, null, an
// array) when their evaluation gives a typed value.

// reasonFallback is the reason schema.v1 answers for a flag that resolves
// to no value (flagd's model.FallbackReason, which the deprecated service
// sends as is).
const reasonFallback = "FALLBACK"

// ResolveSchemaV1 builds the schema.v1 answer to Resolve<Type>, or the
// Connect error to send instead.
func ResolveSchemaV1(kind evaluator.Kind, r evaluator.Result) (proto.Message, *connect.Error) {
	if r.Err != nil {
		return nil, ConnectError(r.Err)
	}
	meta, cerr := StructOf(r.Metadata, "flag metadata")
	if cerr != nil {
		return nil, cerr
	}
	reason, variant := string(r.Reason), r.Variant
	if r.NoValue {
		variant = ""
		if r.Reason != evaluator.ReasonDisabled {
			reason = reasonFallback
		}
	}
	switch kind {
	case evaluator.KindBool:
		v, _ := r.Value.(bool)
		return &schemav1.ResolveBooleanResponse{Value: v, Reason: reason, Variant: variant, Metadata: meta}, nil
	case evaluator.KindString:
		v, _ := r.Value.(string)
		return &schemav1.ResolveStringResponse{Value: v, Reason: reason, Variant: variant, Metadata: meta}, nil
	case evaluator.KindInt:
		return &schemav1.ResolveIntResponse{Value: IntValue(r.Value), Reason: reason, Variant: variant, Metadata: meta}, nil
	case evaluator.KindFloat:
		return &schemav1.ResolveFloatResponse{Value: FloatValue(r.Value), Reason: reason, Variant: variant, Metadata: meta}, nil
	case evaluator.KindObject:
		m, _ := r.Value.(map[string]any)
		v, cerr := StructOf(m, "flag value")
		if cerr != nil {
			return nil, cerr
		}
		return &schemav1.ResolveObjectResponse{Value: v, Reason: reason, Variant: variant, Metadata: meta}, nil
	}
	return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("no schema.v1 response for kind %s", kind))
}

// ResolveAllSchemaV1Of builds the schema.v1 answer to ResolveAll, as
// flagd's OldFlagEvaluationService.ResolveAll does: each flag is evaluated
// (by evaluate) as the type of its default value, and listed with that
// type's zero value when it has none (disabled, or an error). A flag whose
// default value is not typed is evaluated as whatever its variant holds,
// and listed only if that is a boolean, a string, a number or an object.
// Numbers are doubles; there is no metadata.
func ResolveAllSchemaV1Of(flags []*evaluator.Flag, evaluate func(key string, kind evaluator.Kind) evaluator.Result) *schemav1.ResolveAllResponse {
	resp := &schemav1.ResolveAllResponse{Flags: make(map[string]*schemav1.AnyFlag, len(flags))}
	for _, f := range flags {
		kind, typed := DefaultKind(f)
		res := evaluate(f.Key(), kind)
		value := res.Value
		if value == nil && typed {
			value = zeroValue(kind)
		}
		reason := string(res.Reason)
		if res.NoValue && res.Err == nil && res.Reason == evaluator.ReasonDefault {
			// No variant chosen and no default (a flag typed by a variant
			// named ""): this service shows flagd's internal reason.
			reason = "FALLBACK"
		}
		af := &schemav1.AnyFlag{Reason: reason, Variant: res.Variant}
		switch x := value.(type) {
		case bool:
			af.Value = &schemav1.AnyFlag_BoolValue{BoolValue: x}
		case string:
			af.Value = &schemav1.AnyFlag_StringValue{StringValue: x}
		case float64:
			af.Value = &schemav1.AnyFlag_DoubleValue{DoubleValue: x}
		case map[string]any:
			s, err := structpb.NewStruct(x)
			if err != nil {
				continue
			}
			af.Value = &schemav1.AnyFlag_ObjectValue{ObjectValue: s}
		default:
			continue
		}
		resp.Flags[f.Key()] = af
	}
	return resp
}

// zeroValue is the value flagd's typed resolve gives a flag that resolved
// to none.
func zeroValue(kind evaluator.Kind) any {
	switch kind {
	case evaluator.KindBool:
		return false
	case evaluator.KindString:
		return ""
	case evaluator.KindFloat:
		return 0.0
	case evaluator.KindObject:
		return map[string]any{}
	}
	return nil
}
