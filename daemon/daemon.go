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
//   - management: /healthz, /readyz and grpc.health.v1 (and /metrics);
//   - sync: flagd.sync.v1 for in-process providers (or a unix socket);
//   - OFREP: /ofrep/v1/evaluate/flags.
//
// With Config.TLSCertPath and TLSKeyPath the evaluation, sync and OFREP
// ports serve TLS, and a rotated certificate is served without a restart.
// Request bodies and headers are bounded (MaxRequestBodyBytes,
// MaxRequestHeaderBytes), headers must arrive within a few seconds, and
// CORS is answered for the configured origins.
//
// [Run] blocks until its context ends and then shuts down gracefully. It
// installs no signal handlers and keeps no global state: the command line
// (vexil start) turns SIGINT and SIGTERM into the end of the context.
//
// Sources are given as URIs, as flagd's --uri takes them. Each URI scheme
// (or explicit provider) maps to a source constructor in one explicit
// registry. With no source configured the daemon serves the bundled
// example flags (examples.DefaultFlagsPath), so that it runs on a fresh
// checkout.
package daemon

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	connectcors "connectrpc.com/cors"
	"connectrpc.com/grpchealth"
	"github.com/rs/cors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/vexilhq/vexil/daemon/internal/evalsvc"
	"github.com/vexilhq/vexil/daemon/internal/grpcsplit"
	"github.com/vexilhq/vexil/daemon/internal/metrics"
	"github.com/vexilhq/vexil/daemon/internal/ofrep"
	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/daemon/internal/syncsvc"
	"github.com/vexilhq/vexil/daemon/internal/tlsreload"
	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/examples"
	"github.com/vexilhq/vexil/syncsources"
	"github.com/vexilhq/vexil/syncsources/filesource"
	"github.com/vexilhq/vexil/syncsources/grpcsource"
	"github.com/vexilhq/vexil/syncsources/httpsource"
	"github.com/vexilhq/vexil/syncsources/kubesource"
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
	// /readyz. 0 picks a free port (the actual addresses are passed to
	// Run's ready callback).
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

	// StaticContext is set over every evaluation context and sent as the
	// sync streams' sync_context (flagd's --context-value).
	StaticContext map[string]any
	// ContextFromHeaders maps request header names to evaluation context
	// keys (flagd's --context-from-header).
	ContextFromHeaders map[string]string
	// CORSOrigins are the origins allowed to call the evaluation and OFREP
	// ports from a browser; "*" allows any. None disables CORS (flagd's
	// --cors-origin).
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
	// MaxRequestBodyBytes limits request bodies on the evaluation and OFREP
	// ports: a larger one is answered 413 (OFREP) or ResourceExhausted
	// (Connect, gRPC). 0 means no limit (flagd's --max-request-body, whose
	// command-line default is 1,000,000).
	MaxRequestBodyBytes int64
	// MaxRequestHeaderBytes limits request headers on every port (431
	// beyond it); 0 means net/http's default of 1 MiB (flagd's
	// --max-request-header).
	MaxRequestHeaderBytes int
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
}

// SourceSpec is one configured flag source.
type SourceSpec struct {
	// URI locates the source, such as "file:/etc/vexil/flags.json". It is
	// the source's name (in selectors and readiness).
	URI string
	// Provider names the kind of source; "" means the URI's scheme. With a
	// provider, the URI may be given without a scheme (a plain path for
	// "file"), as in flagd's --sources.
	Provider string

	// The options of flagd's --sources entries; each kind of source uses
	// those that apply to it, and ignores the others.

	// Selector asks a gRPC source for one flag set (flagd's "selector").
	Selector string
	// ProviderID identifies this daemon to a gRPC source.
	ProviderID string
	// AuthHeader is a full Authorization header value for an HTTP source.
	AuthHeader string
	// Headers are extra request headers (HTTP) or metadata (gRPC).
	Headers map[string]string
	// Interval is an HTTP source's polling interval; 0 means its default.
	Interval time.Duration
	// TLS connects to a gRPC source with TLS (also implied by grpcs://).
	TLS bool
	// CertPath is a CA certificate (PEM) to trust for an HTTP or gRPC
	// source.
	CertPath string
	// Timeout bounds each HTTP request; 0 means the source's default.
	Timeout time.Duration
	// MaxMsgSize bounds a gRPC source's messages; 0 means its default.
	MaxMsgSize int
	// OAuth, when set, fetches bearer tokens by the client-credentials
	// grant for an HTTP source.
	OAuth *OAuthSpec
}

