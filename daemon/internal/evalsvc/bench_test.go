package evalsvc_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"connectrpc.com/connect"

	"github.com/vexilhq/vexil/daemon/internal/evalsvc"
	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1/evaluationv1connect"
)

// BenchmarkResolveBooleanHTTP measures flagd.evaluation.v1 ResolveBoolean
// of a static flag over a real loopback server, in the Connect protocol's
// JSON form over HTTP/1.1, with parallel clients: ns/op is the inverse of
// the throughput, and req/s says it directly.
func BenchmarkResolveBooleanHTTP(b *testing.B) {
	srv := startServer(b, evalsvc.Config{})
	tr := &http.Transport{Protocols: new(http.Protocols), MaxIdleConnsPerHost: 256}
	tr.Protocols.SetHTTP1(true)
	b.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}

	b.Run("connect-go", func(b *testing.B) {
		c := evaluationv1connect.NewServiceClient(client, srv.URL, connect.WithProtoJSON())
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			req := connect.NewRequest(&evaluationv1.ResolveBooleanRequest{FlagKey: "bool-flag"})
			for pb.Next() {
				resp, err := c.ResolveBoolean(ctx, req)
				if err != nil {
					b.Error(err)
					return
				}
				if !resp.Msg.GetValue() {
					b.Error("false")
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	})

	// The same request as a plain HTTP client sends it.
	b.Run("net-http", func(b *testing.B) {
		body := []byte(`{"flagKey":"bool-flag","context":{"targetingKey":"user-1"}}`)
		url := srv.URL + evaluationv1connect.ServiceResolveBooleanProcedure
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Errorf("status %d, %v", resp.StatusCode, err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	})
}
