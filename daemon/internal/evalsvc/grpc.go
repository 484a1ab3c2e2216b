package evalsvc

// The three services on a grpc-go server.
//
// The daemon serves native gRPC clients' connections with grpc-go's HTTP/2
// transport (daemon/internal/grpcsplit), which costs half of net/http's
// per call. The methods below are the Connect handlers' own (v1Service,
// v2Service, schemaService and eventStream), called with a connect.Request
// built from the gRPC call: the same selector, context, evaluation and
// messages; only the framing differs. Errors become gRPC statuses with the
// code, message and details connect-go's gRPC protocol would send, and
// their metadata trailers. TestGRPCEqualsConnect holds the two side by side.

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"

	"connectrpc.com/connect"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	// gzip, as connect-go accepts it: grpc-go answers a compressed call
	// with Unimplemented unless the compressor is registered.
	_ "google.golang.org/grpc/encoding/gzip"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1/evaluationv1connect"
	evaluationv2 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2/evaluationv2connect"
	schemav1 "github.com/vexilhq/vexil/schemas/gen/schema/v1"
	"github.com/vexilhq/vexil/schemas/gen/schema/v1/schemav1connect"
)

// The services' full names.
const (
	svcV1     = evaluationv1connect.ServiceName
	svcV2     = evaluationv2connect.ServiceName
	svcSchema = schemav1connect.ServiceName
)

// NewGRPCServer returns a grpc-go server with opts that serves
// flagd.evaluation.v1.Service, flagd.evaluation.v2.Service and
// schema.v1.Service. Shutdown ends their event streams as it ends the
// Connect handlers'. The server's codec is protobuf's, except that
// requests are unmarshalled by the methods, so that a malformed one is
// InvalidArgument as with connect-go (grpc-go answers Internal).
func (s *Service) NewGRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	srv := grpc.NewServer(append(opts, grpc.ForceServerCodecV2(grpcCodec{encoding.GetCodecV2(grpcproto.Name)}))...)
	s.registerGRPC(srv)
	return srv
}

// grpcCodec is protobuf's codec, except that it hands a rawRequest its
// bytes.
type grpcCodec struct{ proto encoding.CodecV2 }

func (c grpcCodec) Name() string { return c.proto.Name() }

func (c grpcCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c grpcCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*rawRequest); ok {
		r.b = data.Materialize()
		return nil
	}
	return c.proto.Unmarshal(data, v)
}

// rawRequest is a request message not unmarshalled yet.
type rawRequest struct{ b []byte }

// unmarshal decodes a request message as connect-go would, or returns the
// InvalidArgument status connect-go answers.
func (r *rawRequest) unmarshal(msg proto.Message) error {
	if err := proto.Unmarshal(r.b, msg); err != nil {
		return status.Errorf(codes.InvalidArgument, "unmarshal message: unmarshal into %T: %v", msg, err)
	}
	return nil
}

// compressAsAccepted makes the answer gzip-compressed when the client
// accepts gzip (its grpc-accept-encoding names it), as connect-go, and so
// flagd, compresses every answer then. (A compressed request is answered
// compressed by grpc-go already.)
func compressAsAccepted(ctx context.Context) {
	if names, err := grpc.ClientSupportedCompressors(ctx); err == nil && slices.Contains(names, "gzip") {
		_ = grpc.SetSendCompressor(ctx, "gzip") // fails only outside a handler
	}
}

// registerGRPC registers the three services on r.
func (s *Service) registerGRPC(r grpc.ServiceRegistrar) {
	v1, v2, v0 := &v1Service{s}, &v2Service{s}, &schemaService{s}
	r.RegisterService(&grpc.ServiceDesc{
		ServiceName: svcV1,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			unary(svcV1, "ResolveAll", v1.ResolveAll),
			unary(svcV1, "ResolveBoolean", v1.ResolveBoolean),
			unary(svcV1, "ResolveString", v1.ResolveString),
			unary(svcV1, "ResolveFloat", v1.ResolveFloat),
			unary(svcV1, "ResolveInt", v1.ResolveInt),
			unary(svcV1, "ResolveObject", v1.ResolveObject),
		},
		Streams: []grpc.StreamDesc{eventStreamDesc(s, true, new(evaluationv1.EventStreamRequest), func(typ string, data *structpb.Struct) any {
			return &evaluationv1.EventStreamResponse{Type: typ, Data: data}
		})},
		Metadata: "flagd/evaluation/v1/evaluation.proto",
	}, struct{}{})
	r.RegisterService(&grpc.ServiceDesc{
		ServiceName: svcV2,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			unary(svcV2, "ResolveBoolean", v2.ResolveBoolean),
			unary(svcV2, "ResolveString", v2.ResolveString),
			unary(svcV2, "ResolveFloat", v2.ResolveFloat),
			unary(svcV2, "ResolveInt", v2.ResolveInt),
			unary(svcV2, "ResolveObject", v2.ResolveObject),
		},
		Streams: []grpc.StreamDesc{eventStreamDesc(s, true, new(evaluationv2.EventStreamRequest), func(typ string, data *structpb.Struct) any {
			return &evaluationv2.EventStreamResponse{Type: typ, Data: data}
		})},
		Metadata: "flagd/evaluation/v2/evaluation.proto",
	}, struct{}{})
	r.RegisterService(&grpc.ServiceDesc{
		ServiceName: svcSchema,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			unary(svcSchema, "ResolveAll", v0.ResolveAll),
			unary(svcSchema, "ResolveBoolean", v0.ResolveBoolean),
			unary(svcSchema, "ResolveString", v0.ResolveString),
			unary(svcSchema, "ResolveFloat", v0.ResolveFloat),
			unary(svcSchema, "ResolveInt", v0.ResolveInt),
			unary(svcSchema, "ResolveObject", v0.ResolveObject),
		},
		Streams: []grpc.StreamDesc{eventStreamDesc(s, false, new(schemav1.EventStreamRequest), func(typ string, data *structpb.Struct) any {
			return &schemav1.EventStreamResponse{Type: typ, Data: data}
		})},
		Metadata: "schema/v1/schema.proto",
	}, struct{}{})
}

