// Package httpsource is the flag source for documents served over HTTP:
// `http://` and `https://` URIs.
//
// A [Source] polls its URL, at once and then every [Config.Interval], and
// delivers the document only when its bytes changed. It sends the last
// response's ETag in If-None-Match, so that a server that supports it
// answers 304 Not Modified instead of the whole document.
//
// The document's format is the response's Content-Type when that names JSON
// or YAML (application/json, application/yaml, text/yaml,
// application/x-yaml, or a +json or +yaml suffix), else the URL path's
// extension (.json, .yaml, .yml), else JSON.
//
// A request that fails (no connection, a timeout, a status other than 2xx,
// a body larger than [Config.MaxBodySize]) is an outage: the source sends
// a [syncsources.Update] with Err and keeps polling, retrying sooner than
// the interval with exponential backoff and jitter (see package
// [poll]). During an outage it sends another Update with Err only when the
// failure changes (the server refused connections and now answers 500), so
// that the consumer knows the latest failure without hearing every retry;
// when a request succeeds again it sends a snapshot, even if the document
// did not change. A document that does not parse is not an
// outage: the source delivers the bytes and the consumer rejects them.
//
// Requests can carry a fixed Authorization header, extra headers, or a
// bearer token obtained with the OAuth 2.0 client-credentials grant
// (RFC 6749 section 4.4, with golang.org/x/oauth2/clientcredentials),
// which the source caches until shortly before it expires.
package httpsource

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
	"github.com/vexilhq/vexil/syncsources/poll"
)

// Defaults of Config.
const (
	// DefaultInterval is the polling interval when Config.Interval is 0.
	DefaultInterval = 5 * time.Second
	// DefaultTimeout bounds each request when Config.Timeout is 0.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxBodySize bounds a response body when Config.MaxBodySize is
	// 0.
	DefaultMaxBodySize int64 = 64 << 20
)

// Config configures a Source.
type Config struct {
	// URL is the document's http or https URL. Required.
	URL string
	// Name is the source's name in updates (Update.Source); empty means
	// URL.
	Name string
	// Interval is the time between polls; 0 means DefaultInterval. It is
	// also the longest delay between retries after a failure.
	Interval time.Duration
	// Timeout bounds each request, reading the body included; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// AuthHeader, when set, is sent as the Authorization header, whole
	// ("Bearer abc", "Basic ..."). It excludes OAuth.
	AuthHeader string
	// Headers are extra request headers. "Host" sets the request's host.
	Headers map[string]string
	// CAFile is a PEM file of the CA certificates to trust instead of the
	// system's, for https URLs, as flagd's certPath (and the grpcsource's
	// CAFile).
	CAFile string
	// OAuth, when set, authenticates requests with a bearer token obtained
	// by the client-credentials grant. It excludes AuthHeader.
	OAuth *OAuthConfig
	// MaxBodySize bounds a response body, in bytes; a larger one is an
	// outage. 0 means DefaultMaxBodySize.
	MaxBodySize int64
}

// OAuthConfig are OAuth 2.0 client credentials.
type OAuthConfig struct {
	// ClientID and ClientSecret identify the client; TokenURL is the
	// authorization server's token endpoint (http or https). All required.
	ClientID     string
	ClientSecret string
	TokenURL     string
	// Scopes, when set, are requested as the scope parameter.
	Scopes []string
}

// FromURI makes a Config from an `http://` or `https://` URI. The Config's
// URL and Name are uri; the other fields are left at their defaults.
func FromURI(uri string) (Config, error) {
	if _, err := parseURL(uri); err != nil {
		return Config{}, err
	}
	return Config{URL: uri, Name: uri}, nil
}

// parseURL checks that raw is an absolute http or https URL with a host.
func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("httpsource: %w", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	default:
		return nil, fmt.Errorf("httpsource: %q is not an http or https URL", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("httpsource: %q has no host", raw)
	}
	return u, nil
}

// Source is a flag source polling one URL. Its Run may be called more than
// once, one after the other or at the same time; each run is independent,
// but they share the OAuth token.
type Source struct {
	url         string
	path        string // the URL's path, for the format
	name        string
	interval    time.Duration
	timeout     time.Duration
	authHeader  string
	headers     http.Header
	host        string
	tlsConfig   *tls.Config // nil: the default
	maxBodySize int64
	tokens      *tokenSource // nil without OAuth

	// Test hooks: the poller's clock and jitter.
	after func(time.Duration) <-chan time.Time
	rand  func() float64
}

var _ syncsources.Source = (*Source)(nil)

