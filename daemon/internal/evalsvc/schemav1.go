package evalsvc

import (
	"context"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/vexilhq/vexil/daemon/internal/wire"
	"github.com/vexilhq/vexil/evaluator"
	schemav1 "github.com/vexilhq/vexil/schemas/gen/schema/v1"
	"github.com/vexilhq/vexil/schemas/gen/schema/v1/schemav1connect"
)

// schemaService implements the deprecated schema.v1.Service (flagd's
// OldFlagEvaluationService, flag_evaluator.go). It differs from
// flagd.evaluation.v1 in three ways: the header-to-context mappings are
// not applied; a flag that resolves to no value is answered with reason
// FALLBACK, the zero value and no variant (flagd's evaluator tells only
// the versioned services to answer FLAG_NOT_FOUND); and ResolveAll has no
// metadata, and lists the flags whose default value is not typed (no
// default, null, an array) when their evaluation gives a typed value.
type schemaService struct{ s *Service }

var _ schemav1connect.ServiceHandler = (*schemaService)(nil)

// resolveSchemaMessage builds the schema.v1 answer to Resolve<Type>.
func resolveSchemaMessage(kind evaluator.Kind, r evaluator.Result) (proto.Message, *connect.Error) {
	if r.Err != nil {
		return nil, wire.ConnectError(r.Err)
	}
	meta, cerr := wire.StructOf(r.Metadata, "flag metadata")
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
		return &schemav1.ResolveIntResponse{Value: wire.IntValue(r.Value), Reason: reason, Variant: variant, Metadata: meta}, nil
	case evaluator.KindFloat:
		return &schemav1.ResolveFloatResponse{Value: wire.FloatValue(r.Value), Reason: reason, Variant: variant, Metadata: meta}, nil
	case evaluator.KindObject:
		m, _ := r.Value.(map[string]any)
		v, cerr := wire.StructOf(m, "flag value")
		if cerr != nil {
			return nil, cerr
		}
		return &schemav1.ResolveObjectResponse{Value: v, Reason: reason, Variant: variant, Metadata: meta}, nil
	}
	return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("no schema.v1 response for kind %s", kind))
}

func (v *schemaService) ResolveBoolean(_ context.Context, r *connect.Request[schemav1.ResolveBooleanRequest]) (*connect.Response[schemav1.ResolveBooleanResponse], error) {
	return resolve[schemav1.ResolveBooleanResponse](v.s, r.Header(), r.Msg, evaluator.KindBool, false, resolveSchemaMessage)
}

func (v *schemaService) ResolveString(_ context.Context, r *connect.Request[schemav1.ResolveStringRequest]) (*connect.Response[schemav1.ResolveStringResponse], error) {
	return resolve[schemav1.ResolveStringResponse](v.s, r.Header(), r.Msg, evaluator.KindString, false, resolveSchemaMessage)
}

func (v *schemaService) ResolveFloat(_ context.Context, r *connect.Request[schemav1.ResolveFloatRequest]) (*connect.Response[schemav1.ResolveFloatResponse], error) {
	return resolve[schemav1.ResolveFloatResponse](v.s, r.Header(), r.Msg, evaluator.KindFloat, false, resolveSchemaMessage)
}

func (v *schemaService) ResolveInt(_ context.Context, r *connect.Request[schemav1.ResolveIntRequest]) (*connect.Response[schemav1.ResolveIntResponse], error) {
	return resolve[schemav1.ResolveIntResponse](v.s, r.Header(), r.Msg, evaluator.KindInt, false, resolveSchemaMessage)
}

func (v *schemaService) ResolveObject(_ context.Context, r *connect.Request[schemav1.ResolveObjectRequest]) (*connect.Response[schemav1.ResolveObjectResponse], error) {
	return resolve[schemav1.ResolveObjectResponse](v.s, r.Header(), r.Msg, evaluator.KindObject, false, resolveSchemaMessage)
}

// ResolveAll answers as flagd's OldFlagEvaluationService.ResolveAll: each
// flag of the selection is evaluated as the type of its default value, and
// listed with that type's zero value when it has none (disabled, or an
// error). A flag whose default value is not typed is evaluated as
// whatever its variant holds, and listed only if that is a boolean, a
// string, a number or an object. Numbers are doubles; there is no
// metadata.
func (v *schemaService) ResolveAll(_ context.Context, r *connect.Request[schemav1.ResolveAllRequest]) (*connect.Response[schemav1.ResolveAllResponse], error) {
	snap, sel, ctx, err := v.s.prepare(r.Header(), r.Msg.GetContext(), false)
	if err != nil {
		return nil, err
	}
	flags := snap.Flags(sel)
	resp := &schemav1.ResolveAllResponse{Flags: make(map[string]*schemav1.AnyFlag, len(flags))}
	for _, f := range flags {
		kind, typed := wire.DefaultKind(f)
		res := snap.Evaluate(sel, f.Key(), kind, ctx)
		v.s.metrics.Evaluation(&res)
		value := res.Value
		if value == nil && typed {
			value = zeroValue(kind)
		}
		af := &schemav1.AnyFlag{Reason: string(res.Reason), Variant: res.Variant}
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
	return connect.NewResponse(resp), nil
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

func (v *schemaService) EventStream(ctx context.Context, r *connect.Request[schemav1.EventStreamRequest], st *connect.ServerStream[schemav1.EventStreamResponse]) error {
	return v.s.eventStream(ctx, r.Header(), false, func(typ string, data *structpb.Struct) error {
		return st.Send(&schemav1.EventStreamResponse{Type: typ, Data: data})
	})
}
