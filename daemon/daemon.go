// Package daemon runs Vexil's flag daemon: it reads the configured flag
// sources into the merged flag store and serves it on four ports, as flagd
// does:
//
//   - evaluation: flagd.evaluation.v1, flagd.evaluation.v2 and schema.v1
//     over Connect, gRPC and gRPC-Web (HTTP/1.1 and HTTP/2: h2c without
//     TLS, ALPN with it), or on a unix socket (Config.SocketPath). The
//     connections of native gRPC clients are served by grpc-go, all others
//     by net/http and connect-go, with the same handlers (see
//     Config.DisableNativeGRPC and daemon/internal/grpcsplit);
//   - management: /healthz, /readyz and grpc.health.v1 (and /metrics), and
//     POST /api/v1/diff, the blast radius of a proposed document;
//   - sync: flagd.sync.v1 for in-process providers (or a unix socket);
//   - OFREP: /ofrep/v1/evaluate/flags, and with Config.OFREPEventStreams
//     its change events over server-sent events, /ofrep/v1/event-stream.
//
// With Config.TLSCertPath and TLSKeyPath the evaluation, sync and OFREP
// ports serve TLS, and a rotated certificate is served without a restart.
//
// The files, by concern:
//
//   - daemon.go: Config and the Daemon's lifecycle (New, Run);
//   - sources.go: the source kinds, how a SourceSpec opens one, and the
//     goroutines that feed the store (which name every update);
//   - services.go: the services the ports serve;
//   - policy.go: what every request passes through, on every port and
//     whichever server answers it (limits, CORS, metrics, and the slot of
//     authentication);
//   - endpoint.go: the listeners and their servers (on the evaluation and
//     OFREP ports without TLS, the HTTP/1.1 fast path of
//     daemon/internal/http1fast in front of net/http, see
//     Config.DisableHTTP1FastPath);
//   - management.go: /healthz, /readyz and grpc.health.v1;
//   - explainapi.go, diffapi.go: POST /api/v1/explain and /api/v1/diff on
//     the management port.
//
// Two places to know: every request, on every port, passes through its
// port's policy (policy.go); every flag evaluation, whatever the protocol,
// happens in daemon/internal/resolve, whose observers (metrics today) see
// them all.
//
// [Daemon.Run] blocks until its context ends and then shuts down
// gracefully. The package installs no signal handlers and changes no
// process-wide state (the command, vexil start, turns SIGINT and SIGTERM
// into the end of the context, and owns the garbage collector's settings
// through Config.AfterUpdate).
//
// Sources are given as URIs, as flagd's --uri takes them. Each URI scheme
// (or explicit provider) maps to a source kind in one explicit registry.
// With no source configured the daemon serves the bundled example flags
// (examples.DefaultFlagsPath), so that it runs on a fresh checkout.
package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vexilhq/vexil/daemon/internal/metrics"
	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/daemon/internal/telemetry"
	"github.com/vexilhq/vexil/daemon/internal/tlsreload"
	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/examples"
)

// Default ports, as flagd's.
const (
	DefaultPort           = 8013
	DefaultManagementPort = 8014
	DefaultSyncPort       = 8015
	DefaultOFREPPort      = 8016
)

// DefaultShutdownTimeout bounds the graceful shutdown of the servers.
const DefaultShutdownTimeout = 5 * time.Second

// EmbeddedSourceName is the name of the source that serves the bundled
// example when no source is configured.
const EmbeddedSourceName = "embedded:examples/" + examples.DefaultFlagsPath

