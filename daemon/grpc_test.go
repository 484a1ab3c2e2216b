package daemon_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/vexilhq/vexil/daemon"
	"github.com/vexilhq/vexil/internal/testcerts"
	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
	evaluationv2 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2"
)

// e2eSources writes the documents of the end-to-end tests to files and
// returns them as sources.
func e2eSources(t *testing.T) []daemon.SourceSpec {
	t.Helper()
	dir := t.TempDir()
	var specs []daemon.SourceSpec
	for name, doc := range map[string]string{"a.json": e2eDocA, "b.json": e2eDocB} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		specs = append(specs, daemon.SourceSpec{URI: "file:" + path})
	}
	slices.SortFunc(specs, func(a, b daemon.SourceSpec) int { return strings.Compare(a.URI, b.URI) })
	return specs
}

// grpcClient connects a grpc-go client to target.
func grpcClient(t *testing.T, target string, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// exerciseGRPC makes grpc-go calls of both versions on conn and checks
// the answers: values, a selector, NotFound, an event stream.
func exerciseGRPC(t *testing.T, conn *grpc.ClientConn) {
	t.Helper()
	ctx := context.Background()
	b := new(evaluationv1.ResolveBooleanResponse)
	err := conn.Invoke(ctx, "/flagd.evaluation.v1.Service/ResolveBoolean", &evaluationv1.ResolveBooleanRequest{FlagKey: "bool"}, b)
	check(t, "v1 bool", err, b.GetValue() && b.GetReason() == "STATIC" && b.GetVariant() == "on")
	s2 := new(evaluationv2.ResolveStringResponse)
	err = conn.Invoke(ctx, "/flagd.evaluation.v2.Service/ResolveString", &evaluationv2.ResolveStringRequest{FlagKey: "string", Context: mustStruct(t, map[string]any{"user": "bob"})}, s2)
	check(t, "v2 string", err, s2.GetValue() == "beta" && s2.GetReason() == "TARGETING_MATCH")
	shared := new(evaluationv1.ResolveStringResponse)
	err = conn.Invoke(metadata.AppendToOutgoingContext(ctx, "flagd-selector", "flagSetId=set-a"), "/flagd.evaluation.v1.Service/ResolveString", &evaluationv1.ResolveStringRequest{FlagKey: "shared"}, shared)
	check(t, "v1 selector", err, shared.GetValue() == "from-a")
	all := new(evaluationv1.ResolveAllResponse)
	err = conn.Invoke(ctx, "/flagd.evaluation.v1.Service/ResolveAll", &evaluationv1.ResolveAllRequest{}, all)
	check(t, "v1 all", err, len(all.GetFlags()) == 6)
	err = conn.Invoke(ctx, "/flagd.evaluation.v1.Service/ResolveBoolean", &evaluationv1.ResolveBooleanRequest{FlagKey: "nope"}, b)
	check(t, "v1 not found", nil, status.Code(err) == codes.NotFound && status.Convert(err).Message() == "Flag not found")

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := conn.NewStream(sctx, &grpc.StreamDesc{ServerStreams: true}, "/flagd.evaluation.v2.Service/EventStream")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SendMsg(&evaluationv2.EventStreamRequest{}); err != nil {
		t.Fatal(err)
	}
	ev := new(evaluationv2.EventStreamResponse)
	err = st.RecvMsg(ev)
	check(t, "v2 stream", err, ev.GetType() == "provider_ready")
}

// TestNativeGRPC: grpc-go clients get the same answers on the evaluation
// port whether their connections are served by grpc-go (the default) or by
// connect-go (DisableNativeGRPC), and are measured alike.
func TestNativeGRPC(t *testing.T) {
	for _, disable := range []bool{false, true} {
		t.Run(fmt.Sprintf("DisableNativeGRPC=%v", disable), func(t *testing.T) {
			d := startDaemon(t, daemon.Config{Sources: e2eSources(t), DisableNativeGRPC: disable})
			d.waitReady(t)
			exerciseGRPC(t, grpcClient(t, d.addrs.Evaluation, nil))
			s := d.scrape(t)
			if v := s.Sum("http_server_request_duration_seconds_count", "http_route", "/flagd.evaluation.v1.Service/ResolveBoolean", "http_request_method", "POST", "http_response_status_code", "200", "url_scheme", "http"); v != 2 {
				t.Errorf("ResolveBoolean calls measured: %v, want 2", v)
			}
			var want float64 = 1
			if disable {
				want = 0
			}
			if v := s.Sum("vexil_evaluation_connections_total", "server", "grpc-go"); v != want {
				t.Errorf("connections served by grpc-go: %v, want %v", v, want)
			}
			if v := s.Sum("http_server_request_body_size_bytes_sum", "http_route", "/flagd.evaluation.v1.Service/ResolveBoolean"); v != 2*5+6+6 {
				t.Errorf("ResolveBoolean request bytes: %v, want %d (two 5-byte prefixes and two 6-byte messages)", v, 2*5+6+6)
			}
		})
	}
}

// TestNativeGRPCOverTLSAndSocket: grpc-go clients on the evaluation port
// over TLS, and on its unix socket.
func TestNativeGRPCOverTLSAndSocket(t *testing.T) {
	pair := testcerts.New(t, "grpc")
	certPath, keyPath := pair.Write(t, t.TempDir())
	d := startDaemon(t, daemon.Config{Sources: e2eSources(t), TLSCertPath: certPath, TLSKeyPath: keyPath})
	d.waitReady(t)
	exerciseGRPC(t, grpcClient(t, d.addrs.Evaluation, credentials.NewTLS(&tls.Config{RootCAs: pair.Pool()})))
	// grpc-go measures a call when it ends on the server, which may be
	// after the client has its answer: wait for the count (bounded).
	var v float64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if v = d.scrape(t).Sum("http_server_request_duration_seconds_count", "http_route", "/flagd.evaluation.v1.Service/ResolveBoolean", "url_scheme", "https"); v >= 2 {
			break
		}
	}
	if v != 2 {
		t.Errorf("ResolveBoolean calls measured over https: %v, want 2", v)
	}

	sock := filepath.Join(t.TempDir(), "eval.sock")
	d = startDaemon(t, daemon.Config{Sources: e2eSources(t), SocketPath: sock})
	d.waitReady(t)
	exerciseGRPC(t, grpcClient(t, "unix://"+sock, nil))
}

