package wire

import (
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/vexilhq/vexil/evaluator"
	evaluationv2 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2"
)

// ResolveV2 builds the flagd.evaluation.v2 answer to Resolve<Type> for a
// result evaluated with kind (flagd's flag_evaluator_v2.go), or the
// Connect error to send instead. It differs from version 1 only where a
// flag resolves to no value: a disabled flag is answered with reason
// DISABLED, a flag with no default variant (that targeting did not
// resolve) with reason DEFAULT, and neither has a value or a variant
// (flagd's SetReasonOnly). A variant is sent only when it has a name.
func ResolveV2(kind evaluator.Kind, r evaluator.Result) (proto.Message, *connect.Error) {
	if r.Err != nil {
		return nil, ConnectError(r.Err)
	}
	meta, cerr := StructOf(r.Metadata, "flag metadata")
	if cerr != nil {
		return nil, cerr
	}
	reason := string(r.Reason)
	var variant *string
	if r.Variant != "" && !r.NoValue {
		variant = proto.String(r.Variant)
	}
	switch kind {
	case evaluator.KindBool:
		m := &evaluationv2.ResolveBooleanResponse{Reason: reason, Variant: variant, Metadata: meta}
		if v, ok := r.Value.(bool); ok && !r.NoValue {
			m.Value = &v
		}
		return m, nil
	case evaluator.KindString:
		m := &evaluationv2.ResolveStringResponse{Reason: reason, Variant: variant, Metadata: meta}
		if v, ok := r.Value.(string); ok && !r.NoValue {
			m.Value = &v
		}
		return m, nil
	case evaluator.KindInt:
		m := &evaluationv2.ResolveIntResponse{Reason: reason, Variant: variant, Metadata: meta}
		if !r.NoValue {
			v := IntValue(r.Value)
			m.Value = &v
		}
		return m, nil
	case evaluator.KindFloat:
		m := &evaluationv2.ResolveFloatResponse{Reason: reason, Variant: variant, Metadata: meta}
		if !r.NoValue {
			v := FloatValue(r.Value)
			m.Value = &v
		}
		return m, nil
	case evaluator.KindObject:
		m := &evaluationv2.ResolveObjectResponse{Reason: reason, Variant: variant, Metadata: meta}
		if !r.NoValue {
			obj, _ := r.Value.(map[string]any)
			v, cerr := StructOf(obj, "flag value")
			if cerr != nil {
				return nil, cerr
			}
			m.Value = v
		}
		return m, nil
	}
	return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("no flagd.evaluation.v2 response for kind %s", kind))
}
