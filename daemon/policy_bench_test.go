package daemon

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkPolicyCORS measures what the CORS middleware (on by default on
// the evaluation and OFREP ports, as in flagd) adds to a request without
// an Origin, the common case (server-side providers), and with one.
func BenchmarkPolicyCORS(b *testing.B) {
	// As the evaluation answers: headers set, then the status.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd["Content-Type"] = []string{"application/json"}
		hd["Accept-Encoding"] = []string{"gzip"}
		w.WriteHeader(http.StatusOK)
	})
	for _, bc := range []struct {
		name   string
		cors   bool
		origin string
	}{{"off", false, ""}, {"on", true, ""}, {"on-origin", true, "http://a.example"}} {
		b.Run(bc.name, func(b *testing.B) {
			p := policy{cors: bc.cors}
			hh := p.handler(h)
			req := httptest.NewRequest(http.MethodPost, "/flagd.evaluation.v1.Service/ResolveBoolean", nil)
			if bc.origin != "" {
				req.Header.Set("Origin", bc.origin)
			}
			b.ReportAllocs()
			for b.Loop() {
				// As net/http's response, whose header map is made for
				// every request.
				w := &headerWriter{h: make(http.Header, 4)}
				hh.ServeHTTP(w, req)
			}
		})
	}
}

// headerWriter is a ResponseWriter that only keeps headers.
type headerWriter struct {
	h      http.Header
	status int
}

func (w *headerWriter) Header() http.Header         { return w.h }
func (w *headerWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *headerWriter) WriteHeader(status int)      { w.status = status }
