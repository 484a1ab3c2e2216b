package telemetry

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// traceContext reads and writes W3C Trace Context (traceparent,
// tracestate), the propagation flagd sets up.
var traceContext propagation.TraceContext

// Traced says whether spans are exported: whether the propagation below
// has anything to do.
func (t *Telemetry) Traced() bool { return t != nil && t.queue != nil }

// HTTPHandler passes the caller's span, when a request carries one (W3C
// traceparent), to h in the request's context, so that the evaluations'
// spans are its children, as flagd's are (otelconnect, otelhttp). A
// request without traceparent is passed through as it came.
func (t *Telemetry) HTTPHandler(h http.Handler) http.Handler {
	if !t.Traced() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Header["Traceparent"]; ok {
			r = r.WithContext(traceContext.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
		}
		h.ServeHTTP(w, r)
	})
}

// GRPCServerOptions are the interceptors that do for grpc-go servers what
// HTTPHandler does: the caller's span, from the traceparent metadata, in
// the handler's context. None when spans are not exported.
func (t *Telemetry) GRPCServerOptions() []grpc.ServerOption {
	if !t.Traced() {
		return nil
	}
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
			return next(withRemoteParent(ctx), req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, next grpc.StreamHandler) error {
			if ctx := withRemoteParent(ss.Context()); ctx != ss.Context() {
				ss = contextStream{ss, ctx}
			}
			return next(srv, ss)
		}),
	}
}

// withRemoteParent returns ctx with the span of the incoming metadata's
// traceparent, or ctx itself when there is none.
func withRemoteParent(ctx context.Context) context.Context {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok || len(md.Get("traceparent")) == 0 {
		return ctx
	}
	return traceContext.Extract(ctx, metadataCarrier(md))
}

// metadataCarrier reads gRPC metadata as a propagation carrier.
type metadataCarrier metadata.MD

func (c metadataCarrier) Get(key string) string {
	if v := metadata.MD(c).Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}
func (c metadataCarrier) Set(key, value string) { metadata.MD(c).Set(key, value) }
func (c metadataCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// contextStream is a server stream with another context.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s contextStream) Context() context.Context { return s.ctx }
