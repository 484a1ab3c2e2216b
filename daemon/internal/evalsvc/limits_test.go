package evalsvc_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/vexilhq/vexil/daemon/internal/evalsvc"
	"github.com/vexilhq/vexil/daemon/internal/wire"
)

// nested returns a JSON context whose objects nest depth levels (the
// context itself is level 1).
func nested(depth int) string {
	return strings.Repeat(`{"a":`, depth-1) + `{"user":"x"}` + strings.Repeat(`}`, depth-1)
}

// TestContextDepth: a context at the depth cap is evaluated; one level
// more is InvalidArgument, on every version of the service.
func TestContextDepth(t *testing.T) {
	srv := startServer(t, evalsvc.Config{})
	c := http1Client(t)
	for _, path := range []string{
		"/flagd.evaluation.v1.Service/ResolveBoolean",
		"/flagd.evaluation.v2.Service/ResolveBoolean",
		"/schema.v1.Service/ResolveBoolean",
		"/flagd.evaluation.v1.Service/ResolveAll",
	} {
		ok := do(t, c, http.MethodPost, srv.URL+path, "application/json",
			[]byte(`{"flagKey":"bool-flag","context":`+nested(wire.MaxContextDepth)+`}`), nil)
		if ok.status != http.StatusOK {
			t.Errorf("%s at the depth cap: %d %s", path, ok.status, ok.body)
		}
		deep := do(t, c, http.MethodPost, srv.URL+path, "application/json",
			[]byte(`{"flagKey":"bool-flag","context":`+nested(wire.MaxContextDepth+1)+`}`), nil)
		if deep.status != http.StatusBadRequest || errorCode(t, deep.body) != "invalid_argument" || !strings.Contains(deep.body, "nests deeper") {
			t.Errorf("%s over the depth cap: %d %s, want 400 invalid_argument", path, deep.status, deep.body)
		}
	}
}
