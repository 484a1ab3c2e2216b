package daemon_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// requestsBody is the evaluation the OpenTelemetry benchmarks make.
const requestsBody = `{"flagKey":"my-flag","context":{"targetingKey":"user-1"}}`

// startBenchDaemon starts a daemon serving my-flag, with the
// OpenTelemetry exporter off, or on and exporting to an in-process OTLP
// receiver (decoding, or not, its requests); it returns the URL of
// ResolveBoolean on its evaluation port.
func startBenchDaemon(b *testing.B, on, decoding bool) string {
	path := filepath.Join(b.TempDir(), "flags.json")
	writeAtomic(b, path, flagsDoc(true))
	cfg := daemon.Config{Sources: []daemon.SourceSpec{{URI: "file:" + path}}}
	if on {
		cfg.OpenTelemetry = daemon.OpenTelemetryConfig{Metrics: true, CollectorURI: "http://" + startOTLPReceiver(b, decoding)}
	}
	d := startDaemon(b, cfg)
	d.waitReadyz(b, "the flags", func(_ int, r readyz) bool { return r.Ready })
	return "http://" + d.addrs.Evaluation + "/flagd.evaluation.v1.Service/ResolveBoolean"
}

// resolve makes one evaluation with c.
func resolve(c *http.Client, url string) error {
	resp, err := c.Post(url, "application/json", strings.NewReader(requestsBody))
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ResolveBoolean: %s", resp.Status)
	}
	return nil
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
		b.Run(bc.name, func(b *testing.B) {
			url := startBenchDaemon(b, bc.on, bc.decoding)
			b.SetParallelism(8)
			b.ResetTimer()
			cpu0 := processCPU(b)
			b.RunParallel(func(pb *testing.PB) {
				c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
				defer c.CloseIdleConnections()
				for pb.Next() {
					if err := resolve(c, url); err != nil {
						b.Error(err)
						return
					}
				}
			})
			// The process's CPU time per request (daemon, clients and
			// receiver).
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkOpenTelemetryPaired measures the same two daemons as
// BenchmarkOpenTelemetryRequests (otel-off and otel-on) side by side, for
// a machine whose load changes from second to second: both run in this
// process, and each iteration loads one then the other (the order
// alternating) for pairSlice with the same parallel clients. It reports
// the requests served per second with the exporter on over those with it
// off (on/off), summed over all slices, so that both see the same load,
// and the median of the pairs' ratios.
// Run it with a count of pairs: -benchtime 20x.
func BenchmarkOpenTelemetryPaired(b *testing.B) {
	const pairSlice = 250 * time.Millisecond
	const clients = 16
	urls := [2]string{startBenchDaemon(b, false, false), startBenchDaemon(b, true, false)}
	var cl [2][clients]*http.Client
	for k := range cl {
		for i := range cl[k] {
			cl[k][i] = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer cl[k][i].CloseIdleConnections()
		}
	}
	var served [2]int64
	var elapsed [2]time.Duration
	burst := func(k int) float64 {
		var n atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		deadline := start.Add(pairSlice)
		for _, c := range cl[k] {
			wg.Go(func() {
				for time.Now().Before(deadline) {
					if err := resolve(c, urls[k]); err != nil {
						b.Error(err)
						return
					}
					n.Add(1)
				}
			})
		}
		wg.Wait()
		d := time.Since(start)
		elapsed[k] += d
		served[k] += n.Load()
		return float64(n.Load()) / d.Seconds()
	}
	burst(0) // warm both up
	burst(1)
	served, elapsed = [2]int64{}, [2]time.Duration{}
	ratios := make([]float64, b.N)
	b.ResetTimer()
	for i := range b.N {
		var r [2]float64
		r[i%2] = burst(i % 2)
		r[1-i%2] = burst(1 - i%2)
		ratios[i] = r[1] / r[0]
	}
	rate := func(k int) float64 { return float64(served[k]) / elapsed[k].Seconds() }
	b.ReportMetric(rate(0), "off-req/s")
	b.ReportMetric(rate(1), "on-req/s")
	b.ReportMetric(rate(1)/rate(0), "on/off")
	// The median of the pairs' ratios, which a burst of other work on
	// the machine moves less than the sums.
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "median-pair-on/off")
}
