// Package telemetry exports the daemon's evaluations to an OpenTelemetry
// Collector over OTLP (gRPC, or HTTP with OTEL_EXPORTER_OTLP_PROTOCOL=
// http/protobuf), as flagd does with --metrics-exporter otel and
// --otel-collector-uri (flagd's core/pkg/telemetry):
//
//   - metrics, when Config.Metrics is set: flagd's counters
//     feature_flag.flagd.impression {impression} (feature_flag.key,
//     feature_flag.result.variant, feature_flag.reason,
//     feature_flag.provider_name="flagd") and
//     feature_flag.flagd.result.reason {reason} (feature_flag.reason,
//     feature_flag.provider_name, and feature_flag.key when the evaluation
//     resolved or ExceptionTypeKeyName, the error code, when it failed),
//     on the meter "flagd", pushed at the SDK's interval (60 s, or
//     OTEL_METRIC_EXPORT_INTERVAL);
//   - traces, whenever a collector URI is given (flagd sets up its tracer
//     provider from the URI alone, whatever --metrics-exporter says): one
//     server span per evaluation, named as flagd names them
//     (resolveBoolean, resolveString, resolveInt, resolveFloat,
//     resolveObject; resolveAnyValue for OFREP's untyped evaluations), on
//     the tracer "flagd.evaluation.v1", with flagd's feature_flag.key,
//     feature_flag.result.variant and feature_flag.provider_name, a child
//     of the caller's span when the request carried one (W3C traceparent,
//     read by [Telemetry.HTTPHandler] and [Telemetry.GRPCServerOptions]);
//     and a server span per sync call ([Telemetry.SyncInterceptor]), which
//     reads traceparent too.
//
// The exporters are chosen as flagd's autoexport-based setup chooses them
// (see spanExporter and metricReader): OTEL_TRACES_EXPORTER and
// OTEL_METRICS_EXPORTER (otlp, console, none) apply also without a
// collector URI; with one, OTLP goes to it unless
// OTEL_EXPORTER_OTLP_[TRACES_|METRICS_]ENDPOINT says otherwise. A value
// that does not exist is an error of New.
//
// The exporters never block an evaluation, and cost it little. An
// evaluation leaves a record of plain values (kind, key, variant, error
// code, time, the caller's span) in a bounded queue (Config.MaxQueuedSpans,
// or OTEL_BSP_MAX_QUEUE_SIZE); its span, ids and attributes are built from
// the record at export time, by the goroutine that drains the queue in
// batches (OTEL_BSP_MAX_EXPORT_BATCH_SIZE, at least every
// OTEL_BSP_SCHEDULE_DELAY, as the SDK's batch span processor does). A
// record that finds the queue full is dropped and counted
// ([Telemetry.DroppedSpans], the vexil.otel.spans.dropped counter).
// Metrics are observed counters: an evaluation adds one to an atomic
// counter of its combination of attributes, which the SDK reads at each
// export.
//
// The collector URI is http://HOST:PORT (plaintext), https://HOST:PORT
// (TLS), or HOST:PORT (plaintext, unless a certificate or CA is given).
// With CertPath and KeyPath the exporters present that client certificate
// (mTLS); with CAPath they verify the collector against that CA instead of
// the system's. The three files are read again every ReloadInterval (flagd's
// --otel-reload-interval); a read that fails keeps the previous ones.
//
// The OpenTelemetry SDK's environment variables apply where the options
// leave them: OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION (and their
// _METRICS_/_TRACES_ forms), OTEL_METRIC_EXPORT_INTERVAL,
// OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
// OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BSP_EXPORT_TIMEOUT, OTEL_RESOURCE_ATTRIBUTES
// and OTEL_SERVICE_NAME. The resource's service.name is "flagd" unless
// OTEL_SERVICE_NAME says otherwise, as flagd's.
package telemetry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/vexilhq/vexil/daemon/internal/resolve"
	"github.com/vexilhq/vexil/evaluator"
)

// Names flagd uses.
const (
	ScopeName       = "flagd"
	TracerName      = "flagd.evaluation.v1"
	ProviderName    = "flagd"
	ImpressionName  = "feature_flag.flagd.impression"
	ReasonName      = "feature_flag.flagd.result.reason"
	DroppedName     = "vexil.otel.spans.dropped"
	attrKey         = attribute.Key("feature_flag.key")
	attrVariant     = attribute.Key("feature_flag.result.variant")
	attrReason      = attribute.Key("feature_flag.reason")
	attrProvider    = attribute.Key("feature_flag.provider_name")
	attrException   = attribute.Key("ExceptionTypeKeyName")
	defaultService  = "flagd"
	defaultQueue    = 2048
	defaultReload   = time.Hour
	maxCachedCombos = 4096
)