// Config configures the daemon.
type Config struct {
	// Sources are the flag sources, in priority order: a flag of a later
	// source wins over the same flag of an earlier one. None means the
	// bundled example.
	Sources []SourceSpec
	// Port is the evaluation port; ManagementPort serves /healthz and
	// /readyz. 0 picks a free port (see Daemon.Addrs).
	Port           int
	ManagementPort int
	// SyncPort serves flagd.sync.v1 (in-process providers); OFREPPort
	// serves the OpenFeature Remote Evaluation Protocol.
	SyncPort  int
	OFREPPort int
	// BindAddress is the address to listen on; "" means every interface.
	BindAddress string
	// Strict rejects documents with the problems flagd only warns about.
	Strict bool
	// FractionalCBOR buckets "fractional" with the CBOR-hashed algorithm
	// (the testbed's @fractional-v3) instead of flagd's v2 bucketing.
	FractionalCBOR bool
	// Logger receives the daemon's logs; nil means slog.Default().
	Logger *slog.Logger
	// ShutdownTimeout bounds the graceful shutdown of the event streams and
	// the servers; 0 means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// AfterUpdate, when set, is called after each update that delivered a
	// document or removed a source's flags has been applied to the store
	// (loaded or rejected), from the goroutine of that source: several
	// sources may call it at once. The command sets the garbage
	// collector's memory limit from it; the daemon itself changes no
	// process-wide setting.
	AfterUpdate func()

	// StaticContext is set over every evaluation context and sent as the
	// sync streams' sync_context (flagd's --context-value).
	StaticContext map[string]any
	// ContextFromHeaders maps request header names to evaluation context
	// keys (flagd's --context-from-header).
	ContextFromHeaders map[string]string
	// OFREPETags turns on OFREP's caching of bulk evaluation (an ETag on
	// bulk answers, 304 to a matching If-None-Match), which flagd does not
	// implement; off, the OFREP port answers as flagd's.
	OFREPETags bool
	// OFREPEventStreams serves OFREP's change events over server-sent
	// events (GET /ofrep/v1/event-stream on the OFREP port) and lists that
	// stream in bulk responses' eventStreams, as the OFREP spec's event
	// streams describe (flagd's --ofrep-sse-enabled, newer than the flagd
	// Vexil follows); off, bulk responses are flagd's.
	OFREPEventStreams bool
	// CORSOrigins are the origins allowed to call the evaluation and OFREP
	// ports from a browser; "*" allows any, and so does none, as in flagd
	// (flagd's --cors-origin).
	CORSOrigins []string
	// TLSCertPath and TLSKeyPath, both set, make the evaluation, sync and
	// OFREP ports serve TLS (HTTP/2 by ALPN). The pair is reloaded when the
	// files change; a pair that does not load keeps the previous one
	// serving (flagd's --server-cert-path and --server-key-path).
	TLSCertPath string
	TLSKeyPath  string
	// SocketPath and SyncSocketPath, when set, serve the evaluation and the
	// sync service on a unix socket instead of their TCP port (flagd's
	// --socket-path and --sync-socket-path).
	SocketPath     string
	SyncSocketPath string
	// MaxRequestBodyBytes limits request bodies on every port: a larger
	// one is answered 413 (OFREP) or ResourceExhausted (Connect, gRPC). 0
	// means no limit (flagd's --max-request-body, whose command-line
	// default is 1,000,000).
	MaxRequestBodyBytes int64
	// MaxRequestHeaderBytes limits request headers on every port (431
	// beyond it); 0 means net/http's default of 1 MiB (flagd's
	// --max-request-header).
	MaxRequestHeaderBytes int
	// RequestBodyTimeout bounds the time a request's body (a native gRPC
	// call's request message) may take to arrive after its headers, on
	// every port: a slower one ends the request (408 from OFREP,
	// DeadlineExceeded from Connect and gRPC, and over HTTP/1.1 the
	// connection is closed). It does not bound streams, whose request
	// arrives at once. 0 means DefaultRequestBodyTimeout; a negative value,
	// none.
	RequestBodyTimeout time.Duration
	// StreamDeadline, when positive, ends every event and sync stream that
	// long after it opened (flagd's --stream-deadline).
	StreamDeadline time.Duration
	// DisableSyncMetadata turns off the sync service's GetMetadata (flagd's
	// --disable-sync-metadata).
	DisableSyncMetadata bool
	// DisableNativeGRPC serves every connection of the evaluation port with
	// net/http and connect-go. By default the connections of native gRPC
	// clients (grpc-go, grpc-java, grpc-js...: a first request with
	// content-type application/grpc from a client that is neither a
	// Connect client nor a proxy that says so, see grpcsplit.IsNativeGRPC)
	// are served by a grpc-go server, which answers a call with half the
	// CPU; the answers are the same. A connection is routed by its first
	// request, so set this behind a proxy that does not identify itself and
	// sends gRPC and other requests over one HTTP/2 connection.
	DisableNativeGRPC bool
	// DisableHTTP1FastPath serves every HTTP/1.1 request of the evaluation
	// and OFREP ports with net/http. By default the plainly framed
	// HTTP/1.1 requests of the unary evaluations (Connect Resolve* and
	// ResolveAll, OFREP single and bulk) on connections without TLS are
	// read and answered by daemon/internal/http1fast, through the same
	// handler chain, with the bytes net/http would write; every other
	// request hands its connection to net/http.
	DisableHTTP1FastPath bool
	// OpenTelemetry exports flagd's metrics and the evaluation and sync
	// spans to an OpenTelemetry Collector over OTLP/gRPC (flagd's
	// --metrics-exporter otel and --otel-* options). Prometheus metrics
	// stay on /metrics either way.
	OpenTelemetry OpenTelemetryConfig
}