// OAuthSpec are OAuth 2.0 client credentials (flagd's "oauth").
type OAuthSpec struct {
	ClientID     string
	ClientSecret string
	TokenURL     string
}

// Addrs are the addresses the daemon listens on, as host:port.
type Addrs struct {
	Evaluation string
	Management string
	Sync       string
	OFREP      string
}

// sourceFactory builds a source from its spec; the source's updates are
// named name.
type sourceFactory func(spec SourceSpec, log *slog.Logger) (src syncsources.Source, name string, err error)

// providers is the registry of source kinds, by provider name (the URI
// scheme). It is never modified.
var providers = map[string]sourceFactory{
	"file":  newFileSource,
	"http":  newHTTPSource,
	"https": newHTTPSource,
	"grpc":  newGRPCSource,
	"grpcs": newGRPCSource,
	// FeatureFlag custom resources: core.openfeature.dev/NAMESPACE/NAME,
	// or with this provider NAMESPACE/NAME, as flagd takes them.
	"kubernetes": newKubeSource,
}

// supportedProviders lists the registry's provider names, sorted.
func supportedProviders() []string {
	names := make([]string, 0, len(providers))
	for name := range providers {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func newFileSource(spec SourceSpec, log *slog.Logger) (syncsources.Source, string, error) {
	var cfg filesource.Config
	if len(spec.URI) >= 5 && strings.EqualFold(spec.URI[:5], "file:") {
		var err error
		if cfg, err = filesource.FromURI(spec.URI); err != nil {
			return nil, "", err
		}
	} else {
		// An explicit provider with a plain path.
		cfg = filesource.Config{Path: spec.URI, Name: spec.URI}
	}
	cfg.Logger = log
	src, err := filesource.New(cfg)
	if err != nil {
		return nil, "", err
	}
	return src, src.Name(), nil
}

func newHTTPSource(spec SourceSpec, _ *slog.Logger) (syncsources.Source, string, error) {
	cfg, err := httpsource.FromURI(spec.URI)
	if err != nil {
		return nil, "", err
	}
	cfg.Interval, cfg.Timeout = spec.Interval, spec.Timeout
	cfg.AuthHeader, cfg.Headers, cfg.CAFile = spec.AuthHeader, spec.Headers, spec.CertPath
	if o := spec.OAuth; o != nil {
		cfg.OAuth = &httpsource.OAuthConfig{ClientID: o.ClientID, ClientSecret: o.ClientSecret, TokenURL: o.TokenURL}
	}
	src, err := httpsource.New(cfg)
	if err != nil {
		return nil, "", err
	}
	return src, src.Name(), nil
}

// newGRPCSource reads a flagd.sync.v1 server: grpc://host:port,
// grpcs://host:port, or with provider "grpc" a plain host:port, as flagd's
// --sources takes it (TLS then comes from the "tls" option).
func newGRPCSource(spec SourceSpec, _ *slog.Logger) (syncsources.Source, string, error) {
	uri := spec.URI
	if !strings.Contains(uri, "://") {
		scheme := "grpc://"
		if spec.TLS {
			scheme = "grpcs://"
		}
		uri = scheme + uri
	}
	cfg, err := grpcsource.FromURI(uri)
	if err != nil {
		return nil, "", err
	}
	cfg.Name = spec.URI
	cfg.TLS = cfg.TLS || spec.TLS
	cfg.CAFile, cfg.Selector, cfg.ProviderID = spec.CertPath, spec.Selector, spec.ProviderID
	cfg.Headers, cfg.MaxMsgSize = spec.Headers, spec.MaxMsgSize
	src, err := grpcsource.New(cfg)
	if err != nil {
		return nil, "", err
	}
	return src, src.Name(), nil
}

func newKubeSource(spec SourceSpec, log *slog.Logger) (syncsources.Source, string, error) {
	cfg, err := kubesource.FromURI(spec.URI)
	if err != nil {
		return nil, "", err
	}
	cfg.Logger = log
	src, err := kubesource.New(cfg)
	if err != nil {
		return nil, "", err
	}
	return src, spec.URI, nil
}

// providerOf returns the provider of a spec: its own, else the URI's
// scheme, else "kubernetes" for a FeatureFlag's core.openfeature.dev/
// path (which has no scheme, as in flagd).
func providerOf(spec SourceSpec) (string, bool) {
	if spec.Provider != "" {
		return spec.Provider, true
	}
	if len(spec.URI) > len(kubesource.URIPrefix) && strings.EqualFold(spec.URI[:len(kubesource.URIPrefix)], kubesource.URIPrefix) {
		return "kubernetes", true
	}
	scheme, _, ok := strings.Cut(spec.URI, ":")
	return scheme, ok && scheme != ""
}

// namedSource is a source and the name of its updates.
type namedSource struct {
	name string
	src  syncsources.Source
}

// buildSources maps the specs to sources through the registry. Duplicate
// names count once, at their first place.
func buildSources(specs []SourceSpec, log *slog.Logger) ([]namedSource, error) {
	if len(specs) == 0 {
		data, err := examples.Flags.ReadFile(examples.DefaultFlagsPath)
		if err != nil {
			return nil, fmt.Errorf("daemon: reading the bundled example: %w", err)
		}
		return []namedSource{{
			name: EmbeddedSourceName,
			src:  &staticSource{name: EmbeddedSourceName, data: data, format: evaluator.FormatForPath(examples.DefaultFlagsPath)},
		}}, nil
	}
	var out []namedSource
	seen := map[string]bool{}
	for _, spec := range specs {
		provider, ok := providerOf(spec)
		if !ok {
			return nil, fmt.Errorf("daemon: source %q has no URI scheme (supported: %s; a file is written file:PATH, a FeatureFlag %sNAMESPACE/NAME)",
				spec.URI, strings.Join(supportedProviders(), ", "), kubesource.URIPrefix)
		}
		factory, ok := providers[strings.ToLower(provider)]
		if !ok {
			return nil, fmt.Errorf("daemon: source %q: unsupported scheme or provider %q (supported: %s)",
				spec.URI, provider, strings.Join(supportedProviders(), ", "))
		}
		src, name, err := factory(spec, log.With("source", spec.URI))
		if err != nil {
			return nil, fmt.Errorf("daemon: source %q: %w", spec.URI, err)
		}
		if seen[name] {
			log.Warn("source listed twice; using its first place", "source", name)
			continue
		}
		seen[name] = true
		out = append(out, namedSource{name: name, src: src})
	}
	return out, nil
}

// staticSource delivers one document and nothing more.
type staticSource struct {
	name   string
	data   []byte
	format evaluator.Format
}

func (s *staticSource) Run(ctx context.Context, updates chan<- syncsources.Update) error {
	select {
	case updates <- syncsources.Update{Source: s.name, Data: s.data, Format: s.format}:
	case <-ctx.Done():
		return ctx.Err()
	}
	<-ctx.Done()
	return ctx.Err()
}

// Run runs the daemon until ctx ends, then shuts it down gracefully: event
// streams are sent provider_shutdown, the servers finish the requests in
// flight (within the shutdown timeout), and the sources stop. It returns
// nil then, or an error if the daemon cannot start (a source that cannot be
// configured, a port in use, a certificate that does not load) or a server
// fails.
//
// ready, when not nil, is called once every port is listening, with their
// addresses.
func Run(ctx context.Context, cfg Config, ready func(Addrs)) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	shutdownTimeout := cfg.ShutdownTimeout
	if shutdownTimeout <= 0 {
		shutdownTimeout = DefaultShutdownTimeout
	}
	if (cfg.TLSCertPath == "") != (cfg.TLSKeyPath == "") {
		return errors.New("daemon: TLS needs both a certificate and a key path")
	}

	tuneGC()
	sources, err := buildSources(cfg.Sources, log)
	if err != nil {
		return err
	}
	parser, err := evaluator.NewParser(evaluator.Options{Strict: cfg.Strict, FractionalCBOR: cfg.FractionalCBOR})
	if err != nil {
		return fmt.Errorf("daemon: building the parser: %w", err)
	}
	names := make([]string, len(sources))
	for i, s := range sources {
		names[i] = s.name
	}
	st := store.New(store.Config{Sources: names, Parser: parser})
	m := metrics.New()
	for _, name := range names {
		m.SourceAdded(name)
	}

	var certs *tlsreload.Reloader
	if cfg.TLSCertPath != "" {
		certs, err = tlsreload.New(tlsreload.Config{
			CertPath: cfg.TLSCertPath,
			KeyPath:  cfg.TLSKeyPath,
			OnReload: func(c *tls.Certificate) {
				log.Info("TLS certificate reloaded", "subject", c.Leaf.Subject.String(), "notAfter", c.Leaf.NotAfter)
			},
			OnError: func(err error) { log.Error("TLS certificate not reloaded", "err", err) },
		})
		if err != nil {
			return fmt.Errorf("daemon: %w", err)
		}
	}

	var connectOpts []connect.HandlerOption
	if cfg.MaxRequestBodyBytes > 0 {
		connectOpts = append(connectOpts, connect.WithReadMaxBytes(int(min(cfg.MaxRequestBodyBytes, math.MaxInt32))))
	}
	svc := evalsvc.New(evalsvc.Config{
		Store:              st,
		StaticContext:      cfg.StaticContext,
		ContextFromHeaders: cfg.ContextFromHeaders,
		StreamDeadline:     cfg.StreamDeadline,
		Options:            connectOpts,
		Metrics:            m,
	})
	syncSvc := syncsvc.New(syncsvc.Config{
		Store:               st,
		StaticContext:       cfg.StaticContext,
		DisableSyncMetadata: cfg.DisableSyncMetadata,
		StreamDeadline:      cfg.StreamDeadline,
		Logger:              log,
		Options:             connectOpts,
		Metrics:             m,
	})
	ofrepMux := http.NewServeMux()
	ofrepMux.Handle(ofrep.Prefix, ofrep.New(ofrep.Config{
		Store:              st,
		StaticContext:      cfg.StaticContext,
		ContextFromHeaders: cfg.ContextFromHeaders,
		Metrics:            m,
	}).Handler())

	// Measured inside CORS, so that preflights are not; "flagd" is the
	// service name flagd's metrics carry on both ports.
	evalHandler := m.HTTP("flagd", svc.Handler())
	ofrepHandler := m.HTTP("flagd", ofrepMux)
	// The body limit wraps the measuring: http.MaxBytesReader must see the
	// server's own ResponseWriter to close the connection after a body it
	// refused (a wrapped one hides that, and the connection is reused with
	// the unread rest of the body in it). OFREP answers 413 when its read
	// fails with the limit's error.
	if cfg.MaxRequestBodyBytes > 0 {
		evalHandler = http.MaxBytesHandler(evalHandler, cfg.MaxRequestBodyBytes)
		ofrepHandler = http.MaxBytesHandler(ofrepHandler, cfg.MaxRequestBodyBytes)
	}
	if len(cfg.CORSOrigins) > 0 {
		evalHandler = withCORS(cfg.CORSOrigins, evalHandler)
		ofrepHandler = withCORS(cfg.CORSOrigins, ofrepHandler)
	}
	health := newHealth(st)
	var newEvalGRPC func(...grpc.ServerOption) *grpc.Server
	if !cfg.DisableNativeGRPC {
		newEvalGRPC = svc.NewGRPCServer
	}

	// The ports, each an HTTP server; the services are shut down (their
	// streams told so) before the servers.
	endpoints := []*endpoint{
		{name: "evaluation", port: cfg.Port, socket: cfg.SocketPath, handler: evalHandler, h2c: true, tls: certs, newGRPC: newEvalGRPC},
		{name: "management", port: cfg.ManagementPort, handler: managementHandler(st, health, m.Handler()), h2c: true},
		{name: "sync", port: cfg.SyncPort, socket: cfg.SyncSocketPath, handler: syncSvc.Handler(), h2c: true, tls: certs},
		{name: "ofrep", port: cfg.OFREPPort, handler: ofrepHandler, tls: certs},
	}
	shutdowns := []func(context.Context) error{svc.Shutdown, syncSvc.Shutdown}
	for i, e := range endpoints {
		if e.ln, err = e.listen(cfg.BindAddress); err != nil {
			for _, prev := range endpoints[:i] {
				prev.ln.Close()
			}
			return fmt.Errorf("daemon: %s port: %w", e.name, err)
		}
		e.srv = &http.Server{
			Handler:           e.handler,
			ReadHeaderTimeout: readHeaderTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    cfg.MaxRequestHeaderBytes,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		var protocols http.Protocols
		protocols.SetHTTP1(true)
		if e.tls != nil {
			protocols.SetHTTP2(true)
			e.srv.TLSConfig = &tls.Config{GetCertificate: e.tls.GetCertificate, MinVersion: tls.VersionTLS12}
		} else if e.h2c {
			protocols.SetUnencryptedHTTP2(true)
		}
		e.srv.Protocols = &protocols
		if e.newGRPC != nil {
			e.setUpGRPC(cfg, m)
		}
	}

	// The sources: one goroutine runs each, another applies its updates.
	srcCtx, stopSources := context.WithCancel(context.Background())
	defer stopSources()
	var wg sync.WaitGroup
	for _, s := range sources {
		updates := make(chan syncsources.Update)
		wg.Go(func() {
			defer close(updates)
			err := s.src.Run(srcCtx, updates)
			if err != nil && srcCtx.Err() == nil {
				log.Error("source stopped", "source", s.name, "err", err)
				// Record it so that /readyz shows it; the applier is still
				// reading.
				updates <- syncsources.Update{Source: s.name, Err: fmt.Errorf("source stopped: %w", err)}
			}
		})
		wg.Go(func() {
			for u := range updates {
				apply(st, u, log, m)
				if u.Data != nil || u.Removed {
					// A collection now, so that the memory limit is computed
					// from the live heap of the flags just loaded; it also
					// gives back the garbage of parsing (many times a large
					// document's size), which the runtime returns only
					// slowly.
					allocs := heapAllocs()
					debug.FreeOSMemory()
					limitMemory(allocs)
				}
			}
		})
	}
	if certs != nil {
		wg.Go(func() { _ = certs.Run(srcCtx) })
	}

	serveErr := make(chan error, len(endpoints))
	var servers sync.WaitGroup
	for _, e := range endpoints {
		servers.Go(func() {
			var err error
			switch {
			case e.split != nil:
				err = e.serveSplit()
			case e.tls != nil:
				err = e.srv.ServeTLS(e.ln, "", "")
			default:
				err = e.srv.Serve(e.ln)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				serveErr <- fmt.Errorf("%s port: %w", e.name, err)
			}
		})
	}
	if ready != nil {
		addr := map[string]string{}
		for _, e := range endpoints {
			addr[e.name] = e.ln.Addr().String()
		}
		ready(Addrs{Evaluation: addr["evaluation"], Management: addr["management"], Sync: addr["sync"], OFREP: addr["ofrep"]})
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("daemon: serving: %w", err)
	}

	log.Info("shutting down")
	health.shutDown()
	shCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	for _, shutdown := range shutdowns {
		if err := shutdown(shCtx); err != nil {
			log.Warn("streams did not end in time", "err", err)
		}
	}
	var stopping sync.WaitGroup
	for _, e := range endpoints {
		if e.split != nil {
			stopping.Go(func() {
				if err := stopGRPC(shCtx, e.grpcSrv); err != nil {
					log.Warn("gRPC server did not stop in time; closing it", "port", e.name, "err", err)
				}
			})
		}
		if err := e.srv.Shutdown(shCtx); err != nil {
			log.Warn("server did not shut down in time; closing it", "port", e.name, "err", err)
			e.srv.Close()
		}
	}
	stopping.Wait()
	servers.Wait()
	stopSources()
	wg.Wait()
	log.Info("stopped")
	return runErr
}

// gcPercent is the daemon's GOGC. Requests allocate little that lives, and
// the flags are a small heap for most documents: a collection every time
// the heap doubles is several a second under load. 400 makes them four
// times rarer (measured: OFREP single 54,775 → 64,365 req/s, HTTP/JSON
// static 47,548 → 61,563 on one core), and limitMemory caps the growth it
// allows. A GOGC set by the operator wins.
const gcPercent = 400

// tuneGC applies gcPercent unless GOGC is set.
func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
}

// limitMemory sets a soft memory limit from the live heap, measured just
// after the forced collection of debug.FreeOSMemory: with GOGC alone
// the heap of a daemon serving a large document grows back, under load, to
// twice the live heap and more (the collector marks for hundreds of
// milliseconds on one core, and what the requests allocate meanwhile counts
// as live). The limit keeps GOGC's pacing below it and makes the collector
// run earlier as the heap nears it. It is live×1.5, and at least
// live+memoryLimitSlack so that a small live heap does not make the
// collector run constantly.
//
// The flags are servable before the collection ends, so requests may
// allocate during it, and the collector counts what is allocated while it
// marks as live: allocsBefore, the heap's cumulative allocations read
// before the collection, lets limitMemory take what was allocated since
// out of the live heap it reads. (Measured at 100,000 flags under load,
// the uncorrected live heap was 243 MB for 98 MB of flags.)
//
// A GOMEMLIMIT set by the operator wins: the daemon then leaves the limit
// alone. It is recomputed after every update.
func limitMemory(allocsBefore uint64) {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		return
	}
	sample := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/allocs:bytes"}}
	rtmetrics.Read(sample)
	if sample[0].Value.Kind() != rtmetrics.KindUint64 || sample[1].Value.Kind() != rtmetrics.KindUint64 {
		return
	}
	live := sample[0].Value.Uint64()
	// What was allocated during the collection was not all live, but some
	// of it may be: keep at least a quarter of what the collector found.
	during := sample[1].Value.Uint64() - allocsBefore
	live = max(live-min(during, live), live/4)
	l := int64(live)
	debug.SetMemoryLimit(max(l+l/2, l+memoryLimitSlack))
}