// TestNativeGRPCShutdown: an event stream of a grpc-go client gets
// provider_shutdown when the daemon stops, then ends.
func TestNativeGRPCShutdown(t *testing.T) {
	d := startDaemon(t, daemon.Config{Sources: e2eSources(t)})
	d.waitReady(t)
	conn := grpcClient(t, d.addrs.Evaluation, nil)
	st, err := conn.NewStream(context.Background(), &grpc.StreamDesc{ServerStreams: true}, "/flagd.evaluation.v1.Service/EventStream")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SendMsg(&evaluationv1.EventStreamRequest{}); err != nil {
		t.Fatal(err)
	}
	ev := new(evaluationv1.EventStreamResponse)
	if err := st.RecvMsg(ev); err != nil || ev.GetType() != "provider_ready" {
		t.Fatalf("first event: %v, %v", ev, err)
	}
	stopped := make(chan struct{})
	go func() {
		d.stop(t)
		close(stopped)
	}()
	for {
		if err := st.RecvMsg(ev); err != nil {
			t.Fatalf("the stream ended with %v before provider_shutdown", err)
		}
		if ev.GetType() == "provider_shutdown" {
			break
		}
	}
	<-stopped
}

// TestNativeGRPCBodyLimit: a gRPC call larger than MaxRequestBodyBytes is
// ResourceExhausted, as connect-go answers it; one under it is served.
func TestNativeGRPCBodyLimit(t *testing.T) {
	d := startDaemon(t, daemon.Config{Sources: e2eSources(t), MaxRequestBodyBytes: 1000})
	d.waitReady(t)
	conn := grpcClient(t, d.addrs.Evaluation, nil)
	call := func(size int) error {
		req := &evaluationv1.ResolveBooleanRequest{FlagKey: "bool", Context: mustStruct(t, map[string]any{"pad": strings.Repeat("x", size)})}
		return conn.Invoke(context.Background(), "/flagd.evaluation.v1.Service/ResolveBoolean", req, new(evaluationv1.ResolveBooleanResponse))
	}
	if err := call(900); err != nil {
		t.Fatalf("a call under the limit: %v", err)
	}
	if err := call(2000); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a call over the limit: %v, want ResourceExhausted", err)
	}
}
