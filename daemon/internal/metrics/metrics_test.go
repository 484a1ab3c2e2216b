package metrics_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vexilhq/vexil/daemon/internal/metrics"
	"github.com/vexilhq/vexil/daemon/internal/metrics/metricstest"
	"github.com/vexilhq/vexil/evaluator"
)

// TestMain checks that no test leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The constant labels of every flagd-named series.
var scope = []string{"otel_scope_name", "flagd"}

func labels(kv ...string) []string { return append(append([]string{}, scope...), kv...) }

func TestFamilies(t *testing.T) {
	m := metrics.New()
	m.Impression("f", "on", "STATIC", "")
	m.Impression("", "", "ERROR", "GENERAL")
	m.SyncStreamStarted()
	m.SourceUpdate("file:a.json", metrics.SourceLoaded, 1, time.Now())
	h := m.HTTP("flagd", http.NotFoundHandler())
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))

	s := metricstest.Of(t, m)
	want := map[string]string{
		"feature_flag_flagd_impression_total":        "counter",
		"feature_flag_flagd_result_reason_total":     "counter",
		"feature_flag_flagd_sync_active_streams":     "gauge",
		"http_server_request_duration_seconds":       "histogram",
		"http_server_request_body_size_bytes":        "histogram",
		"http_server_response_body_size_bytes":       "histogram",
		"http_server_active_requests":                "gauge",
		"vexil_source_updates_total":                 "counter",
		"vexil_source_flags":                         "gauge",
		"vexil_source_up":                            "gauge",
		"vexil_source_last_update_timestamp_seconds": "gauge",
		"go_goroutines":                              "gauge",
		"process_start_time_seconds":                 "gauge",
		"promhttp_metric_handler_requests_total":     "counter",
	}
	for name, typ := range want {
		if got := s.Types[name]; got != typ {
			t.Errorf("# TYPE %s: %q, want %q", name, got, typ)
		}
	}
	// flagd's instruments carry its OpenTelemetry scope.
	for _, name := range []string{
		"feature_flag_flagd_impression_total", "feature_flag_flagd_result_reason_total",
		"feature_flag_flagd_sync_active_streams", "http_server_request_duration_seconds_count",
		"http_server_active_requests",
	} {
		if got := s.LabelValues(name, "otel_scope_name"); len(got) != 1 || got[0] != "flagd" {
			t.Errorf("%s: otel_scope_name %q, want flagd", name, got)
		}
	}
}