// heapAllocs is the heap's cumulative allocations, in bytes.
func heapAllocs() uint64 {
	sample := []rtmetrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	rtmetrics.Read(sample)
	if sample[0].Value.Kind() != rtmetrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}

// memoryLimitSlack is the least room limitMemory leaves above the live
// heap.
const memoryLimitSlack = 64 << 20

// Server timeouts. There is no read timeout: event and sync streams are
// long-lived, and request bodies are bounded by MaxRequestBodyBytes.
const (
	readHeaderTimeout = 5 * time.Second
	idleTimeout       = 2 * time.Minute
)

// endpoint is one listening port.
type endpoint struct {
	name    string
	port    int
	socket  string // a unix socket instead of the port
	handler http.Handler
	h2c     bool                // also serve HTTP/2 without TLS (gRPC clients)
	tls     *tlsreload.Reloader // serve TLS with its certificate
	ln      net.Listener
	srv     *http.Server

	// newGRPC, when set, returns a grpc-go server of the endpoint's
	// services, to serve native gRPC clients' connections (grpcsplit);
	// grpcSrv and split are then set by Run.
	newGRPC func(...grpc.ServerOption) *grpc.Server
	grpcSrv *grpc.Server
	split   *grpcsplit.Split
}

// setUpGRPC makes the endpoint serve native gRPC clients' connections
// with a grpc-go server, and the others with its HTTP server.
func (e *endpoint) setUpGRPC(cfg Config, m *metrics.Metrics) {
	var tlsConf *tls.Config
	if e.srv.TLSConfig != nil {
		tlsConf = e.srv.TLSConfig.Clone()
		tlsConf.NextProtos = []string{"h2", "http/1.1"}
		// The split decrypts: the HTTP server sees HTTP/2 over TLS as
		// unencrypted HTTP/2 (with Request.TLS set, see grpcsplit).
		e.srv.TLSConfig = nil
		e.srv.Protocols.SetUnencryptedHTTP2(true)
		e.srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
			if st, ok := grpcsplit.TLSState(c); ok {
				return context.WithValue(ctx, tlsStateKey{}, st)
			}
			return ctx
		}
		next := e.srv.Handler
		e.srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if st, ok := r.Context().Value(tlsStateKey{}).(*tls.ConnectionState); ok && r.TLS == nil {
				r.TLS = st
			}
			next.ServeHTTP(w, r)
		})
	}
	e.split = grpcsplit.New(e.ln, grpcsplit.Config{TLS: tlsConf, HandshakeTimeout: readHeaderTimeout, Routed: func(native bool) {
		if native {
			m.Connection(metrics.ServerGRPC)
		} else {
			m.Connection(metrics.ServerHTTP)
		}
	}})
	// The body limit counts the 5-byte prefix of the message, as the HTTP
	// body limit does; without one, grpc-go's default of 4 MiB would be a
	// limit Connect does not have.
	maxRecv := math.MaxInt32
	if cfg.MaxRequestBodyBytes > 0 {
		maxRecv = int(min(max(cfg.MaxRequestBodyBytes-5, 0), math.MaxInt32))
	}
	opts := []grpc.ServerOption{
		// Client keepalive pings at any rate, also between calls, as
		// net/http's HTTP/2 server accepts them (grpc-go's default policy
		// answers pings more often than every 5 minutes with GOAWAY).
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Nanosecond, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: idleTimeout}),
		grpc.MaxRecvMsgSize(maxRecv),
	}
	if cfg.MaxRequestHeaderBytes > 0 {
		opts = append(opts, grpc.MaxHeaderListSize(uint32(min(cfg.MaxRequestHeaderBytes, math.MaxUint32))))
	}
	if sh := m.GRPCStats("flagd", tlsConf != nil); sh != nil {
		opts = append(opts, grpc.StatsHandler(sh))
	}
	e.grpcSrv = e.newGRPC(opts...)
}

