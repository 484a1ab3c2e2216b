package provider

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/vexilhq/vexil/daemon"
)

// benchDaemon runs a daemon on testFlags for a benchmark.
func benchDaemon(b *testing.B) daemon.Addrs {
	b.Helper()
	path := filepath.Join(b.TempDir(), "flags.json")
	if err := os.WriteFile(path, []byte(testFlags), 0o600); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan daemon.Addrs, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{
			Sources: []daemon.SourceSpec{{URI: "file:" + path}}, BindAddress: "127.0.0.1",
			Logger: slog.New(slog.DiscardHandler), ShutdownTimeout: time.Second,
		}, func(a daemon.Addrs) { ready <- a })
	}()
	b.Cleanup(func() { cancel(); <-done })
	var addrs daemon.Addrs
	select {
	case addrs = <-ready:
	case err := <-done:
		b.Fatal(err)
	}
	for {
		resp, err := http.Get("http://" + addrs.Management + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addrs
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func benchPort(b *testing.B, addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, err := strconv.Atoi(p)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// benchClient sets up a provider through an isolated OpenFeature API.
func benchClient(b *testing.B, opts ...Option) (*openfeature.Client, *Provider) {
	b.Helper()
	p, err := New(append([]Option{WithLookupEnv(nil), WithDeadline(5 * time.Second)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	api := isolated.NewAPI()
	if err := api.SetProviderAndWait(context.Background(), p); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = api.Shutdown(context.Background()) })
	return api.NewClient(), p
}

func staffContext() openfeature.EvaluationContext {
	return openfeature.NewEvaluationContext("user-1", map[string]any{"email": "ana@vexil.example"})
}

func benchTargeting(b *testing.B, client *openfeature.Client) {
	ctx, staffCtx := context.Background(), staffContext()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		v, err := client.StringValue(ctx, "targeted-flag", "x", staffCtx)
		if err != nil || v != "staff" {
			b.Fatalf("%q %v", v, err)
		}
	}
}

// BenchmarkInProcessClient evaluates a targeting flag in-process, through
// the OpenFeature client.
func BenchmarkInProcessClient(b *testing.B) {
	addrs := benchDaemon(b)
	client, _ := benchClient(b, WithResolver(ResolverInProcess), WithHost("127.0.0.1"), WithPort(benchPort(b, addrs.Sync)))
	benchTargeting(b, client)
}

// BenchmarkInProcessClientParallel is BenchmarkInProcessClient on every
// core.
func BenchmarkInProcessClientParallel(b *testing.B) {
	addrs := benchDaemon(b)
	client, _ := benchClient(b, WithResolver(ResolverInProcess), WithHost("127.0.0.1"), WithPort(benchPort(b, addrs.Sync)))
	ctx, staffCtx := context.Background(), staffContext()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if v, _ := client.StringValue(ctx, "targeted-flag", "x", staffCtx); v != "staff" {
				b.Errorf("%q", v)
				return
			}
		}
	})
}

// BenchmarkInProcessProvider calls the provider directly, without the
// SDK.
func BenchmarkInProcessProvider(b *testing.B) {
	addrs := benchDaemon(b)
	_, p := benchClient(b, WithResolver(ResolverInProcess), WithHost("127.0.0.1"), WithPort(benchPort(b, addrs.Sync)))
	ctx := context.Background()
	flat := openfeature.FlattenedContext{"targetingKey": "user-1", "email": "ana@vexil.example"}
	b.ReportAllocs()
	for b.Loop() {
		if r := p.StringEvaluation(ctx, "targeted-flag", "x", flat); r.Value != "staff" {
			b.Fatalf("%+v", r)
		}
	}
}

// BenchmarkRPCClient evaluates a targeting flag with the daemon, through
// the OpenFeature client.
func BenchmarkRPCClient(b *testing.B) {
	addrs := benchDaemon(b)
	client, _ := benchClient(b, WithHost("127.0.0.1"), WithPort(benchPort(b, addrs.Evaluation)))
	benchTargeting(b, client)
}

// BenchmarkRPCClientParallel is BenchmarkRPCClient on every core.
func BenchmarkRPCClientParallel(b *testing.B) {
	addrs := benchDaemon(b)
	client, _ := benchClient(b, WithHost("127.0.0.1"), WithPort(benchPort(b, addrs.Evaluation)))
	ctx, staffCtx := context.Background(), staffContext()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if v, err := client.StringValue(ctx, "targeted-flag", "x", staffCtx); v != "staff" {
				b.Errorf("%q %v", v, err)
				return
			}
		}
	})
}

// BenchmarkRPCClientCached evaluates a STATIC flag, answered from the
// cache after the first call.
func BenchmarkRPCClientCached(b *testing.B) {
	addrs := benchDaemon(b)
	client, _ := benchClient(b, WithHost("127.0.0.1"), WithPort(benchPort(b, addrs.Evaluation)))
	ctx, staffCtx := context.Background(), staffContext()
	b.ReportAllocs()
	for b.Loop() {
		if v, err := client.StringValue(ctx, "string-flag", "x", staffCtx); v != "hello" {
			b.Fatalf("%q %v", v, err)
		}
	}
}

// BenchmarkSDKFloorNoopProvider is the OpenFeature client's own cost: the
// same call as BenchmarkInProcessClient, answered by the SDK's
// NoopProvider, which does nothing. No provider can make a call through
// the client cheaper than this.
func BenchmarkSDKFloorNoopProvider(b *testing.B) {
	api := isolated.NewAPI()
	if err := api.SetProviderAndWait(context.Background(), openfeature.NoopProvider{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = api.Shutdown(context.Background()) })
	client := api.NewClient()
	ctx, staffCtx := context.Background(), staffContext()
	b.ReportAllocs()
	for b.Loop() {
		if v, _ := client.StringValue(ctx, "targeted-flag", "x", staffCtx); v != "x" {
			b.Fatalf("%q", v)
		}
	}
}
