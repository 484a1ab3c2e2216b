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
	"go.uber.org/goleak"

	"github.com/vexilhq/vexil/daemon"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testFlags is the flag document the tests serve.
const testFlags = `{
  "metadata": {"flagSetId": "test", "team": "core"},
  "flags": {
    "bool-flag": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on",
      "metadata": {"owner": "ana"}},
    "string-flag": {"state": "ENABLED", "variants": {"hi": "hello", "bye": "goodbye"}, "defaultVariant": "hi"},
    "int-flag": {"state": "ENABLED", "variants": {"ten": 10, "one": 1}, "defaultVariant": "ten"},
    "float-flag": {"state": "ENABLED", "variants": {"half": 0.5, "one": 1.0}, "defaultVariant": "half"},
    "object-flag": {"state": "ENABLED", "variants": {"tpl": {"title": "pics", "count": 3}}, "defaultVariant": "tpl"},
    "targeted-flag": {"state": "ENABLED", "variants": {"staff": "staff", "public": "public"}, "defaultVariant": "public",
      "targeting": {"if": [{"ends_with": [{"var": "email"}, "@vexil.example"]}, "staff", null]}},
    "context-flag": {"state": "ENABLED", "variants": {"internal": "INTERNAL", "external": "EXTERNAL"}, "defaultVariant": "external",
      "targeting": {"if": [{"==": [{"var": "zone"}, "internal"]}, "internal", null]}},
    "disabled-flag": {"state": "DISABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
    "no-default-flag": {"state": "ENABLED", "variants": {"a": "A"}, "defaultVariant": null},
    "changing-flag": {"state": "ENABLED", "variants": {"foo": "foo", "bar": "bar"}, "defaultVariant": "foo"}
  }
}`

// changedFlagsDoc is testFlags with changing-flag's default variant
// switched.
func changedFlagsDoc(variant string) string {
	return `{"metadata": {"flagSetId": "test", "team": "core"}, "flags": {` +
		`"bool-flag": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on", "metadata": {"owner": "ana"}},` +
		`"changing-flag": {"state": "ENABLED", "variants": {"foo": "foo", "bar": "bar"}, "defaultVariant": "` + variant + `"}}}`
}

// writeFile replaces path's content atomically (a temporary file renamed
// over it).
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// flagFile writes testFlags to a new temporary file.
func flagFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flags.json")
	writeFile(t, path, testFlags)
	return path
}

// testDaemon is a running Vexil daemon.
type testDaemon struct {
	addrs  daemon.Addrs
	cancel context.CancelFunc
	done   chan error
}

// startDaemon runs a daemon on 127.0.0.1 until stopped (or the test ends).
func startDaemon(t *testing.T, cfg daemon.Config) *testDaemon {
	t.Helper()
	cfg.BindAddress = "127.0.0.1"
	cfg.Logger = slog.New(slog.DiscardHandler)
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &testDaemon{cancel: cancel, done: make(chan error, 1)}
	ready := make(chan daemon.Addrs, 1)
	go func() { d.done <- daemon.Run(ctx, cfg, func(a daemon.Addrs) { ready <- a }) }()
	select {
	case d.addrs = <-ready:
	case err := <-d.done:
		cancel()
		t.Fatalf("daemon: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("daemon not ready")
	}
	t.Cleanup(d.stop)
	// The daemon listens before its sources have delivered: wait until
	// /readyz says they have.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + d.addrs.Management + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not ready: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return d
}

// stop stops the daemon and waits for it to end.
func (d *testDaemon) stop() {
	d.cancel()
	if d.done != nil {
		<-d.done
		d.done = nil
	}
}

// fileDaemon runs a daemon serving one flag file.
func fileDaemon(t *testing.T, path string, cfg daemon.Config) *testDaemon {
	t.Helper()
	cfg.Sources = append(cfg.Sources, daemon.SourceSpec{URI: "file:" + path})
	return startDaemon(t, cfg)
}

func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// fast are the options every test provider gets: no environment, short
// times.
func fast() []Option {
	return []Option{
		WithLookupEnv(nil),
		WithDeadline(10 * time.Second),
		WithRetryBackoff(20 * time.Millisecond),
		WithRetryBackoffMax(100 * time.Millisecond),
		WithRetryGracePeriod(300 * time.Millisecond),
	}
}

// newTestProvider makes a provider and initializes it, shutting it down
// at the end of the test.
func newTestProvider(t *testing.T, opts ...Option) *Provider {
	t.Helper()
	p := newUninitialized(t, opts...)
	if err := p.InitWithContext(context.Background(), openfeature.EvaluationContext{}); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return p
}

func newUninitialized(t *testing.T, opts ...Option) *Provider {
	t.Helper()
	p, err := New(append(fast(), opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := p.ShutdownWithContext(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return p
}

// rpcOpts, inProcessOpts connect to a daemon.
func rpcOpts(t *testing.T, d *testDaemon) []Option {
	return []Option{WithResolver(ResolverRPC), WithHost("127.0.0.1"), WithPort(port(t, d.addrs.Evaluation))}
}

func inProcessOpts(t *testing.T, d *testDaemon) []Option {
	return []Option{WithResolver(ResolverInProcess), WithHost("127.0.0.1"), WithPort(port(t, d.addrs.Sync))}
}

// waitEvent reads events until one of type typ, and returns it.
func waitEvent(t *testing.T, p *Provider, typ openfeature.EventType) openfeature.Event {
	t.Helper()
	timeout := time.NewTimer(15 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case e := <-p.EventChannel():
			if e.EventType == typ {
				return e
			}
			t.Logf("event %s (%s) while waiting for %s", e.EventType, e.Message, typ)
		case <-timeout.C:
			t.Fatalf("no %s event", typ)
		}
	}
}

// nextEvent returns the next event.
func nextEvent(t *testing.T, p *Provider) openfeature.Event {
	t.Helper()
	select {
	case e := <-p.EventChannel():
		return e
	case <-time.After(15 * time.Second):
		t.Fatal("no event")
	}
	return openfeature.Event{}
}