// New checks cfg, reads the CA file if any, and returns a source. It makes
// no request: a server that is down is an outage of the running source,
// not an error.
func New(cfg Config) (*Source, error) {
	u, err := parseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	s := &Source{
		url:         cfg.URL,
		path:        u.Path,
		name:        cfg.Name,
		interval:    cfg.Interval,
		timeout:     cfg.Timeout,
		authHeader:  cfg.AuthHeader,
		headers:     http.Header{},
		maxBodySize: cfg.MaxBodySize,
	}
	if s.name == "" {
		s.name = cfg.URL
	}
	switch {
	case s.interval == 0:
		s.interval = DefaultInterval
	case s.interval < 0:
		return nil, fmt.Errorf("httpsource: negative interval %v", cfg.Interval)
	}
	switch {
	case s.timeout == 0:
		s.timeout = DefaultTimeout
	case s.timeout < 0:
		return nil, fmt.Errorf("httpsource: negative timeout %v", cfg.Timeout)
	}
	switch {
	case s.maxBodySize == 0:
		s.maxBodySize = DefaultMaxBodySize
	case s.maxBodySize < 0:
		return nil, fmt.Errorf("httpsource: negative max body size %d", cfg.MaxBodySize)
	}
	if strings.ContainsAny(cfg.AuthHeader, "\r\n") {
		return nil, errors.New("httpsource: the auth header contains a line break")
	}
	for k, v := range cfg.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n\t") || strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("httpsource: invalid header %q", k)
		}
		if http.CanonicalHeaderKey(k) == "Host" {
			s.host = v
			continue
		}
		s.headers.Set(k, v)
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("httpsource: reading the CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("httpsource: no PEM certificate in the CA file %s", cfg.CAFile)
		}
		s.tlsConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if cfg.OAuth != nil {
		if cfg.AuthHeader != "" {
			return nil, errors.New("httpsource: an auth header and OAuth credentials are exclusive")
		}
		o := *cfg.OAuth
		if o.ClientID == "" || o.ClientSecret == "" || o.TokenURL == "" {
			return nil, errors.New("httpsource: OAuth needs a client ID, a client secret and a token URL")
		}
		if _, err := parseURL(o.TokenURL); err != nil {
			return nil, fmt.Errorf("httpsource: OAuth token URL: %w", err)
		}
		s.tokens = &tokenSource{now: time.Now, grant: &clientcredentials.Config{
			ClientID: o.ClientID, ClientSecret: o.ClientSecret, TokenURL: o.TokenURL,
			Scopes: append([]string(nil), o.Scopes...),
		}}
	}
	return s, nil
}

// Name is the source's name in updates.
func (s *Source) Name() string { return s.name }

// Run polls the URL and sends its document (or an outage) as soon as the
// first request ends, then a new snapshot whenever the bytes change, an
// outage when a request fails and a snapshot when one succeeds again, until
// ctx ends. It returns ctx's error, and does not send after returning. The
// Data it sends is never modified afterwards.
func (s *Source) Run(ctx context.Context, updates chan<- syncsources.Update) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// A transport per run, so that a run leaves no connection behind.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if s.tlsConfig != nil {
		tr.TLSClientConfig = s.tlsConfig.Clone()
	}
	defer tr.CloseIdleConnections()
	r := &run{
		Source: s,
		client: &http.Client{Transport: tr},
		send:   poll.Sender{Source: s.name, Updates: updates},
	}
	p := &poll.Poller{Interval: s.interval, After: s.after, Rand: s.rand}
	return p.Run(ctx, r.poll)
}

// run is the state of one Run.
type run struct {
	*Source
	client *http.Client

	etag string // of the last snapshot sent; "" after an outage
	send poll.Sender
}

// errNotModified is fetch's answer to 304 Not Modified.
var errNotModified = errors.New("not modified")

// poll fetches once and sends what changed. It returns the fetch's error
// (for the poller's backoff), or ctx's if ctx ended while sending.
func (r *run) poll(ctx context.Context) error {
	data, format, etag, err := r.fetch(ctx)
	switch {
	case errors.Is(err, errNotModified):
		return nil
	case err != nil:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.etag = ""
		return r.send.Failure(ctx, err)
	}
	r.etag = etag
	return r.send.Data(ctx, data, format)
}

// fetch makes one request. It returns errNotModified for a 304.
func (r *run) fetch(ctx context.Context) (data []byte, format evaluator.Format, etag string, err error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, 0, "", err
	}
	req.Header = r.headers.Clone()
	req.Header.Set("Accept", "application/json, application/yaml;q=0.9, */*;q=0.1")
	if r.host != "" {
		req.Host = r.host
	}
	switch {
	case r.tokens != nil:
		auth, err := r.tokens.header(ctx, r.client)
		if err != nil {
			return nil, 0, "", err
		}
		req.Header.Set("Authorization", auth)
	case r.authHeader != "":
		req.Header.Set("Authorization", r.authHeader)
	}
	if r.etag != "" {
		req.Header.Set("If-None-Match", r.etag)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, 0, "", err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && r.etag != "":
		return nil, 0, "", errNotModified
	case resp.StatusCode == http.StatusUnauthorized && r.tokens != nil:
		r.tokens.invalidate() // revoked early: get a new one next time
		fallthrough
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return nil, 0, "", fmt.Errorf("GET %s: %s", redact(req.URL), resp.Status)
	}
	if resp.ContentLength > r.maxBodySize {
		return nil, 0, "", fmt.Errorf("GET %s: body of %d bytes exceeds the limit of %d", redact(req.URL), resp.ContentLength, r.maxBodySize)
	}
	data, err = io.ReadAll(io.LimitReader(resp.Body, r.maxBodySize+1))
	if err != nil {
		return nil, 0, "", fmt.Errorf("GET %s: reading the body: %w", redact(req.URL), err)
	}
	if int64(len(data)) > r.maxBodySize {
		return nil, 0, "", fmt.Errorf("GET %s: body exceeds the limit of %d bytes", redact(req.URL), r.maxBodySize)
	}
	return data, FormatFor(resp.Header.Get("Content-Type"), r.path), resp.Header.Get("ETag"), nil
}

// redact is u without its password, for error messages.
func redact(u *url.URL) string { return u.Redacted() }

// FormatFor picks a document's format from its response's Content-Type, or
// else from its URL path's extension, or else JSON.
func FormatFor(contentType, urlPath string) evaluator.Format {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt, _, _ = strings.Cut(contentType, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
	}
	switch {
	case mt == "application/json", mt == "text/json", strings.HasSuffix(mt, "+json"):
		return evaluator.FormatJSON
	case mt == "application/yaml", mt == "application/x-yaml", mt == "text/yaml",
		mt == "text/x-yaml", strings.HasSuffix(mt, "+yaml"):
		return evaluator.FormatYAML
	}
	if f := evaluator.FormatForPath(urlPath); f != evaluator.FormatAuto {
		return f
	}
	return evaluator.FormatJSON
}
