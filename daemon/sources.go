package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/examples"
	"github.com/vexilhq/vexil/syncsources"
	"github.com/vexilhq/vexil/syncsources/blobsource"
	"github.com/vexilhq/vexil/syncsources/filesource"
	"github.com/vexilhq/vexil/syncsources/grpcsource"
	"github.com/vexilhq/vexil/syncsources/httpsource"
	"github.com/vexilhq/vexil/syncsources/kubesource"
)

// SourceSpec is one configured flag source.
type SourceSpec struct {
	// URI locates the source, such as "file:/etc/vexil/flags.json". It is
	// the source's name (in selectors and readiness).
	URI string
	// Provider names the kind of source; "" means the URI's scheme. With a
	// provider, the URI may be given without a scheme (a plain path for
	// "file"), as in flagd's --sources.
	Provider string

	// The options of flagd's --sources entries. Each applies to some kinds
	// of source only; one set on a kind it does not apply to is an error
	// (except tls, see sourceOptions).

	// Selector asks a gRPC source for one flag set (flagd's "selector").
	Selector string
	// ProviderID identifies this daemon to a gRPC source.
	ProviderID string
	// AuthHeader is a full Authorization header value for an HTTP source.
	AuthHeader string
	// Headers are extra request headers (HTTP) or metadata (gRPC).
	Headers map[string]string
	// Interval is an HTTP or blob source's polling interval; 0 means its
	// default.
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

// sourceOptions are the SourceSpec options, by their names in flagd's
// --sources, with the kinds of source that use each. flagd takes every
// option on every kind and ignores those that do not apply; a misplaced
// option is nearly always a mistake that flagd hides (a selector on an
// HTTP source serves every flag). As with every document problem flagd
// passes over, the daemon then warns, naming the kinds the option applies
// to, and refuses the spec under --strict (Config.Strict). Only "tls"
// elsewhere than on gRPC is a warning in both modes: flagd's documentation
// describes it as TLS in general, and an https:// URL has TLS anyway.
var sourceOptions = []struct {
	name  string
	kinds []string
	set   func(SourceSpec) bool
}{
	{"authHeader", []string{"http"}, func(s SourceSpec) bool { return s.AuthHeader != "" }},
	{"certPath", []string{"http", "grpc"}, func(s SourceSpec) bool { return s.CertPath != "" }},
	{"headers", []string{"http", "grpc"}, func(s SourceSpec) bool { return len(s.Headers) > 0 }},
	{"interval", []string{"http", "gcs", "s3", "azblob"}, func(s SourceSpec) bool { return s.Interval != 0 }},
	{"maxMsgSize", []string{"grpc"}, func(s SourceSpec) bool { return s.MaxMsgSize != 0 }},
	{"oauth", []string{"http"}, func(s SourceSpec) bool { return s.OAuth != nil }},
	{"providerID", []string{"grpc"}, func(s SourceSpec) bool { return s.ProviderID != "" }},
	{"selector", []string{"grpc"}, func(s SourceSpec) bool { return s.Selector != "" }},
	{"timeoutS", []string{"http"}, func(s SourceSpec) bool { return s.Timeout != 0 }},
	{"tls", []string{"grpc"}, func(s SourceSpec) bool { return s.TLS }},
}

// sourceKind is one kind of source: its name, and how it opens a spec
// (parsing the spec's URI) into a source.
type sourceKind struct {
	name string
	open func(spec SourceSpec, log *slog.Logger) (syncsources.Source, error)
}

// sourceKinds is the registry of source kinds, by provider name (the URI
// scheme). It is never modified.
var sourceKinds = map[string]sourceKind{
	"file": {"file", openFile},
	// flagd's two file back-ends, by provider name: "fsnotify" watches
	// (as "file" does here, which falls back to re-reading when watching
	// fails), "fileinfo" polls the file's modification time every second.
	"fsnotify": {"file", openFile},
	"fileinfo": {"file", openFileInfo},
	"http":     {"http", openHTTP},
	"https":    {"http", openHTTP},
	"grpc":     {"grpc", openGRPC},
	"grpcs":    {"grpc", openGRPC},
	// flagd's custom gRPC resolver targets: envoy://PROXY:PORT/SERVICE
	// and grpc-go's dns:///HOST:PORT.
	"envoy": {"grpc", openGRPC},
	"dns":   {"grpc", openGRPC},
	// Objects in buckets, by flagd's provider names and the URI schemes:
	// gs://BUCKET/PATH, s3://BUCKET/PATH, azblob://CONTAINER/PATH.
	"gcs":    {"gcs", openBlob("gcs")},
	"gs":     {"gcs", openBlob("gcs")},
	"s3":     {"s3", openBlob("s3")},
	"azblob": {"azblob", openBlob("azblob")},
	// FeatureFlag custom resources: core.openfeature.dev/NAMESPACE/NAME,
	// or with this provider NAMESPACE/NAME, as flagd takes them.
	"kubernetes": {"kubernetes", openKube},
}

// openSpec opens spec as a source of kind k. The options that do not apply
// to k (see sourceOptions) are refused when strict, and otherwise returned
// as warnings.
func (k sourceKind) openSpec(spec SourceSpec, strict bool, log *slog.Logger) (syncsources.Source, []string, error) {
	var warnings []string
	for _, o := range sourceOptions {
		if !o.set(spec) || slices.Contains(o.kinds, k.name) {
			continue
		}
		msg := fmt.Sprintf("option %q does not apply to %s sources (only to %s)", o.name, k.name, strings.Join(o.kinds, ", "))
		switch {
		case o.name == "tls":
			warnings = append(warnings, msg+"; ignored, as flagd ignores it")
		case strict:
			return nil, nil, fmt.Errorf("%s; remove it (--strict)", msg)
		default:
			warnings = append(warnings, msg+"; ignored, as flagd ignores it (--strict refuses it)")
		}
	}
	src, err := k.open(spec, log)
	return src, warnings, err
}

func openFile(spec SourceSpec, log *slog.Logger) (syncsources.Source, error) {
	cfg, err := fileConfig(spec)
	if err != nil {
		return nil, err
	}
	cfg.Logger = log
	return filesource.New(cfg)
}

// openFileInfo opens a file source that polls (flagd's "fileinfo").
func openFileInfo(spec SourceSpec, log *slog.Logger) (syncsources.Source, error) {
	cfg, err := fileConfig(spec)
	if err != nil {
		return nil, err
	}
	cfg.Logger = log
	cfg.PollInterval = filesource.DefaultPollInterval
	return filesource.New(cfg)
}

// fileConfig reads a file source's URI: file:PATH, or with a provider a
// plain path.
func fileConfig(spec SourceSpec) (filesource.Config, error) {
	if len(spec.URI) >= 5 && strings.EqualFold(spec.URI[:5], "file:") {
		return filesource.FromURI(spec.URI)
	}
	return filesource.Config{Path: spec.URI, Name: spec.URI}, nil
}

func openHTTP(spec SourceSpec, _ *slog.Logger) (syncsources.Source, error) {
	cfg, err := httpsource.FromURI(spec.URI)
	if err != nil {
		return nil, err
	}
	cfg.Interval, cfg.Timeout = spec.Interval, spec.Timeout
	cfg.AuthHeader, cfg.Headers, cfg.CAFile = spec.AuthHeader, spec.Headers, spec.CertPath
	if o := spec.OAuth; o != nil {
		cfg.OAuth = &httpsource.OAuthConfig{ClientID: o.ClientID, ClientSecret: o.ClientSecret, TokenURL: o.TokenURL}
	}
	return httpsource.New(cfg)
}

// openGRPC reads a flagd.sync.v1 server: grpc://host:port,
// grpcs://host:port, or with provider "grpc" a plain host:port, as flagd's
// --sources takes it (TLS then comes from the "tls" option).
func openGRPC(spec SourceSpec, _ *slog.Logger) (syncsources.Source, error) {
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
		return nil, err
	}
	cfg.TLS = cfg.TLS || spec.TLS
	cfg.CAFile, cfg.Selector, cfg.ProviderID = spec.CertPath, spec.Selector, spec.ProviderID
	cfg.Headers, cfg.MaxMsgSize = spec.Headers, spec.MaxMsgSize
	return grpcsource.New(cfg)
}

