package resolve_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/vexilhq/vexil/daemon/internal/evalsvc"
	"github.com/vexilhq/vexil/daemon/internal/ofrep"
	"github.com/vexilhq/vexil/daemon/internal/resolve"
	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
)

// TestEveryProtocolIsObserved drives each way of evaluating a flag and
// checks that the observers saw each evaluation once, with the request's
// context.Context where the test can mark it.
func TestEveryProtocolIsObserved(t *testing.T) {
	st := newStore(t)
	rec := &recorder{}
	r := resolve.New(resolve.Config{Store: st, Observers: []resolve.Observer{rec}})
	fast := evalsvc.New(evalsvc.Config{Resolver: r}).Handler()
	slow := evalsvc.New(evalsvc.Config{Resolver: r, DisableFastPath: true}).Handler()
	of := ofrep.New(ofrep.Config{Resolver: r}).Handler()

	post := func(h http.Handler, path, contentType, body string) int {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req = req.WithContext(context.WithValue(req.Context(), markKey{}, true))
		req.Header.Set("Content-Type", contentType)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	const jsonType = "application/json"
	for _, c := range []struct {
		name  string
		h     http.Handler
		path  string
		body  string
		code  int
		evals int
	}{
		{"v1 fast path", fast, "/flagd.evaluation.v1.Service/ResolveBoolean", `{"flagKey":"bool-flag"}`, 200, 1},
		{"v2 fast path", fast, "/flagd.evaluation.v2.Service/ResolveString", `{"flagKey":"string-flag"}`, 200, 1},
		{"fast path, connect-go encodes the error", fast, "/flagd.evaluation.v1.Service/ResolveBoolean", `{"flagKey":"absent"}`, 404, 1},
		{"fast path, type mismatch", fast, "/flagd.evaluation.v2.Service/ResolveBoolean", `{"flagKey":"string-flag"}`, 400, 1},
		{"connect-go decodes", fast, "/flagd.evaluation.v1.Service/ResolveBoolean", `{"flagKey":"bool-flag","unknown":1}`, 200, 1},
		{"v1 connect", slow, "/flagd.evaluation.v1.Service/ResolveBoolean", `{"flagKey":"bool-flag"}`, 200, 1},
		{"v2 connect", slow, "/flagd.evaluation.v2.Service/ResolveBoolean", `{"flagKey":"bool-flag"}`, 200, 1},
		{"schema.v1", slow, "/schema.v1.Service/ResolveString", `{"flagKey":"who"}`, 200, 1},
		{"v1 ResolveAll", slow, "/flagd.evaluation.v1.Service/ResolveAll", `{}`, 200, 3},
		{"schema.v1 ResolveAll", slow, "/schema.v1.Service/ResolveAll", `{}`, 200, 3},
		{"context too deep: no evaluation", slow, "/flagd.evaluation.v1.Service/ResolveAll", `{"context":` + strings.Repeat("[", 70) + `]}`, 400, 0},
		{"OFREP single", of, ofrep.BulkPath + "/bool-flag", `{"context":{"user":"ana"}}`, 200, 1},
		{"OFREP single, not found", of, ofrep.BulkPath + "/absent", `{}`, 404, 1},
		{"OFREP bulk", of, ofrep.BulkPath, `{"context":{}}`, 200, 3},
	} {
		if code := post(c.h, c.path, jsonType, c.body); code != c.code {
			t.Errorf("%s: status %d, want %d", c.name, code, c.code)
		}
		got := rec.take()
		if len(got) != c.evals {
			t.Errorf("%s: %d evaluations observed, want %d: %+v", c.name, len(got), c.evals, got)
		}
		for _, s := range got {
			if !s.marked {
				t.Errorf("%s: the observer did not get the request's context: %+v", c.name, s)
			}
		}
	}

	// The grpc-go server.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := evalsvc.New(evalsvc.Config{Resolver: r}).NewGRPCServer()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	resp := new(evaluationv1.ResolveBooleanResponse)
	err = conn.Invoke(context.Background(), "/flagd.evaluation.v1.Service/ResolveBoolean", &evaluationv1.ResolveBooleanRequest{FlagKey: "bool-flag"}, resp)
	if err != nil || !resp.GetValue() {
		t.Fatalf("gRPC ResolveBoolean: %v, %v", resp, err)
	}
	if got := rec.take(); len(got) != 1 || got[0].key != "bool-flag" {
		t.Errorf("gRPC: observed %+v, want one evaluation of bool-flag", got)
	}
}
