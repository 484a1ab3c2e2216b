package evalsvc

import (
	"context"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/vexilhq/vexil/daemon/internal/wire"
	"github.com/vexilhq/vexil/evaluator"
	schemav1 "github.com/vexilhq/vexil/schemas/gen/schema/v1"
	"github.com/vexilhq/vexil/schemas/gen/schema/v1/schemav1connect"
)

// schemaService implements the deprecated schema.v1.Service (flagd's
// OldFlagEvaluationService, flag_evaluator.go): the header-to-context
// mappings are not applied, and the answers are wire's (ResolveSchemaV1,
// ResolveAllSchemaV1Of), which say how they differ from version 1's.
type schemaService struct{ s *Service }

var _ schemav1connect.ServiceHandler = (*schemaService)(nil)

func (v *schemaService) ResolveBoolean(ctx context.Context, r *connect.Request[schemav1.ResolveBooleanRequest]) (*connect.Response[schemav1.ResolveBooleanResponse], error) {
	return resolveRPC[schemav1.ResolveBooleanResponse](ctx, v.s, r.Header(), r.Msg, evaluator.KindBool, false, wire.ResolveSchemaV1)
}

func (v *schemaService) ResolveString(ctx context.Context, r *connect.Request[schemav1.ResolveStringRequest]) (*connect.Response[schemav1.ResolveStringResponse], error) {
	return resolveRPC[schemav1.ResolveStringResponse](ctx, v.s, r.Header(), r.Msg, evaluator.KindString, false, wire.ResolveSchemaV1)
}

func (v *schemaService) ResolveFloat(ctx context.Context, r *connect.Request[schemav1.ResolveFloatRequest]) (*connect.Response[schemav1.ResolveFloatResponse], error) {
	return resolveRPC[schemav1.ResolveFloatResponse](ctx, v.s, r.Header(), r.Msg, evaluator.KindFloat, false, wire.ResolveSchemaV1)
}

func (v *schemaService) ResolveInt(ctx context.Context, r *connect.Request[schemav1.ResolveIntRequest]) (*connect.Response[schemav1.ResolveIntResponse], error) {
	return resolveRPC[schemav1.ResolveIntResponse](ctx, v.s, r.Header(), r.Msg, evaluator.KindInt, false, wire.ResolveSchemaV1)
}

func (v *schemaService) ResolveObject(ctx context.Context, r *connect.Request[schemav1.ResolveObjectRequest]) (*connect.Response[schemav1.ResolveObjectResponse], error) {
	return resolveRPC[schemav1.ResolveObjectResponse](ctx, v.s, r.Header(), r.Msg, evaluator.KindObject, false, wire.ResolveSchemaV1)
}

// ResolveAll answers as flagd's OldFlagEvaluationService.ResolveAll
// (wire.ResolveAllSchemaV1Of).
func (v *schemaService) ResolveAll(ctx context.Context, r *connect.Request[schemav1.ResolveAllRequest]) (*connect.Response[schemav1.ResolveAllResponse], error) {
	sc, err := v.s.scope(r.Header(), r.Msg.GetContext(), false)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(wire.ResolveAllSchemaV1Of(sc.Flags(), func(key string, kind evaluator.Kind) evaluator.Result {
		return sc.Evaluate(ctx, key, kind)
	})), nil
}

func (v *schemaService) EventStream(ctx context.Context, r *connect.Request[schemav1.EventStreamRequest], st *connect.ServerStream[schemav1.EventStreamResponse]) error {
	return v.s.eventStream(ctx, r.Header(), false, func(typ string, data *structpb.Struct) error {
		return st.Send(&schemav1.EventStreamResponse{Type: typ, Data: data})
	})
}
