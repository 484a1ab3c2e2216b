package daemon_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
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
