package telemetry_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/trace"
	colltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
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

// countingSink is an OTLP/gRPC trace receiver that keeps the spans it gets.
type countingSink struct {
	colltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (s *countingSink) Export(_ context.Context, req *colltracepb.ExportTraceServiceRequest) (*colltracepb.ExportTraceServiceResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			s.spans = append(s.spans, ss.GetSpans()...)
		}
	}
	return &colltracepb.ExportTraceServiceResponse{}, nil
}

// TestConcurrentEvaluations: evaluations recorded from many goroutines
// while the exporter runs and flushes all arrive, each once, with its
// name, attributes and, when its context had one, the caller's span as
// parent (run with -race).
func TestConcurrentEvaluations(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink := &countingSink{}
	srv := grpc.NewServer()
	colltracepb.RegisterTraceServiceServer(srv, sink)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()

	tel, err := telemetry.New(context.Background(), telemetry.Config{CollectorURI: ln.Addr().String(), MaxQueuedSpans: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tel.Run(ctx) }()

	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled, Remote: true})
	const goroutines, each = 4, 1000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			evalCtx := context.Background()
			if g == 0 {
				evalCtx = trace.ContextWithRemoteSpanContext(evalCtx, parent)
			}
			for i := range each {
				tel.Evaluated(evalCtx, resolve.Evaluation{Kind: evaluator.KindString,
					Result: evaluator.Result{FlagKey: fmt.Sprintf("f%d-%d", g, i), Variant: "v", Reason: evaluator.ReasonStatic, Value: "x"}})
				if i%250 == 0 {
					if err := tel.Flush(context.Background()); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	cancel() // Run flushes what is left
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.spans) != goroutines*each {
		t.Fatalf("the receiver got %d spans, want %d (dropped %d)", len(sink.spans), goroutines*each, tel.DroppedSpans())
	}
	seen := map[string]bool{}
	for _, s := range sink.spans {
		var key string
		for _, kv := range s.GetAttributes() {
			if kv.GetKey() == "feature_flag.key" {
				key = kv.GetValue().GetStringValue()
			}
		}
		if seen[key] {
			t.Fatalf("span of %q received twice", key)
		}
		seen[key] = true
		if s.GetName() != "resolveString" || len(s.GetAttributes()) != 3 {
			t.Fatalf("span %v", s)
		}
		fromParent := strings.HasPrefix(key, "f0-")
		psid, tid := parent.SpanID(), parent.TraceID()
		if got := bytes.Equal(s.GetParentSpanId(), psid[:]) && bytes.Equal(s.GetTraceId(), tid[:]); got != fromParent {
			t.Fatalf("span of %q: trace %x, parent %x", key, s.GetTraceId(), s.GetParentSpanId())
		}
	}
}