// unary adapts a Connect unary handler method to grpc-go.
func unary[Req, Resp any](service, name string, call func(context.Context, *connect.Request[Req]) (*connect.Response[Resp], error)) grpc.MethodDesc {
	handle := func(ctx context.Context, msg any) (any, error) {
		req := connect.NewRequest(msg.(*Req))
		incomingHeader(ctx, req.Header())
		resp, err := call(ctx, req)
		if err != nil {
			return nil, grpcError(ctx, err)
		}
		sendMetadata(ctx, resp.Header(), resp.Trailer())
		compressAsAccepted(ctx)
		return resp.Msg, nil
	}
	return grpc.MethodDesc{
		MethodName: name,
		Handler: func(_ any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			var raw rawRequest
			if err := dec(&raw); err != nil {
				return nil, err
			}
			msg := new(Req)
			if err := raw.unmarshal(any(msg).(proto.Message)); err != nil {
				return nil, err
			}
			if interceptor == nil {
				return handle(ctx, msg)
			}
			info := &grpc.UnaryServerInfo{FullMethod: "/" + service + "/" + name}
			return interceptor(ctx, msg, info, handle)
		},
	}
}

// eventStreamDesc adapts eventStream to grpc-go, as the EventStream methods
// of the Connect handlers do.
func eventStreamDesc(s *Service, versioned bool, req proto.Message, event func(typ string, data *structpb.Struct) any) grpc.StreamDesc {
	return grpc.StreamDesc{
		StreamName:    "EventStream",
		ServerStreams: true,
		Handler: func(_ any, st grpc.ServerStream) error {
			var raw rawRequest
			if err := st.RecvMsg(&raw); err != nil {
				return err
			}
			if err := raw.unmarshal(proto.Clone(req)); err != nil {
				return err
			}
			ctx := st.Context()
			compressAsAccepted(ctx)
			h := http.Header{}
			incomingHeader(ctx, h)
			err := s.eventStream(ctx, h, versioned, func(typ string, data *structpb.Struct) error {
				return st.SendMsg(event(typ, data))
			})
			if err != nil {
				return grpcError(ctx, err)
			}
			return nil
		},
	}
}

// incomingHeader copies the call's metadata into h as connect-go would see
// the request's headers: canonical names, binary values in unpadded
// base64 as sent, no pseudo-headers.
func incomingHeader(ctx context.Context, h http.Header) {
	md, _ := metadata.FromIncomingContext(ctx)
	for k, vs := range md {
		if strings.HasPrefix(k, ":") {
			continue
		}
		if strings.HasSuffix(k, "-bin") {
			enc := make([]string, len(vs))
			for i, v := range vs {
				enc[i] = base64.RawStdEncoding.EncodeToString([]byte(v))
			}
			vs = enc
		}
		h[http.CanonicalHeaderKey(k)] = vs
	}
}

// sendMetadata sends a Connect response's headers and trailers as the
// call's.
func sendMetadata(ctx context.Context, header, trailer http.Header) {
	if len(header) > 0 {
		_ = grpc.SetHeader(ctx, toMetadata(header))
	}
	if len(trailer) > 0 {
		_ = grpc.SetTrailer(ctx, toMetadata(trailer))
	}
}

func toMetadata(h http.Header) metadata.MD {
	md := make(metadata.MD, len(h))
	for k, vs := range h {
		k = strings.ToLower(k)
		if strings.HasSuffix(k, "-bin") {
			dec := make([]string, 0, len(vs))
			for _, v := range vs {
				if b, err := decodeBinary(v); err == nil {
					dec = append(dec, string(b))
				}
			}
			vs = dec
		}
		md[k] = vs
	}
	return md
}

func decodeBinary(v string) ([]byte, error) {
	if len(v)%4 == 0 {
		return base64.StdEncoding.DecodeString(v)
	}
	return base64.RawStdEncoding.DecodeString(v)
}

// grpcError is the status connect-go's gRPC protocol sends for err: its
// code (the two enums agree), message and details, with the error's
// metadata as trailers. An error that is not a *connect.Error is Unknown,
// or Canceled or DeadlineExceeded for a context's.
func grpcError(ctx context.Context, err error) error {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		switch {
		case errors.Is(err, context.Canceled):
			ce = connect.NewError(connect.CodeCanceled, err)
		case errors.Is(err, context.DeadlineExceeded):
			ce = connect.NewError(connect.CodeDeadlineExceeded, err)
		default:
			ce = connect.NewError(connect.CodeUnknown, err)
		}
	}
	st := &spb.Status{Code: int32(ce.Code()), Message: ce.Message()}
	for _, d := range ce.Details() {
		st.Details = append(st.Details, &anypb.Any{TypeUrl: "type.googleapis.com/" + d.Type(), Value: d.Bytes()})
	}
	if len(ce.Meta()) > 0 {
		_ = grpc.SetTrailer(ctx, toMetadata(ce.Meta()))
	}
	return status.ErrorProto(st)
}
