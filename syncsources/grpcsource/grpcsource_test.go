package grpcsource_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/vexilhq/vexil/evaluator"
	syncv1 "github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1"
	"github.com/vexilhq/vexil/syncsources"
	"github.com/vexilhq/vexil/syncsources/grpcsource"
	"github.com/vexilhq/vexil/syncsources/sourcetest"
)

const timeout = 5 * time.Second

// fakeSync is an in-process flagd.sync.v1.FlagSyncService that records the
// SyncFlags requests and sends what the test scripts: each stream sends
// first, then the messages of its script, then ends with end (nil: waits
// for the client to leave).
type fakeSync struct {
	srv  *grpc.Server
	addr string

	mu       sync.Mutex
	requests []request
	first    []string     // sent at the start of every stream
	scripts  chan message // sent on the current stream
}

type request struct {
	msg *syncv1.SyncFlagsRequest
	md  metadata.MD
}

// message is a flag_configuration to send, with its sync_context, or the
// end of the stream.
type message struct {
	conf string
	ctx  *structpb.Struct
	end  error // io.EOF-like clean end when errEnd, else this status
	done bool
}

var errCleanEnd = errors.New("clean end")

func newFakeSync(t *testing.T, addr string, creds credentials.TransportCredentials, first ...string) *fakeSync {
	t.Helper()
	f := &fakeSync{first: first, scripts: make(chan message)}
	f.start(t, addr, creds)
	return f
}

func (f *fakeSync) start(t *testing.T, addr string, creds credentials.TransportCredentials) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var opts []grpc.ServerOption
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	f.srv = grpc.NewServer(opts...)
	f.srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "flagd.sync.v1.FlagSyncService",
		HandlerType: (*any)(nil),
		Streams: []grpc.StreamDesc{{
			StreamName:    "SyncFlags",
			ServerStreams: true,
			Handler:       func(_ any, ss grpc.ServerStream) error { return f.syncFlags(ss) },
		}},
	}, f)
	f.addr = ln.Addr().String()
	srv := f.srv
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
}

func (f *fakeSync) syncFlags(ss grpc.ServerStream) error {
	var req syncv1.SyncFlagsRequest
	if err := ss.RecvMsg(&req); err != nil {
		return err
	}
	md, _ := metadata.FromIncomingContext(ss.Context())
	f.mu.Lock()
	f.requests = append(f.requests, request{msg: &req, md: md})
	first := f.first
	f.mu.Unlock()
	for _, conf := range first {
		if err := ss.SendMsg(&syncv1.SyncFlagsResponse{FlagConfiguration: conf}); err != nil {
			return err
		}
	}
	for {
		select {
		case m := <-f.scripts:
			switch {
			case m.done && m.end == errCleanEnd:
				return nil
			case m.done:
				return m.end
			}
			if err := ss.SendMsg(&syncv1.SyncFlagsResponse{FlagConfiguration: m.conf, SyncContext: m.ctx}); err != nil {
				return err
			}
		case <-ss.Context().Done():
			return ss.Context().Err()
		}
	}
}

// send has the current stream send conf.
func (f *fakeSync) send(t *testing.T, conf string) {
	t.Helper()
	f.sendWithContext(t, conf, nil)
}

// sendWithContext has the current stream send conf with a sync_context.
func (f *fakeSync) sendWithContext(t *testing.T, conf string, ctx *structpb.Struct) {
	t.Helper()
	select {
	case f.scripts <- message{conf: conf, ctx: ctx}:
	case <-time.After(timeout):
		t.Fatal("no stream to send on")
	}
}

// end ends the current stream with err (errCleanEnd: cleanly).
func (f *fakeSync) end(t *testing.T, err error) {
	t.Helper()
	select {
	case f.scripts <- message{end: err, done: true}:
	case <-time.After(timeout):
		t.Fatal("no stream to end")
	}
}

func (f *fakeSync) recorded() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

// fakeClock hands every reconnection wait to the test, which fires it.
type fakeClock struct{ waits chan chan time.Time }

func (c *fakeClock) After(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.waits <- ch
	return ch
}

// running is a Run of a source.
type running struct {
	t       *testing.T
	clock   *fakeClock
	updates chan syncsources.Update
	cancel  context.CancelFunc
	done    chan error
}

