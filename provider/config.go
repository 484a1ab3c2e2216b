package provider

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
)

// Resolver is the provider's mode of operation.
type Resolver string

// The resolvers.
const (
	// ResolverRPC evaluates every flag remotely, with the daemon's
	// flagd.evaluation.v2 service.
	ResolverRPC Resolver = "rpc"
	// ResolverInProcess receives the flag definitions from the daemon's
	// flagd.sync.v1 service and evaluates them locally.
	ResolverInProcess Resolver = "in-process"
	// ResolverFile reads the flag definitions from a local file
	// (WithOfflineFlagSourcePath), watches it, and evaluates locally.
	ResolverFile Resolver = "file"
)

// CacheType selects the rpc resolver's cache of STATIC results.
type CacheType string

// The cache types.
const (
	// CacheLRU keeps up to MaxCacheSize results, evicting the least
	// recently used.
	CacheLRU CacheType = "lru"
	// CacheMem keeps every result, without a bound.
	CacheMem CacheType = "mem"
	// CacheDisabled caches nothing.
	CacheDisabled CacheType = "disabled"
)

// Defaults, as flagd's providers have them.
const (
	DefaultHost              = "localhost"
	DefaultRPCPort           = 8013
	DefaultInProcessPort     = 8015
	DefaultDeadline          = 500 * time.Millisecond
	DefaultStreamDeadline    = 600 * time.Second
	DefaultRetryBackoff      = 1000 * time.Millisecond
	DefaultRetryBackoffMax   = 12000 * time.Millisecond
	DefaultRetryGracePeriod  = 5 * time.Second
	DefaultMaxCacheSize      = 1000
	DefaultOfflinePollPeriod = 5000 * time.Millisecond
)

// The environment variables the provider reads (config.feature's table).
const (
	EnvResolver          = "FLAGD_RESOLVER"
	EnvHost              = "FLAGD_HOST"
	EnvPort              = "FLAGD_PORT"
	EnvSyncPort          = "FLAGD_SYNC_PORT"
	EnvTargetURI         = "FLAGD_TARGET_URI"
	EnvTLS               = "FLAGD_TLS"
	EnvSocketPath        = "FLAGD_SOCKET_PATH"
	EnvCertPath          = "FLAGD_SERVER_CERT_PATH"
	EnvDeadlineMs        = "FLAGD_DEADLINE_MS"
	EnvStreamDeadlineMs  = "FLAGD_STREAM_DEADLINE_MS"
	EnvRetryBackoffMs    = "FLAGD_RETRY_BACKOFF_MS"
	EnvRetryBackoffMaxMs = "FLAGD_RETRY_BACKOFF_MAX_MS"
	EnvRetryGracePeriod  = "FLAGD_RETRY_GRACE_PERIOD"
	EnvKeepAliveTimeMs   = "FLAGD_KEEP_ALIVE_TIME_MS"
	EnvCache             = "FLAGD_CACHE"
	EnvMaxCacheSize      = "FLAGD_MAX_CACHE_SIZE"
	EnvSourceSelector    = "FLAGD_SOURCE_SELECTOR"
	EnvProviderID        = "FLAGD_PROVIDER_ID"
	EnvOfflinePath       = "FLAGD_OFFLINE_FLAG_SOURCE_PATH"
	EnvOfflinePollMs     = "FLAGD_OFFLINE_POLL_MS"
	EnvFatalStatusCodes  = "FLAGD_FATAL_STATUS_CODES"
)

// ContextEnricher maps the sync_context a flagd.sync.v1 server sends (the
// daemon's static context) to the evaluation context every local evaluation
// starts from; the caller's context is merged over it.
type ContextEnricher func(syncContext map[string]any) *openfeature.EvaluationContext

// Option configures a Provider. An option wins over its environment
// variable, which wins over the default.
type Option func(*settings)

// settings are the options as given: nil means not given.
type settings struct {
	resolver         *Resolver
	host             *string
	port             *int
	targetURI        *string
	tls              *bool
	certPath         *string
	socketPath       *string
	deadline         *time.Duration
	streamDeadline   *time.Duration
	retryBackoff     *time.Duration
	retryBackoffMax  *time.Duration
	retryGracePeriod *time.Duration
	keepAlive        *time.Duration
	cache            *CacheType
	maxCacheSize     *int
	selector         *string
	providerID       *string
	offlinePath      *string
	offlinePoll      *time.Duration
	fatalStatusCodes []string
	fatalSet         bool
	fractionalCBOR   bool
	enricher         ContextEnricher
	logger           *slog.Logger
	lookupEnv        func(string) (string, bool)
}

