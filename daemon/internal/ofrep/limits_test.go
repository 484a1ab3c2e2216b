package ofrep_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/vexilhq/vexil/daemon/internal/ofrep"
	"github.com/vexilhq/vexil/daemon/internal/wire"
)

// TestContextDepth: a context over the depth cap is 400 INVALID_CONTEXT,
// for a single flag and in bulk; one at the cap is evaluated.
func TestContextDepth(t *testing.T) {
	srv := startServer(t, ofrep.Config{})
	nested := func(depth int) string {
		// Arrays count as levels too.
		return strings.Repeat(`{"a":[`, (depth-1)/2) + strings.Repeat(`{"b":`, (depth-1)%2) + `{"user":"x"}` +
			strings.Repeat(`}`, (depth-1)%2) + strings.Repeat(`]}`, (depth-1)/2)
	}
	for _, path := range []string{"/ofrep/v1/evaluate/flags/bool-flag", "/ofrep/v1/evaluate/flags"} {
		if r := srv.post(t, path, `{"context":`+nested(wire.MaxContextDepth)+`}`); r.status != http.StatusOK {
			t.Errorf("%s at the cap: %d %s", path, r.status, r.body)
		}
		r := srv.post(t, path, `{"context":`+nested(wire.MaxContextDepth+1)+`}`)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), `"errorCode":"INVALID_CONTEXT"`) || !strings.Contains(string(r.body), "nests deeper") {
			t.Errorf("%s over the cap: %d %s", path, r.status, r.body)
		}
	}
}

// TestBodyTimeout: a body whose reading fails with os.ErrDeadlineExceeded
// (one the daemon's body timeout ended) is 408, for a single flag and in
// bulk.
func TestBodyTimeout(t *testing.T) {
	h := ofrep.New(ofrep.Config{Resolver: newResolver(newStore(t), nil, nil, nil)}).Handler()
	for _, path := range []string{single + "targeted", bulk} {
		body := io.MultiReader(strings.NewReader(`{"context":`), iotest.ErrReader(os.ErrDeadlineExceeded))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, path, body))
		if w.Code != http.StatusRequestTimeout || w.Body.String() != `{"errorDetails":"request body not received in time"}` {
			t.Errorf("%s: %d %s, want 408", path, w.Code, w.Body)
		}
	}
}