// OpenTelemetryConfig says what goes to an OpenTelemetry Collector (see
// daemon/internal/telemetry).
type OpenTelemetryConfig struct {
	// Metrics pushes flagd's metrics over OTLP (--metrics-exporter otel)
	// to CollectorURI; without it, as flagd, nothing is pushed unless
	// OTEL_METRICS_EXPORTER asks for an exporter.
	Metrics bool
	// CollectorURI is the collector's OTLP endpoint (over gRPC, unless
	// OTEL_EXPORTER_OTLP_PROTOCOL is http/protobuf): HOST:PORT,
	// http://HOST:PORT or https://HOST:PORT. With it, evaluation and sync
	// spans are exported too, as flagd does.
	CollectorURI string
	// CertPath and KeyPath are a client certificate and key for mTLS,
	// CAPath the CA of the collector's certificate; all PEM.
	CertPath, KeyPath, CAPath string
	// ReloadInterval is how often the TLS files are read again; 0 means an
	// hour.
	ReloadInterval time.Duration
	// Version is the service.version the resource carries.
	Version string
}

// enabled says whether anything is exported: the options ask for it, or
// the environment does (OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER), as
// flagd honours it.
func (c OpenTelemetryConfig) enabled() bool {
	return c.Metrics || c.CollectorURI != "" || telemetry.FromEnvironment()
}

// OpenTelemetryError is OpenTelemetry options (or OTEL_* environment
// variables) that cannot be used: a collector URI that does not parse, TLS
// files that do not load, an exporter or protocol that does not exist. Like
// a SourceError, it is a mistake in the configuration.
type OpenTelemetryError struct{ Err error }

func (e *OpenTelemetryError) Error() string { return "OpenTelemetry: " + e.Err.Error() }

func (e *OpenTelemetryError) Unwrap() error { return e.Err }

// Addrs are the addresses the daemon listens on, as host:port.
type Addrs struct {
	Evaluation string
	Management string
	Sync       string
	OFREP      string
}

// Daemon is a configured daemon whose ports are open. Run serves it.
type Daemon struct {
	cfg       Config
	log       *slog.Logger
	sources   []namedSource
	store     *store.Store
	metrics   *metrics.Metrics
	telemetry *telemetry.Telemetry // nil without OpenTelemetry
	certs     *tlsreload.Reloader  // nil without TLS
	health    *health
	shutdowns []func(context.Context) error // the services' streams
	endpoints []*endpoint
}

// New opens the configured sources (without reading them yet) and the
// ports. It fails if a source cannot be configured, a port cannot be
// opened or the certificate does not load. Run serves the ports and
// closes them when it returns; a Daemon that is not run must be closed
// with Close.
func New(cfg Config) (*Daemon, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if (cfg.TLSCertPath == "") != (cfg.TLSKeyPath == "") {
		return nil, errors.New("daemon: TLS needs both a certificate and a key path")
	}
	sources, err := openSources(cfg.Sources, cfg.Strict, log)
	if err != nil {
		return nil, err
	}
	return newDaemon(cfg, log, sources)
}

