package metrics_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/vexilhq/vexil/daemon/internal/metrics"
	"github.com/vexilhq/vexil/evaluator"
)

// BenchmarkImpression is what a resolve adds: a cached combination.
func BenchmarkImpression(b *testing.B) {
	m := metrics.New()
	m.Impression("my-flag", "on", "TARGETING_MATCH", "")
	b.ReportAllocs()
	for b.Loop() {
		m.Impression("my-flag", "on", "TARGETING_MATCH", "")
	}
}

func BenchmarkImpressionParallel(b *testing.B) {
	m := metrics.New()
	keys := []string{"flag-a", "flag-b", "flag-c", "flag-d"}
	for _, k := range keys {
		m.Impression(k, "on", "STATIC", "")
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			m.Impression(keys[i&3], "on", "STATIC", "")
			i++
		}
	})
}

func BenchmarkImpressionError(b *testing.B) {
	m := metrics.New()
	b.ReportAllocs()
	for b.Loop() {
		m.Impression("no-such-flag", "", "ERROR", "FLAG_NOT_FOUND")
	}
}

func BenchmarkEvaluation(b *testing.B) {
	m := metrics.New()
	r := &evaluator.Result{FlagKey: "my-flag", Variant: "on", Reason: evaluator.ReasonTargetingMatch, Value: true}
	b.ReportAllocs()
	for b.Loop() {
		m.Evaluation(r)
	}
}

func BenchmarkImpressionNil(b *testing.B) {
	var m *metrics.Metrics
	b.ReportAllocs()
	for b.Loop() {
		m.Impression("my-flag", "on", "TARGETING_MATCH", "")
	}
}

// discardWriter is a response writer that costs nothing, so that the
// middleware's own cost shows.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// rewindBody is a request body that can be read again.
type rewindBody struct{ *strings.Reader }

func (rewindBody) Close() error { return nil }

// BenchmarkHTTP compares a handler served directly and through the
// middleware: the difference is the middleware's overhead per request.
func BenchmarkHTTP(b *testing.B) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"value":true,"reason":"STATIC","variant":"on"}`)
	})
	for _, c := range []struct {
		name string
		h    func(*metrics.Metrics) http.Handler
	}{
		{"direct", func(*metrics.Metrics) http.Handler { return handler }},
		{"measured", func(m *metrics.Metrics) http.Handler { return m.HTTP("flagd", handler) }},
	} {
		for _, path := range []string{"/flagd.evaluation.v1.Service/ResolveBoolean", "/ofrep/v1/evaluate/flags/my-flag"} {
			b.Run(c.name+strings.ReplaceAll(path, "/", "_"), func(b *testing.B) {
				h := c.h(metrics.New())
				body := rewindBody{strings.NewReader(`{"context":{"targetingKey":"user-1"}}`)}
				req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1"+path, body)
				if err != nil {
					b.Fatal(err)
				}
				w := &discardWriter{h: http.Header{}}
				b.ReportAllocs()
				for b.Loop() {
					_, _ = body.Seek(0, io.SeekStart)
					req.Body = body
					h.ServeHTTP(w, req)
				}
			})
		}
	}
}
