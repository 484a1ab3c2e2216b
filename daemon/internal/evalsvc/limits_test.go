package evalsvc_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/vexilhq/vexil/daemon/internal/evalsvc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
)

// nested returns a JSON context whose objects nest depth levels (the
// context itself is level 1).
func nested(depth int) string {
	return strings.Repeat(`{"a":`, depth-1) + `{"user":"x"}` + strings.Repeat(`}`, depth-1)
}

// TestContextDepth: a context nests as deeply as protojson reads it, as
// in flagd (its answers, recorded from flagd at commit bbb05d4, and in
// conformance/oracle/testdata/030-http for 120 levels): 9998 levels are
// evaluated, 9999 are protojson's recursion limit (the request object
// counts one), on every version of the service.
func TestContextDepth(t *testing.T) {
	srv := startServer(t, evalsvc.Config{})
	c := http1Client(t)
	for _, path := range []string{
		"/flagd.evaluation.v1.Service/ResolveBoolean",
		"/flagd.evaluation.v2.Service/ResolveBoolean",
		"/schema.v1.Service/ResolveBoolean",
		"/flagd.evaluation.v1.Service/ResolveAll",
	} {
		for _, depth := range []int{65, 120, 9998} {
			ok := do(t, c, http.MethodPost, srv.URL+path, "application/json",
				[]byte(`{"flagKey":"bool-flag","context":`+nested(depth)+`}`), nil)
			if ok.status != http.StatusOK {
				t.Errorf("%s, %d levels: %d %s, want 200", path, depth, ok.status, ok.body)
			}
		}
		deep := do(t, c, http.MethodPost, srv.URL+path, "application/json",
			[]byte(`{"flagKey":"bool-flag","context":`+nested(9999)+`}`), nil)
		const want = `{"code":"invalid_argument","message":"unmarshal message: proto: exceeded max recursion depth"}`
		if got := strings.ReplaceAll(deep.body, "proto:\u00a0", "proto: "); deep.status != http.StatusBadRequest || got != want {
			t.Errorf("%s, 9999 levels: %d %s, want 400 %s", path, deep.status, deep.body, want)
		}
	}
}

// TestGRPCContextDepth: over gRPC, protobuf-go's binary recursion limit
// counts three per level of a Struct (Struct, map entry, Value): flagd
// evaluated 3333 levels and answered 3334 with InvalidArgument (recorded
// from flagd at commit bbb05d4).
func TestGRPCContextDepth(t *testing.T) {
	srv := startServer(t, evalsvc.Config{})
	conn := serveGRPC(t, srv.Svc)
	nest := func(depth int) *structpb.Struct {
		s := &structpb.Struct{Fields: map[string]*structpb.Value{"user": structpb.NewStringValue("x")}}
		for range depth - 1 {
			s = &structpb.Struct{Fields: map[string]*structpb.Value{"a": structpb.NewStructValue(s)}}
		}
		return s
	}
	resp := &evaluationv1.ResolveBooleanResponse{}
	if err := conn.Invoke(testContext(t), "/flagd.evaluation.v1.Service/ResolveBoolean", &evaluationv1.ResolveBooleanRequest{FlagKey: "bool-flag", Context: nest(3333)}, resp); err != nil {
		t.Errorf("3333 levels: %v", err)
	}
	err := conn.Invoke(testContext(t), "/flagd.evaluation.v1.Service/ResolveBoolean", &evaluationv1.ResolveBooleanRequest{FlagKey: "bool-flag", Context: nest(3334)}, resp)
	const want = "unmarshal message: unmarshal into *evaluationv1.ResolveBooleanRequest: proto: exceeded maximum recursion depth"
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || strings.ReplaceAll(st.Message(), "proto:\u00a0", "proto: ") != want {
		t.Errorf("3334 levels: %v, want InvalidArgument %q", err, want)
	}
}
