package ofrep_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vexilhq/vexil/daemon/internal/ofrep"
	"github.com/vexilhq/vexil/daemon/internal/storetest"
)

// TestEventStreamRequests: the event stream takes GET only, a valid
// selector, and sends keep-alive comments on an idle stream, then an
// event for a change of the flags it sees.
func TestEventStreamRequests(t *testing.T) {
	st := newStore(t)
	svc := ofrep.New(ofrep.Config{Resolver: newResolver(st, nil, nil, nil), EventStreams: true, KeepAlive: time.Millisecond})
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	url := srv.URL + ofrep.EventStreamPath

	for _, tt := range []struct {
		name     string
		method   string
		selector string
		status   int
	}{
		{"POST", http.MethodPost, "", http.StatusMethodNotAllowed},
		{"bad selector", http.MethodGet, "bogus=x", http.StatusBadRequest},
	} {
		req, _ := http.NewRequest(tt.method, url, nil)
		if tt.selector != "" {
			req.Header.Set("Flagd-Selector", tt.selector)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s: %s, want %d", tt.name, resp.Status, tt.status)
		}
	}

	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Flagd-Selector", "source="+sourceFlags)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	next := func() string {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("the stream ended: %v", lines.Err())
		}
		return lines.Text()
	}
	if line := next(); line != ": keep-alive" {
		t.Fatalf("first line %q, want a keep-alive comment", line)
	}
	storetest.Apply(t, st, sourceFlags, []byte(`{"flags":{}}`))
	for {
		line := next()
		if line == "" || strings.HasPrefix(line, ":") {
			continue
		}
		if line != "event: message" {
			t.Fatalf("line %q, want event: message", line)
		}
		break
	}
	if id, data := next(), next(); id != "id: 1" || data != `data: {"type":"refetchEvaluation"}` {
		t.Fatalf("event lines %q %q", id, data)
	}
	srv.CloseClientConnections()
	if err := svc.Shutdown(t.Context()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}