func start(t *testing.T, src *grpcsource.Source) *running {
	t.Helper()
	r := &running{t: t, clock: &fakeClock{waits: make(chan chan time.Time, 1)}, updates: make(chan syncsources.Update), done: make(chan error, 1)}
	grpcsource.SetBackoff(src, r.clock.After, func() float64 { return 0 })
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- src.Run(ctx, r.updates) }()
	t.Cleanup(r.stop)
	return r
}

func (r *running) update() syncsources.Update {
	r.t.Helper()
	select {
	case u := <-r.updates:
		return u
	case <-r.clock.waits:
		r.t.Fatal("waiting to reconnect without an update")
	case <-time.After(timeout):
		r.t.Fatal("no update")
	}
	return syncsources.Update{}
}

// wait returns the next reconnection wait, checking that no update comes
// before it.
func (r *running) wait() chan time.Time {
	r.t.Helper()
	select {
	case u := <-r.updates:
		r.t.Fatalf("unexpected update %+v", u)
	case w := <-r.clock.waits:
		return w
	case <-time.After(timeout):
		r.t.Fatal("no reconnection attempt")
	}
	return nil
}

func (r *running) stop() {
	r.cancel()
	select {
	case err := <-r.done:
		if !errors.Is(err, context.Canceled) {
			r.t.Errorf("Run returned %v", err)
		}
	case <-time.After(timeout):
		r.t.Fatal("Run did not return")
	}
	r.done <- context.Canceled // for a second stop
}

func noLeaks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

func mustNew(t testing.TB, cfg grpcsource.Config) *grpcsource.Source {
	t.Helper()
	src, err := grpcsource.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func doc(i int) string { return string(sourcetest.Doc(i)) }

func TestRequest(t *testing.T) {
	noLeaks(t)
	f := newFakeSync(t, "127.0.0.1:0", nil, doc(0))
	src := mustNew(t, grpcsource.Config{
		Target:     f.addr,
		Selector:   "flagSetId=team-a",
		ProviderID: "vexil-1",
		Headers:    map[string]string{"Authorization": "Bearer t", "x-tenant": "acme"},
	})
	if src.Name() != "grpc://"+f.addr {
		t.Errorf("name %q", src.Name())
	}
	r := start(t, src)
	u := r.update()
	if u.Err != nil || string(u.Data) != doc(0) || u.Format != evaluator.FormatJSON || u.Source != "grpc://"+f.addr {
		t.Fatalf("update %+v", u)
	}
	r.stop()
	reqs := f.recorded()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	if got := reqs[0].msg; got.GetSelector() != "flagSetId=team-a" || got.GetProviderId() != "vexil-1" {
		t.Errorf("request %v", got)
	}
	md := reqs[0].md
	if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer t" {
		t.Errorf("authorization metadata %q", got)
	}
	if got := md.Get("x-tenant"); len(got) != 1 || got[0] != "acme" {
		t.Errorf("x-tenant metadata %q", got)
	}
}

func TestChangesAndRepeats(t *testing.T) {
	noLeaks(t)
	f := newFakeSync(t, "127.0.0.1:0", nil, doc(0))
	r := start(t, mustNew(t, grpcsource.Config{Target: f.addr}))
	r.update()
	f.send(t, doc(0)) // the same again: not delivered
	f.send(t, doc(1))
	if u := r.update(); string(u.Data) != doc(1) {
		t.Fatalf("update %+v, want doc 1", u)
	}
	f.send(t, doc(0))
	if u := r.update(); string(u.Data) != doc(0) {
		t.Fatalf("update %+v, want doc 0", u)
	}
}

func TestReconnect(t *testing.T) {
	noLeaks(t)
	f := newFakeSync(t, "127.0.0.1:0", nil, doc(0))
	addr := f.addr
	r := start(t, mustNew(t, grpcsource.Config{Target: addr}))
	r.update()

	// The server goes away: the broken stream is an outage, and the
	// refused connection that follows a changed failure; then nothing,
	// however many attempts fail the same way.
	f.srv.Stop()
	if u := r.update(); u.Err == nil || status.Code(u.Err) != codes.Unavailable {
		t.Fatalf("update %+v, want an Unavailable outage", u)
	}
	r.wait() <- time.Time{}
	if u := r.update(); status.Code(u.Err) != codes.Unavailable || !strings.Contains(u.Err.Error(), "connection refused") {
		t.Fatalf("update %+v, want the connection-refused outage", u)
	}
	for range 3 {
		r.wait() <- time.Time{}
	}
	w := r.wait()
	// It comes back on the same address: the document is delivered again.
	f.start(t, addr, nil)
	w <- time.Time{}
	if u := r.update(); u.Err != nil || string(u.Data) != doc(0) {
		t.Fatalf("after reconnecting: %+v", u)
	}
	if n := len(f.recorded()); n != 2 {
		t.Errorf("%d streams opened, want 2", n)
	}
}

