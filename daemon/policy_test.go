package daemon

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAuthenticatorSlot: a policy's authenticator sees each request before
// its handler, passes its context on, and refuses with Unauthenticated (401
// outside the RPC protocols).
func TestAuthenticatorSlot(t *testing.T) {
	type who struct{}
	p := policy{authenticate: func(ctx context.Context, c caller) (context.Context, error) {
		if c.Header.Get("Authorization") != "Bearer ok" {
			return nil, errors.New("no token")
		}
		return context.WithValue(ctx, who{}, c.Procedure), nil
	}}
	h := p.handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.Context().Value(who{}).(string)))
	}))
	for _, tc := range []struct {
		path, contentType, auth string
		status                  int
		body                    string
	}{
		{"/ofrep/v1/evaluate/flags", "application/json", "Bearer ok", http.StatusOK, "/ofrep/v1/evaluate/flags"},
		{"/ofrep/v1/evaluate/flags", "application/json", "", http.StatusUnauthorized, "no token"},
		{"/flagd.evaluation.v1.Service/ResolveAll", "application/json", "", http.StatusUnauthorized, `"code":"unauthenticated"`},
	} {
		r := httptest.NewRequest(http.MethodPost, tc.path, strings.NewReader("{}"))
		r.Header.Set("Content-Type", tc.contentType)
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.body) {
			t.Errorf("%s %q: %d %q, want %d with %q", tc.path, tc.auth, w.Code, w.Body, tc.status, tc.body)
		}
	}
}