// Config configures the exporters.
type Config struct {
	// CollectorURI is the collector's OTLP endpoint. Without it, only
	// OTEL_TRACES_EXPORTER and OTEL_METRICS_EXPORTER make exporters.
	CollectorURI string
	// Metrics exports flagd's metrics (--metrics-exporter otel).
	Metrics bool
	// CertPath and KeyPath are the client certificate and key (PEM) for
	// mTLS; CAPath the CA (PEM) that signs the collector's certificate.
	CertPath, KeyPath, CAPath string
	// ReloadInterval is how often the TLS files are read again; zero means
	// an hour, as flagd's default.
	ReloadInterval time.Duration
	// ServiceVersion is the resource's service.version.
	ServiceVersion string
	// MaxQueuedSpans bounds the spans waiting for export; zero means 2048
	// (the SDK's default queue).
	MaxQueuedSpans int
	// OnError, when set, is told of export and reload errors.
	OnError func(error)
}

// Telemetry exports evaluations; it is a resolve.Observer. It is safe for
// concurrent use.
type Telemetry struct {
	cfg Config
	mp  *sdkmetric.MeterProvider
	tp  *sdktrace.TracerProvider

	metrics    bool
	combos     sync.Map // combo → *comboOptions
	comboCount atomic.Int64

	queue   *spanQueue  // nil without traces
	spans   *spanExport // nil without traces
	tlsConf *reloadingTLS
}

// New builds the exporters; they connect lazily, so a collector that is
// not up yet is no error. Errors are bad options: a URI that does not
// parse, TLS files that do not load.
func New(ctx context.Context, cfg Config) (*Telemetry, error) {
	if cfg.ReloadInterval <= 0 {
		cfg.ReloadInterval = defaultReload
	}
	if cfg.MaxQueuedSpans <= 0 {
		cfg.MaxQueuedSpans = envInt(envQueueSize, defaultQueue)
	}
	t := &Telemetry{cfg: cfg}
	endpoint, secure, err := parseURI(cfg.CollectorURI)
	if err != nil {
		return nil, err
	}
	if cfg.CertPath != "" || cfg.KeyPath != "" || cfg.CAPath != "" {
		if (cfg.CertPath == "") != (cfg.KeyPath == "") {
			return nil, errors.New("a client certificate needs its key, and a key its certificate")
		}
		if t.tlsConf, err = newReloadingTLS(cfg.CertPath, cfg.KeyPath, cfg.CAPath); err != nil {
			return nil, err
		}
		secure = true
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", defaultService), attribute.String("service.version", cfg.ServiceVersion)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(), // OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME
	)
	if err != nil && res == nil {
		return nil, fmt.Errorf("resource: %w", err)
	}

	c := collector{endpoint: endpoint, secure: secure, tls: t.tlsConf}
	reader, err := metricReader(ctx, c, cfg.Metrics)
	if err != nil {
		return nil, fmt.Errorf("OpenTelemetry metrics: %w", err)
	}
	var meter metric.Meter
	if reader != nil {
		t.mp = sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(reader))
		meter = t.mp.Meter(ScopeName)
	}

	exp, client, err := spanExporter(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("OpenTelemetry traces: %w", err)
	}
	if exp != nil {
		t.queue = newSpanQueue(cfg.MaxQueuedSpans, min(envInt(envBatchSize, defaultBatchSize), cfg.MaxQueuedSpans))
		t.spans = newSpanExport(exp, t.queue, res)
		if client != nil {
			t.spans.client, t.spans.proto = client, newOTLPBatch(res, t.queue.batchSize)
		}
		// The SDK makes the sync calls' spans; the evaluations' are
		// built from their records at export time.
		t.tp = sdktrace.NewTracerProvider(
			sdktrace.WithResource(res),
			sdktrace.WithSampler(sdktrace.AlwaysSample()),
			sdktrace.WithSpanProcessor(queueProcessor{t.spans}),
		)
	}

	if meter != nil {
		// The counters are observed: an evaluation adds to an atomic
		// counter of its combination, and the SDK reads them all at each
		// export, so evaluations never pay for the SDK's aggregation.
		impressions, err := meter.Int64ObservableCounter(ImpressionName, metric.WithUnit("{impression}"),
			metric.WithDescription("The number of evaluations for a given flag"))
		if err != nil {
			return nil, err
		}
		reasons, err := meter.Int64ObservableCounter(ReasonName, metric.WithUnit("{reason}"),
			metric.WithDescription("The number of evaluations for a given reason"))
		if err != nil {
			return nil, err
		}
		dropped, err := meter.Int64ObservableCounter(DroppedName, metric.WithUnit("{span}"),
			metric.WithDescription("Evaluation spans dropped because the export queue was full"))
		if err != nil {
			return nil, err
		}
		if _, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			t.combos.Range(func(_, v any) bool {
				c := v.(*comboCounts)
				if c.impressionAttrs != nil {
					o.ObserveInt64(impressions, c.n.Load(), metric.WithAttributeSet(*c.impressionAttrs))
				}
				o.ObserveInt64(reasons, c.n.Load(), metric.WithAttributeSet(c.reasonAttrs))
				return true
			})
			if t.queue != nil {
				o.ObserveInt64(dropped, t.DroppedSpans())
			}
			return nil
		}, impressions, reasons, dropped); err != nil {
			return nil, err
		}
		t.metrics = true
	}
	return t, nil
}

