// Package metrics exports the daemon's Prometheus metrics under the names
// a scrape of flagd shows, so that flagd's dashboards and alerts keep
// working against Vexil, plus Vexil's own source metrics.
//
// flagd records its metrics with OpenTelemetry (core/pkg/telemetry,
// flagd/pkg/service/middleware/metrics) and, by default, exposes them on
// the management port's /metrics through OpenTelemetry's Prometheus
// exporter (v0.64, whose default naming is "underscore escaping with
// suffixes": dots become underscores, counters get _total, unit "s" gives
// _seconds and "By" _bytes, and units in braces such as {impression} are
// dropped). Attribute keys become labels the same way. Every series of
// flagd's own instruments carries otel_scope_name="flagd" (its meter's
// name), and the exporter's otel_scope_version and otel_scope_schema_url,
// which are empty and so absent once Prometheus ingests them.
//
// The instruments matched, with the labels as Prometheus ingests them:
//
//	flagd instrument (unit)                  exposed as (Vexil's too)
//	feature_flag.flagd.impression            feature_flag_flagd_impression_total
//	  {impression}                             feature_flag_key, feature_flag_result_variant,
//	                                           feature_flag_reason, feature_flag_provider_name="flagd"
//	feature_flag.flagd.result.reason         feature_flag_flagd_result_reason_total
//	  {reason}                                 feature_flag_reason, feature_flag_provider_name="flagd",
//	                                           feature_flag_key (when the evaluation succeeded)
//	                                           or ExceptionTypeKeyName (the error code, when it failed)
//	http.server.request.duration (s)         http_server_request_duration_seconds
//	http.server.response.body.size (By)      http_server_response_body_size_bytes
//	http.server.active_requests {request}    http_server_active_requests
//	                                           service_name, http_route, http_request_method,
//	                                           http_response_status_code, url_scheme
//	feature_flag.flagd.sync.active_streams   feature_flag_flagd_sync_active_streams
//	  {stream}
//
// all with otel_scope_name="flagd", and the histograms with flagd's
// buckets (prometheus.DefBuckets for durations; 100 B to 100 MB, times 10,
// for sizes). The registry also has the Go and process collectors and
// promhttp's own handler metrics, as the default registry flagd's
// promhttp.Handler serves.
//
// Where Vexil differs:
//
//   - http_response_status_code is the status the handler answered; flagd
//     reads it before calling its handler, so its series always say 200.
//     http_server_active_requests has no status label at all (flagd's
//     always says 200).
//   - http_route is, on the evaluation port, the RPC path
//     ("/flagd.evaluation.v1.Service/ResolveBoolean") only when it names a
//     method of a protobuf service linked into the binary, and absent ("")
//     for any other path, which flagd labels with the raw request path. On
//     the OFREP port it is flagd's gorilla/mux pattern,
//     "/ofrep/v1/evaluate/flags/{key}" or
//     "/ofrep/v1/evaluate/{path:flags\/|flags}" (the backslash included);
//     flagd does not measure other OFREP paths, Vexil labels them "".
//     Methods other than the standard nine are "_OTHER".
//   - http_server_request_body_size_bytes (request bytes the handler read,
//     same labels and buckets as the response size) is measured by Vexil's
//     middleware. flagd has that name only from otelhttp on the OFREP port,
//     with otelhttp's scope, labels and buckets.
//   - flagd also exports otelconnect's and otelgrpc's rpc_server_* metrics,
//     otelhttp's metrics on the OFREP port, the
//     feature_flag_flagd_sync_stream_duration_seconds histogram and
//     target_info; Vexil does not. Its sync stream gauge has no selector
//     or provider_id label: both are request data.
//   - Impressions are counted for OFREP evaluations too (flagd counts only
//     the gRPC/Connect services'), and for the evaluator's result whatever
//     the protocol version makes of it: a flag with no default variant
//     that targeting did not resolve counts as reason DEFAULT with no
//     variant, where flagd counts ERROR/FLAG_NOT_FOUND for
//     flagd.evaluation.v1 and FALLBACK for the others.
//   - Cardinality: a failed evaluation is counted without its flag key (as
//     in flagd), so a request for a flag that does not exist never becomes
//     a label; flag keys and variants come from the flag store only. The
//     distinct (key, variant, reason) combinations are capped at
//     [MaxEvaluationSeries]; evaluations beyond the cap are counted with an
//     empty key and variant (flagd's OpenTelemetry SDK caps each
//     instrument at 2000 attribute sets and counts the rest in one
//     otel_metric_overflow="true" series).
//
// Vexil's own metrics, per configured source (its URI):
//
//	vexil_source_updates_total{source, result}  result: loaded, rejected, outage, removed
//	vexil_source_flags{source}                  flags the source serves
//	vexil_source_up{source}                     1 when its latest update loaded, else 0
//	vexil_source_last_update_timestamp_seconds{source}
//
// and of the evaluation port's connections:
//
//	vexil_evaluation_connections_total{server}  server: "grpc-go" (native gRPC
//	                                            clients) or "net/http" (the others)
//
// Every method of a nil *Metrics does nothing (HTTP returns its handler
// unchanged), so the services work without metrics.
package metrics