func ptr[T any](v T) *T { return &v }

// WithResolver sets the mode of operation (FLAGD_RESOLVER: rpc, in-process
// or file, in any case). Default: rpc. With an offline flag source path,
// in-process means file.
func WithResolver(r Resolver) Option { return func(s *settings) { s.resolver = ptr(r) } }

// WithHost sets the daemon's host (FLAGD_HOST). Default: localhost.
func WithHost(host string) Option { return func(s *settings) { s.host = ptr(host) } }

// WithPort sets the daemon's port (FLAGD_PORT; for in-process,
// FLAGD_SYNC_PORT wins over FLAGD_PORT). Default: 8013 for rpc, 8015 for
// in-process.
func WithPort(port int) Option { return func(s *settings) { s.port = ptr(port) } }

// WithTargetURI sets a target to connect to instead of host and port
// (FLAGD_TARGET_URI): "host:port", "dns:///host:port", or
// "envoy://host:port/authority", which connects to host:port and names
// authority as the request's authority (Host header). Default: none.
func WithTargetURI(uri string) Option { return func(s *settings) { s.targetURI = ptr(uri) } }

// WithTLS connects with TLS (FLAGD_TLS). Default: false.
func WithTLS(on bool) Option { return func(s *settings) { s.tls = ptr(on) } }

// WithCertPath sets a PEM CA certificate to trust for TLS
// (FLAGD_SERVER_CERT_PATH); it implies TLS. It replaces the system's roots,
// as flagd's providers do: a server whose certificate this CA did not sign
// is refused. Default: none (the system's roots).
func WithCertPath(path string) Option { return func(s *settings) { s.certPath = ptr(path) } }

// WithSocketPath connects to a unix socket instead of host and port
// (FLAGD_SOCKET_PATH). Default: none.
func WithSocketPath(path string) Option { return func(s *settings) { s.socketPath = ptr(path) } }

// WithDeadline bounds each unary call and the initialization
// (FLAGD_DEADLINE_MS, in milliseconds). Default: 500ms.
func WithDeadline(d time.Duration) Option { return func(s *settings) { s.deadline = ptr(d) } }

// WithStreamDeadline ends each event or sync stream after d, to open a new
// one at once (FLAGD_STREAM_DEADLINE_MS, in milliseconds; 0 means none).
// Default: 600s.
func WithStreamDeadline(d time.Duration) Option {
	return func(s *settings) { s.streamDeadline = ptr(d) }
}

// WithRetryBackoff sets the first wait before reconnecting; it doubles at
// each failed attempt up to WithRetryBackoffMax, with jitter
// (FLAGD_RETRY_BACKOFF_MS). Default: 1000ms.
func WithRetryBackoff(d time.Duration) Option { return func(s *settings) { s.retryBackoff = ptr(d) } }

// WithRetryBackoffMax caps the wait between reconnection attempts
// (FLAGD_RETRY_BACKOFF_MAX_MS). Default: 12000ms.
func WithRetryBackoffMax(d time.Duration) Option {
	return func(s *settings) { s.retryBackoffMax = ptr(d) }
}

// WithRetryGracePeriod sets how long the provider stays STALE after losing
// its connection before it reports ERROR (FLAGD_RETRY_GRACE_PERIOD, in
// seconds). Default: 5s.
func WithRetryGracePeriod(d time.Duration) Option {
	return func(s *settings) { s.retryGracePeriod = ptr(d) }
}

// WithKeepAliveTime sets the HTTP/2 keepalive ping interval of the sync
// connection, and the TCP keepalive of the rpc connection
// (FLAGD_KEEP_ALIVE_TIME_MS; 0 means none). Default: 0.
func WithKeepAliveTime(d time.Duration) Option { return func(s *settings) { s.keepAlive = ptr(d) } }

// WithCache selects the rpc resolver's cache of STATIC results
// (FLAGD_CACHE: lru, mem or disabled). Default: lru.
func WithCache(c CacheType) Option { return func(s *settings) { s.cache = ptr(c) } }

// WithMaxCacheSize bounds the lru cache (FLAGD_MAX_CACHE_SIZE). Default: 1000.
func WithMaxCacheSize(n int) Option { return func(s *settings) { s.maxCacheSize = ptr(n) } }

// WithSelector selects a flag set or a source on the daemon
// (FLAGD_SOURCE_SELECTOR), sent as the sync request's selector and the
// Flagd-Selector header. Default: none.
func WithSelector(sel string) Option { return func(s *settings) { s.selector = ptr(sel) } }

