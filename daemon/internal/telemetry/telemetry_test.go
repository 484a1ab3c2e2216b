package telemetry_test

import (
	"context"
	"net"
	"testing"

	colltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"

	"github.com/vexilhq/vexil/daemon/internal/resolve"
	"github.com/vexilhq/vexil/daemon/internal/telemetry"
	"github.com/vexilhq/vexil/evaluator"
)

// stuckSink is an OTLP/gRPC trace receiver whose exports never return
// until release is closed: the spans handed to it stay in flight.
type stuckSink struct {
	colltracepb.UnimplementedTraceServiceServer
	release chan struct{}
}

func (s stuckSink) Export(ctx context.Context, _ *colltracepb.ExportTraceServiceRequest) (*colltracepb.ExportTraceServiceResponse, error) {
	select {
	case <-s.release:
	case <-ctx.Done():
	}
	return &colltracepb.ExportTraceServiceResponse{}, nil
}

// TestFullQueueDrops: when MaxQueuedSpans spans wait for a collector that
// does not answer, further evaluations go on without a span, and each is
// counted as dropped; none waits.
func TestFullQueueDrops(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	srv := grpc.NewServer()
	colltracepb.RegisterTraceServiceServer(srv, stuckSink{release: release})
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()
	defer close(release)

	const limit = 4
	tel, err := telemetry.New(context.Background(), telemetry.Config{CollectorURI: ln.Addr().String(), MaxQueuedSpans: limit})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		tel.Evaluated(context.Background(), resolve.Evaluation{Kind: evaluator.KindBool,
			Result: evaluator.Result{FlagKey: "f", Variant: "on", Reason: evaluator.ReasonStatic, Value: true}})
	}
	if got := tel.DroppedSpans(); got != 10-limit {
		t.Errorf("dropped %d spans, want %d", got, 10-limit)
	}
}

// TestCollectorURI: the URIs the option takes, and those it refuses.
func TestCollectorURI(t *testing.T) {
	for _, tc := range []struct {
		uri string
		ok  bool
	}{
		{"localhost:4317", true},
		{"http://localhost:4317", true},
		{"https://collector.example:4317", true},
		{"ftp://collector:4317", false},
		{"http://", false},
	} {
		t.Run(tc.uri, func(t *testing.T) {
			_, err := telemetry.New(context.Background(), telemetry.Config{CollectorURI: tc.uri})
			if (err == nil) != tc.ok {
				t.Errorf("New(%q): %v, want ok=%v", tc.uri, err, tc.ok)
			}
		})
	}
}
