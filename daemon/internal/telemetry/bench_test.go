package telemetry_test

import (
	"context"
	"net"
	"testing"

	collmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	colltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"

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

// BenchmarkSpanExport is the CPU an evaluation's telemetry costs from end
// to end, on one goroutine: recording it (metrics and span record), then
// building its span and sending it over OTLP/gRPC in batches of 512 to a
// receiver on 127.0.0.1 that reads the requests without decoding them. The
// receiver's CPU counts too (cpu-ns/op is this process's CPU time).
func BenchmarkSpanExport(b *testing.B) {
	tel, err := telemetry.New(context.Background(), telemetry.Config{CollectorURI: "http://" + startUndecodedSink(b), Metrics: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = tel.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	e := resolve.Evaluation{Kind: evaluator.KindBool,
		Result: evaluator.Result{FlagKey: "my-flag", Variant: "on", Reason: evaluator.ReasonStatic, Value: true}}
	b.ReportAllocs()
	cpu0 := processCPU()
	b.ResetTimer()
	for i := range b.N {
		tel.Evaluated(context.Background(), e)
		if i%512 == 511 {
			if err := tel.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := tel.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	if d := tel.DroppedSpans(); d != 0 {
		b.Errorf("%d spans dropped", d)
	}
}

// undecodedCodec is gRPC's protobuf codec, except that requests are read
// and not decoded (the collector's decoding is not the exporter's cost).
type undecodedCodec struct{ encoding.CodecV2 }

func (undecodedCodec) Unmarshal(mem.BufferSlice, any) error { return nil }

func startUndecodedSink(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ForceServerCodecV2(undecodedCodec{encoding.GetCodecV2(proto.Name)}))
	colltracepb.RegisterTraceServiceServer(srv, sink{})
	collmetricpb.RegisterMetricsServiceServer(srv, metricSink{})
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(srv.Stop)
	return ln.Addr().String()
}