// newDaemon is New with the sources opened.
func newDaemon(cfg Config, log *slog.Logger, sources []namedSource) (*Daemon, error) {
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	parser, err := evaluator.NewParser(evaluator.Options{Strict: cfg.Strict, FractionalCBOR: cfg.FractionalCBOR})
	if err != nil {
		return nil, fmt.Errorf("daemon: building the parser: %w", err)
	}
	names := make([]string, len(sources))
	for i, s := range sources {
		names[i] = s.name
	}
	d := &Daemon{
		cfg:     cfg,
		log:     log,
		sources: sources,
		store:   store.New(store.Config{Sources: names, Parser: parser}),
		metrics: metrics.New(),
	}
	for _, name := range names {
		d.metrics.SourceAdded(name)
	}
	if cfg.TLSCertPath != "" {
		d.certs, err = tlsreload.New(tlsreload.Config{
			CertPath: cfg.TLSCertPath,
			KeyPath:  cfg.TLSKeyPath,
			OnReload: func(c *tls.Certificate) {
				log.Info("TLS certificate reloaded", "subject", c.Leaf.Subject.String(), "notAfter", c.Leaf.NotAfter)
			},
			OnError: func(err error) { log.Error("TLS certificate not reloaded", "err", err) },
		})
		if err != nil {
			return nil, fmt.Errorf("daemon: %w", err)
		}
	}
	if o := cfg.OpenTelemetry; o.enabled() {
		d.telemetry, err = telemetry.New(context.Background(), telemetry.Config{
			CollectorURI: o.CollectorURI, Metrics: o.Metrics,
			CertPath: o.CertPath, KeyPath: o.KeyPath, CAPath: o.CAPath,
			ReloadInterval: o.ReloadInterval, ServiceVersion: o.Version,
			OnError: func(err error) { log.Error("OpenTelemetry", "err", err) },
		})
		if err != nil {
			return nil, fmt.Errorf("daemon: %w", &OpenTelemetryError{err})
		}
		t := d.telemetry
		d.metrics.Registry().MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "vexil_otel_spans_dropped_total",
			Help: "Spans dropped because the OpenTelemetry export queue was full.",
		}, func() float64 { return float64(t.DroppedSpans()) }))
	}
	d.health = newHealth()
	if err := d.openEndpoints(); err != nil {
		return nil, err
	}
	return d, nil
}

// Addrs are the addresses of the open ports.
func (d *Daemon) Addrs() Addrs {
	addr := map[string]string{}
	for _, e := range d.endpoints {
		addr[e.name] = e.ln.Addr().String()
	}
	return Addrs{Evaluation: addr["evaluation"], Management: addr["management"], Sync: addr["sync"], OFREP: addr["ofrep"]}
}

// Close closes the ports of a Daemon that is not run.
func (d *Daemon) Close() error {
	var errs []error
	for _, e := range d.endpoints {
		errs = append(errs, e.ln.Close())
	}
	return errors.Join(errs...)
}

// Run runs the daemon until ctx ends, then shuts it down gracefully: event
// streams are sent provider_shutdown, the servers finish the requests in
// flight (within the shutdown timeout), and the sources stop. It returns
// nil then, or an error if a server fails. Run is called once.
func (d *Daemon) Run(ctx context.Context) error {
	srcCtx, stopSources := context.WithCancel(context.Background())
	defer stopSources()
	var wg sync.WaitGroup
	d.runSources(srcCtx, &wg)
	if d.certs != nil {
		wg.Go(func() { _ = d.certs.Run(srcCtx) })
	}
	if d.telemetry != nil {
		// Stopped with the sources, after the servers: the last
		// evaluations' metrics and spans are flushed.
		wg.Go(func() {
			if err := d.telemetry.Run(srcCtx); err != nil {
				d.log.Warn("OpenTelemetry: not everything was exported at shutdown", "err", err)
			}
		})
	}

	serveErr := make(chan error, len(d.endpoints))
	var servers sync.WaitGroup
	for _, e := range d.endpoints {
		servers.Go(func() {
			if err := e.serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				serveErr <- fmt.Errorf("%s port: %w", e.name, err)
			}
		})
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("daemon: serving: %w", err)
	}

	d.log.Info("shutting down")
	d.health.shutDown()
	shCtx, cancel := context.WithTimeout(context.Background(), d.cfg.ShutdownTimeout)
	defer cancel()
	for _, shutdown := range d.shutdowns {
		if err := shutdown(shCtx); err != nil {
			d.log.Warn("streams did not end in time", "err", err)
		}
	}
	d.health.stop()
	var stopping sync.WaitGroup
	for _, e := range d.endpoints {
		stopping.Go(func() { e.shutdown(shCtx, d.log) })
	}
	stopping.Wait()
	servers.Wait()
	stopSources()
	wg.Wait()
	d.log.Info("stopped")
	return runErr
}

// Run runs a daemon of cfg until ctx ends (New, then Daemon.Run). ready,
// when not nil, is called once every port is listening, with their
// addresses.
func Run(ctx context.Context, cfg Config, ready func(Addrs)) error {
	d, err := New(cfg)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(d.Addrs())
	}
	return d.Run(ctx)
}
