package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"go.uber.org/goleak"

	"github.com/vexilhq/vexil/daemon"
	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1/evaluationv1connect"
	syncv1 "github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1/syncv1connect"
)

func TestMain(m *testing.M) {
	code := m.Run()
	cluster.Close()
	if code == 0 {
		// client-go's klog starts a flush daemon that never ends.
		if err := goleak.Find(goleak.IgnoreAnyFunction("k8s.io/klog/v2.(*flushDaemon).run.func1")); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// timeout bounds every wait of these tests.
const timeout = 10 * time.Second

func flagsDoc(value bool) string {
	def := "off"
	if value {
		def = "on"
	}
	return `{"flags":{"my-flag":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"` + def + `"}}}`
}

// writeAtomic replaces path's content by a rename, as editors do.
func writeAtomic(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// daemonUnderTest is a running daemon.
type daemonUnderTest struct {
	addrs  daemon.Addrs
	cancel context.CancelFunc
	done   chan error
	client *http.Client
	logs   *syncBuffer
}

// startDaemon runs the daemon on free ports of 127.0.0.1 and waits until it
// listens. It stops the daemon when the test ends.
func startDaemon(t testing.TB, cfg daemon.Config) *daemonUnderTest {
	t.Helper()
	cfg.BindAddress = "127.0.0.1"
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemonUnderTest{
		cancel: cancel,
		done:   make(chan error, 1),
		client: &http.Client{Transport: &http.Transport{}, Timeout: timeout},
		logs:   logs,
	}
	ready := make(chan daemon.Addrs, 1)
	go func() { d.done <- daemon.Run(ctx, cfg, func(a daemon.Addrs) { ready <- a }) }()
	select {
	case d.addrs = <-ready:
	case err := <-d.done:
		cancel()
		t.Fatalf("Run returned before listening: %v", err)
	case <-time.After(timeout):
		cancel()
		t.Fatal("the daemon did not listen in time")
	}
	t.Cleanup(func() { d.stop(t) })
	return d
}

// stop ends the daemon and checks that Run returns nil.
func (d *daemonUnderTest) stop(t testing.TB) {
	t.Helper()
	if d.cancel == nil {
		return
	}
	d.cancel()
	d.cancel = nil
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
	case <-time.After(timeout):
		t.Error("Run did not return after the context ended")
	}
	d.client.CloseIdleConnections()
}

type boolAnswer struct {
	Value   bool   `json:"value"`
	Variant string `json:"variant"`
	Reason  string `json:"reason"`
}

// resolveBoolean calls ResolveBoolean over Connect's JSON protocol.
func (d *daemonUnderTest) resolveBoolean(t testing.TB, key, ctxJSON string) boolAnswer {
	t.Helper()
	body := `{"flagKey":"` + key + `","context":` + ctxJSON + `}`
	resp, err := d.client.Post("http://"+d.addrs.Evaluation+"/flagd.evaluation.v1.Service/ResolveBoolean",
		"application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ResolveBoolean %s: %s %s", key, resp.Status, data)
	}
	var a boolAnswer
	if err := json.Unmarshal(data, &a); err != nil {
		t.Fatalf("ResolveBoolean answer %s: %v", data, err)
	}
	return a
}

type readyzSource struct {
	Name      string `json:"name"`
	State     string `json:"state"`
	Flags     int    `json:"flags"`
	Rejected  int    `json:"rejected"`
	LastError string `json:"lastError"`
}

type readyz struct {
	Ready   bool           `json:"ready"`
	Sources []readyzSource `json:"sources"`
}

func (d *daemonUnderTest) readyz(t testing.TB) (int, readyz) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+d.addrs.Management+"/readyz", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json") // the source report; flagd's answer has no body
	resp, err := d.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r readyz
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("/readyz body: %v", err)
	}
	return resp.StatusCode, r
}

// waitReadyz polls /readyz until cond holds, failing after timeout.
func (d *daemonUnderTest) waitReadyz(t testing.TB, what string, cond func(int, readyz) bool) readyz {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		code, r := d.readyz(t)
		if cond(code, r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %s not seen in %v; last: %d %+v", what, timeout, code, r)
		}
		<-tick.C
	}
}

