package evalsvc

import (
	"context"
	"fmt"
	"net/http"

	"connectrpc.com/connect"
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

// resolveV1 answers a version 1 Resolve<Type> request: Resp must be the
// response type wire.ResolveV1 gives for kind.
func resolveV1[Resp any](s *Service, h http.Header, msg request, kind evaluator.Kind) (*connect.Response[Resp], error) {
	snap, sel, ctx, err := s.prepare(h, msg.GetContext(), true)
	if err != nil {
		return nil, err
	}
	out, cerr := wire.ResolveV1(kind, snap.Evaluate(sel, msg.GetFlagKey(), kind, ctx))
	if cerr != nil {
		return nil, cerr
	}
	return connect.NewResponse(any(out).(*Resp)), nil
}

func (v *v1Service) ResolveBoolean(_ context.Context, r *connect.Request[evaluationv1.ResolveBooleanRequest]) (*connect.Response[evaluationv1.ResolveBooleanResponse], error) {
	return resolveV1[evaluationv1.ResolveBooleanResponse](v.s, r.Header(), r.Msg, evaluator.KindBool)
}

func (v *v1Service) ResolveString(_ context.Context, r *connect.Request[evaluationv1.ResolveStringRequest]) (*connect.Response[evaluationv1.ResolveStringResponse], error) {
	return resolveV1[evaluationv1.ResolveStringResponse](v.s, r.Header(), r.Msg, evaluator.KindString)
}

func (v *v1Service) ResolveFloat(_ context.Context, r *connect.Request[evaluationv1.ResolveFloatRequest]) (*connect.Response[evaluationv1.ResolveFloatResponse], error) {
	return resolveV1[evaluationv1.ResolveFloatResponse](v.s, r.Header(), r.Msg, evaluator.KindFloat)
}

func (v *v1Service) ResolveInt(_ context.Context, r *connect.Request[evaluationv1.ResolveIntRequest]) (*connect.Response[evaluationv1.ResolveIntResponse], error) {
	return resolveV1[evaluationv1.ResolveIntResponse](v.s, r.Header(), r.Msg, evaluator.KindInt)
}

func (v *v1Service) ResolveObject(_ context.Context, r *connect.Request[evaluationv1.ResolveObjectRequest]) (*connect.Response[evaluationv1.ResolveObjectResponse], error) {
	return resolveV1[evaluationv1.ResolveObjectResponse](v.s, r.Header(), r.Msg, evaluator.KindObject)
}

// ResolveAll evaluates the selection's flags (wire.ResolveAllV1Of); the
// response's metadata is the selection's (flagd's store.GetAll).
func (v *v1Service) ResolveAll(_ context.Context, r *connect.Request[evaluationv1.ResolveAllRequest]) (*connect.Response[evaluationv1.ResolveAllResponse], error) {
	snap, sel, ctx, err := v.s.prepare(r.Header(), r.Msg.GetContext(), true)
	if err != nil {
		return nil, err
	}
	resp := wire.ResolveAllV1Of(snap.Flags(sel), func(key string, kind evaluator.Kind) evaluator.Result {
		return snap.Evaluate(sel, key, kind, ctx)
	})
	meta, err := wire.Struct(snap.Metadata(sel))
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
