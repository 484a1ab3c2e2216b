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
)

// TestContextDepth: a context nests as deeply as encoding/json reads it,
// as in flagd (its answers, recorded from flagd at commit bbb05d4): 9999
// levels are evaluated (the request object makes 10000, json's limit),
// 10000 are 400 INVALID_CONTEXT, for a single flag and in bulk. Arrays
// count as levels too.
func TestContextDepth(t *testing.T) {
	srv := startServer(t, ofrep.Config{})
	nested := func(depth int) string {
		return strings.Repeat(`{"a":[`, (depth-1)/2) + strings.Repeat(`{"b":`, (depth-1)%2) + `{"user":"x"}` +
			strings.Repeat(`}`, (depth-1)%2) + strings.Repeat(`]}`, (depth-1)/2)
	}
	for _, tc := range []struct{ path, over string }{
		{"/ofrep/v1/evaluate/flags/bool-flag", `{"key":"bool-flag","errorCode":"INVALID_CONTEXT","errorDetails":"Provider context is not valid","metadata":null}`},
		{"/ofrep/v1/evaluate/flags", `{"errorCode":"INVALID_CONTEXT","errorDetails":"Provider context is not valid","metadata":null}`},
	} {
		for _, depth := range []int{65, 120, 9999} {
			if r := srv.post(t, tc.path, `{"context":`+nested(depth)+`}`); r.status != http.StatusOK {
				t.Errorf("%s, %d levels: %d %s, want 200", tc.path, depth, r.status, r.body)
			}
		}
		r := srv.post(t, tc.path, `{"context":`+nested(10000)+`}`)
		if r.status != http.StatusBadRequest || strings.TrimSpace(string(r.body)) != tc.over {
			t.Errorf("%s, 10000 levels: %d %s, want 400 %s", tc.path, r.status, r.body, tc.over)
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