// parseURI splits a collector URI into the exporters' host:port endpoint
// and whether its scheme asks for TLS.
func parseURI(uri string) (endpoint string, secure bool, err error) {
	if uri == "" {
		return "", false, nil
	}
	if !strings.Contains(uri, "://") {
		return uri, false, nil
	}
	u, err := url.Parse(uri)
	if err != nil {
		return "", false, fmt.Errorf("collector URI %q: %v", uri, err)
	}
	switch u.Scheme {
	case "http", "grpc":
	case "https", "grpcs":
		secure = true
	default:
		return "", false, fmt.Errorf("collector URI %q: want HOST:PORT, http://HOST:PORT or https://HOST:PORT", uri)
	}
	if u.Host == "" {
		return "", false, fmt.Errorf("collector URI %q has no host", uri)
	}
	return u.Host, secure, nil
}

// Run reloads the TLS files every ReloadInterval until ctx ends, then
// flushes and shuts the exporters down (within 5 s).
func (t *Telemetry) Run(ctx context.Context) error {
	exported := make(chan struct{})
	if t.spans != nil {
		go func() {
			defer close(exported)
			t.spans.run(ctx, t.cfg.OnError)
		}()
	} else {
		close(exported)
	}
	defer func() { <-exported }()
	var tick <-chan time.Time
	if t.tlsConf != nil {
		ticker := time.NewTicker(t.cfg.ReloadInterval)
		defer ticker.Stop()
		tick = ticker.C
	}
	for {
		select {
		case <-tick:
			if err := t.tlsConf.reload(); err != nil && t.cfg.OnError != nil {
				t.cfg.OnError(err)
			}
		case <-ctx.Done():
			return t.shutdown()
		}
	}
}