func TestStreamErrors(t *testing.T) {
	noLeaks(t)
	f := newFakeSync(t, "127.0.0.1:0", nil, doc(0))
	r := start(t, mustNew(t, grpcsource.Config{Target: f.addr}))
	r.update()

	// A clean end is reopened at once, without an outage; the new stream's
	// identical first message is not delivered.
	f.end(t, errCleanEnd)
	r.wait() <- time.Time{}
	f.send(t, doc(2))
	if u := r.update(); u.Err != nil || string(u.Data) != doc(2) {
		t.Fatalf("update %+v, want doc 2", u)
	}

	// An error status is an outage; the next stream delivers its document.
	f.end(t, status.Error(codes.Internal, "boom"))
	if u := r.update(); status.Code(u.Err) != codes.Internal {
		t.Fatalf("update %+v, want an Internal outage", u)
	}
	r.wait() <- time.Time{}
	if u := r.update(); u.Err != nil || string(u.Data) != doc(0) {
		t.Fatalf("update %+v, want doc 0", u)
	}
	if n := len(f.recorded()); n != 3 {
		t.Errorf("%d streams, want 3", n)
	}
}

// TestOutageChange: during an outage a changed failure is reported (the
// server refused the stream, and now refuses it for another reason), so
// that the consumer shows the latest; the same failure again is not.
func TestOutageChange(t *testing.T) {
	noLeaks(t)
	f := newFakeSync(t, "127.0.0.1:0", nil)
	r := start(t, mustNew(t, grpcsource.Config{Target: f.addr}))
	f.end(t, status.Error(codes.Unavailable, "warming up"))
	if u := r.update(); status.Code(u.Err) != codes.Unavailable {
		t.Fatalf("update %+v, want the Unavailable outage", u)
	}
	r.wait() <- time.Time{}
	f.end(t, status.Error(codes.Unavailable, "warming up"))
	w := r.wait() // the same failure: nothing new
	w <- time.Time{}
	f.end(t, status.Error(codes.PermissionDenied, "not this selector"))
	if u := r.update(); status.Code(u.Err) != codes.PermissionDenied {
		t.Fatalf("update %+v, want the PermissionDenied outage", u)
	}
	r.wait() <- time.Time{}
	f.end(t, status.Error(codes.PermissionDenied, "not this selector"))
	r.wait() <- time.Time{} // the same failure: nothing new
	f.send(t, doc(0))
	if u := r.update(); u.Err != nil || string(u.Data) != doc(0) {
		t.Fatalf("update %+v, want doc 0", u)
	}
	r.stop()
}

func TestSyncContext(t *testing.T) {
	noLeaks(t)
	f := newFakeSync(t, "127.0.0.1:0", nil, doc(0))
	r := start(t, mustNew(t, grpcsource.Config{Target: f.addr}))
	if u := r.update(); u.SyncContext != nil {
		t.Fatalf("update %+v, want no sync context", u)
	}
	// The same document with a new sync context is delivered, with it.
	sc, err := structpb.NewStruct(map[string]any{"env": "prod", "n": 1})
	if err != nil {
		t.Fatal(err)
	}
	f.sendWithContext(t, doc(0), sc)
	f.sendWithContext(t, doc(0), sc) // the same again: not delivered
	f.send(t, doc(1))
	if u := r.update(); string(u.Data) != doc(0) || u.SyncContext["env"] != "prod" || u.SyncContext["n"] != 1.0 {
		t.Fatalf("update %+v, want doc 0 with the sync context", u)
	}
	if u := r.update(); string(u.Data) != doc(1) || u.SyncContext != nil {
		t.Fatalf("update %+v, want doc 1 without a sync context", u)
	}
}

