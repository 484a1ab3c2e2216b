package daemon_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vexilhq/vexil/daemon"
)

// waitValue polls ResolveBoolean until my-flag answers want: the change
// travels through sources the test does not control the timing of.
func (d *daemonUnderTest) waitValue(t testing.TB, want bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, r := d.readyz(t)
		if code == http.StatusOK {
			if a := d.resolveBoolean(t, "my-flag", "{}"); a.Value == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("my-flag never answered %v; /readyz %d %+v", want, code, r)
		}
		<-time.After(5 * time.Millisecond)
	}
}

// TestTwoDaemons: daemon B syncs from daemon A over gRPC; an edit of A's
// file is served by B.
func TestTwoDaemons(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	writeAtomic(t, path, flagsDoc(true))
	a := startDaemon(t, daemon.Config{Sources: []daemon.SourceSpec{{URI: "file:" + path}}})
	b := startDaemon(t, daemon.Config{Sources: []daemon.SourceSpec{{URI: "grpc://" + a.addrs.Sync}}})
	b.waitValue(t, true)
	writeAtomic(t, path, flagsDoc(false))
	b.waitValue(t, false)

	// flagd's --sources form: provider grpc and a plain host:port.
	c := startDaemon(t, daemon.Config{Sources: []daemon.SourceSpec{{URI: a.addrs.Sync, Provider: "grpc"}}})
	c.waitValue(t, false)

	// flagd's envoy resolver target: the proxy's host:port (here A
	// itself, which ignores the :authority naming the service).
	e := startDaemon(t, daemon.Config{Sources: []daemon.SourceSpec{{URI: "envoy://" + a.addrs.Sync + "/flagd.sync", Provider: "grpc"}}})
	e.waitValue(t, false)
	writeAtomic(t, path, flagsDoc(true))
	e.waitValue(t, true)
	// The same as --uri gives it, with no provider.
	f := startDaemon(t, daemon.Config{Sources: []daemon.SourceSpec{{URI: "envoy://" + a.addrs.Sync + "/flagd.sync"}}})
	f.waitValue(t, true)
}

// TestFileProviders: flagd's file providers, by --uri and by --sources
// provider; each serves the file and then an edit of it (fileinfo by
// polling its modification time).
func TestFileProviders(t *testing.T) {
	for _, tt := range []struct {
		name     string
		provider string
		uri      func(path string) string
	}{
		{"file URI", "", func(p string) string { return "file:" + p }},
		{"file", "file", func(p string) string { return p }},
		{"fsnotify", "fsnotify", func(p string) string { return p }},
		{"fileinfo", "fileinfo", func(p string) string { return p }},
		{"fileinfo file URI", "fileinfo", func(p string) string { return "file:" + p }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "flags.json")
			writeAtomic(t, path, flagsDoc(true))
			d := startDaemon(t, daemon.Config{Sources: []daemon.SourceSpec{{URI: tt.uri(path), Provider: tt.provider}}})
			d.waitValue(t, true)
			writeAtomic(t, path, flagsDoc(false))
			d.waitValue(t, false)
		})
	}
}

// TestHTTPSource: a daemon polls an HTTP source; a change is served after
// the next poll.
func TestHTTPSource(t *testing.T) {
	var doc atomic.Value
	doc.Store(flagsDoc(true))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(doc.Load().(string)))
	}))
	defer srv.Close()
	d := startDaemon(t, daemon.Config{Sources: []daemon.SourceSpec{{URI: srv.URL + "/flags.json", Interval: 20 * time.Millisecond}}})
	d.waitValue(t, true)
	doc.Store(flagsDoc(false))
	d.waitValue(t, false)
	d.stop(t)
	srv.CloseClientConnections()
}

// TestHTTPSourceOutageShowsLatestError: during an HTTP source's outage
// /readyz shows the latest failure (the server refused connections, then
// answered 500), and each failure is logged once however often it repeats.
func TestHTTPSourceOutageShowsLatestError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	uri := "http://" + addr + "/flags.json"
	d := startDaemon(t, daemon.Config{Sources: []daemon.SourceSpec{{URI: uri, Interval: 50 * time.Millisecond}}})
	lastError := func(r readyz) string {
		if len(r.Sources) != 1 || r.Sources[0].State != "outage" {
			return ""
		}
		return r.Sources[0].LastError
	}
	d.waitReadyz(t, "the refused connection", func(_ int, r readyz) bool {
		return strings.Contains(lastError(r), "connection refused")
	})

	// A server comes up on that address, answering 500.
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port taken meanwhile: %v", err)
	}
	var requests atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	r := d.waitReadyz(t, "the 500", func(_ int, r readyz) bool {
		return strings.Contains(lastError(r), "500")
	})
	if r.Ready {
		t.Errorf("/readyz ready during the outage: %+v", r)
	}

	// The 500 repeats: it is logged once. Wait for retries after the
	// first 500, and for the log of the 500.
	const outageLog = "source outage"
	deadline := time.Now().Add(timeout)
	for requests.Load() < 4 || !strings.Contains(d.logs.String(), "500 Internal Server Error") {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests in %v; logs:\n%s", requests.Load(), timeout, d.logs.String())
		}
		<-time.After(5 * time.Millisecond)
	}
	logs := d.logs.String()
	if n := strings.Count(logs, outageLog); n != 2 {
		t.Errorf("%d outages logged, want 2 (refused, then 500):\n%s", n, logs)
	}
	d.stop(t)
	srv.CloseClientConnections()
}
