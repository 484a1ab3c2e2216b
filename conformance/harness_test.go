package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vexilhq/vexil/daemon"
	"github.com/vexilhq/vexil/internal/testcerts"
)

// harness plays the part of the testbed's launchpad: it keeps a working
// directory laid out as the launchpad's (rawflags/ holds the testbed's
// flags/, flags/allFlags.json their merge), runs our daemon in-process with
// one of the launchpad's named configs on loopback ports that stay the same
// across restarts, and offers the controls the steps need.
type harness struct {
	t       testing.TB
	testbed string // the testbed's directory
	dir     string // the working directory (the process's, during the run)
	allData []byte // flags/allFlags.json as written at the start

	// Fixed ports: evaluation, management, sync, OFREP; the router (for
	// @targetURI), the forbidden listener, and a port nobody listens on.
	ports                     [4]int
	routerPort, forbiddenPort int
	unavailablePort           int
	cert                      testcerts.Pair
	certPath, keyPath         string
	evalSocket, syncSocket    string
	closers                   []func()

	mu       sync.Mutex
	running  string             // key of the running daemon's config; "" if none
	cancel   context.CancelFunc // stops the running daemon
	done     chan struct{}      // closed when it has stopped
	dirty    bool               // allFlags.json or the daemon differ from a fresh start
	toggled  bool               // changing-flag's default variant is flipped
	restart  *time.Timer        // a pending restart after a cut
	lastSpec daemonSpec
	cbor     bool // the daemon buckets "fractional" with CBOR (fractional v3)
}

// daemonSpec is a named config and how to serve it.
type daemonSpec struct {
	name   string // launchpad config name (default, ssl, metadata, sync-payload)
	socket bool   // serve evaluation and sync on unix sockets
}

func (s daemonSpec) key() string { return fmt.Sprintf("%s/%v", s.name, s.socket) }

// launchpadConfig is the part of a launchpad config file the harness
// honours.
type launchpadConfig struct {
	Sources []struct {
		URI      string `json:"uri"`
		Provider string `json:"provider"`
	} `json:"sources"`
	ContextValue        map[string]any `json:"context-value"`
	DisableSyncMetadata bool           `json:"disable-sync-metadata"`
	ServerCertPath      string         `json:"server-cert-path"`
	ServerKeyPath       string         `json:"server-key-path"`
}