func TestStreamDeadline(t *testing.T) {
	noLeaks(t)
	f := newFakeSync(t, "127.0.0.1:0", nil, doc(0))
	r := start(t, mustNew(t, grpcsource.Config{Target: f.addr, StreamDeadline: 300 * time.Millisecond}))
	r.update()
	f.mu.Lock()
	f.first = []string{doc(1)}
	f.mu.Unlock()
	// At the deadline the stream is reopened at once (update fails on a
	// reconnection wait), without an outage.
	if u := r.update(); u.Err != nil || string(u.Data) != doc(1) {
		t.Fatalf("update %+v, want doc 1 from the next stream", u)
	}
}

func TestAuthority(t *testing.T) {
	noLeaks(t)
	f := newFakeSync(t, "127.0.0.1:0", nil, doc(0))
	r := start(t, mustNew(t, grpcsource.Config{Target: f.addr, Authority: "flags.internal"}))
	r.update()
	r.stop()
	if got := f.recorded()[0].md.Get(":authority"); len(got) != 1 || got[0] != "flags.internal" {
		t.Errorf(":authority %q", got)
	}
}

func TestMaxMsgSize(t *testing.T) {
	noLeaks(t)
	big := `{"flags":{},"pad":"` + strings.Repeat("x", 2000) + `"}`
	f := newFakeSync(t, "127.0.0.1:0", nil, big)
	r := start(t, mustNew(t, grpcsource.Config{Target: f.addr, MaxMsgSize: 1000}))
	if u := r.update(); status.Code(u.Err) != codes.ResourceExhausted {
		t.Fatalf("update %+v, want a ResourceExhausted outage", u)
	}
	r.stop()
	r = start(t, mustNew(t, grpcsource.Config{Target: f.addr, MaxMsgSize: 4000}))
	if u := r.update(); u.Err != nil || string(u.Data) != big {
		t.Fatalf("update %+v", u)
	}
}

// testCA makes a CA and a server certificate for 127.0.0.1 signed by it,
// and writes the CA's certificate to a PEM file.
func testCA(t *testing.T) (caFile string, serverCert tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "grpcsource test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestTLS(t *testing.T) {
	noLeaks(t)
	caFile, cert := testCA(t)
	f := newFakeSync(t, "127.0.0.1:0", credentials.NewServerTLSFromCert(&cert), doc(5))

	cfg, err := grpcsource.FromURI("grpcs://" + f.addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg.CAFile = caFile
	r := start(t, mustNew(t, cfg))
	if u := r.update(); u.Err != nil || string(u.Data) != doc(5) {
		t.Fatalf("with the CA: %+v", u)
	}
	r.stop()

	// Without the CA the server is not trusted.
	r = start(t, mustNew(t, grpcsource.Config{Target: f.addr, TLS: true}))
	if u := r.update(); u.Err == nil {
		t.Fatalf("without the CA: %+v, want an outage", u)
	}
	r.stop()

	// In clear against a TLS server: an outage too.
	r = start(t, mustNew(t, grpcsource.Config{Target: f.addr}))
	if u := r.update(); u.Err == nil {
		t.Fatalf("in clear: %+v, want an outage", u)
	}
}

func TestFromURI(t *testing.T) {
	for _, tt := range []struct {
		uri    string
		target string
		tls    bool
	}{
		{"grpc://localhost:8015", "localhost:8015", false},
		{"grpcs://flags.example.com:443", "flags.example.com:443", true},
		{"GRPC://127.0.0.1:9090/", "127.0.0.1:9090", false},
		{"grpc://[::1]:8015", "[::1]:8015", false},
		{"grpc://localhost", "", false},
		{"grpc://:8015", "", false},
		{"grpc://host:8015/path", "", false},
		{"grpc://host:8015?x=1", "", false},
		{"grpc://u@host:8015", "", false},
		{"http://host:8015", "", false},
		{"grpc:host:8015", "", false},
		{"", "", false},
	} {
		cfg, err := grpcsource.FromURI(tt.uri)
		if tt.target == "" {
			if err == nil {
				t.Errorf("FromURI(%q) accepted: %+v", tt.uri, cfg)
			}
			continue
		}
		// flagd names a gRPC source by its URI without the scheme.
		if _, name, _ := strings.Cut(tt.uri, "://"); err != nil || cfg.Target != tt.target || cfg.TLS != tt.tls || cfg.Name != name {
			t.Errorf("FromURI(%q) = %+v, %v", tt.uri, cfg, err)
		}
	}
}

func TestFromURIResolvers(t *testing.T) {
	for _, tt := range []struct {
		uri       string
		target    string
		authority string
	}{
		{"envoy://localhost:9211/test.service", "localhost:9211", "test.service"},
		{"envoy://[::1]:9211/flags", "[::1]:9211", "flags"},
		{"dns:///flags.internal:8015", "dns:///flags.internal:8015", ""},
		{"envoy://localhost:9211", "", ""},
		{"envoy://localhost:9211/", "", ""},
		{"envoy://localhost/test.service", "", ""},
		{"envoy://localhost:9211/a/b", "", ""},
		{"envoy://localhost:9211/svc?x=1", "", ""},
		{"xds:///flags", "", ""},
	} {
		cfg, err := grpcsource.FromURI(tt.uri)
		if tt.target == "" {
			if err == nil {
				t.Errorf("FromURI(%q) accepted: %+v", tt.uri, cfg)
			}
			continue
		}
		if err != nil || cfg.Target != tt.target || cfg.Authority != tt.authority || cfg.Name != tt.uri || cfg.TLS {
			t.Errorf("FromURI(%q) = %+v, %v", tt.uri, cfg, err)
		}
	}
}

// TestEnvoyTarget connects through an envoy:// URI as flagd's envoy
// resolver does: to the proxy's host:port, naming the service as the
// :authority by which the proxy routes.
func TestEnvoyTarget(t *testing.T) {
	noLeaks(t)
	f := newFakeSync(t, "127.0.0.1:0", nil, doc(0))
	cfg, err := grpcsource.FromURI("envoy://" + f.addr + "/test.service")
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, mustNew(t, cfg))
	if u := r.update(); u.Err != nil || string(u.Data) != doc(0) {
		t.Fatalf("update %+v, want doc 0", u)
	}
	r.stop()
	if got := f.recorded()[0].md.Get(":authority"); len(got) != 1 || got[0] != "test.service" {
		t.Errorf(":authority %q, want test.service", got)
	}
}