// tlsStateKey is the context key of the TLS state of a connection that the
// split decrypted.
type tlsStateKey struct{}

// serveSplit serves the endpoint's split listener: its HTTP server, its
// gRPC server and the split that feeds them, until the HTTP server shuts
// down; the gRPC server is stopped by stopGRPC.
func (e *endpoint) serveSplit() error {
	var wg sync.WaitGroup
	splitErr := make(chan error, 1)
	wg.Go(func() { splitErr <- e.split.Run() })
	wg.Go(func() { _ = e.grpcSrv.Serve(e.split.GRPC()) })
	err := e.srv.Serve(e.split.HTTP())
	e.split.Close()
	wg.Wait()
	if serr := <-splitErr; serr != nil && err == nil {
		err = serr
	}
	return err
}

// stopGRPC stops s gracefully, or at once when ctx ends first.
func stopGRPC(ctx context.Context, s *grpc.Server) error {
	done := make(chan struct{})
	go func() {
		s.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.Stop()
		<-done
		return ctx.Err()
	}
}

// listen opens the endpoint's listener: its unix socket when it has one,
// else its TCP port on bindAddress.
func (e *endpoint) listen(bindAddress string) (net.Listener, error) {
	if e.socket == "" {
		return net.Listen("tcp", net.JoinHostPort(bindAddress, strconv.Itoa(e.port)))
	}
	removeStaleSocket(e.socket)
	return net.Listen("unix", e.socket)
}