func TestFileSource(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "flags.json")
	writeAtomic(t, path, flagsDoc(true))
	uri := "file:" + path
	d := startDaemon(t, daemon.Config{Sources: []daemon.SourceSpec{{URI: uri}}})

	// /healthz answers at once: 200 with no body, as flagd does
	// (conformance/oracle/testdata/008-http/golden.jsonl: GET /healthz).
	resp, err := d.client.Get("http://" + d.addrs.Management + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(body) != 0 {
		t.Fatalf("/healthz: %d %q", resp.StatusCode, body)
	}

	r := d.waitReadyz(t, "ready", func(code int, r readyz) bool { return code == http.StatusOK })
	// flagd names a file source by its path, without the scheme.
	if !r.Ready || len(r.Sources) != 1 || r.Sources[0].Name != path || r.Sources[0].State != "loaded" || r.Sources[0].Flags != 1 {
		t.Fatalf("/readyz: %+v", r)
	}
	if a := d.resolveBoolean(t, "my-flag", "{}"); !a.Value || a.Variant != "on" {
		t.Fatalf("ResolveBoolean: %+v, want true/on", a)
	}

	// Subscribe to changes, then edit the file.
	streamCtx, stopStream := context.WithCancel(context.Background())
	defer stopStream()
	client := evaluationv1connect.NewServiceClient(d.client, "http://"+d.addrs.Evaluation)
	stream, err := client.EventStream(streamCtx, connect.NewRequest(&evaluationv1.EventStreamRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	events := make(chan string, 16)
	go func() {
		defer close(events)
		for stream.Receive() {
			events <- stream.Msg().GetType()
		}
	}()
	waitEvent := func(want string) {
		t.Helper()
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		for {
			select {
			case typ, ok := <-events:
				if !ok {
					t.Fatalf("stream ended before %s: %v", want, stream.Err())
				}
				if typ == want {
					return
				}
			case <-timer.C:
				t.Fatalf("no %s event in %v", want, timeout)
			}
		}
	}
	waitEvent("provider_ready")

	writeAtomic(t, path, flagsDoc(false))
	waitEvent("configuration_change")
	if a := d.resolveBoolean(t, "my-flag", "{}"); a.Value || a.Variant != "off" {
		t.Fatalf("ResolveBoolean after the edit: %+v, want false/off", a)
	}

	// An invalid document: the last good flags keep serving.
	writeAtomic(t, path, `{"flags":{"my-flag":{"state":"ENABLED","variants":{"on":true},"defaultVariant":"missing"}}`)
	r = d.waitReadyz(t, "the rejection", func(_ int, r readyz) bool {
		return len(r.Sources) == 1 && r.Sources[0].Rejected > 0
	})
	if s := r.Sources[0]; s.State != "rejected" || s.LastError == "" || !r.Ready {
		t.Fatalf("/readyz after an invalid document: %+v", r)
	}
	if a := d.resolveBoolean(t, "my-flag", "{}"); a.Value || a.Variant != "off" {
		t.Fatalf("ResolveBoolean after an invalid document: %+v, want false/off", a)
	}
	if !strings.Contains(d.logs.String(), "rejected") {
		t.Errorf("the rejection was not logged:\n%s", d.logs.String())
	}

	// Shutdown: the stream is told, and Run returns nil.
	d.cancel()
	waitEvent("provider_shutdown")
	d.stop(t)
}

func TestNotReadyUntilDelivered(t *testing.T) {
	// A file that does not exist is an outage: not ready, 412.
	path := filepath.Join(t.TempDir(), "missing.json")
	uri := "file:" + path
	d := startDaemon(t, daemon.Config{Sources: []daemon.SourceSpec{{URI: uri}}})
	r := d.waitReadyz(t, "the outage", func(code int, r readyz) bool {
		return code == http.StatusPreconditionFailed && len(r.Sources) == 1 && r.Sources[0].State == "outage"
	})
	if r.Ready || r.Sources[0].Name != path || r.Sources[0].LastError == "" {
		t.Fatalf("/readyz: %+v", r)
	}
	writeAtomic(t, path, flagsDoc(true))
	d.waitReadyz(t, "ready", func(code int, _ readyz) bool { return code == http.StatusOK })
	if a := d.resolveBoolean(t, "my-flag", "{}"); !a.Value {
		t.Fatalf("ResolveBoolean: %+v", a)
	}
}

func TestEmbeddedExample(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	r := d.waitReadyz(t, "ready", func(code int, _ readyz) bool { return code == http.StatusOK })
	if len(r.Sources) != 1 || r.Sources[0].Name != daemon.EmbeddedSourceName {
		t.Fatalf("/readyz: %+v", r)
	}
	if a := d.resolveBoolean(t, "new-checkout", `{"email":"ana@vexil.example"}`); !a.Value || a.Variant != "on" {
		t.Fatalf("new-checkout for an employee: %+v", a)
	}
	if a := d.resolveBoolean(t, "new-checkout", `{"email":"bob@elsewhere.org"}`); a.Value || a.Variant != "off" {
		t.Fatalf("new-checkout for someone else: %+v", a)
	}
}

func TestHTTP2Cleartext(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	d.waitReadyz(t, "ready", func(code int, _ readyz) bool { return code == http.StatusOK })
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	h2 := &http.Client{Transport: &http.Transport{Protocols: &protocols}, Timeout: timeout}
	defer h2.CloseIdleConnections()
	resp, err := h2.Post("http://"+d.addrs.Evaluation+"/flagd.evaluation.v1.Service/ResolveBoolean",
		"application/json", strings.NewReader(`{"flagKey":"new-checkout"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Fatalf("h2c ResolveBoolean: %s over %s", resp.Status, resp.Proto)
	}
}

func TestUnknownScheme(t *testing.T) {
	for _, spec := range []daemon.SourceSpec{
		{URI: "gopher://bucket/flags.json"},
		{URI: "flags.json"},
		{URI: "/etc/flags.json", Provider: "ftp"},
	} {
		called := false
		err := daemon.Run(context.Background(), daemon.Config{
			Sources:     []daemon.SourceSpec{spec},
			BindAddress: "127.0.0.1",
			Logger:      slog.New(slog.DiscardHandler),
		}, func(daemon.Addrs) { called = true })
		var bad *daemon.SourceError
		if err == nil || !strings.Contains(err.Error(), "supported: ") || !strings.Contains(err.Error(), "supported: azblob, dns, envoy, file, fileinfo, fsnotify, gcs, grpc") {
			t.Errorf("%+v: Run returned %v, want an error listing the supported schemes", spec, err)
		} else if !errors.As(err, &bad) || bad.URI != spec.URI {
			t.Errorf("%+v: Run returned %#v, want a *daemon.SourceError", spec, err)
		}
		if called {
			t.Errorf("%+v: ready was called", spec)
		}
	}
	// A known provider with a URI it cannot take fails at start too.
	err := daemon.Run(context.Background(), daemon.Config{
		Sources:     []daemon.SourceSpec{{URI: "/etc/flags.json", Provider: "kubernetes"}},
		BindAddress: "127.0.0.1",
		Logger:      slog.New(slog.DiscardHandler),
	}, nil)
	var bad *daemon.SourceError
	if err == nil || !strings.Contains(err.Error(), "core.openfeature.dev/NAMESPACE/NAME") || !errors.As(err, &bad) {
		t.Errorf("a kubernetes source with a path: %v", err)
	}
}

func TestPortInUse(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	_, port, _ := strings.Cut(d.addrs.Evaluation, ":")
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	err = daemon.Run(context.Background(), daemon.Config{
		Port: p, BindAddress: "127.0.0.1", Logger: slog.New(slog.DiscardHandler),
	}, nil)
	if err == nil || !strings.Contains(err.Error(), "evaluation port") {
		t.Fatalf("Run on a port in use: %v", err)
	}
}

func TestProviderWithPlainPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	writeAtomic(t, path, flagsDoc(true))
	d := startDaemon(t, daemon.Config{Sources: []daemon.SourceSpec{{URI: path, Provider: "file"}}})
	r := d.waitReadyz(t, "ready", func(code int, _ readyz) bool { return code == http.StatusOK })
	if r.Sources[0].Name != path {
		t.Fatalf("/readyz: %+v", r)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestShutdownLeavesNoGoroutines(t *testing.T) {
	// Only goroutines this test starts count; others' may still be ending.
	before := goleak.IgnoreCurrent()
	path := filepath.Join(t.TempDir(), "flags.json")
	writeAtomic(t, path, flagsDoc(true))
	// The second source goes out (its file removed) before the shutdown:
	// a source in an outage must not hold the shutdown up either.
	second := path + ".second.json"
	writeAtomic(t, second, flagsDoc(false))
	d := startDaemon(t, daemon.Config{Sources: []daemon.SourceSpec{{URI: "file:" + path}, {URI: "file:" + second}}})
	d.waitReadyz(t, "ready", func(code int, _ readyz) bool { return code == http.StatusOK })
	if err := os.Remove(second); err != nil {
		t.Fatal(err)
	}
	d.waitReadyz(t, "the outage", func(_ int, r readyz) bool { return len(r.Sources) == 2 && r.Sources[1].State == "outage" })
	d.resolveBoolean(t, "my-flag", "{}")

	// An open event stream must not hold the shutdown up.
	client := evaluationv1connect.NewServiceClient(d.client, "http://"+d.addrs.Evaluation)
	stream, err := client.EventStream(context.Background(), connect.NewRequest(&evaluationv1.EventStreamRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for stream.Receive() {
		typ := stream.Msg().GetType()
		types = append(types, typ)
		if typ == "provider_ready" {
			d.cancel() // Run's context ends; stop below waits for Run
		}
	}
	stream.Close()
	if len(types) == 0 || types[len(types)-1] != "provider_shutdown" {
		t.Errorf("events: %v, want the last to be provider_shutdown", types)
	}
	d.stop(t) // Run returned nil
	d.client.CloseIdleConnections()
	goleak.VerifyNone(t, before)
}

// TestSyncAndOFREPPorts: the sync service and OFREP answer on their own
// ports from the same store.
func TestSyncAndOFREPPorts(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	d.waitReadyz(t, "ready", func(code int, _ readyz) bool { return code == http.StatusOK })

	// OFREP, single flag.
	req, _ := http.NewRequest(http.MethodPost, "http://"+d.addrs.OFREP+"/ofrep/v1/evaluate/flags/new-checkout",
		strings.NewReader(`{"context":{"email":"ana@vexil.example"}}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ofrepAnswer struct {
		Key     string `json:"key"`
		Value   bool   `json:"value"`
		Variant string `json:"variant"`
	}
	err = json.NewDecoder(resp.Body).Decode(&ofrepAnswer)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !ofrepAnswer.Value || ofrepAnswer.Variant != "on" {
		t.Fatalf("OFREP: status %d, %+v, %v", resp.StatusCode, ofrepAnswer, err)
	}

	// flagd.sync.v1 FetchAllFlags, over the Connect protocol.
	client := syncv1connect.NewFlagSyncServiceClient(h2cClient(t), "http://"+d.addrs.Sync, connect.WithGRPC())
	all, err := client.FetchAllFlags(context.Background(), connect.NewRequest(&syncv1.FetchAllFlagsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	var payload struct {
		Flags map[string]json.RawMessage `json:"flags"`
	}
	if err := json.Unmarshal([]byte(all.Msg.GetFlagConfiguration()), &payload); err != nil {
		t.Fatal(err)
	}
	if _, ok := payload.Flags["new-checkout"]; !ok || len(payload.Flags) != 6 {
		t.Fatalf("sync payload has %d flags: %s", len(payload.Flags), all.Msg.GetFlagConfiguration())
	}
}

// TestOFREPPathCleaning: the OFREP port cleans the decoded request path as
// flagd's router does, redirecting with 301 for any method (a ServeMux in
// front answered 307 for "./" and 404 for an encoded "%2E/").
func TestOFREPPathCleaning(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	d.waitReadyz(t, "ready", func(code int, _ readyz) bool { return code == http.StatusOK })
	client := &http.Client{
		Transport:     d.client.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for _, p := range []string{"/ofrep/v1/evaluate/flags/./new-checkout", "/ofrep/v1/evaluate/flags/%2E/new-checkout", "/ofrep/v1/evaluate/flags//new-checkout"} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+d.addrs.OFREP+p, strings.NewReader(`{}`))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusMovedPermanently || loc != "/ofrep/v1/evaluate/flags/new-checkout" {
			t.Errorf("%s: status %d, Location %q, want 301 to /ofrep/v1/evaluate/flags/new-checkout", p, resp.StatusCode, loc)
		}
	}
}
