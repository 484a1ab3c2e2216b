package ofrep_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/vexilhq/vexil/daemon/internal/metrics"
	"github.com/vexilhq/vexil/daemon/internal/ofrep"
	"github.com/vexilhq/vexil/daemon/internal/resolve"
	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/daemon/internal/storetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestMain checks that no test leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The sources of the test store, lowest priority first.
const (
	sourceFlags    = "flags.json"    // 13 flags, one in flag set "set-a"
	sourceOverride = "override.json" // "bool-flag" in flag set "set-b"
)

// newStore returns a store loaded with testdata/flags.json and
// testdata/override.json.
func newStore(t testing.TB) *store.Store {
	return storetest.New(t, sourceFlags, sourceOverride)
}

// newResolver is a resolver over st as the daemon builds one: m, when not
// nil, is its first observer.
func newResolver(st *store.Store, static map[string]any, headers map[string]string, m *metrics.Metrics) *resolve.Resolver {
	var observers []resolve.Observer
	if m != nil {
		observers = append(observers, m)
	}
	return resolve.New(resolve.Config{Store: st, StaticContext: static, ContextFromHeaders: headers, Observers: observers})
}

// server is the OFREP handler on a real loopback server, with a client.
type server struct {
	URL    string
	client *http.Client
}

// startServer serves a service over cfg (with a resolver over the test
// store when cfg.Resolver is nil) on 127.0.0.1.
func startServer(t testing.TB, cfg ofrep.Config) *server {
	t.Helper()
	if cfg.Resolver == nil {
		cfg.Resolver = newResolver(newStore(t), nil, nil, nil)
	}
	srv := httptest.NewServer(ofrep.New(cfg).Handler())
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("server at %s, not on 127.0.0.1", srv.URL)
	}
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
	})
	return &server{URL: srv.URL, client: &http.Client{Transport: tr}}
}

// response is what a request got.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; headers are name, value pairs.
func (s *server) do(t testing.TB, method, path, body string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return doRequest(t, s.client, req)
}

func (s *server) post(t testing.TB, path, body string, headers ...string) response {
	t.Helper()
	return s.do(t, http.MethodPost, path, body, headers...)
}

// checkGolden compares a body with testdata/golden/name.json, which holds
// it indented (key order and escaping as sent).
func checkGolden(t *testing.T, name string, body []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, body, "", "  "); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, body)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("body differs from %s:\n got: %s\nwant: %s", path, buf.Bytes(), want)
	}
}

// decode decodes a JSON body into a map.
func decode(t testing.TB, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	return m
}