import (
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ProviderName is the feature_flag_provider_name of every evaluation
// series, flagd's.
const ProviderName = "flagd"

// scopeName is the otel_scope_name flagd's instruments carry: the name of
// its OpenTelemetry meter, its service name.
const scopeName = "flagd"

// MaxEvaluationSeries caps the distinct (flag key, variant, reason)
// combinations counted with their own labels; see the package comment.
const MaxEvaluationSeries = 10000

// The label names.
const (
	labelKey       = "feature_flag_key"
	labelVariant   = "feature_flag_result_variant"
	labelProvider  = "feature_flag_provider_name"
	labelReason    = "feature_flag_reason"
	labelException = "ExceptionTypeKeyName"
	labelScope     = "otel_scope_name"

	labelService = "service_name"
	labelRoute   = "http_route"
	labelMethod  = "http_request_method"
	labelStatus  = "http_response_status_code"
	labelScheme  = "url_scheme"

	labelSource = "source"
	labelResult = "result"
)

// Metrics holds the daemon's metrics and the registry that serves them.
// It is safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	impressions *prometheus.CounterVec
	reasons     *prometheus.CounterVec
	evals       cache[*flagSeries] // by flag key
	evalMu      sync.Mutex         // adding to evals
	evalCount   int                // combinations in evals

	httpDuration *prometheus.HistogramVec
	httpReqSize  *prometheus.HistogramVec
	httpRespSize *prometheus.HistogramVec
	httpActive   *prometheus.GaugeVec

	syncStreams prometheus.Gauge

	sourceUpdates *prometheus.CounterVec
	sourceFlags   *prometheus.GaugeVec
	sourceUp      *prometheus.GaugeVec
	sourceLast    *prometheus.GaugeVec

	connections *prometheus.CounterVec
}

// scopeLabels are the constant labels of flagd's instruments.
func scopeLabels() prometheus.Labels { return prometheus.Labels{labelScope: scopeName} }

// sizeBuckets are flagd's response size buckets: 100 B to 100 MB.
func sizeBuckets() []float64 { return prometheus.ExponentialBuckets(100, 10, 8) }

// New returns metrics registered on a registry of their own, with the Go
// and process collectors.
func New() *Metrics {
	httpLabels := []string{labelService, labelRoute, labelMethod, labelStatus, labelScheme}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		impressions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "feature_flag_flagd_impression_total",
			Help:        "Flag evaluations that resolved, by flag, variant and reason.",
			ConstLabels: prometheus.Labels{labelScope: scopeName, labelProvider: ProviderName},
		}, []string{labelKey, labelVariant, labelReason}),
		reasons: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "feature_flag_flagd_result_reason_total",
			Help:        "Flag evaluations by reason: by flag when they resolved, by error code when they failed.",
			ConstLabels: prometheus.Labels{labelScope: scopeName, labelProvider: ProviderName},
		}, []string{labelReason, labelKey, labelException}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:        "http_server_request_duration_seconds",
			Help:        "Time to serve an HTTP request, streams included, in seconds.",
			ConstLabels: scopeLabels(),
			Buckets:     prometheus.DefBuckets,
		}, httpLabels),
		httpReqSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:        "http_server_request_body_size_bytes",
			Help:        "Size of the HTTP request bodies read, in bytes.",
			ConstLabels: scopeLabels(),
			Buckets:     sizeBuckets(),
		}, httpLabels),
		httpRespSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:        "http_server_response_body_size_bytes",
			Help:        "Size of the HTTP response bodies written, in bytes.",
			ConstLabels: scopeLabels(),
			Buckets:     sizeBuckets(),
		}, httpLabels),
		httpActive: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name:        "http_server_active_requests",
			Help:        "HTTP requests being served.",
			ConstLabels: scopeLabels(),
		}, []string{labelService, labelRoute, labelMethod, labelScheme}),
		syncStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name:        "feature_flag_flagd_sync_active_streams",
			Help:        "Open flagd.sync.v1 SyncFlags streams.",
			ConstLabels: scopeLabels(),
		}),
		sourceUpdates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vexil_source_updates_total",
			Help: "Updates received from each flag source, by what became of them.",
		}, []string{labelSource, labelResult}),
		sourceFlags: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vexil_source_flags",
			Help: "Flags each source serves.",
		}, []string{labelSource}),
		sourceUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vexil_source_up",
			Help: "1 when the source's latest update loaded, else 0.",
		}, []string{labelSource}),
		sourceLast: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vexil_source_last_update_timestamp_seconds",
			Help: "When the source last sent an update, in seconds since the Unix epoch.",
		}, []string{labelSource}),
		connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vexil_evaluation_connections_total",
			Help: "Connections to the evaluation port, by the server that serves them: grpc-go for native gRPC clients, net/http for the others.",
		}, []string{"server"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.impressions, m.reasons,
		m.httpDuration, m.httpReqSize, m.httpRespSize, m.httpActive,
		m.syncStreams,
		m.sourceUpdates, m.sourceFlags, m.sourceUp, m.sourceLast,
		m.connections,
	)
	return m
}

// Registry returns the registry the metrics are registered on, for adding
// collectors. It is nil for a nil *Metrics.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Handler serves the metrics in the Prometheus exposition formats
// (/metrics), counting its own requests as promhttp.Handler does. A nil
// *Metrics serves 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
	}))
}

// SyncStreamStarted counts a SyncFlags stream as open.
func (m *Metrics) SyncStreamStarted() {
	if m != nil {
		m.syncStreams.Inc()
	}
}

// SyncStreamEnded counts a SyncFlags stream as closed.
func (m *Metrics) SyncStreamEnded() {
	if m != nil {
		m.syncStreams.Dec()
	}
}