func TestImpression(t *testing.T) {
	m := metrics.New()
	for range 3 {
		m.Impression("my-flag", "on", "STATIC", "")
	}
	m.Impression("my-flag", "off", "TARGETING_MATCH", "")
	m.Impression("other", "", "DISABLED", "")
	// A failed evaluation: the key (a client's) is not a label.
	m.Impression("no-such-flag", "", "ERROR", "FLAG_NOT_FOUND")
	m.Impression("no-such-flag-either", "x", "ERROR", "FLAG_NOT_FOUND")
	m.Impression("bad", "", "ERROR", "PARSE_ERROR")

	s := metricstest.Of(t, m)
	const imp, rr = "feature_flag_flagd_impression_total", "feature_flag_flagd_result_reason_total"
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{imp, labels("feature_flag_key", "my-flag", "feature_flag_result_variant", "on", "feature_flag_reason", "STATIC", "feature_flag_provider_name", "flagd"), 3},
		{imp, labels("feature_flag_key", "my-flag", "feature_flag_result_variant", "off", "feature_flag_reason", "TARGETING_MATCH", "feature_flag_provider_name", "flagd"), 1},
		{imp, labels("feature_flag_key", "other", "feature_flag_reason", "DISABLED", "feature_flag_provider_name", "flagd"), 1},
		{rr, labels("feature_flag_key", "my-flag", "feature_flag_reason", "STATIC", "feature_flag_provider_name", "flagd"), 3},
		{rr, labels("feature_flag_key", "my-flag", "feature_flag_reason", "TARGETING_MATCH", "feature_flag_provider_name", "flagd"), 1},
		{rr, labels("feature_flag_key", "other", "feature_flag_reason", "DISABLED", "feature_flag_provider_name", "flagd"), 1},
		{rr, labels("ExceptionTypeKeyName", "FLAG_NOT_FOUND", "feature_flag_reason", "ERROR", "feature_flag_provider_name", "flagd"), 2},
		{rr, labels("ExceptionTypeKeyName", "PARSE_ERROR", "feature_flag_reason", "ERROR", "feature_flag_provider_name", "flagd"), 1},
	} {
		if got, ok := s.Value(c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if got := s.LabelValues(imp, "feature_flag_key"); fmt.Sprint(got) != "[my-flag other]" {
		t.Errorf("impression keys %q", got)
	}
	if got := s.LabelValues(rr, "feature_flag_key"); fmt.Sprint(got) != "[ my-flag other]" {
		t.Errorf("result reason keys %q", got)
	}
	if n := len(s.Find(imp)); n != 3 {
		t.Errorf("%d impression series, want 3 (no series for errors)", n)
	}
}

func TestEvaluation(t *testing.T) {
	m := metrics.New()
	m.Evaluation(&evaluator.Result{FlagKey: "a", Variant: "on", Reason: evaluator.ReasonStatic, Value: true})
	// No variant chosen: none labelled, even if one is named.
	m.Evaluation(&evaluator.Result{FlagKey: "b", Variant: "ignored", Reason: evaluator.ReasonDefault, NoValue: true})
	m.Evaluation(&evaluator.Result{FlagKey: "c", Reason: evaluator.ReasonDisabled, NoValue: true})
	m.Evaluation(&evaluator.Result{FlagKey: "nope", Reason: evaluator.ReasonError, NoValue: true,
		Err: &evaluator.Error{Code: evaluator.CodeFlagNotFound, FlagKey: "nope"}})
	m.Evaluation(&evaluator.Result{FlagKey: "d", Reason: evaluator.ReasonError, NoValue: true,
		Err: &evaluator.Error{Code: evaluator.CodeTypeMismatch, FlagKey: "d"}})
	m.Evaluation(nil)

	s := metricstest.Of(t, m)
	const imp, rr = "feature_flag_flagd_impression_total", "feature_flag_flagd_result_reason_total"
	p := []string{"feature_flag_provider_name", "flagd"}
	check := func(name string, want float64, kv ...string) {
		t.Helper()
		l := append(labels(p...), kv...)
		if got, ok := s.Value(name, l...); !ok || got != want {
			t.Errorf("%s%v = %v (found %v), want %v", name, l, got, ok, want)
		}
	}
	check(imp, 1, "feature_flag_key", "a", "feature_flag_result_variant", "on", "feature_flag_reason", "STATIC")
	check(imp, 1, "feature_flag_key", "b", "feature_flag_reason", "DEFAULT")
	check(imp, 1, "feature_flag_key", "c", "feature_flag_reason", "DISABLED")
	check(rr, 1, "feature_flag_reason", "ERROR", "ExceptionTypeKeyName", "FLAG_NOT_FOUND")
	check(rr, 1, "feature_flag_reason", "ERROR", "ExceptionTypeKeyName", "TYPE_MISMATCH")
	if n := len(s.Find(imp)); n != 3 {
		t.Errorf("%d impression series, want 3", n)
	}
}

// TestOverflow: past MaxEvaluationSeries combinations, evaluations are
// counted without key and variant.
func TestOverflow(t *testing.T) {
	m := metrics.New()
	for i := range metrics.MaxEvaluationSeries {
		m.Impression(fmt.Sprintf("flag-%d", i), "on", "STATIC", "")
	}
	m.Impression("late-1", "on", "STATIC", "")
	m.Impression("late-2", "off", "STATIC", "")
	m.Impression("flag-0", "on", "STATIC", "") // known: still its own

	s := metricstest.Of(t, m)
	const imp = "feature_flag_flagd_impression_total"
	if n := len(s.Find(imp)); n != metrics.MaxEvaluationSeries+1 {
		t.Errorf("%d impression series, want %d", n, metrics.MaxEvaluationSeries+1)
	}
	if got, _ := s.Value(imp, labels("feature_flag_provider_name", "flagd", "feature_flag_reason", "STATIC")...); got != 2 {
		t.Errorf("overflow series = %v, want 2", got)
	}
	if got, _ := s.Value(imp, labels("feature_flag_provider_name", "flagd", "feature_flag_key", "flag-0", "feature_flag_result_variant", "on", "feature_flag_reason", "STATIC")...); got != 2 {
		t.Errorf("flag-0 = %v, want 2", got)
	}
}

func TestSyncStreams(t *testing.T) {
	m := metrics.New()
	m.SyncStreamStarted()
	m.SyncStreamStarted()
	m.SyncStreamStarted()
	m.SyncStreamEnded()
	s := metricstest.Of(t, m)
	if got, ok := s.Value("feature_flag_flagd_sync_active_streams", scope...); !ok || got != 2 {
		t.Errorf("active streams = %v (found %v), want 2", got, ok)
	}
}

func TestSources(t *testing.T) {
	m := metrics.New()
	m.SourceAdded("file:a.json")
	m.SourceAdded("https://example.com/flags.json")
	at := time.Unix(1700000000, 250_000_000)
	m.SourceUpdate("file:a.json", metrics.SourceLoaded, 12, at)
	m.SourceUpdate("file:a.json", metrics.SourceLoaded, 13, at.Add(time.Second))
	m.SourceUpdate("file:a.json", metrics.SourceRejected, 13, at.Add(2*time.Second))
	m.SourceUpdate("https://example.com/flags.json", metrics.SourceOutage, 0, at)

	s := metricstest.Of(t, m)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"vexil_source_updates_total", []string{"source", "file:a.json", "result", "loaded"}, 2},
		{"vexil_source_updates_total", []string{"source", "file:a.json", "result", "rejected"}, 1},
		{"vexil_source_updates_total", []string{"source", "file:a.json", "result", "outage"}, 0},
		{"vexil_source_updates_total", []string{"source", "file:a.json", "result", "removed"}, 0},
		{"vexil_source_updates_total", []string{"source", "https://example.com/flags.json", "result", "outage"}, 1},
		{"vexil_source_flags", []string{"source", "file:a.json"}, 13},
		{"vexil_source_flags", []string{"source", "https://example.com/flags.json"}, 0},
		{"vexil_source_up", []string{"source", "file:a.json"}, 0},
		{"vexil_source_up", []string{"source", "https://example.com/flags.json"}, 0},
		{"vexil_source_last_update_timestamp_seconds", []string{"source", "file:a.json"}, 1700000002.25},
		{"vexil_source_last_update_timestamp_seconds", []string{"source", "https://example.com/flags.json"}, 1700000000.25},
	} {
		if got, ok := s.Value(c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}

	m.SourceUpdate("file:a.json", metrics.SourceLoaded, 14, at.Add(3*time.Second))
	s = metricstest.Of(t, m)
	if got, _ := s.Value("vexil_source_up", "source", "file:a.json"); got != 1 {
		t.Errorf("up after a load = %v, want 1", got)
	}
	if got, _ := s.Value("vexil_source_flags", "source", "file:a.json"); got != 14 {
		t.Errorf("flags after a load = %v, want 14", got)
	}
}

// TestNil: every method of a nil *Metrics does nothing.
func TestNil(t *testing.T) {
	var m *metrics.Metrics
	m.Impression("a", "b", "STATIC", "")
	m.Evaluation(&evaluator.Result{FlagKey: "a"})
	m.SyncStreamStarted()
	m.SyncStreamEnded()
	m.SourceAdded("s")
	m.SourceUpdate("s", metrics.SourceLoaded, 1, time.Now())
	if m.Registry() != nil {
		t.Error("Registry of nil is not nil")
	}
	next := http.NotFoundHandler()
	if h := m.HTTP("flagd", next); fmt.Sprintf("%p", h) != fmt.Sprintf("%p", next) {
		t.Error("HTTP of nil does not return its handler")
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("Handler of nil: status %d", rec.Code)
	}
}

// TestRegistries: two Metrics do not share a registry (nor the default).
func TestRegistries(t *testing.T) {
	a, b := metrics.New(), metrics.New()
	a.Impression("f", "on", "STATIC", "")
	if n := len(metricstest.Of(t, b).Find("feature_flag_flagd_impression_total")); n != 0 {
		t.Errorf("b has %d impression series", n)
	}
}
