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

	"github.com/vexilhq/vexil/daemon"
)

// otlpSink is an OTLP/gRPC receiver that accepts and discards everything.
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

// BenchmarkOpenTelemetryRequests is the daemon's evaluation throughput
// (ResolveBoolean over Connect/JSON on HTTP/1.1, 127.0.0.1, parallel
// clients) with the OpenTelemetry exporter off (Prometheus only) and on
// (--metrics-exporter otel --otel-collector-uri: flagd's metrics and a span
// per evaluation, exported over OTLP/gRPC to a receiver on 127.0.0.1 that
// discards them). The ratio of their ns/op is the throughput kept.
func BenchmarkOpenTelemetryRequests(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "otel-off"
		if on {
			name = "otel-on"
		}
		b.Run(name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "flags.json")
			writeAtomic(b, path, flagsDoc(true))
			cfg := daemon.Config{Sources: []daemon.SourceSpec{{URI: "file:" + path}}}
			if on {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				srv := grpc.NewServer()
				colltracepb.RegisterTraceServiceServer(srv, otlpTraceSink{})
				collmetricpb.RegisterMetricsServiceServer(srv, otlpMetricSink{})
				go func() { _ = srv.Serve(ln) }()
				b.Cleanup(srv.Stop)
				cfg.OpenTelemetry = daemon.OpenTelemetryConfig{Metrics: true, CollectorURI: "http://" + ln.Addr().String()}
			}
			d := startDaemon(b, cfg)
			d.waitReadyz(b, "the flags", func(_ int, r readyz) bool { return r.Ready })
			url := "http://" + d.addrs.Evaluation + "/flagd.evaluation.v1.Service/ResolveBoolean"
			const body = `{"flagKey":"my-flag","context":{"targetingKey":"user-1"}}`
			b.SetParallelism(8)
			b.ResetTimer()
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
		})
	}
}
