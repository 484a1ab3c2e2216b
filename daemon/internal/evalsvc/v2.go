package evalsvc

import (
	"context"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/vexilhq/vexil/daemon/internal/wire"
	"github.com/vexilhq/vexil/evaluator"
	evaluationv2 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2/evaluationv2connect"
)

// v2Service implements flagd.evaluation.v2.Service (flagd's
// flag_evaluator_v2.go). It has no ResolveAll.
type v2Service struct{ s *Service }

var _ evaluationv2connect.ServiceHandler = (*v2Service)(nil)

// resolveV2Message builds the version 2 answer to Resolve<Type> for a
// result evaluated with kind, or the Connect error to send instead. It
// differs from version 1 only where a flag resolves to no value: a
// disabled flag is answered with reason DISABLED, a flag with no default
// variant (that targeting did not resolve) with reason DEFAULT, and
// neither has a value or a variant (flagd's SetReasonOnly). A variant is
// sent only when it has a name.
func resolveV2Message(kind evaluator.Kind, r evaluator.Result) (proto.Message, *connect.Error) {
	if r.Err != nil {
		return nil, wire.ConnectError(r.Err)
	}
	meta, cerr := wire.StructOf(r.Metadata, "flag metadata")
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
			v := wire.IntValue(r.Value)
			m.Value = &v
		}
		return m, nil
	case evaluator.KindFloat:
		m := &evaluationv2.ResolveFloatResponse{Reason: reason, Variant: variant, Metadata: meta}
		if !r.NoValue {
			v := wire.FloatValue(r.Value)
			m.Value = &v
		}
		return m, nil
	case evaluator.KindObject:
		m := &evaluationv2.ResolveObjectResponse{Reason: reason, Variant: variant, Metadata: meta}
		if !r.NoValue {
			obj, _ := r.Value.(map[string]any)
			v, cerr := wire.StructOf(obj, "flag value")
			if cerr != nil {
				return nil, cerr
			}
			m.Value = v
		}
		return m, nil
	}
	return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("no flagd.evaluation.v2 response for kind %s", kind))
}

func (v *v2Service) ResolveBoolean(_ context.Context, r *connect.Request[evaluationv2.ResolveBooleanRequest]) (*connect.Response[evaluationv2.ResolveBooleanResponse], error) {
	return resolve[evaluationv2.ResolveBooleanResponse](v.s, r.Header(), r.Msg, evaluator.KindBool, true, resolveV2Message)
}

func (v *v2Service) ResolveString(_ context.Context, r *connect.Request[evaluationv2.ResolveStringRequest]) (*connect.Response[evaluationv2.ResolveStringResponse], error) {
	return resolve[evaluationv2.ResolveStringResponse](v.s, r.Header(), r.Msg, evaluator.KindString, true, resolveV2Message)
}

func (v *v2Service) ResolveFloat(_ context.Context, r *connect.Request[evaluationv2.ResolveFloatRequest]) (*connect.Response[evaluationv2.ResolveFloatResponse], error) {
	return resolve[evaluationv2.ResolveFloatResponse](v.s, r.Header(), r.Msg, evaluator.KindFloat, true, resolveV2Message)
}

func (v *v2Service) ResolveInt(_ context.Context, r *connect.Request[evaluationv2.ResolveIntRequest]) (*connect.Response[evaluationv2.ResolveIntResponse], error) {
	return resolve[evaluationv2.ResolveIntResponse](v.s, r.Header(), r.Msg, evaluator.KindInt, true, resolveV2Message)
}

func (v *v2Service) ResolveObject(_ context.Context, r *connect.Request[evaluationv2.ResolveObjectRequest]) (*connect.Response[evaluationv2.ResolveObjectResponse], error) {
	return resolve[evaluationv2.ResolveObjectResponse](v.s, r.Header(), r.Msg, evaluator.KindObject, true, resolveV2Message)
}

func (v *v2Service) EventStream(ctx context.Context, r *connect.Request[evaluationv2.EventStreamRequest], st *connect.ServerStream[evaluationv2.EventStreamResponse]) error {
	return v.s.eventStream(ctx, r.Header(), true, func(typ string, data *structpb.Struct) error {
		return st.Send(&evaluationv2.EventStreamResponse{Type: typ, Data: data})
	})
}
