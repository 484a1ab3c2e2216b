package evalsvc_test

import (
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/vexilhq/vexil/daemon/internal/evalsvc"
	"github.com/vexilhq/vexil/daemon/internal/metrics"
	"github.com/vexilhq/vexil/daemon/internal/metrics/metricstest"
	"github.com/vexilhq/vexil/daemon/internal/resolve"
	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1/evaluationv1connect"
	evaluationv2 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2/evaluationv2connect"
	schemav1 "github.com/vexilhq/vexil/schemas/gen/schema/v1"
	"github.com/vexilhq/vexil/schemas/gen/schema/v1/schemav1connect"
)

// TestMetrics: every resolve of the three services, and every flag of
// ResolveAll, counts an impression and a result reason.
func TestMetrics(t *testing.T) {
	m := metrics.New()
	srv := startServer(t, evalsvc.Config{Resolver: newResolver(newStore(t), nil, nil, m)})
	ctx := testContext(t)
	hc := http1Client(t)
	v1 := evaluationv1connect.NewServiceClient(hc, srv.URL)
	v2 := evaluationv2connect.NewServiceClient(hc, srv.URL)
	s1 := schemav1connect.NewServiceClient(hc, srv.URL)

	if _, err := v1.ResolveBoolean(ctx, connect.NewRequest(&evaluationv1.ResolveBooleanRequest{FlagKey: "bool-flag"})); err != nil {
		t.Fatal(err)
	}
	if _, err := v2.ResolveBoolean(ctx, connect.NewRequest(&evaluationv2.ResolveBooleanRequest{FlagKey: "bool-flag"})); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.ResolveBoolean(ctx, connect.NewRequest(&schemav1.ResolveBooleanRequest{FlagKey: "bool-flag"})); err != nil {
		t.Fatal(err)
	}
	bob, _ := structpb.NewStruct(map[string]any{"user": "bob"})
	if _, err := v2.ResolveString(ctx, connect.NewRequest(&evaluationv2.ResolveStringRequest{FlagKey: "string-flag", Context: bob})); err != nil {
		t.Fatal(err)
	}
	_, err := v1.ResolveBoolean(ctx, connect.NewRequest(&evaluationv1.ResolveBooleanRequest{FlagKey: "no-such-flag"}))
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("no-such-flag: %v", err)
	}

	const imp, rr = "feature_flag_flagd_impression_total", "feature_flag_flagd_result_reason_total"
	scope := []string{"otel_scope_name", "flagd", "feature_flag_provider_name", "flagd"}
	check := func(s *metricstest.Scrape, name string, want float64, kv ...string) {
		t.Helper()
		l := append(append([]string{}, scope...), kv...)
		if got, ok := s.Value(name, l...); !ok || got != want {
			t.Errorf("%s%v = %v (found %v), want %v", name, l, got, ok, want)
		}
	}
	s := metricstest.Of(t, m)
	check(s, imp, 3, "feature_flag_key", "bool-flag", "feature_flag_result_variant", "on", "feature_flag_reason", "STATIC")
	check(s, rr, 3, "feature_flag_key", "bool-flag", "feature_flag_reason", "STATIC")
	check(s, imp, 1, "feature_flag_key", "string-flag", "feature_flag_result_variant", "b", "feature_flag_reason", "TARGETING_MATCH")
	check(s, rr, 1, "feature_flag_reason", "ERROR", "ExceptionTypeKeyName", "FLAG_NOT_FOUND")
	if n := len(s.Find(imp, "feature_flag_key", "no-such-flag")) + len(s.Find(rr, "feature_flag_key", "no-such-flag")); n != 0 {
		t.Errorf("the key of a flag that does not exist is a label (%d series)", n)
	}

	// ResolveAll, of both versions that have it, over flag set set-a.
	req1 := connect.NewRequest(&evaluationv1.ResolveAllRequest{})
	req1.Header().Set(resolve.SelectorHeader, "flagSetId=set-a")
	if _, err := v1.ResolveAll(ctx, req1); err != nil {
		t.Fatal(err)
	}
	req0 := connect.NewRequest(&schemav1.ResolveAllRequest{})
	req0.Header().Set(resolve.SelectorHeader, "flagSetId=set-a")
	if _, err := s1.ResolveAll(ctx, req0); err != nil {
		t.Fatal(err)
	}
	s = metricstest.Of(t, m)
	check(s, imp, 5, "feature_flag_key", "bool-flag", "feature_flag_result_variant", "on", "feature_flag_reason", "STATIC")
	check(s, imp, 2, "feature_flag_key", "float-flag", "feature_flag_result_variant", "pi", "feature_flag_reason", "STATIC")
	check(s, imp, 2, "feature_flag_key", "disabled-flag", "feature_flag_reason", "DISABLED")
	check(s, rr, 2, "feature_flag_reason", "ERROR", "ExceptionTypeKeyName", "TYPE_MISMATCH")
	if got := s.Find(imp, "feature_flag_key", "b-only"); len(got) != 0 {
		t.Errorf("a flag outside the selection is counted: %v", got)
	}
}

// TestMetricsNil: without metrics, resolving works (the other tests cover
// it at length; this one states it).
func TestMetricsNil(t *testing.T) {
	srv := startServer(t, evalsvc.Config{})
	c := evaluationv1connect.NewServiceClient(http1Client(t), srv.URL)
	resp, err := c.ResolveBoolean(testContext(t), connect.NewRequest(&evaluationv1.ResolveBooleanRequest{FlagKey: "bool-flag"}))
	if err != nil || !resp.Msg.GetValue() {
		t.Fatalf("ResolveBoolean: %v, %v", resp, err)
	}
}
