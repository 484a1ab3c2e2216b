package evalsvc

import (
	"context"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/vexilhq/vexil/daemon/internal/wire"
	"github.com/vexilhq/vexil/evaluator"
	evaluationv2 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2/evaluationv2connect"
)

// v2Service implements flagd.evaluation.v2.Service (flagd's
// flag_evaluator_v2.go, answers built by wire.ResolveV2). It has no
// ResolveAll.
type v2Service struct{ s *Service }

var _ evaluationv2connect.ServiceHandler = (*v2Service)(nil)

func (v *v2Service) ResolveBoolean(ctx context.Context, r *connect.Request[evaluationv2.ResolveBooleanRequest]) (*connect.Response[evaluationv2.ResolveBooleanResponse], error) {
	return resolveRPC[evaluationv2.ResolveBooleanResponse](ctx, v.s, r.Header(), r.Msg, evaluator.KindBool, true, wire.ResolveV2)
}

func (v *v2Service) ResolveString(ctx context.Context, r *connect.Request[evaluationv2.ResolveStringRequest]) (*connect.Response[evaluationv2.ResolveStringResponse], error) {
	return resolveRPC[evaluationv2.ResolveStringResponse](ctx, v.s, r.Header(), r.Msg, evaluator.KindString, true, wire.ResolveV2)
}

func (v *v2Service) ResolveFloat(ctx context.Context, r *connect.Request[evaluationv2.ResolveFloatRequest]) (*connect.Response[evaluationv2.ResolveFloatResponse], error) {
	return resolveRPC[evaluationv2.ResolveFloatResponse](ctx, v.s, r.Header(), r.Msg, evaluator.KindFloat, true, wire.ResolveV2)
}

func (v *v2Service) ResolveInt(ctx context.Context, r *connect.Request[evaluationv2.ResolveIntRequest]) (*connect.Response[evaluationv2.ResolveIntResponse], error) {
	return resolveRPC[evaluationv2.ResolveIntResponse](ctx, v.s, r.Header(), r.Msg, evaluator.KindInt, true, wire.ResolveV2)
}

func (v *v2Service) ResolveObject(ctx context.Context, r *connect.Request[evaluationv2.ResolveObjectRequest]) (*connect.Response[evaluationv2.ResolveObjectResponse], error) {
	return resolveRPC[evaluationv2.ResolveObjectResponse](ctx, v.s, r.Header(), r.Msg, evaluator.KindObject, true, wire.ResolveV2)
}

func (v *v2Service) EventStream(ctx context.Context, r *connect.Request[evaluationv2.EventStreamRequest], st *connect.ServerStream[evaluationv2.EventStreamResponse]) error {
	return v.s.eventStream(ctx, r.Header(), true, func(typ string, data *structpb.Struct) error {
		return st.Send(&evaluationv2.EventStreamResponse{Type: typ, Data: data})
	})
}
