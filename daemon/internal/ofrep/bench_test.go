package ofrep_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/vexilhq/vexil/daemon/internal/ofrep"
	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/daemon/internal/storetest"
)

// benchServer serves testdata/flags.json alone: 13 flags.
func benchServer(b *testing.B) *server {
	st := storetest.New(b, sourceFlags)
	if n := len(st.Current().Flags(store.Selector{})); n != 13 {
		b.Fatalf("%d flags, want 13", n)
	}
	return startServer(b, ofrep.Config{Resolver: newResolver(st, map[string]any{"region": "eu"}, nil, nil)})
}

// benchPost posts body to path b.N times over one keep-alive connection
// pool, checking the status.
func benchPost(b *testing.B, s *server, path, body string, want int) {
	b.ReportAllocs()
	for b.Loop() {
		resp, err := s.client.Post(s.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

const benchContext = `{"context":{"targetingKey":"user-1","email":"a@example.com","tenant":"acme","plan":"pro"}}`

// BenchmarkSingle evaluates one targeted flag over HTTP.
func BenchmarkSingle(b *testing.B) {
	benchPost(b, benchServer(b), single+"targeted", benchContext, http.StatusOK)
}

// BenchmarkBulk evaluates the 13 flags over HTTP.
func BenchmarkBulk(b *testing.B) {
	benchPost(b, benchServer(b), bulk, benchContext, http.StatusOK)
}

// BenchmarkBulkNotModified is a bulk evaluation answered 304.
func BenchmarkBulkNotModified(b *testing.B) {
	s := benchServer(b)
	etag := s.post(b, bulk, benchContext).header.Get("ETag")
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, s.URL+bulk, strings.NewReader(benchContext))
		req.Header.Set("If-None-Match", etag)
		resp, err := s.client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
