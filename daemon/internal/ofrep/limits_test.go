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

// TestBodyFailureAfterFirstValue: as flagd's json.Decoder, which stops
// reading at the end of the body's first value, a body whose reading fails
// after a complete first value is that value: flagd answered a context
// followed by more than its body limit with the evaluation (200), a
// number or a syntax error before the limit with 400 INVALID_CONTEXT, and
// a first value the limit cuts with 413 (recorded from flagd, commit
// bbb05d4, with its limit of 1000000; here 64). Each of the first kind
// failed while the body was read whole first (413, or 408/400 for the
// other failures).
func TestBodyFailureAfterFirstValue(t *testing.T) {
	s := startServer(t, ofrep.Config{MaxBodyBytes: 64})
	pad := strings.Repeat("x", 100)
	invalid := `{"key":"targeted","errorCode":"INVALID_CONTEXT","errorDetails":"Provider context is not valid","metadata":null}`
	for _, tc := range []struct {
		body   string
		status int
		want   string
	}{
		{`{"context":{"email":"a@example.com"}}` + pad, 200, `{"value":"admin","key":"targeted","reason":"TARGETING_MATCH","variant":"admin","metadata":{}}`},
		{`null` + pad, 200, `{"value":"user","key":"targeted","reason":"DEFAULT","variant":"user","metadata":{}}`},
		{`42` + pad, 400, invalid},
		{`{"context":{"email":` + pad, 400, invalid},
		{`{"context":{"email":"` + pad + `"}}`, 413, `{"errorDetails":"request body too large"}`},
		{strings.Repeat("1", 64) + pad, 413, `{"errorDetails":"request body too large"}`},
	} {
		r := s.post(t, single+"targeted", tc.body)
		if r.status != tc.status || string(r.body) != tc.want {
			t.Errorf("%.30s...: %d %s, want %d %s", tc.body, r.status, r.body, tc.status, tc.want)
		}
	}

	// Any other failure after the first value: the same.
	h := ofrep.New(ofrep.Config{Resolver: newResolver(newStore(t), nil, nil, nil)}).Handler()
	for _, failure := range []error{os.ErrDeadlineExceeded, io.ErrUnexpectedEOF} {
		body := io.MultiReader(strings.NewReader(`{"context":{"email":"a@example.com"}} `), iotest.ErrReader(failure))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, single+"targeted", body))
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"value":"admin"`) {
			t.Errorf("%v after the first value: %d %s", failure, w.Code, w.Body)
		}
	}
}