func newHarness(t *testing.T, testbed string) *harness {
	t.Helper()
	h := &harness{t: t, testbed: testbed}
	dir, err := os.MkdirTemp("", "vexil-conformance-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	h.dir = dir
	h.layout(t)
	h.cert = testcerts.New(t, "conformance")
	h.certPath, h.keyPath = h.cert.Write(t, dir)
	h.evalSocket = filepath.Join(dir, "flagd.sock")
	h.syncSocket = filepath.Join(dir, "flagd-sync.sock")
	for i := range h.ports {
		h.ports[i] = freePort(t)
	}
	h.unavailablePort = freePort(t)
	h.startForbidden(t)
	h.startRouter(t)
	t.Cleanup(h.close)
	return h
}

// layout copies the testbed's flags/ to rawflags/ and writes their merge,
// without the selector* files, as flags/allFlags.json.
func (h *harness) layout(t *testing.T) {
	for _, d := range []string{"rawflags", "flags"} {
		if err := os.MkdirAll(filepath.Join(h.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files, err := filepath.Glob(filepath.Join(h.testbed, "flags", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no flag files in the testbed (%v)", err)
	}
	merged := map[string]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(h.dir, "rawflags", filepath.Base(f)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(filepath.Base(f), "selector") {
			continue
		}
		var doc map[string]any
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		deepMerge(merged, doc)
	}
	h.allData, err = json.MarshalIndent(merged, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	h.writeAll(h.allData)
}

// deepMerge merges src into dst: objects recursively, anything else
// replaced.
func deepMerge(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				deepMerge(dm, sm)
				continue
			}
			cp := map[string]any{}
			deepMerge(cp, sm)
			dst[k] = cp
			continue
		}
		dst[k] = v
	}
}

// setT makes t the test that the harness reports its errors to.
func (h *harness) setT(t testing.TB) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.t = t
}

func (h *harness) allFlagsPath() string { return filepath.Join(h.dir, "flags", "allFlags.json") }

// writeAll replaces allFlags.json atomically.
func (h *harness) writeAll(data []byte) {
	if err := writeFile(h.allFlagsPath(), data); err != nil {
		h.t.Errorf("writing allFlags.json: %v", err)
	}
}

// writeFile replaces a file atomically.
func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// currentAll is allFlags.json as it should be now (changing-flag toggled
// or not).
func (h *harness) currentAll() []byte {
	if !h.toggled {
		return h.allData
	}
	var doc map[string]any
	_ = json.Unmarshal(h.allData, &doc)
	flag := doc["flags"].(map[string]any)["changing-flag"].(map[string]any)
	if flag["defaultVariant"] == "foo" {
		flag["defaultVariant"] = "bar"
	} else {
		flag["defaultVariant"] = "foo"
	}
	data, _ := json.MarshalIndent(doc, "", "  ")
	return data
}

// setCBOR selects the daemon's fractional bucketing for the daemons
// started from now on: CBOR (fractional v3) or not (v2). A change makes the
// next start a fresh one.
func (h *harness) setCBOR(on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cbor != on {
		h.cbor = on
		h.dirty = true
	}
}

// toggle flips changing-flag's default variant in allFlags.json.
func (h *harness) toggle() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.toggled = !h.toggled
	h.dirty = true
	h.writeAll(h.currentAll())
}

// loadConfig reads a named launchpad config.
func (h *harness) loadConfig(name string) (launchpadConfig, error) {
	var c launchpadConfig
	data, err := os.ReadFile(filepath.Join(h.testbed, "launchpad", "configs", name+".json"))
	if err != nil {
		return c, fmt.Errorf("launchpad config %q: %w", name, err)
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("launchpad config %q: %w", name, err)
	}
	return c, nil
}

// start makes the daemon run spec, fresh (no daemon for an empty name): it reuses a running daemon only
// when it runs the same spec and nothing changed since it started.
func (h *harness) start(spec daemonSpec) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.restart != nil {
		h.restart.Stop()
		h.restart = nil
	}
	if h.running == spec.key() && !h.dirty {
		return nil
	}
	if spec.name == "" && !h.dirty {
		return nil
	}
	h.stopLocked()
	if h.dirty {
		h.toggled = false
		h.writeAll(h.allData)
		h.dirty = false
	}
	if spec.name == "" {
		return nil // no daemon: only the files start fresh
	}
	return h.startLocked(spec)
}

func (h *harness) startLocked(spec daemonSpec) error {
	lc, err := h.loadConfig(spec.name)
	if err != nil {
		return err
	}
	cfg := daemon.Config{
		Port: h.ports[0], ManagementPort: h.ports[1], SyncPort: h.ports[2], OFREPPort: h.ports[3],
		BindAddress:         "127.0.0.1",
		Logger:              slog.New(slog.NewTextHandler(io.Discard, nil)),
		ShutdownTimeout:     50 * time.Millisecond,
		StaticContext:       lc.ContextValue,
		DisableSyncMetadata: lc.DisableSyncMetadata,
		FractionalCBOR:      h.cbor,
	}
	for _, s := range lc.Sources {
		// The URIs stay as written: relative to the working directory,
		// and the sources' names for selectors.
		cfg.Sources = append(cfg.Sources, daemon.SourceSpec{URI: s.URI, Provider: s.Provider})
	}
	if lc.ServerCertPath != "" {
		cfg.TLSCertPath, cfg.TLSKeyPath = h.certPath, h.keyPath
	}
	if spec.socket {
		cfg.SocketPath, cfg.SyncSocketPath = h.evalSocket, h.syncSocket
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		defer close(done)
		errc <- daemon.Run(ctx, cfg, func(daemon.Addrs) { close(ready) })
	}()
	select {
	case <-ready:
	case err := <-errc:
		cancel()
		return fmt.Errorf("daemon (%s): %w", spec.name, err)
	case <-time.After(10 * time.Second):
		cancel()
		return fmt.Errorf("daemon (%s): not ready after 10s", spec.name)
	}
	h.running, h.cancel, h.done, h.lastSpec = spec.key(), cancel, done, spec
	return nil
}

