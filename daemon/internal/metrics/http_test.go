package metrics_test

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vexilhq/vexil/daemon/internal/metrics"
	"github.com/vexilhq/vexil/daemon/internal/metrics/metricstest"

	// Links flagd.evaluation.v1.Service, whose RPC paths are routes.
	_ "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
)

// startServer serves h on 127.0.0.1 with a client that does not keep
// connections alive past the test.
func startServer(t *testing.T, h http.Handler) (string, *http.Client) {
	t.Helper()
	srv := httptest.NewServer(h)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("server at %s, not on 127.0.0.1", srv.URL)
	}
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
	})
	return srv.URL, &http.Client{Transport: tr}
}

func send(t *testing.T, c *http.Client, method, url, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestHTTPStreamFlushes: a handler that flushes through the middleware
// gets each chunk to the client before it goes on, with http.Flusher and
// with http.ResponseController; the stream is measured once it ends.
func TestHTTPStreamFlushes(t *testing.T) {
	for _, how := range []string{"Flusher", "ResponseController"} {
		t.Run(how, func(t *testing.T) {
			m := metrics.New()
			next := make(chan struct{})
			stream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "text/plain")
				for i := range 3 {
					if i > 0 {
						// The client has read the previous line: it was
						// flushed, not buffered until the handler returned.
						select {
						case <-next:
						case <-time.After(10 * time.Second):
							t.Error("the client did not get a flushed line")
							return
						}
					}
					_, _ = io.WriteString(w, "line\n")
					if how == "Flusher" {
						f, ok := w.(http.Flusher)
						if !ok {
							t.Error("the middleware's writer is not an http.Flusher")
							return
						}
						f.Flush()
					} else if err := http.NewResponseController(w).Flush(); err != nil {
						t.Errorf("ResponseController.Flush: %v", err)
						return
					}
				}
			})
			url, c := startServer(t, m.HTTP("flagd", stream))

			resp, err := c.Post(url+"/flagd.evaluation.v1.Service/EventStream", "text/plain", strings.NewReader("hello"))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			for i := range 3 {
				line, err := br.ReadString('\n')
				if err != nil || line != "line\n" {
					t.Fatalf("line %d: %q, %v", i, line, err)
				}
				if i < 2 {
					next <- struct{}{}
				}
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Fatalf("after 3 lines: %v", err)
			}

			// The stream ended (EOF) after the handler returned, so after
			// its recording.
			l := []string{"otel_scope_name", "flagd", "service_name", "flagd",
				"http_route", "/flagd.evaluation.v1.Service/EventStream", "http_request_method", "POST",
				"http_response_status_code", "200", "url_scheme", "http"}
			s := metricstest.Of(t, m)
			if n, ok := s.Value("http_server_request_duration_seconds_count", l...); !ok || n != 1 {
				t.Fatalf("duration count %v (found %v), want 1", n, ok)
			}
			if v, _ := s.Value("http_server_response_body_size_bytes_sum", l...); v != 15 {
				t.Errorf("response size %v, want 15", v)
			}
			if v, _ := s.Value("http_server_request_body_size_bytes_sum", l...); v != 5 {
				t.Errorf("request size %v, want 5", v)
			}
			active := []string{"otel_scope_name", "flagd", "service_name", "flagd",
				"http_route", "/flagd.evaluation.v1.Service/EventStream", "http_request_method", "POST", "url_scheme", "http"}
			if v, ok := s.Value("http_server_active_requests", active...); !ok || v != 0 {
				t.Errorf("active requests %v (found %v), want 0", v, ok)
			}
		})
	}
}

// TestHTTPRoutes: routes are bounded: RPC paths of linked services, the
// OFREP patterns, and "" for anything else; statuses are the answered
// ones.
func TestHTTPRoutes(t *testing.T) {
	m := metrics.New()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/missing"):
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"errorCode":"FLAG_NOT_FOUND"}`)
		case r.URL.Path == "/teapot":
			w.WriteHeader(http.StatusTeapot)
		case r.URL.Path == "/informational":
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusAccepted)
		default:
			_, _ = io.WriteString(w, "ok")
		}
	})
	url, c := startServer(t, m.HTTP("flagd", h))

	for _, p := range []string{
		"/flagd.evaluation.v1.Service/ResolveBoolean",
		"/flagd.evaluation.v1.Service/ResolveBoolean",
		"/flagd.evaluation.v1.Service/NoSuchMethod",
		"/no.such.Service/ResolveBoolean",
		"/random/path/" + strings.Repeat("x", 100),
		"/ofrep/v1/evaluate/flags/my-flag",
		"/ofrep/v1/evaluate/flags/missing",
		"/ofrep/v1/evaluate/flags/a/b",
		"/ofrep/v1/evaluate/flags",
		"/ofrep/v1/evaluate/flags/",
		"/ofrep/v1/evaluate/flagsx",
		"/teapot",
		"/informational",
	} {
		send(t, c, http.MethodPost, url+p, "{}")
	}
	send(t, c, "BREW", url+"/ofrep/v1/evaluate/flags/my-flag", "")

	// Each response ends after the handler returned, so after its
	// recording.
	s := metricstest.Of(t, m)
	const count = "http_server_request_duration_seconds_count"
	got := s.LabelValues(count, "http_route")
	want := []string{"", "/flagd.evaluation.v1.Service/ResolveBoolean", metrics.RouteOFREPSingle, metrics.RouteOFREPBulk}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("routes %q, want %q", got, want)
	}
	for _, c := range []struct {
		route, method, status string
		want                  float64
	}{
		{"/flagd.evaluation.v1.Service/ResolveBoolean", "POST", "200", 2},
		{"", "POST", "200", 5},
		{metrics.RouteOFREPSingle, "POST", "200", 1},
		{metrics.RouteOFREPSingle, "POST", "404", 1},
		{metrics.RouteOFREPSingle, "_OTHER", "200", 1},
		{metrics.RouteOFREPBulk, "POST", "200", 2},
		{"", "POST", "418", 1},
		{"", "POST", "202", 1},
	} {
		l := []string{"otel_scope_name", "flagd", "service_name", "flagd", "http_route", c.route,
			"http_request_method", c.method, "http_response_status_code", c.status, "url_scheme", "http"}
		if v, ok := s.Value(count, l...); !ok || v != c.want {
			t.Errorf("count%v = %v (found %v), want %v", l, v, ok, c.want)
		}
	}
	if got := s.Sum(count); got != 14 {
		t.Errorf("%v requests counted, want 14", got)
	}
}

// TestHTTPMetricsEndpoint: the metrics handler serves the text format
// over a real server.
func TestHTTPMetricsEndpoint(t *testing.T) {
	m := metrics.New()
	url, c := startServer(t, m.Handler())
	resp := send(t, c, http.MethodGet, url+"/metrics", "")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("GET /metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