// openBlob opens a bucket object of one kind ("gcs", "s3", "azblob"),
// whose URI must have that kind's scheme, as flagd's provider needs.
func openBlob(kind string) func(SourceSpec, *slog.Logger) (syncsources.Source, error) {
	return func(spec SourceSpec, _ *slog.Logger) (syncsources.Source, error) {
		if k := blobsource.Kind(spec.URI); k != kind {
			scheme := map[string]string{"gcs": "gs", "s3": "s3", "azblob": "azblob"}[kind]
			return nil, fmt.Errorf("%s sources are written %s://BUCKET/PATH", kind, scheme)
		}
		cfg, err := blobsource.FromURI(spec.URI)
		if err != nil {
			return nil, err
		}
		cfg.Interval = spec.Interval
		return blobsource.New(cfg)
	}
}

func openKube(spec SourceSpec, log *slog.Logger) (syncsources.Source, error) {
	cfg, err := kubesource.FromURI(spec.URI)
	if err != nil {
		return nil, err
	}
	cfg.Logger = log
	return kubesource.New(cfg)
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

// SourceError is a source spec that cannot be opened: an unknown scheme
// or provider, a malformed URI, an option that does not fit. It is a
// mistake in the configuration (the command line exits 2 on it), where a
// source that fails while running is an outage.
type SourceError struct {
	URI string
	Err error
}

func (e *SourceError) Error() string { return e.Err.Error() }

func (e *SourceError) Unwrap() error { return e.Err }

// namedSource is a source and the name the daemon knows it by.
type namedSource struct {
	name string
	src  syncsources.Source
}

// openSources opens the specs through the registry; each source is named
// as flagd names it (see sourceName). Duplicate names count once, at their
// first place.
func openSources(specs []SourceSpec, strict bool, log *slog.Logger) ([]namedSource, error) {
	if len(specs) == 0 {
		data, err := examples.Flags.ReadFile(examples.DefaultFlagsPath)
		if err != nil {
			return nil, fmt.Errorf("daemon: reading the bundled example: %w", err)
		}
		return []namedSource{{
			name: EmbeddedSourceName,
			src:  &staticSource{data: data, format: evaluator.FormatForPath(examples.DefaultFlagsPath)},
		}}, nil
	}
	supported := strings.Join(slices.Sorted(maps.Keys(sourceKinds)), ", ")
	var out []namedSource
	seen := map[string]bool{}
	for _, spec := range specs {
		provider, ok := providerOf(spec)
		if !ok {
			return nil, &SourceError{spec.URI, fmt.Errorf("daemon: source %q has no URI scheme (supported: %s; a file is written file:PATH, a FeatureFlag %sNAMESPACE/NAME)",
				spec.URI, supported, kubesource.URIPrefix)}
		}
		kind, ok := sourceKinds[strings.ToLower(provider)]
		if !ok {
			return nil, &SourceError{spec.URI, fmt.Errorf("daemon: source %q: unsupported scheme or provider %q (supported: %s)", spec.URI, provider, supported)}
		}
		src, warnings, err := kind.openSpec(spec, strict, log.With("source", spec.URI))
		if err != nil {
			return nil, &SourceError{spec.URI, fmt.Errorf("daemon: source %q: %w", spec.URI, err)}
		}
		for _, w := range warnings {
			log.Warn(w, "source", spec.URI)
		}
		name := sourceName(spec, src)
		if seen[name] {
			log.Warn("source listed twice; using its first place", "source", spec.URI)
			continue
		}
		seen[name] = true
		out = append(out, namedSource{name: name, src: src})
	}
	return out, nil
}

// sourceName is the name a source is known by: in flag metadata
// ("source"), in "source=" selectors and in the sync service. It is the
// name the source gives itself, which is flagd's name for it (a file:
// URI is named by its path as written, without the scheme), else the
// spec's URI.
func sourceName(spec SourceSpec, src syncsources.Source) string {
	if n, ok := src.(interface{ Name() string }); ok && n.Name() != "" {
		return n.Name()
	}
	return spec.URI
}

// staticSource delivers one document and nothing more.
type staticSource struct {
	data   []byte
	format evaluator.Format
}

func (s *staticSource) Run(ctx context.Context, updates chan<- syncsources.Update) error {
	select {
	case updates <- syncsources.Update{Data: s.data, Format: s.format}:
	case <-ctx.Done():
		return ctx.Err()
	}
	<-ctx.Done()
	return ctx.Err()
}

// runSources starts the sources: for each, a goroutine runs it and
// another applies its updates to the store, on wg. The applier names each
// update with the source's name in the daemon, whatever name the source
// wrote (as Prometheus' discovery manager names its providers' target
// groups): a source that names itself otherwise cannot leave the daemon
// waiting for an "unknown source".
func (d *Daemon) runSources(ctx context.Context, wg *sync.WaitGroup) {
	for _, s := range d.sources {
		updates := make(chan syncsources.Update)
		wg.Go(func() {
			defer close(updates)
			err := s.src.Run(ctx, updates)
			if err != nil && ctx.Err() == nil {
				d.log.Error("source stopped", "source", s.name, "err", err)
				// Record it so that /readyz shows it; the applier is still
				// reading.
				updates <- syncsources.Update{Err: fmt.Errorf("source stopped: %w", err)}
			}
		})
		wg.Go(func() {
			for u := range updates {
				u.Source = s.name
				d.apply(u)
				if d.cfg.AfterUpdate != nil && (u.Data != nil || u.Removed) {
					d.cfg.AfterUpdate()
				}
			}
		})
	}
}

// apply applies one update and logs what it did.
func (d *Daemon) apply(u syncsources.Update) {
	log := d.log
	c, err := d.store.Apply(u)
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
	d.metrics.SourceUpdate(u.Source, c.Event.String(), state.Flags, state.Updated)
	problems := make([]string, len(state.Problems))
	for i, p := range state.Problems {
		problems[i] = p.String()
	}
	if c.HasFlagChanges() && log.Enabled(context.Background(), slog.LevelDebug) {
		logFlagChanges(log, u.Source, c)
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

// logFlagChanges logs, at debug level, the keys of the flags an update
// added, changed (by fingerprint: definition, or source) and removed, as
// "flagSetId/key" for a flag of a flag set.
func logFlagChanges(log *slog.Logger, source string, c store.Change) {
	added, changed, removed := []string{}, []string{}, []string{}
	for _, fc := range c.Flags() {
		name := fc.Key
		if fc.FlagSetID != "" {
			name = fc.FlagSetID + "/" + fc.Key
		}
		switch fc.Type {
		case store.ChangeWrite:
			added = append(added, name)
		case store.ChangeUpdate:
			changed = append(changed, name)
		case store.ChangeDelete:
			removed = append(removed, name)
		}
	}
	log.Debug("flags changed", "source", source, "added", added, "changed", changed, "removed", removed)
}
