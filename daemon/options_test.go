package daemon_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/vexilhq/vexil/daemon"
	"github.com/vexilhq/vexil/internal/testcerts"
	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1/evaluationv1connect"
	evaluationv2 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2/evaluationv2connect"
	syncv1 "github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1/syncv1connect"
)

// contextFlags has a flag that answers "matched" when the context's "team"
// is "core", and one that shows the context key "user".
const contextFlags = `{"flags":{
  "team-flag":{"state":"ENABLED","variants":{"matched":"matched","other":"other"},"defaultVariant":"other",
    "targeting":{"if":[{"==":[{"var":"team"},"core"]},"matched","other"]}},
  "user-flag":{"state":"ENABLED","variants":{"ann":"ann","nobody":"nobody"},"defaultVariant":"nobody",
    "targeting":{"if":[{"==":[{"var":"user"},"ann"]},"ann","nobody"]}}
}}`

func writeFlags(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flags.json")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func (d *daemonUnderTest) waitReady(t *testing.T) {
	t.Helper()
	d.waitReadyz(t, "ready", func(code int, _ readyz) bool { return code == http.StatusOK })
}

// TestContextOptions: the static context and the mapped headers reach the
// evaluation services and OFREP, and the static context is the sync
// streams' sync_context.
func TestContextOptions(t *testing.T) {
	d := startDaemon(t, daemon.Config{
		Sources:            []daemon.SourceSpec{{URI: "file:" + writeFlags(t, contextFlags)}},
		StaticContext:      map[string]any{"team": "core"},
		ContextFromHeaders: map[string]string{"X-User": "user"},
	})
	d.waitReady(t)

	client := evaluationv2connect.NewServiceClient(d.client, "http://"+d.addrs.Evaluation)
	req := connect.NewRequest(&evaluationv2.ResolveStringRequest{FlagKey: "team-flag"})
	resp, err := client.ResolveString(context.Background(), req)
	if err != nil || resp.Msg.GetValue() != "matched" {
		t.Fatalf("team-flag with the static context: %v, %v", resp, err)
	}
	req = connect.NewRequest(&evaluationv2.ResolveStringRequest{FlagKey: "user-flag"})
	req.Header().Set("X-User", "ann")
	if resp, err = client.ResolveString(context.Background(), req); err != nil || resp.Msg.GetValue() != "ann" {
		t.Fatalf("user-flag with X-User: %v, %v", resp, err)
	}

	// OFREP.
	hreq, _ := http.NewRequest(http.MethodPost, "http://"+d.addrs.OFREP+"/ofrep/v1/evaluate/flags/user-flag", strings.NewReader(`{"context":{}}`))
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("X-User", "ann")
	hresp, err := d.client.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(hresp.Body)
	hresp.Body.Close()
	if !strings.Contains(string(body), `"value":"ann"`) {
		t.Fatalf("OFREP user-flag with X-User: %s", body)
	}

	// Sync: sync_context and GetMetadata carry the static context.
	sc := syncv1connect.NewFlagSyncServiceClient(h2cClient(t), "http://"+d.addrs.Sync, connect.WithGRPC())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	stream, err := sc.SyncFlags(ctx, connect.NewRequest(&syncv1.SyncFlagsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if !stream.Receive() {
		t.Fatalf("SyncFlags: %v", stream.Err())
	}
	if got := stream.Msg().GetSyncContext().AsMap()["team"]; got != "core" {
		t.Fatalf("sync_context team = %v, want core", got)
	}
	cancel()
	stream.Close()
}

// TestDisableSyncMetadataAndStreamDeadline: GetMetadata is off, and a sync
// stream ends with DeadlineExceeded after the stream deadline.
func TestDisableSyncMetadataAndStreamDeadline(t *testing.T) {
	d := startDaemon(t, daemon.Config{DisableSyncMetadata: true, StreamDeadline: 100 * time.Millisecond})
	d.waitReady(t)
	sc := syncv1connect.NewFlagSyncServiceClient(h2cClient(t), "http://"+d.addrs.Sync, connect.WithGRPC())
	_, err := sc.GetMetadata(context.Background(), connect.NewRequest(&syncv1.GetMetadataRequest{}))
	if connect.CodeOf(err) != connect.CodeUnimplemented {
		t.Fatalf("GetMetadata: %v, want Unimplemented", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	stream, err := sc.SyncFlags(ctx, connect.NewRequest(&syncv1.SyncFlagsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	for stream.Receive() {
	}
	if connect.CodeOf(stream.Err()) != connect.CodeDeadlineExceeded {
		t.Fatalf("SyncFlags ended with %v, want DeadlineExceeded", stream.Err())
	}
	stream.Close()
}

// TestRequestLimits: bodies over the limit are refused on the evaluation
// port (ResourceExhausted, HTTP 429 as in flagd) and on OFREP (413), and
// oversized headers are refused (431).
func TestRequestLimits(t *testing.T) {
	d := startDaemon(t, daemon.Config{MaxRequestBodyBytes: 1000, MaxRequestHeaderBytes: 4096})
	d.waitReady(t)
	big := `{"flagKey":"new-checkout","context":{"pad":"` + strings.Repeat("x", 2000) + `"}}`

	resp, err := d.client.Post("http://"+d.addrs.Evaluation+"/flagd.evaluation.v1.Service/ResolveBoolean", "application/json", strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "resource_exhausted") {
		t.Fatalf("oversized Connect body: %s %s, want 429 resource_exhausted", resp.Status, body)
	}
	// Under the limit it works.
	if a := d.resolveBoolean(t, "new-checkout", `{"email":"ana@vexil.example"}`); !a.Value {
		t.Fatalf("a small request: %+v", a)
	}

	// gRPC: the same limit, as ResourceExhausted.
	v1 := evaluationv1connect.NewServiceClient(h2cClient(t), "http://"+d.addrs.Evaluation, connect.WithGRPC())
	pad, _ := structpb.NewStruct(map[string]any{"pad": strings.Repeat("x", 2000)})
	_, err = v1.ResolveBoolean(context.Background(), connect.NewRequest(&evaluationv1.ResolveBooleanRequest{FlagKey: "new-checkout", Context: pad}))
	if connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("oversized gRPC request: %v, want ResourceExhausted", err)
	}

	resp, err = d.client.Post("http://"+d.addrs.OFREP+"/ofrep/v1/evaluate/flags/new-checkout", "application/json", strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized OFREP body: %s %s, want 413", resp.Status, body)
	}

	req, _ := http.NewRequest(http.MethodPost, "http://"+d.addrs.OFREP+"/ofrep/v1/evaluate/flags/new-checkout", strings.NewReader(`{}`))
	req.Header.Set("X-Pad", strings.Repeat("y", 10000))
	resp, err = d.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("oversized headers: %s %s, want 431", resp.Status, resp.Proto)
	}
}

// h2cClient is an HTTP/2 client without TLS, closed when the test ends.
func h2cClient(t *testing.T) *http.Client {
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: timeout, Transport: tr}
}

// TestCORS: a browser's preflight from an allowed origin is answered, one
// from another origin is not, and answers carry the CORS headers.
func TestCORS(t *testing.T) {
	d := startDaemon(t, daemon.Config{CORSOrigins: []string{"https://app.example"}})
	d.waitReady(t)
	for _, base := range []string{
		"http://" + d.addrs.Evaluation + "/flagd.evaluation.v1.Service/ResolveBoolean",
		"http://" + d.addrs.OFREP + "/ofrep/v1/evaluate/flags/new-checkout",
	} {
		for _, tc := range []struct {
			origin string
			allow  string
		}{{"https://app.example", "https://app.example"}, {"https://evil.example", ""}} {
			req, _ := http.NewRequest(http.MethodOptions, base, nil)
			req.Header.Set("Origin", tc.origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "content-type,connect-protocol-version")
			resp, err := d.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.allow {
				t.Errorf("preflight %s from %s: Allow-Origin %q, want %q", base, tc.origin, got, tc.allow)
			}
		}
		req, _ := http.NewRequest(http.MethodPost, base, strings.NewReader(`{"flagKey":"new-checkout"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "https://app.example")
		resp, err := d.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
			t.Errorf("POST %s from the allowed origin: %s, Allow-Origin %q", base, resp.Status, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
}

// TestGRPCHealth: the management port answers grpc.health.v1 over h2c as
// flagd (bbb05d4) does, before and after the flags load: the server (the
// empty name) is SERVING, every other name, the daemon's own services
// included, is NotFound "unknown service"; List lists the server alone; a
// method of another service is Unimplemented.
func TestGRPCHealth(t *testing.T) {
	path := filepath.Join(t.TempDir(), "late.json")
	d := startDaemon(t, daemon.Config{Sources: []daemon.SourceSpec{{URI: "file:" + path}}})
	conn, err := grpc.NewClient(d.addrs.Management, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	// flagd's answers, recorded with grpc-go's client.
	tests := []struct {
		service string
		want    healthpb.HealthCheckResponse_ServingStatus
		code    codes.Code
		msg     string
	}{
		{"", healthpb.HealthCheckResponse_SERVING, codes.OK, ""},
		{"flagd.evaluation.v1.Service", 0, codes.NotFound, "unknown service"},
		{"flagd.evaluation.v2.Service", 0, codes.NotFound, "unknown service"},
		{"flagd.sync.v1.FlagSyncService", 0, codes.NotFound, "unknown service"},
		{"schema.v1.Service", 0, codes.NotFound, "unknown service"},
		{"no.such.Service", 0, codes.NotFound, "unknown service"},
	}
	checkAll := func(when string) {
		t.Helper()
		for _, tc := range tests {
			resp, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: tc.service})
			st, _ := status.FromError(err)
			if resp.GetStatus() != tc.want || st.Code() != tc.code || st.Message() != tc.msg {
				t.Errorf("%s: Check(%q) = %v, %v %q; want %v, %v %q", when, tc.service, resp.GetStatus(), st.Code(), st.Message(), tc.want, tc.code, tc.msg)
			}
		}
	}
	checkAll("before the flags load")
	writeAtomic(t, path, flagsDoc(true))
	d.waitReady(t)
	checkAll("after the flags load")

	list, err := hc.List(context.Background(), &healthpb.HealthListRequest{})
	if err != nil || len(list.GetStatuses()) != 1 || list.GetStatuses()[""].GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("List: %v, %v; want only the server, SERVING", list, err)
	}
	err = conn.Invoke(context.Background(), "/flagd.evaluation.v1.Service/ResolveBoolean", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
	if st, _ := status.FromError(err); st.Code() != codes.Unimplemented || st.Message() != "unknown service flagd.evaluation.v1.Service" {
		t.Errorf("ResolveBoolean on the management port: %v", err)
	}
}

// TestTLS: with a certificate, the evaluation, sync and OFREP ports speak
// TLS (Connect over HTTP/1.1 and HTTP/2, gRPC with grpc-go), and a new
// certificate written over the old one is served without a restart.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	a, b := testcerts.New(t, "first"), testcerts.New(t, "second")
	certPath, keyPath := a.Write(t, dir)
	d := startDaemon(t, daemon.Config{TLSCertPath: certPath, TLSKeyPath: keyPath})
	d.waitReady(t)

	pool := a.Pool()
	pool.AddCert(b.Cert)
	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		hc := &http.Client{Transport: tr, Timeout: timeout}
		client := evaluationv1connect.NewServiceClient(hc, "https://"+d.addrs.Evaluation)
		resp, err := client.ResolveBoolean(context.Background(), connect.NewRequest(&evaluationv1.ResolveBooleanRequest{FlagKey: "new-checkout"}))
		if err != nil {
			t.Fatalf("ResolveBoolean over TLS (h2 %v): %v", h2, err)
		}
		if resp.Msg.GetReason() == "" {
			t.Fatalf("empty answer over TLS")
		}
		ofrepResp, err := hc.Post("https://"+d.addrs.OFREP+"/ofrep/v1/evaluate/flags/new-checkout", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatalf("OFREP over TLS: %v", err)
		}
		ofrepResp.Body.Close()
		if ofrepResp.StatusCode != http.StatusOK || (h2 && ofrepResp.ProtoMajor != 2) {
			t.Fatalf("OFREP over TLS: %s %s", ofrepResp.Status, ofrepResp.Proto)
		}
		tr.CloseIdleConnections()
	}

	// gRPC with grpc-go on the sync port.
	conn, err := grpc.NewClient(d.addrs.Sync, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	all := new(syncv1.FetchAllFlagsResponse)
	err = conn.Invoke(context.Background(), syncv1connect.FlagSyncServiceFetchAllFlagsProcedure, &syncv1.FetchAllFlagsRequest{}, all)
	if err != nil || !strings.Contains(all.GetFlagConfiguration(), "new-checkout") {
		t.Fatalf("FetchAllFlags over TLS: %v", err)
	}

	// Rotation: the new pair is served by new connections.
	writeAtomicBytes(t, keyPath, b.KeyPEM)
	writeAtomicBytes(t, certPath, b.CertPEM)
	deadline := time.Now().Add(timeout)
	for {
		c, err := tls.Dial("tcp", d.addrs.Evaluation, &tls.Config{RootCAs: pool})
		if err != nil {
			t.Fatal(err)
		}
		cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName
		c.Close()
		if cn == "second" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still serving %q after the rotation", cn)
		}
		<-time.After(5 * time.Millisecond) // polling an external effect: new connections
	}
	if !strings.Contains(d.logs.String(), "TLS certificate reloaded") {
		t.Errorf("the reload was not logged:\n%s", d.logs.String())
	}
}

func writeAtomicBytes(t *testing.T, path string, data []byte) {
	t.Helper()
	writeAtomic(t, path, string(data))
}

// TestTLSConfigErrors: a certificate without a key, or one that does not
// load, stops the daemon at start.
func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	certPath, _ := testcerts.New(t, "x").Write(t, dir)
	for _, tc := range []struct {
		cfg  daemon.Config
		want string
	}{
		{daemon.Config{TLSCertPath: certPath}, "needs both a certificate and a key"},
		{daemon.Config{TLSCertPath: certPath, TLSKeyPath: filepath.Join(dir, "missing.pem")}, "missing.pem: no such file"},
	} {
		tc.cfg.BindAddress = "127.0.0.1"
		err := daemon.Run(context.Background(), tc.cfg, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Run(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
}

// TestUnixSockets: the evaluation and sync services listen on unix sockets
// instead of their ports; a stale socket file left by a killed daemon is
// replaced.
func TestUnixSockets(t *testing.T) {
	dir := t.TempDir()
	evalSock, syncSock := filepath.Join(dir, "eval.sock"), filepath.Join(dir, "sync.sock")
	// A stale socket: bound, then abandoned without removal.
	stale, err := net.Listen("unix", syncSock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()

	d := startDaemon(t, daemon.Config{SocketPath: evalSock, SyncSocketPath: syncSock})
	if d.addrs.Evaluation != evalSock || d.addrs.Sync != syncSock {
		t.Fatalf("addresses %+v, want the sockets", d.addrs)
	}
	d.waitReady(t)

	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", evalSock)
		},
	}
	defer tr.CloseIdleConnections()
	client := evaluationv1connect.NewServiceClient(&http.Client{Timeout: timeout, Transport: tr}, "http://vexil")
	resp, err := client.ResolveBoolean(context.Background(), connect.NewRequest(&evaluationv1.ResolveBooleanRequest{FlagKey: "new-checkout"}))
	if err != nil || resp.Msg.GetReason() == "" {
		t.Fatalf("ResolveBoolean on the socket: %v", err)
	}

	conn, err := grpc.NewClient("unix://"+syncSock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	all := new(syncv1.FetchAllFlagsResponse)
	err = conn.Invoke(context.Background(), syncv1connect.FlagSyncServiceFetchAllFlagsProcedure, &syncv1.FetchAllFlagsRequest{}, all)
	if err != nil || !strings.Contains(all.GetFlagConfiguration(), "new-checkout") {
		t.Fatalf("FetchAllFlags on the socket: %v", err)
	}

	// A socket in use is not taken over.
	err = daemon.Run(context.Background(), daemon.Config{BindAddress: "127.0.0.1", SocketPath: evalSock}, nil)
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("a second daemon on the same socket: %v, want address already in use", err)
	}
}

// TestEvaluationLimitsAsFlagd: the evaluation port answers messages over
// or short of the body limit as flagd does, whose connect-go handlers have
// no read limit of their own (the answers were recorded from flagd, commit
// bbb05d4, with its limit of 1000000 bytes; here the limit is 1000). Each
// failed while connect-go's read limit was set: a gRPC-Web envelope that
// promised more than the limit was ResourceExhausted "message size N is
// larger than configured max", and one over the limit "message is larger
// than configured max ... unable to determine message size".
//
// The decompressed size of a gzip-compressed message is still bounded by
// the limit (flagd has no bound there).
func TestEvaluationLimitsAsFlagd(t *testing.T) {
	d := startDaemon(t, daemon.Config{MaxRequestBodyBytes: 1000})
	d.waitReady(t)
	url := "http://" + d.addrs.Evaluation + "/flagd.evaluation.v1.Service/ResolveBoolean"
	post := func(contentType, encoding string, body []byte) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		if encoding != "" {
			req.Header.Set("Content-Encoding", encoding)
		}
		resp, err := d.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp, string(out)
	}
	for _, tc := range []struct {
		name, body      string
		status, message string
	}{
		// Not an envelope: its first five bytes promise 577137761 bytes.
		{"envelope promises more than the body holds", `{"flagKey":1}`, "3", "protocol error: promised 577137761 bytes in enveloped message, got 8 bytes"},
		{"body over the limit", `{"flagKey":"` + strings.Repeat("x", 2000) + `"}`, "8", "read 577137761 byte message: exceeded 1000 byte http.MaxBytesReader limit"},
	} {
		resp, body := post("application/grpc-web+json", "", []byte(tc.body))
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Grpc-Status") != tc.status || resp.Header.Get("Grpc-Message") != tc.message {
			t.Errorf("%s: %s, grpc-status %q, grpc-message %q (%s); want grpc-status %s, grpc-message %q",
				tc.name, resp.Status, resp.Header.Get("Grpc-Status"), resp.Header.Get("Grpc-Message"), body, tc.status, tc.message)
		}
	}

	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zw.Write([]byte(`{"flagKey":"new-checkout","context":{"pad":"` + strings.Repeat("x", 5000) + `"}}`))
	zw.Close()
	resp, body := post("application/json", "gzip", bomb.Bytes())
	if resp.StatusCode != http.StatusTooManyRequests || body != `{"code":"resource_exhausted","message":"decompressed message is larger than configured max 1000"}` {
		t.Errorf("gzip message over the limit: %s %s", resp.Status, body)
	}
	var small bytes.Buffer
	zw = gzip.NewWriter(&small)
	zw.Write([]byte(`{"flagKey":"new-checkout","context":{"pad":"` + strings.Repeat("x", 900) + `"}}`))
	zw.Close()
	if resp, body := post("application/json", "gzip", small.Bytes()); resp.StatusCode != http.StatusOK {
		t.Errorf("gzip message under the limit: %s %s", resp.Status, body)
	}
}

// TestCORSDefaultAsFlagd: without configured origins, the evaluation and
// OFREP ports answer CORS as flagd does, whose CORS middleware then allows
// any origin (recorded from flagd, commit bbb05d4): a preflight is 204 with
// the requested method and headers allowed for "*", on any path; every
// answer varies by Origin; an answer to an Origin exposes flagd's headers.
// Each failed while CORS was off without configured origins.
func TestCORSDefaultAsFlagd(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	d.waitReady(t)
	for _, url := range []string{
		"http://" + d.addrs.Evaluation + "/flagd.evaluation.v1.Service/ResolveBoolean",
		"http://" + d.addrs.Evaluation + "/nope",
		"http://" + d.addrs.OFREP + "/ofrep/v1/evaluate/flags/new-checkout",
	} {
		req, _ := http.NewRequest(http.MethodOptions, url, nil)
		req.Header.Set("Origin", "http://a.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type,x-foo")
		resp, err := d.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for k, want := range map[string]string{
			"Access-Control-Allow-Origin":  "*",
			"Access-Control-Allow-Methods": "POST",
			"Access-Control-Allow-Headers": "content-type,x-foo",
			"Access-Control-Max-Age":       "",
			"Vary":                         "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
		} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("preflight %s: %s %q, want %q", url, k, got, want)
			}
		}
		if resp.StatusCode != http.StatusNoContent {
			t.Errorf("preflight %s: %s, want 204", url, resp.Status)
		}

		for _, origin := range []string{"http://b.example", ""} {
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"flagKey":"new-checkout"}`))
			req.Header.Set("Content-Type", "application/json")
			if origin != "" {
				req.Header.Set("Origin", origin)
			}
			resp, err := d.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want := map[string]string{"Vary": "Origin", "Access-Control-Allow-Origin": "", "Access-Control-Expose-Headers": ""}
			if origin != "" {
				want["Access-Control-Allow-Origin"] = "*"
				want["Access-Control-Expose-Headers"] = "Accept, Accept-Encoding, Accept-Post, Connect-Accept-Encoding, Connect-Content-Encoding, Content-Encoding, Grpc-Accept-Encoding, Grpc-Encoding, Grpc-Message, Grpc-Status, Grpc-Status-Details-Bin"
			}
			for k, w := range want {
				if got := resp.Header.Get(k); got != w {
					t.Errorf("POST %s from %q: %s %q, want %q", url, origin, k, got, w)
				}
			}
		}
	}
}