// removeStaleSocket removes a unix socket file that nothing listens on any
// more (left by a daemon that was killed), so that the socket can be
// opened again. A socket in use, or a file that is not a socket, is left
// for net.Listen to refuse.
func removeStaleSocket(path string) {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Type() != os.ModeSocket {
		return
	}
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		conn.Close()
		return
	}
	_ = os.Remove(path)
}

// withCORS answers browsers' preflight requests and adds CORS headers for
// the allowed origins ("*" allows any), with the methods and headers
// Connect, gRPC-Web and OFREP clients use.
func withCORS(origins []string, h http.Handler) http.Handler {
	return cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: []string{http.MethodGet, http.MethodPost, http.MethodHead, http.MethodOptions},
		AllowedHeaders: []string{"*"},
		ExposedHeaders: append(connectcors.ExposedHeaders(), "ETag"),
		MaxAge:         7200,
	}).Handler(h)
}

// apply applies one update and logs what it did.
func apply(st *store.Store, u syncsources.Update, log *slog.Logger, m *metrics.Metrics) {
	c, err := st.Apply(u)
	if err != nil && c.Event != store.EventRejected {
		log.Error("update not applied", "source", u.Source, "err", err)
		return
	}
	var state store.SourceState
	for _, s := range c.New.Sources() {
		if s.Name == u.Source {
			state = s
			break
		}
	}
	m.SourceUpdate(u.Source, c.Event.String(), state.Flags, state.Updated)
	problems := make([]string, len(state.Problems))
	for i, p := range state.Problems {
		problems[i] = p.String()
	}
	switch c.Event {
	case store.EventLoaded:
		if len(problems) > 0 {
			log.Warn("flags loaded with warnings", "source", u.Source, "flags", state.Flags, "problems", problems)
		} else {
			log.Info("flags loaded", "source", u.Source, "flags", state.Flags)
		}
	case store.EventRejected:
		log.Error("flag document rejected; the last good flags keep serving", "source", u.Source, "problems", problems)
	case store.EventOutage:
		log.Warn("source outage; the last good flags keep serving", "source", u.Source, "err", u.Err)
	case store.EventRemoved:
		log.Info("flags removed", "source", u.Source)
	}
}

