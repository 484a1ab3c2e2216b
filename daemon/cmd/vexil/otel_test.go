package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/vexilhq/vexil/internal/testcerts"
	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1/evaluationv1connect"
	syncv1 "github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1/syncv1connect"
)

// otelcolEnv names the environment variable holding the collector binary
// that daemon/internal/telemetry/testdata/build-otelcol.sh builds.
const otelcolEnv = "VEXIL_OTELCOL_BIN"

// buildOtelcolScript builds the collector.
const buildOtelcolScript = "../../internal/telemetry/testdata/build-otelcol.sh"

// collectorVersion is the collector release the build script builds.
const collectorVersion = "v0.165.0"

// otelcolBinary returns the collector's path, or skips the test (fails it
// under CI=true) when it was not built.
func otelcolBinary(t *testing.T) string {
	t.Helper()
	path := os.Getenv(otelcolEnv)
	if path == "" {
		// The script's cache: named by the release, the platform and the
		// script's own hash.
		script, err := os.ReadFile(buildOtelcolScript)
		cache, cerr := os.UserCacheDir()
		if err == nil && cerr == nil {
			recipe := fmt.Sprintf("%x", sha256.Sum256(script))[:12]
			path = filepath.Join(cache, "vexil", "otelcol-"+collectorVersion+"-"+runtime.GOOS+"-"+runtime.GOARCH+"-"+recipe, "otelcol")
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.IsDir() {
		msg := fmt.Sprintf("no OpenTelemetry Collector at %q: build it with "+
			"export %s=$(daemon/internal/telemetry/testdata/build-otelcol.sh) (from the repository's root)", path, otelcolEnv)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}

// collector is a running OpenTelemetry Collector whose debug exporter's
// output is collected.
type collector struct {
	endpoint string
	mu       sync.Mutex
	out      strings.Builder
	changed  chan struct{} // signalled on each line
	exited   chan struct{} // closed when the collector has exited
}

// startCollector runs the collector with an OTLP/gRPC receiver on a free
// port (grpcTLS is YAML added to its settings) and the debug exporter
// (detailed) for metrics and traces.
func startCollector(t *testing.T, grpcTLS string) *collector {
	t.Helper()
	return startCollectorReceiving(t, func(endpoint string) string {
		return "      grpc:\n        endpoint: " + endpoint + grpcTLS + "\n"
	})
}

// startCollectorHTTP runs the collector with an OTLP/HTTP receiver alone.
func startCollectorHTTP(t *testing.T) *collector {
	t.Helper()
	return startCollectorReceiving(t, func(endpoint string) string {
		return "      http:\n        endpoint: " + endpoint + "\n"
	})
}

// startCollectorReceiving runs the collector with the OTLP receiver's
// protocols that protocols returns (YAML) for the endpoint.
func startCollectorReceiving(t *testing.T, protocols func(endpoint string) string) *collector {
	t.Helper()
	bin := otelcolBinary(t)
	c := &collector{endpoint: fmt.Sprintf("127.0.0.1:%d", freePort(t)), changed: make(chan struct{}, 1), exited: make(chan struct{})}
	config := filepath.Join(t.TempDir(), "otelcol.yaml")
	err := os.WriteFile(config, []byte(`receivers:
  otlp:
    protocols:
`+protocols(c.endpoint)+`exporters:
  debug:
    verbosity: detailed
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [debug]
    traces:
      receivers: [otlp]
      exporters: [debug]
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", "file:"+config)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		_ = pw.Close()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-c.exited
		if t.Failed() {
			t.Logf("collector output:\n%s", c.output())
		}
	})
	go func() {
		defer close(c.exited)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			c.mu.Lock()
			c.out.WriteString(sc.Text())
			c.out.WriteByte('\n')
			c.mu.Unlock()
			select {
			case c.changed <- struct{}{}:
			default:
			}
		}
	}()
	c.await(t, "the collector to start", "Everything is ready")
	return c
}

func (c *collector) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

// await waits until the collector has written every one of want.
func (c *collector) await(t *testing.T, what string, want ...string) {
	t.Helper()
	timeout := time.NewTimer(60 * time.Second)
	defer timeout.Stop()
	for {
		out := c.output()
		var missing []string
		for _, w := range want {
			if !strings.Contains(out, w) {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			return
		}
		select {
		case <-c.changed:
		case <-c.exited:
			if out == c.output() {
				t.Fatalf("waiting for %s: the collector exited without writing %q", what, missing)
			}
		case <-timeout.C:
			t.Fatalf("waiting for %s: the collector did not write %q", what, missing)
		}
	}
}

// TestOpenTelemetryCollector: vexil start --metrics-exporter otel
// --otel-collector-uri sends flagd's metric names and evaluation and sync
// spans to a real OpenTelemetry Collector, which writes them out (debug
// exporter). They are flushed when vexil stops.
func TestOpenTelemetryCollector(t *testing.T) {
	col := startCollector(t, "")
	flags := filepath.Join(t.TempDir(), "flags.json")
	if err := os.WriteFile(flags, []byte(`{"flags":{"my-flag":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, addrs, lines := startProcess(t, "start", "-f", "file:"+flags, "--bind-address", "127.0.0.1",
		"-p", "0", "-m", "0", "-g", "0", "-r", "0", "-z", "json",
		"--metrics-exporter", "otel", "--otel-collector-uri", "http://"+col.endpoint)
	go func() {
		for range lines { // keep the process's stderr flowing
		}
	}()
	awaitReady(t, addrs["management"])

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := evaluationv1connect.NewServiceClient(hc, "http://"+addrs["evaluation"])
	for range 3 {
		resp, err := client.ResolveBoolean(ctx, connect.NewRequest(&evaluationv1.ResolveBooleanRequest{FlagKey: "my-flag"}))
		if err != nil || !resp.Msg.GetValue() {
			t.Fatalf("ResolveBoolean: %v, %v", resp, err)
		}
	}
	if _, err := client.ResolveString(ctx, connect.NewRequest(&evaluationv1.ResolveStringRequest{FlagKey: "missing"})); err == nil {
		t.Fatal("ResolveString of a missing flag did not fail")
	}
	// The sync port serves gRPC alone: over HTTP/2 in cleartext.
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	h2 := &http.Transport{Protocols: &protocols}
	defer h2.CloseIdleConnections()
	syncClient := syncv1connect.NewFlagSyncServiceClient(&http.Client{Transport: h2}, "http://"+addrs["sync"], connect.WithGRPC())
	if _, err := syncClient.FetchAllFlags(ctx, connect.NewRequest(&syncv1.FetchAllFlagsRequest{})); err != nil {
		t.Fatalf("FetchAllFlags: %v", err)
	}

	// Stopping flushes what is pending.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("vexil: %v", err)
	}
	col.await(t, "flagd's metrics and spans",
		// Metrics, with flagd's names and attributes.
		"Name: feature_flag.flagd.impression",
		"Name: feature_flag.flagd.result.reason",
		"InstrumentationScope flagd",
		"-> feature_flag.key: Str(my-flag)",
		"-> feature_flag.result.variant: Str(on)",
		"-> feature_flag.reason: Str(STATIC)",
		"-> feature_flag.provider_name: Str(flagd)",
		"-> ExceptionTypeKeyName: Str(FLAG_NOT_FOUND)",
		// Spans: an evaluation's, and the sync call's.
		"InstrumentationScope flagd.evaluation.v1",
		"Name           : resolveBoolean",
		"Name           : resolveString",
		"Kind           : Server",
		"Name           : flagd.sync.v1.FlagSyncService/FetchAllFlags",
		// The resource.
		"-> service.name: Str(flagd)",
	)
}

// clientPair makes a self-signed client certificate (ExtKeyUsageClientAuth)
// and writes it and its key to dir.
func clientPair(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "vexil-client"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// TestOpenTelemetryCollectorMTLS: with --otel-ca-path, --otel-cert-path
// and --otel-key-path, vexil reaches a collector that serves TLS and
// requires a client certificate signed by the CA it was given.
func TestOpenTelemetryCollectorMTLS(t *testing.T) {
	dir := t.TempDir()
	serverCert, serverKey := testcerts.New(t, "collector").Write(t, dir)
	clientCert, clientKey := clientPair(t, dir)
	col := startCollector(t, `
        tls:
          cert_file: `+serverCert+`
          key_file: `+serverKey+`
          client_ca_file: `+clientCert)
	flags := filepath.Join(dir, "flags.json")
	if err := os.WriteFile(flags, []byte(`{"flags":{"my-flag":{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, addrs, lines := startProcess(t, "start", "-f", "file:"+flags, "--bind-address", "127.0.0.1",
		"-p", "0", "-m", "0", "-g", "0", "-r", "0", "-z", "json",
		"--metrics-exporter", "otel", "--otel-collector-uri", "https://"+col.endpoint,
		"--otel-ca-path", serverCert, "--otel-cert-path", clientCert, "--otel-key-path", clientKey, "--otel-reload-interval", "1m")
	go func() {
		for range lines {
		}
	}()
	awaitReady(t, addrs["management"])
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := evaluationv1connect.NewServiceClient(&http.Client{Transport: tr}, "http://"+addrs["evaluation"])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.ResolveBoolean(ctx, connect.NewRequest(&evaluationv1.ResolveBooleanRequest{FlagKey: "my-flag"})); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("vexil: %v", err)
	}
	col.await(t, "the span and metrics over mTLS", "Name           : resolveBoolean", "Name: feature_flag.flagd.impression")
}

// awaitReady waits until the daemon's /readyz answers 200: its flags are
// loaded. ("listening" is logged before the first document is read.)
func awaitReady(t *testing.T, management string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + management + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz did not answer 200 within 30 s (last: %v)", err)
		}
		time.Sleep(10 * time.Millisecond) // a poll of readiness, which has no event to await
	}
}