func (t *Telemetry) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	if t.tp != nil {
		errs = append(errs, t.tp.Shutdown(ctx), t.spans.shutdown(ctx))
	}
	if t.mp != nil {
		errs = append(errs, t.mp.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// Flush exports what is pending now.
func (t *Telemetry) Flush(ctx context.Context) error {
	var errs []error
	if t.spans != nil {
		errs = append(errs, t.spans.export(ctx))
	}
	if t.mp != nil {
		errs = append(errs, t.mp.ForceFlush(ctx))
	}
	return errors.Join(errs...)
}

// DroppedSpans is the number of spans dropped because the queue was full.
func (t *Telemetry) DroppedSpans() int64 {
	if t == nil || t.queue == nil {
		return 0
	}
	return t.queue.dropped.Load()
}

// combo is one combination of an evaluation's metric attributes.
type combo struct {
	key, variant, reason, code string
}

// comboCounts counts the evaluations of one combination.
type comboCounts struct {
	n               atomic.Int64
	impressionAttrs *attribute.Set // nil for a failed evaluation
	reasonAttrs     attribute.Set
}

// counts returns c's counter, adding it when it is new. Beyond
// maxCachedCombos combinations, a resolved evaluation is counted with an
// empty key and variant (the SDK, too, caps an instrument's attribute sets).
func (t *Telemetry) counts(c combo) *comboCounts {
	if v, ok := t.combos.Load(c); ok {
		return v.(*comboCounts)
	}
	if c.code == "" && t.comboCount.Load() >= maxCachedCombos {
		c.key, c.variant = "", ""
		if v, ok := t.combos.Load(c); ok {
			return v.(*comboCounts)
		}
	}
	n := &comboCounts{}
	if c.code != "" {
		n.reasonAttrs = attribute.NewSet(attrProvider.String(ProviderName), attrReason.String(c.reason), attrException.String(c.code))
	} else {
		set := attribute.NewSet(attrKey.String(c.key), attrVariant.String(c.variant), attrReason.String(c.reason), attrProvider.String(ProviderName))
		n.impressionAttrs = &set
		n.reasonAttrs = attribute.NewSet(attrProvider.String(ProviderName), attrReason.String(c.reason), attrKey.String(c.key))
	}
	v, loaded := t.combos.LoadOrStore(c, n)
	if !loaded {
		t.comboCount.Add(1)
	}
	return v.(*comboCounts)
}

// spanNames are flagd's evaluation span names, by kind.
var spanNames = [...]string{
	evaluator.KindAny:    "resolveAnyValue",
	evaluator.KindBool:   "resolveBoolean",
	evaluator.KindString: "resolveString",
	evaluator.KindInt:    "resolveInt",
	evaluator.KindFloat:  "resolveFloat",
	evaluator.KindObject: "resolveObject",
}

// Evaluated records one evaluation (resolve.Observer).
func (t *Telemetry) Evaluated(ctx context.Context, e resolve.Evaluation) {
	r := &e.Result
	if t.metrics {
		c := combo{reason: string(r.Reason)}
		if r.Err != nil {
			c.reason, c.code = string(evaluator.ReasonError), r.Err.Code.String()
		} else {
			c.key, c.variant = r.FlagKey, r.Variant
			if r.NoValue {
				c.variant = ""
			}
		}
		t.counts(c).n.Add(1)
	}
	if t.queue != nil {
		rec := evalRecord{at: time.Now(), parent: trace.SpanContextFromContext(ctx),
			key: r.FlagKey, variant: r.Variant, kind: e.Kind}
		if r.Err != nil {
			rec.code = r.Err.Code.String()
		}
		t.queue.pushRecord(rec)
	}
}

// SyncInterceptor returns a connect interceptor that traces the sync
// service's calls (flagd.sync.v1: SyncFlags, FetchAllFlags, GetMetadata):
// a server span per call, named as the RPC ("flagd.sync.v1.FlagSyncService/SyncFlags",
// as flagd's otelconnect interceptor names them), on the tracer
// "flagd.sync.v1", a child of the caller's span when the request carried
// one (W3C traceparent). Without a collector it passes calls through.
func (t *Telemetry) SyncInterceptor() connect.Interceptor { return syncInterceptor{t} }

type syncInterceptor struct{ t *Telemetry }

func (i syncInterceptor) start(ctx context.Context, procedure string, h http.Header) (context.Context, trace.Span) {
	ctx = propagation.TraceContext{}.Extract(ctx, propagation.HeaderCarrier(h))
	return i.t.tp.Tracer("flagd.sync.v1").Start(ctx, strings.TrimPrefix(procedure, "/"), trace.WithSpanKind(trace.SpanKindServer))
}

func (i syncInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	if i.t.tp == nil {
		return next
	}
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		ctx, span := i.start(ctx, req.Spec().Procedure, req.Header())
		defer span.End()
		resp, err := next(ctx, req)
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		return resp, err
	}
}

func (i syncInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i syncInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	if i.t.tp == nil {
		return next
	}
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, span := i.start(ctx, conn.Spec().Procedure, conn.RequestHeader())
		defer span.End()
		err := next(ctx, conn)
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		return err
	}
}

// reloadingTLS is the exporters' TLS configuration, whose client
// certificate and CA are read again by reload.
type reloadingTLS struct {
	certPath, keyPath, caPath string
	cert                      atomic.Pointer[tls.Certificate]
	roots                     atomic.Pointer[x509.CertPool]
}

func newReloadingTLS(certPath, keyPath, caPath string) (*reloadingTLS, error) {
	r := &reloadingTLS{certPath: certPath, keyPath: keyPath, caPath: caPath}
	return r, r.reload()
}

// reload reads the files; on error the previous ones stay.
func (r *reloadingTLS) reload() error {
	if r.certPath != "" {
		pair, err := tls.LoadX509KeyPair(r.certPath, r.keyPath)
		if err != nil {
			return fmt.Errorf("OpenTelemetry client certificate %s and key %s: %w", r.certPath, r.keyPath, err)
		}
		r.cert.Store(&pair)
	}
	if r.caPath != "" {
		pem, err := os.ReadFile(r.caPath)
		if err != nil {
			return fmt.Errorf("OpenTelemetry CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("OpenTelemetry CA %s: no PEM certificate in it", r.caPath)
		}
		r.roots.Store(pool)
	}
	return nil
}

// config returns a TLS configuration that reads the current certificate
// and CA on each handshake. With a CA, the collector's certificate is
// verified against it in VerifyConnection (as crypto/tls's example of
// custom verification does), since RootCAs cannot change.
func (r *reloadingTLS) config() *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if r.certPath != "" {
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return r.cert.Load(), nil
		}
	}
	if r.caPath != "" {
		c.InsecureSkipVerify = true // verified below, against the current CA
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the collector sent no certificate")
			}
			opts := x509.VerifyOptions{DNSName: cs.ServerName, Roots: r.roots.Load(), Intermediates: x509.NewCertPool()}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			return err
		}
	}
	return c
}
