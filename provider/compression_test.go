package provider

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"
	"github.com/open-feature/go-sdk/openfeature"

	evaluationv2 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2/evaluationv2connect"
)

// headerEval is an evaluation service that is ready at once and records
// the headers of every ResolveBoolean call.
type headerEval struct {
	evaluationv2connect.UnimplementedServiceHandler
	headers chan http.Header
}

func (h headerEval) EventStream(ctx context.Context, _ *connect.Request[evaluationv2.EventStreamRequest], st *connect.ServerStream[evaluationv2.EventStreamResponse]) error {
	if err := st.Send(&evaluationv2.EventStreamResponse{Type: eventProviderReady}); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

func (h headerEval) ResolveBoolean(_ context.Context, req *connect.Request[evaluationv2.ResolveBooleanRequest]) (*connect.Response[evaluationv2.ResolveBooleanResponse], error) {
	h.headers <- req.Header().Clone()
	v, variant := true, "on"
	return connect.NewResponse(&evaluationv2.ResolveBooleanResponse{Value: &v, Variant: &variant, Reason: "TARGETING_MATCH"}), nil
}

// TestRPCDoesNotAskForCompression: the daemon compresses every answer of
// a client that accepts gzip (as flagd does), which costs both sides more
// than it saves on the provider's connection, so the provider accepts
// none.
func TestRPCDoesNotAskForCompression(t *testing.T) {
	svc := headerEval{headers: make(chan http.Header, 1)}
	mux := http.NewServeMux()
	mux.Handle(evaluationv2connect.NewServiceHandler(svc))
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	p := newTestProvider(t, WithResolver(ResolverRPC), WithHost("127.0.0.1"), WithPort(s.Listener.Addr().(*net.TCPAddr).Port), WithCache(CacheDisabled))
	if d := p.BooleanEvaluation(context.Background(), "f", false, openfeature.FlattenedContext{"targetingKey": "a"}); !d.Value {
		t.Fatalf("evaluation: %+v", d)
	}
	h := <-svc.headers
	for _, name := range []string{"Accept-Encoding", "Connect-Accept-Encoding"} {
		if v := h.Values(name); len(v) != 0 {
			t.Errorf("%s: %q, want none", name, v)
		}
	}
}
