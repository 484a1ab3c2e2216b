package evalsvc

import (
	"context"
	"fmt"
	"net/http"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/vexilhq/vexil/daemon/internal/wire"
	"github.com/vexilhq/vexil/evaluator"
	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1/evaluationv1connect"
)

// v1Service implements flagd.evaluation.v1.Service (flagd's
// flag_evaluator_v1.go): the wire package's mapping, over the store.
type v1Service struct{ s *Service }

var _ evaluationv1connect.ServiceHandler = (*v1Service)(nil)

// resolveRPC answers a Resolve<Type> request: evaluate (unless the fast
// path did, see fastpath.go), then build the version's response with
// toMessage (which gives Resp for kind). headers says whether
// --context-from-header values apply (not for schema.v1).
func resolveRPC[Resp any](ctx context.Context, s *Service, h http.Header, msg request, kind evaluator.Kind, headers bool,
	toMessage func(evaluator.Kind, evaluator.Result) (proto.Message, *connect.Error)) (*connect.Response[Resp], error) {
	if a, ok := ctx.Value(answeredKey{}).(*answered); ok {
		if a.err != nil {
			return nil, a.err
		}
		return connect.NewResponse(any(a.msg).(*Resp)), nil
	}
	sc, err := s.scope(h, msg.GetContext(), headers)
	if err != nil {
		return nil, err
	}
	out, cerr := toMessage(kind, sc.Evaluate(ctx, msg.GetFlagKey(), kind))
	if cerr != nil {
		return nil, cerr
	}
	return connect.NewResponse(any(out).(*Resp)), nil
}

func (v *v1Service) ResolveBoolean(ctx context.Context, r *connect.Request[evaluationv1.ResolveBooleanRequest]) (*connect.Response[evaluationv1.ResolveBooleanResponse], error) {
	return resolveRPC[evaluationv1.ResolveBooleanResponse](ctx, v.s, r.Header(), r.Msg, evaluator.KindBool, true, wire.ResolveV1)
}

func (v *v1Service) ResolveString(ctx context.Context, r *connect.Request[evaluationv1.ResolveStringRequest]) (*connect.Response[evaluationv1.ResolveStringResponse], error) {
	return resolveRPC[evaluationv1.ResolveStringResponse](ctx, v.s, r.Header(), r.Msg, evaluator.KindString, true, wire.ResolveV1)
}

func (v *v1Service) ResolveFloat(ctx context.Context, r *connect.Request[evaluationv1.ResolveFloatRequest]) (*connect.Response[evaluationv1.ResolveFloatResponse], error) {
	return resolveRPC[evaluationv1.ResolveFloatResponse](ctx, v.s, r.Header(), r.Msg, evaluator.KindFloat, true, wire.ResolveV1)
}

func (v *v1Service) ResolveInt(ctx context.Context, r *connect.Request[evaluationv1.ResolveIntRequest]) (*connect.Response[evaluationv1.ResolveIntResponse], error) {
	return resolveRPC[evaluationv1.ResolveIntResponse](ctx, v.s, r.Header(), r.Msg, evaluator.KindInt, true, wire.ResolveV1)
}

func (v *v1Service) ResolveObject(ctx context.Context, r *connect.Request[evaluationv1.ResolveObjectRequest]) (*connect.Response[evaluationv1.ResolveObjectResponse], error) {
	return resolveRPC[evaluationv1.ResolveObjectResponse](ctx, v.s, r.Header(), r.Msg, evaluator.KindObject, true, wire.ResolveV1)
}

// ResolveAll evaluates the selection's flags (wire.ResolveAllV1Of); the
// response's metadata is the selection's (flagd's store.GetAll).
func (v *v1Service) ResolveAll(ctx context.Context, r *connect.Request[evaluationv1.ResolveAllRequest]) (*connect.Response[evaluationv1.ResolveAllResponse], error) {
	sc, err := v.s.scope(r.Header(), r.Msg.GetContext(), true)
	if err != nil {
		return nil, err
	}
	resp := wire.ResolveAllV1Of(sc.Flags(), func(key string, kind evaluator.Kind) evaluator.Result {
		return sc.Evaluate(ctx, key, kind)
	})
	meta, err := wire.Struct(sc.Metadata())
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("selection metadata: %w", err))
	}
	resp.Metadata = meta
	return connect.NewResponse(resp), nil
}

func (v *v1Service) EventStream(ctx context.Context, r *connect.Request[evaluationv1.EventStreamRequest], st *connect.ServerStream[evaluationv1.EventStreamResponse]) error {
	return v.s.eventStream(ctx, r.Header(), true, func(typ string, data *structpb.Struct) error {
		return st.Send(&evaluationv1.EventStreamResponse{Type: typ, Data: data})
	})
}
