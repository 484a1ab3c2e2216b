package ofrep_test

import (
	"testing"

	"github.com/vexilhq/vexil/daemon/internal/metrics"
	"github.com/vexilhq/vexil/daemon/internal/metrics/metricstest"
	"github.com/vexilhq/vexil/daemon/internal/ofrep"
)

// TestMetrics: single and bulk evaluations count an impression and a
// result reason per flag; a flag that does not exist is not a label.
func TestMetrics(t *testing.T) {
	m := metrics.New()
	s := startServer(t, ofrep.Config{Resolver: newResolver(newStore(t), nil, nil, m)})
	for range 2 {
		if r := s.post(t, "/ofrep/v1/evaluate/flags/string-flag", `{}`); r.status != 200 {
			t.Fatalf("string-flag: %d %s", r.status, r.body)
		}
	}
	if r := s.post(t, "/ofrep/v1/evaluate/flags/no-such-flag", `{}`); r.status != 404 {
		t.Fatalf("no-such-flag: %d %s", r.status, r.body)
	}
	if r := s.post(t, "/ofrep/v1/evaluate/flags", `{}`, "Flagd-Selector", "flagSetId=set-b"); r.status != 200 {
		t.Fatalf("bulk: %d %s", r.status, r.body)
	}

	const imp, rr = "feature_flag_flagd_impression_total", "feature_flag_flagd_result_reason_total"
	scope := []string{"otel_scope_name", "flagd", "feature_flag_provider_name", "flagd"}
	sc := metricstest.Of(t, m)
	for _, c := range []struct {
		name string
		want float64
		kv   []string
	}{
		{imp, 2, []string{"feature_flag_key", "string-flag", "feature_flag_result_variant", "red", "feature_flag_reason", "STATIC"}},
		{rr, 2, []string{"feature_flag_key", "string-flag", "feature_flag_reason", "STATIC"}},
		{imp, 1, []string{"feature_flag_key", "bool-flag", "feature_flag_result_variant", "off", "feature_flag_reason", "STATIC"}},
		{rr, 1, []string{"feature_flag_reason", "ERROR", "ExceptionTypeKeyName", "FLAG_NOT_FOUND"}},
	} {
		l := append(append([]string{}, scope...), c.kv...)
		if got, ok := sc.Value(c.name, l...); !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, l, got, ok, c.want)
		}
	}
	if got := sc.LabelValues(imp, "feature_flag_key"); len(got) != 2 {
		t.Errorf("impression keys %q, want bool-flag and string-flag", got)
	}
}
