package evalsvc_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/vexilhq/vexil/daemon/internal/evalsvc"
	"github.com/vexilhq/vexil/daemon/internal/metrics"
	"github.com/vexilhq/vexil/daemon/internal/resolve"
	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/daemon/internal/storetest"
	"github.com/vexilhq/vexil/daemon/internal/wire"
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

// newResolver is a resolver over st as the daemon builds one: m, when not
// nil, is its first observer.
func newResolver(st *store.Store, static map[string]any, headers map[string]string, m *metrics.Metrics) *resolve.Resolver {
	var observers []resolve.Observer
	if m != nil {
		observers = append(observers, m)
	}
	return resolve.New(resolve.Config{Store: st, StaticContext: static, ContextFromHeaders: headers, Observers: observers})
}

// server is a Service on a real loopback server that speaks HTTP/1.1 and
// unencrypted HTTP/2 (h2c).
type server struct {
	URL string
	Svc *evalsvc.Service

	mu   sync.Mutex
	seen []seenRequest
}

// seenRequest is what the server saw of one request: its HTTP version
// and content type, to check that each client used its protocol.
type seenRequest struct {
	path        string
	protoMajor  int
	contentType string
}

// startServer starts a service over cfg (with a resolver over the test
// store when cfg.Resolver is nil). Cleanup shuts the service down, then
// the server.
func startServer(t testing.TB, cfg evalsvc.Config) *server {
	t.Helper()
	if cfg.Resolver == nil {
		cfg.Resolver = newResolver(newStore(t), nil, nil, nil)
	}
	s := &server{Svc: evalsvc.New(cfg)}
	h := s.Svc.Handler()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = append(s.seen, seenRequest{r.URL.Path, r.ProtoMajor, r.Header.Get("Content-Type")})
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	s.URL = srv.URL
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Fatalf("server at %s, not on 127.0.0.1", s.URL)
	}
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

// requests returns what the server saw of the requests to paths with the
// given prefix.
func (s *server) requests(prefix string) []seenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []seenRequest
	for _, r := range s.seen {
		if strings.HasPrefix(r.path, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// protocol is a way for a connect-go client to reach the server.
type protocol struct {
	name   string
	client *http.Client
	opts   []connect.ClientOption
	// What the server sees of its requests.
	protoMajor  int
	contentType string
}

// http1Client speaks HTTP/1.1 only; h2cClient speaks HTTP/2 without TLS
// only.
func http1Client(t testing.TB) *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetHTTP1(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func h2cClient(t testing.TB) *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// protocols are the three protocols flagd's providers use, and the
// Connect protocol's binary form.
func protocols(t testing.TB) []protocol {
	return []protocol{
		{"connect-json-http1", http1Client(t), []connect.ClientOption{connect.WithProtoJSON()}, 1, "application/json"},
		{"grpc-h2c", h2cClient(t), []connect.ClientOption{connect.WithGRPC()}, 2, "application/grpc"},
		{"grpc-web-http1", http1Client(t), []connect.ClientOption{connect.WithGRPCWeb()}, 1, "application/grpc-web+proto"},
		{"connect-proto-h2c", h2cClient(t), nil, 2, "application/proto"},
	}
}

// jsonOf renders a message as flagd's JSON codec does.
func jsonOf(t testing.TB, m proto.Message) string {
	t.Helper()
	out, err := wire.MarshalJSON(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// testContext is a context for one test's calls and streams: every wait
// ends when it does, so a missing event fails the test rather than hangs.
func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
