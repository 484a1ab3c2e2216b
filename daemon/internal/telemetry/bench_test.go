package telemetry_test

import (
	"context"
	"net"
	"testing"

	collmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	colltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"

	"github.com/vexilhq/vexil/daemon/internal/metrics"
	"github.com/vexilhq/vexil/daemon/internal/resolve"
	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/daemon/internal/storetest"
	"github.com/vexilhq/vexil/daemon/internal/telemetry"
	"github.com/vexilhq/vexil/evaluator"
)

// sink is an OTLP/gRPC receiver that accepts and discards everything, so
// that the benchmark measures Vexil's side of the export.
type sink struct {
	colltracepb.UnimplementedTraceServiceServer
	collmetricpb.UnimplementedMetricsServiceServer
}

func (sink) Export(context.Context, *colltracepb.ExportTraceServiceRequest) (*colltracepb.ExportTraceServiceResponse, error) {
	return &colltracepb.ExportTraceServiceResponse{}, nil
}

type metricSink struct {
	collmetricpb.UnimplementedMetricsServiceServer
}

func (metricSink) Export(context.Context, *collmetricpb.ExportMetricsServiceRequest) (*collmetricpb.ExportMetricsServiceResponse, error) {
	return &collmetricpb.ExportMetricsServiceResponse{}, nil
}

func startSink(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer()
	colltracepb.RegisterTraceServiceServer(srv, sink{})
	collmetricpb.RegisterMetricsServiceServer(srv, metricSink{})
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(srv.Stop)
	return ln.Addr().String()
}

const benchFlags = `{"flags":{
 "static":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on"},
 "targeted":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off",
  "targeting":{"if":[{"ends_with":[{"var":"email"},"@example.com"]},"on","off"]}}}}`

// BenchmarkEvaluation is evaluation throughput through the resolver, with
// the daemon's observers: Prometheus metrics only (otel-off), and with the
// OpenTelemetry exporter's metrics and spans too (otel-on), exporting over
// OTLP/gRPC to a receiver on 127.0.0.1. Compare their ns/op: the ratio
// off/on is the throughput kept with the exporter on.
func BenchmarkEvaluation(b *testing.B) {
	for _, flag := range []string{"static", "targeted"} {
		for _, on := range []bool{false, true} {
			name := flag + "/otel-off"
			if on {
				name = flag + "/otel-on"
			}
			b.Run(name, func(b *testing.B) {
				st := store.New(store.Config{Sources: []string{"flags.json"}})
				storetest.Apply(b, st, "flags.json", []byte(benchFlags))
				observers := []resolve.Observer{metrics.New()}
				var tel *telemetry.Telemetry
				if on {
					var err error
					tel, err = telemetry.New(context.Background(), telemetry.Config{CollectorURI: "http://" + startSink(b), Metrics: true})
					if err != nil {
						b.Fatal(err)
					}
					ctx, cancel := context.WithCancel(context.Background())
					done := make(chan struct{})
					go func() { _ = tel.Run(ctx); close(done) }()
					b.Cleanup(func() { cancel(); <-done })
					observers = append(observers, tel)
				}
				r := resolve.New(resolve.Config{Store: st, Observers: observers})
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					reqCtx := map[string]any{"email": "user@example.com", "targetingKey": "user-1"}
					for pb.Next() {
						s := r.Scope(store.Selector{}, reqCtx, nil, false)
						if res := s.Evaluate(context.Background(), flag, evaluator.KindBool); res.Err != nil {
							b.Fatal(res.Err)
						}
					}
				})
				b.ReportMetric(float64(tel.DroppedSpans()), "dropped-spans")
			})
		}
	}
}