// The states of a source in /readyz.
const (
	statePending  = "pending"  // nothing delivered yet
	stateLoaded   = "loaded"   // serving its latest document
	stateRejected = "rejected" // its latest document was rejected
	stateOutage   = "outage"   // it cannot deliver
	stateRemoved  = "removed"  // its flags were removed
)

// readyzSource is one source in the /readyz body.
type readyzSource struct {
	Name      string    `json:"name"`
	State     string    `json:"state"`
	Ready     bool      `json:"ready"`
	Flags     int       `json:"flags"`
	Rejected  int       `json:"rejected,omitempty"`
	LastError string    `json:"lastError,omitempty"`
	Problems  []string  `json:"problems,omitempty"`
	Updated   time.Time `json:"updated,omitzero"`
	Loaded    time.Time `json:"loaded,omitzero"`
}

// readyzBody is the /readyz body.
type readyzBody struct {
	Ready   bool           `json:"ready"`
	Sources []readyzSource `json:"sources"`
}

func sourceState(s store.SourceState) string {
	switch {
	case s.Outage:
		return stateOutage
	case s.LastError != "":
		return stateRejected
	case s.Removed:
		return stateRemoved
	case s.Delivered:
		return stateLoaded
	default:
		return statePending
	}
}

// managementHandler serves /healthz (200 while the daemon runs), /readyz
// (200 once every source has delivered, 412 before; the body describes
// each source), /metrics and grpc.health.v1.
func managementHandler(st *store.Store, checker grpchealth.Checker, metricsHandler http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metricsHandler)
	mux.Handle(grpchealth.NewHandler(checker))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		snap := st.Current()
		body := readyzBody{Ready: snap.Ready(), Sources: []readyzSource{}}
		for _, s := range snap.Sources() {
			rs := readyzSource{
				Name:      s.Name,
				State:     sourceState(s),
				Ready:     s.Delivered,
				Flags:     s.Flags,
				Rejected:  s.Rejected,
				LastError: s.LastError,
				Updated:   s.Updated,
				Loaded:    s.Loaded,
			}
			for _, p := range s.Problems {
				rs.Problems = append(rs.Problems, p.String())
			}
			body.Sources = append(body.Sources, rs)
		}
		data, err := json.Marshal(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if body.Ready {
			w.WriteHeader(http.StatusOK)
		} else {
			w.WriteHeader(http.StatusPreconditionFailed)
		}
		_, _ = w.Write(append(data, '\n'))
	})
	return mux
}
