package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1/evaluationv1connect"
)

// otelFlags writes a flags file with one boolean flag, my-flag.
func otelFlags(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flags.json")
	if err := os.WriteFile(path, []byte(`{"flags":{"my-flag":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startOTelVexil starts vexil on flags with the extra arguments (the
// environment is the test's: set it with t.Setenv) and waits until it
// serves them.
func startOTelVexil(t *testing.T, flags string, extra ...string) (*exec.Cmd, map[string]string) {
	t.Helper()
	args := append([]string{"start", "-f", "file:" + flags, "--bind-address", "127.0.0.1",
		"-p", "0", "-m", "0", "-g", "0", "-r", "0", "-z", "json"}, extra...)
	cmd, addrs, lines := startProcess(t, args...)
	go func() {
		for range lines { // keep the process's stderr flowing
		}
	}()
	awaitReady(t, addrs["management"])
	return cmd, addrs
}

// resolveBoolean evaluates my-flag over Connect/JSON on HTTP/1.1.
func resolveBoolean(t *testing.T, evaluation string, header http.Header) {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := evaluationv1connect.NewServiceClient(&http.Client{Transport: tr}, "http://"+evaluation)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := connect.NewRequest(&evaluationv1.ResolveBooleanRequest{FlagKey: "my-flag"})
	for k, v := range header {
		req.Header()[k] = v
	}
	if resp, err := client.ResolveBoolean(ctx, req); err != nil || !resp.Msg.GetValue() {
		t.Fatalf("ResolveBoolean: %v, %v", resp, err)
	}
}

// stopVexil stops vexil with SIGTERM, which flushes the exporters.
func stopVexil(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("vexil: %v", err)
	}
}

// TestOpenTelemetryCollectorHTTP: with OTEL_EXPORTER_OTLP_PROTOCOL=
// http/protobuf, the collector URI is reached over OTLP/HTTP (the
// collector's HTTP receiver), for spans and metrics, as flagd does.
func TestOpenTelemetryCollectorHTTP(t *testing.T) {
	col := startCollectorHTTP(t)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	cmd, addrs := startOTelVexil(t, otelFlags(t), "--metrics-exporter", "otel", "--otel-collector-uri", "http://"+col.endpoint)
	resolveBoolean(t, addrs["evaluation"], nil)
	stopVexil(t, cmd)
	col.await(t, "spans and metrics over OTLP/HTTP", "Name           : resolveBoolean", "Name: feature_flag.flagd.impression")
}

// TestOpenTelemetryEnvironment: the OTEL_* variables flagd honours.
// OTEL_TRACES_EXPORTER=none keeps the spans from the collector the options
// name, while the metrics go; OTEL_TRACES_EXPORTER=otlp with the OTLP
// endpoint and protocol variables exports spans with no option at all.
func TestOpenTelemetryEnvironment(t *testing.T) {
	t.Run("traces none", func(t *testing.T) {
		col := startCollector(t, "")
		t.Setenv("OTEL_TRACES_EXPORTER", "none")
		cmd, addrs := startOTelVexil(t, otelFlags(t), "--metrics-exporter", "otel", "--otel-collector-uri", "http://"+col.endpoint)
		resolveBoolean(t, addrs["evaluation"], nil)
		stopVexil(t, cmd)
		// Spans are flushed before metrics at shutdown: once the metrics
		// are in, no span is coming.
		col.await(t, "the metrics", "Name: feature_flag.flagd.impression")
		if out := col.output(); strings.Contains(out, "resolveBoolean") {
			t.Errorf("OTEL_TRACES_EXPORTER=none, yet the collector got an evaluation span:\n%s", out)
		}
	})
	t.Run("traces otlp without options", func(t *testing.T) {
		col := startCollector(t, "")
		t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
		t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+col.endpoint)
		cmd, addrs := startOTelVexil(t, otelFlags(t))
		resolveBoolean(t, addrs["evaluation"], nil)
		stopVexil(t, cmd)
		col.await(t, "the span", "Name           : resolveBoolean", "InstrumentationScope flagd.evaluation.v1")
	})
}

// TestOpenTelemetryEnvironmentErrors: an exporter or protocol that does
// not exist stops start with exit code 2 and says which variable is wrong.
func TestOpenTelemetryEnvironmentErrors(t *testing.T) {
	flags := otelFlags(t)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"traces exporter", []string{"OTEL_TRACES_EXPORTER=zipkin"}, nil, `OTEL_TRACES_EXPORTER="zipkin"`},
		{"metrics exporter", []string{"OTEL_METRICS_EXPORTER=statsd"}, nil, `OTEL_METRICS_EXPORTER="statsd"`},
		{"protocol", []string{"OTEL_EXPORTER_OTLP_PROTOCOL=http/json"},
			[]string{"--otel-collector-uri", "http://127.0.0.1:4317"}, `OTEL_EXPORTER_OTLP_PROTOCOL="http/json": want grpc or http/protobuf`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"start", "-f", "file:" + flags, "--bind-address", "127.0.0.1",
				"-p", "0", "-m", "0", "-g", "0", "-r", "0"}, tc.args...)
			cmd := exec.Command(os.Args[0], args...)
			cmd.Env = append(append(os.Environ(), runMainEnv+"=1"), tc.env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != 2 {
					t.Errorf("exit: %v, want code 2", err)
				}
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("vexil did not stop; stderr:\n%s", stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr does not say %q:\n%s", tc.want, stderr.String())
			}
		})
	}
}

// TestOpenTelemetryTraceparent: an evaluation whose request carries a W3C
// traceparent is a child of the caller's span, on every port that
// evaluates: Connect on HTTP/1.1, native gRPC, and OFREP. The collector
// receives each span with the caller's trace id and, as parent, the
// caller's span id.
func TestOpenTelemetryTraceparent(t *testing.T) {
	col := startCollector(t, "")
	cmd, addrs := startOTelVexil(t, otelFlags(t), "--otel-collector-uri", "http://"+col.endpoint)
	type caller struct{ trace, span string }
	callers := map[string]caller{
		"connect": {"0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"},
		"grpc":    {"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"},
		"ofrep":   {"5c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f", "1122334455667788"},
	}
	traceparent := func(c caller) string { return "00-" + c.trace + "-" + c.span + "-01" }

	resolveBoolean(t, addrs["evaluation"], http.Header{"Traceparent": {traceparent(callers["connect"])}})

	conn, err := grpc.NewClient(addrs["evaluation"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "traceparent", traceparent(callers["grpc"]))
	var b evaluationv1.ResolveBooleanResponse
	if err := conn.Invoke(ctx, "/flagd.evaluation.v1.Service/ResolveBoolean", &evaluationv1.ResolveBooleanRequest{FlagKey: "my-flag"}, &b); err != nil || !b.GetValue() {
		t.Fatalf("gRPC ResolveBoolean: %v, %v", &b, err)
	}

	req, err := http.NewRequest(http.MethodPost, "http://"+addrs["ofrep"]+"/ofrep/v1/evaluate/flags/my-flag", strings.NewReader(`{"context":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Traceparent", traceparent(callers["ofrep"]))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("OFREP: %s", resp.Status)
	}
	stopVexil(t, cmd)

	var want []string
	for _, c := range callers {
		want = append(want, "Trace ID       : "+c.trace)
	}
	col.await(t, "the three spans", want...)
	spans := strings.Split(col.output(), "Span #")
	for name, c := range callers {
		var found bool
		for _, s := range spans {
			if !strings.Contains(s, "Trace ID       : "+c.trace) {
				continue
			}
			found = true
			wantName := "resolveBoolean"
			if name == "ofrep" {
				wantName = "resolveAnyValue"
			}
			for _, w := range []string{"Parent ID      : " + c.span, "Name           : " + wantName} {
				if !strings.Contains(s, w) {
					t.Errorf("%s: the span in the caller's trace lacks %q:\n%s", name, w, s)
				}
			}
		}
		if !found {
			t.Errorf("%s: no span in the caller's trace %s", name, c.trace)
		}
	}
}
