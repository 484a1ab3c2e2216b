package daemon_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	collmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	colltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"

	"github.com/vexilhq/vexil/daemon"
)

// otlpTraceSink and otlpMetricSink make an OTLP/gRPC receiver that
// accepts everything and keeps nothing.
type otlpTraceSink struct {
	colltracepb.UnimplementedTraceServiceServer
}

func (otlpTraceSink) Export(context.Context, *colltracepb.ExportTraceServiceRequest) (*colltracepb.ExportTraceServiceResponse, error) {
	return &colltracepb.ExportTraceServiceResponse{}, nil
}

type otlpMetricSink struct {
	collmetricpb.UnimplementedMetricsServiceServer
}

func (otlpMetricSink) Export(context.Context, *collmetricpb.ExportMetricsServiceRequest) (*collmetricpb.ExportMetricsServiceResponse, error) {
	return &collmetricpb.ExportMetricsServiceResponse{}, nil
}

// undecodedCodec is gRPC's protobuf codec, except that requests are read
// off the connection and not decoded: with it, the receiver does the
// collector's network work (HTTP/2, gRPC framing, the answer) but not its
// decoding, which a deployed collector does in its own process.
type undecodedCodec struct{ encoding.CodecV2 }

func (undecodedCodec) Unmarshal(mem.BufferSlice, any) error { return nil }

// startOTLPReceiver starts an OTLP/gRPC receiver on 127.0.0.1 in this
// process; decode says whether it decodes the requests.
func startOTLPReceiver(b *testing.B, decode bool) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var opts []grpc.ServerOption
	if !decode {
		opts = append(opts, grpc.ForceServerCodecV2(undecodedCodec{encoding.GetCodecV2(proto.Name)}))
	}
	srv := grpc.NewServer(opts...)
	colltracepb.RegisterTraceServiceServer(srv, otlpTraceSink{})
	collmetricpb.RegisterMetricsServiceServer(srv, otlpMetricSink{})
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// BenchmarkOpenTelemetryRequests is the daemon's evaluation throughput
// (ResolveBoolean over Connect/JSON on HTTP/1.1, 127.0.0.1, parallel
// clients) with the OpenTelemetry exporter off (otel-off: Prometheus only)
// and on (otel-on: --metrics-exporter otel --otel-collector-uri, flagd's
// metrics and a span per evaluation, exported over OTLP/gRPC to a receiver
// in this process that reads the requests without decoding them). The
// ratio of their ns/op is the throughput kept. decoding-receiver is
// otel-on with a receiver that decodes each request too, as a collector
// does: the cost of a collector sharing the daemon's CPU.
func BenchmarkOpenTelemetryRequests(b *testing.B) {
	for _, bc := range []struct {
		name         string
		on, decoding bool
	}{{"otel-off", false, false}, {"otel-on", true, false}, {"decoding-receiver", true, true}} {
		on := bc.on
		b.Run(bc.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "flags.json")
			writeAtomic(b, path, flagsDoc(true))
			cfg := daemon.Config{Sources: []daemon.SourceSpec{{URI: "file:" + path}}}
			if on {
				cfg.OpenTelemetry = daemon.OpenTelemetryConfig{Metrics: true, CollectorURI: "http://" + startOTLPReceiver(b, bc.decoding)}
			}
			d := startDaemon(b, cfg)
			d.waitReadyz(b, "the flags", func(_ int, r readyz) bool { return r.Ready })
			url := "http://" + d.addrs.Evaluation + "/flagd.evaluation.v1.Service/ResolveBoolean"
			const body = `{"flagKey":"my-flag","context":{"targetingKey":"user-1"}}`
			b.SetParallelism(8)
			b.ResetTimer()
			cpu0 := processCPU(b)
			b.RunParallel(func(pb *testing.PB) {
				c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
				defer c.CloseIdleConnections()
				for pb.Next() {
					resp, err := c.Post(url, "application/json", strings.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("ResolveBoolean: %s", resp.Status)
						return
					}
				}
			})
			// The process's CPU time per request (daemon, clients and
			// receiver): unlike ns/op, the other processes of a busy
			// machine do not change it much.
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