func FuzzFromURI(f *testing.F) {
	f.Add("grpc://localhost:8015")
	f.Add("grpcs://[::1]:443/")
	f.Add("grpc://%zz:1")
	f.Fuzz(func(t *testing.T, uri string) {
		cfg, err := grpcsource.FromURI(uri)
		if err != nil {
			return
		}
		if cfg.Target == "" {
			t.Fatalf("FromURI(%q) = %+v", uri, cfg)
		}
		if cfg.Name == uri {
			return // a resolver target (envoy://, dns://), named whole
		}
		if _, name, _ := strings.Cut(uri, "://"); cfg.Name != name {
			t.Fatalf("FromURI(%q) = %+v", uri, cfg)
		}
		if _, _, err := net.SplitHostPort(cfg.Target); err != nil {
			t.Fatalf("FromURI(%q) target %q: %v", uri, cfg.Target, err)
		}
	})
}

func TestNewValidates(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "x.pem")
	if err := os.WriteFile(notPEM, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]grpcsource.Config{
		"no target":          {},
		"negative size":      {Target: "h:1", MaxMsgSize: -1},
		"min above max":      {Target: "h:1", MinBackoff: time.Minute, MaxBackoff: time.Second},
		"negative backoff":   {Target: "h:1", MinBackoff: -1},
		"negative keepalive": {Target: "h:1", KeepaliveTime: -1},
		"CA without TLS":     {Target: "h:1", CAFile: notPEM},
		"missing CA":         {Target: "h:1", TLS: true, CAFile: filepath.Join(dir, "missing")},
		"CA not PEM":         {Target: "h:1", TLS: true, CAFile: notPEM},
		"bad metadata key":   {Target: "h:1", Headers: map[string]string{"a b": "c"}},
		"reserved key":       {Target: "h:1", Headers: map[string]string{"grpc-timeout": "1S"}},
		"bad metadata value": {Target: "h:1", Headers: map[string]string{"a": "b\nc"}},
	} {
		if _, err := grpcsource.New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	src, err := grpcsource.New(grpcsource.Config{Target: "h:1", TLS: true, MinBackoff: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if src.Name() != "grpcs://h:1" {
		t.Errorf("name %q", src.Name())
	}
}