// WithProviderID identifies this provider to the sync service
// (FLAGD_PROVIDER_ID). Default: none.
func WithProviderID(id string) Option { return func(s *settings) { s.providerID = ptr(id) } }

// WithOfflineFlagSourcePath reads the flags from a local file, watched for
// changes (FLAGD_OFFLINE_FLAG_SOURCE_PATH); it turns the in-process
// resolver into the file resolver. Default: none.
func WithOfflineFlagSourcePath(path string) Option {
	return func(s *settings) { s.offlinePath = ptr(path) }
}

// WithOfflinePollInterval is accepted for compatibility
// (FLAGD_OFFLINE_POLL_MS): the file resolver watches the file for changes
// instead of polling it. Default: 5000ms.
func WithOfflinePollInterval(d time.Duration) Option {
	return func(s *settings) { s.offlinePoll = ptr(d) }
}

// WithFatalStatusCodes names gRPC status codes ("PERMISSION_DENIED",
// "UNAVAILABLE", ...) that, answered before the provider first connects,
// make it give up: it becomes FATAL and stops retrying
// (FLAGD_FATAL_STATUS_CODES, comma-separated). Default: none.
func WithFatalStatusCodes(codes ...string) Option {
	return func(s *settings) { s.fatalStatusCodes, s.fatalSet = codes, true }
}

// WithFractionalCBOR makes the in-process and file resolvers bucket the
// "fractional" operation with the CBOR-hashed algorithm (the testbed's
// "fractional v3", as the daemon's --fractional-cbor does) instead of the
// default high-precision integer bucketing ("fractional v2"). It has no
// effect on the rpc resolver, which evaluates in the daemon: start the
// daemon with --fractional-cbor for that. No flagd environment variable
// sets it. Default: false.
func WithFractionalCBOR(on bool) Option { return func(s *settings) { s.fractionalCBOR = on } }

// WithContextEnricher maps the sync_context of the in-process resolver's
// sync messages to the context local evaluations start from. Default: the
// sync context as it is.
func WithContextEnricher(f ContextEnricher) Option { return func(s *settings) { s.enricher = f } }

// WithLogger receives the provider's logs (connections lost and
// regained, documents rejected). Default: none.
func WithLogger(l *slog.Logger) Option { return func(s *settings) { s.logger = l } }

// WithLookupEnv replaces the environment lookup (os.LookupEnv), for tests
// or to read configuration from elsewhere. nil reads no environment.
func WithLookupEnv(lookup func(string) (string, bool)) Option {
	return func(s *settings) {
		if lookup == nil {
			lookup = func(string) (string, bool) { return "", false }
		}
		s.lookupEnv = lookup
	}
}

// config is the resolved configuration.
type config struct {
	Resolver         Resolver
	Host             string
	Port             int
	TargetURI        string
	TLS              bool
	CertPath         string
	SocketPath       string
	Deadline         time.Duration
	StreamDeadline   time.Duration
	RetryBackoff     time.Duration
	RetryBackoffMax  time.Duration
	RetryGracePeriod time.Duration
	KeepAlive        time.Duration
	Cache            CacheType
	MaxCacheSize     int
	Selector         string
	ProviderID       string
	OfflinePath      string
	OfflinePoll      time.Duration
	FatalStatusCodes []string
	FractionalCBOR   bool
	Enricher         ContextEnricher
	Logger           *slog.Logger
}