// stopLocked stops the daemon, if it runs, and waits for it.
func (h *harness) stopLocked() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		h.t.Errorf("daemon did not stop within 10s")
	}
	h.cancel, h.done, h.running = nil, nil, ""
}

// cut loses the connection for d: the daemon stops at once and
// allFlags.json goes away; after d both come back. It returns at once.
func (h *harness) cut(d time.Duration, daemonToo bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	spec := h.lastSpec
	wasRunning := h.cancel != nil
	if daemonToo {
		h.stopLocked()
	}
	h.dirty = true
	if err := os.Remove(h.allFlagsPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		h.t.Errorf("removing allFlags.json: %v", err)
	}
	if h.restart != nil {
		h.restart.Stop()
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.restart != t {
			return // superseded by a new start
		}
		h.restart = nil
		// This runs outside the test's goroutine, perhaps after its
		// scenario ended: errors go to stderr, and the scenario waiting
		// for the reconnection fails by itself.
		if err := writeFile(h.allFlagsPath(), h.currentAll()); err != nil {
			fmt.Fprintf(os.Stderr, "conformance harness: restoring allFlags.json: %v\n", err)
		}
		if daemonToo && wasRunning {
			if err := h.startLocked(spec); err != nil {
				fmt.Fprintf(os.Stderr, "conformance harness: restarting the daemon: %v\n", err)
			}
		}
	})
	h.restart = t
}

func (h *harness) close() {
	h.mu.Lock()
	if h.restart != nil {
		h.restart.Stop()
		h.restart = nil
	}
	h.stopLocked()
	h.mu.Unlock()
	for _, c := range h.closers {
		c()
	}
}

// startForbidden serves a listener that answers every request 403, over
// HTTP/1.1 and h2c.
func (h *harness) startForbidden(t *testing.T) {
	h.forbiddenPort = h.serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "forbidden", http.StatusForbidden)
	}))
}

// startRouter serves the router that @targetURI scenarios connect to: it
// forwards requests whose authority is rpc.service to the evaluation port
// and sync.service to the sync port, as the testbed's envoy does.
func (h *harness) startRouter(t *testing.T) {
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protos, ForceAttemptHTTP2: true}
	h.closers = append(h.closers, tr.CloseIdleConnections)
	proxy := func(port int) *httputil.ReverseProxy {
		target := &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port)}
		return &httputil.ReverseProxy{
			Rewrite: func(r *httputil.ProxyRequest) {
				r.SetURL(target)
				r.Out.Host = target.Host
			},
			Transport:     tr,
			FlushInterval: -1,
		}
	}
	rpc, syncp := proxy(h.ports[0]), proxy(h.ports[2])
	h.routerPort = h.serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		switch host {
		case "rpc.service":
			rpc.ServeHTTP(w, r)
		case "sync.service":
			syncp.ServeHTTP(w, r)
		default:
			http.Error(w, "no route for "+r.Host, http.StatusNotFound)
		}
	}))
}

// serve serves handler on a free loopback port over HTTP/1.1 and h2c.
func (h *harness) serve(t *testing.T, handler http.Handler) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: handler, Protocols: &protos, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	h.closers = append(h.closers, func() { _ = srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
