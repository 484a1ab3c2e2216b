package syncsvc_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/daemon/internal/storetest"
	"github.com/vexilhq/vexil/daemon/internal/syncsvc"
)

// TestMain checks that no test leaves a goroutine behind: every stream,
// server and client connection has ended.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newStore returns a store loaded with testdata/a.json and testdata/b.json.
func newStore(t testing.TB) *store.Store { return storetest.New(t, sourceA, sourceB) }

// The sources of the test store, lowest priority first.
const (
	sourceA = "a.json" // flag set "set-a"
	sourceB = "b.json" // no flag set
)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// server is a Service on a real loopback server that speaks HTTP/1.1 and
// unencrypted HTTP/2 (h2c).
type server struct {
	URL   string
	Addr  string // host:port
	Svc   *syncsvc.Service
	Store *store.Store
}

// startServer starts a service over cfg (with the test store when
// cfg.Store is nil). Cleanup shuts the service down, then the server.
func startServer(t testing.TB, cfg syncsvc.Config) *server {
	t.Helper()
	if cfg.Store == nil {
		cfg.Store = newStore(t)
	}
	s := &server{Svc: syncsvc.New(cfg), Store: cfg.Store}
	srv := httptest.NewUnstartedServer(s.Svc.Handler())
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	s.URL = srv.URL
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Fatalf("server at %s, not on 127.0.0.1", s.URL)
	}
	s.Addr = strings.TrimPrefix(s.URL, "http://")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Svc.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		srv.Close()
	})
	return s
}

// grpcConn is a grpc-go client connection to the server, configured as
// flagd's providers configure theirs: insecure, with keepalive pings even
// without a stream. Time is the smallest grpc-go allows (it raises any
// smaller value to 10s).
func grpcConn(t testing.TB, s *server, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 2 * time.Second, PermitWithoutStream: true}),
	}, opts...)
	conn, err := grpc.NewClient(s.Addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// h2cClient speaks HTTP/2 without TLS only; http1Client HTTP/1.1 only.
func h2cClient(t testing.TB) *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func http1Client(t testing.TB) *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetHTTP1(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// testContext is a context for one test's calls and streams: every wait
// ends when it does, so a missing message fails the test rather than hangs.
func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