// resolveConfig applies the options over the environment over the
// defaults. It is pure: the environment is read through s.lookupEnv.
func resolveConfig(s settings) (config, error) {
	lookup := s.lookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var errs []error
	env := func(name string) (string, bool) {
		v, ok := lookup(name)
		if !ok || strings.TrimSpace(v) == "" {
			return "", false
		}
		return strings.TrimSpace(v), true
	}
	str := func(opt *string, name, def string) string {
		if opt != nil {
			return *opt
		}
		if v, ok := env(name); ok {
			return v
		}
		return def
	}
	integer := func(name string) (int, bool) {
		v, ok := env(name)
		if !ok {
			return 0, false
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("%s=%q: not a non-negative integer", name, v))
			return 0, false
		}
		return n, true
	}
	dur := func(opt *time.Duration, name string, unit, def time.Duration) time.Duration {
		if opt != nil {
			return *opt
		}
		if n, ok := integer(name); ok {
			return time.Duration(n) * unit
		}
		return def
	}

	var c config
	// Resolver.
	switch {
	case s.resolver != nil:
		c.Resolver = *s.resolver
	default:
		c.Resolver = ResolverRPC
		if v, ok := env(EnvResolver); ok {
			c.Resolver = Resolver(v)
		}
	}
	r, err := parseResolver(string(c.Resolver))
	if err != nil {
		errs = append(errs, err)
	}
	c.Resolver = r
	c.OfflinePath = str(s.offlinePath, EnvOfflinePath, "")
	if c.OfflinePath != "" && c.Resolver == ResolverInProcess {
		c.Resolver = ResolverFile
	}
	if c.Resolver == ResolverFile && c.OfflinePath == "" {
		errs = append(errs, errors.New("the file resolver needs an offline flag source path"))
	}

	c.Host = str(s.host, EnvHost, DefaultHost)
	switch {
	case s.port != nil:
		c.Port = *s.port
	case c.Resolver == ResolverInProcess:
		c.Port = DefaultInProcessPort
		if n, ok := integer(EnvSyncPort); ok {
			c.Port = n
		} else if n, ok := integer(EnvPort); ok {
			c.Port = n
		}
	default:
		c.Port = DefaultRPCPort
		if n, ok := integer(EnvPort); ok {
			c.Port = n
		}
	}
	c.TargetURI = str(s.targetURI, EnvTargetURI, "")
	switch {
	case s.tls != nil:
		c.TLS = *s.tls
	default:
		if v, ok := env(EnvTLS); ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: not a boolean", EnvTLS, v))
			}
			c.TLS = b
		}
	}
	c.CertPath = str(s.certPath, EnvCertPath, "")
	c.SocketPath = str(s.socketPath, EnvSocketPath, "")
	c.Deadline = dur(s.deadline, EnvDeadlineMs, time.Millisecond, DefaultDeadline)
	c.StreamDeadline = dur(s.streamDeadline, EnvStreamDeadlineMs, time.Millisecond, DefaultStreamDeadline)
	c.RetryBackoff = dur(s.retryBackoff, EnvRetryBackoffMs, time.Millisecond, DefaultRetryBackoff)
	c.RetryBackoffMax = dur(s.retryBackoffMax, EnvRetryBackoffMaxMs, time.Millisecond, DefaultRetryBackoffMax)
	c.RetryGracePeriod = dur(s.retryGracePeriod, EnvRetryGracePeriod, time.Second, DefaultRetryGracePeriod)
	c.KeepAlive = dur(s.keepAlive, EnvKeepAliveTimeMs, time.Millisecond, 0)
	c.OfflinePoll = dur(s.offlinePoll, EnvOfflinePollMs, time.Millisecond, DefaultOfflinePollPeriod)

	cache := str((*string)(s.cache), EnvCache, string(CacheLRU))
	switch CacheType(strings.ToLower(cache)) {
	case CacheLRU, CacheMem, CacheDisabled:
		c.Cache = CacheType(strings.ToLower(cache))
	default:
		errs = append(errs, fmt.Errorf("unknown cache type %q (want lru, mem or disabled)", cache))
	}
	switch {
	case s.maxCacheSize != nil:
		c.MaxCacheSize = *s.maxCacheSize
	default:
		c.MaxCacheSize = DefaultMaxCacheSize
		if n, ok := integer(EnvMaxCacheSize); ok {
			c.MaxCacheSize = n
		}
	}
	c.Selector = str(s.selector, EnvSourceSelector, "")
	c.ProviderID = str(s.providerID, EnvProviderID, "")
	switch {
	case s.fatalSet:
		c.FatalStatusCodes = s.fatalStatusCodes
	default:
		if v, ok := env(EnvFatalStatusCodes); ok {
			c.FatalStatusCodes = splitList(v)
		}
	}
	c.FractionalCBOR = s.fractionalCBOR
	c.Enricher = s.enricher
	c.Logger = s.logger
	if c.Deadline <= 0 {
		errs = append(errs, errors.New("the deadline must be positive"))
	}
	if c.RetryBackoff <= 0 || c.RetryBackoffMax < c.RetryBackoff {
		errs = append(errs, errors.New("the retry backoff must be positive and at most the maximum backoff"))
	}
	if c.Cache == CacheLRU && c.MaxCacheSize <= 0 {
		errs = append(errs, errors.New("the lru cache needs a positive maximum size"))
	}
	return c, errors.Join(errs...)
}

// parseResolver reads a resolver name in any case; "in_process" and
// "inprocess" are taken as "in-process".
func parseResolver(s string) (Resolver, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "rpc":
		return ResolverRPC, nil
	case "in-process", "in_process", "inprocess":
		return ResolverInProcess, nil
	case "file", "offline":
		return ResolverFile, nil
	}
	return ResolverRPC, fmt.Errorf("unknown resolver %q (want rpc, in-process or file)", s)
}

// splitList splits a comma-separated list, trimming spaces and dropping
// empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
