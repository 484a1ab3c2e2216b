// Package blobsource is the flag source for documents kept in a cloud
// bucket, as flagd takes them: `gs://BUCKET/PATH` (Google Cloud Storage),
// `s3://BUCKET/PATH` (Amazon S3 or an S3-compatible store) and
// `azblob://CONTAINER/PATH` (Azure Blob Storage). It reads them through
// gocloud.dev/blob's URL openers, which take their credentials from the
// environment as each cloud's SDK does (GOOGLE_APPLICATION_CREDENTIALS or
// STORAGE_EMULATOR_HOST; AWS_* and ~/.aws; AZURE_STORAGE_ACCOUNT with
// AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN or
// AZURE_STORAGE_CONNECTION_STRING).
//
// A URI's query string holds the opener's options and moves onto the bucket
// URL, as in flagd: `s3://bucket/flags.json?region=eu-west-1&endpoint=...`
// (region, endpoint, use_path_style, disable_https, anonymous, profile and
// the other options of gocloud.dev/aws and s3blob), `gs://bucket/f.json?
// anonymous=true`, `azblob://container/f.json?domain=...&protocol=...`. An
// option the scheme's opener does not know is an error of [FromURI]. As in
// flagd, an azblob:// source needs AZURE_STORAGE_ACCOUNT set.
//
// A [Source] polls its object, at once and then every [Config.Interval]
// (on the shared [poll] code): it asks for the object's attributes and
// reads the object only when its ETag (its generation, for GCS) changed,
// or its modification time for a store without ETags; it delivers the
// document only when its bytes changed. The format is the object name's
// extension (.json, .yaml, .yml), else the object's Content-Type
// (application/json, application/yaml, application/x-yaml), as in flagd;
// another extension is an error of FromURI, another Content-Type an outage.
//
// A poll that fails (the store unreachable, the bucket or the object
// missing, the credentials refused, a body larger than
// [Config.MaxBodySize]) is an outage: the source sends a
// [syncsources.Update] with Err saying which, and keeps polling, retrying
// sooner with backoff; it reports the outage again only when the failure
// changes, and sends a snapshot when a poll succeeds again. A source is
// named by its URI as written, as flagd names it.
package blobsource

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob" // azblob:// on blob.DefaultURLMux
	_ "gocloud.dev/blob/gcsblob"   // gs://
	_ "gocloud.dev/blob/s3blob"    // s3://
	"gocloud.dev/gcerrors"
	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"

	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
	"github.com/vexilhq/vexil/syncsources/poll"
)

// Defaults of Config.
const (
	// DefaultInterval is the polling interval when Config.Interval is 0,
	// flagd's.
	DefaultInterval = 5 * time.Second
	// DefaultTimeout bounds each poll when Config.Timeout is 0.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxBodySize bounds an object when Config.MaxBodySize is 0.
	DefaultMaxBodySize int64 = 64 << 20
)

// The URI schemes, and the kinds of source (flagd's provider names) they
// are.
var kinds = map[string]string{"gs": "gcs", "s3": "s3", "azblob": "azblob"}

// queryOptions are the query options each scheme's gocloud opener takes.
var queryOptions = map[string][]string{
	"gs": {"access_id", "private_key_path", "anonymous", "universe_domain", "grpc", "zonal"},
	"s3": {
		// s3blob's
		"ssetype", "kmskeyid", "accelerate", "use_path_style", "s3ForcePathStyle", "disable_https",
		// gocloud.dev/aws's
		"hostname_immutable", "region", "endpoint", "profile", "dualstack", "fips", "rate_limiter_capacity",
		"anonymous", "role", "role_session_name", "role_external_id", "role_duration", "web_identity_token_file",
		"request_checksum_calculation", "response_checksum_validation", "awssdk",
	},
	"azblob": {"domain", "protocol", "cdn", "localemu", "storage_account"},
}

// Config configures a Source.
type Config struct {
	// URI is the object's gs://, s3:// or azblob:// URI, with the opener's
	// options as its query. Required.
	URI string
	// Name is the source's name in updates; empty means URI.
	Name string
	// Interval is the time between polls; 0 means DefaultInterval. It is
	// also the longest delay between retries after a failure.
	Interval time.Duration
	// Timeout bounds each poll; 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxBodySize bounds the object, in bytes; a larger one is an outage.
	// 0 means DefaultMaxBodySize.
	MaxBodySize int64
	// URLMux opens the bucket URL; nil means blob.DefaultURLMux, which has
	// the gs, s3 and azblob openers.
	URLMux *blob.URLMux
}

// FromURI makes a Config from a gs://, s3:// or azblob:// URI, checking it
// as New does. The Config's URI and Name are uri.
func FromURI(uri string) (Config, error) {
	if _, err := parse(uri); err != nil {
		return Config{}, err
	}
	return Config{URI: uri, Name: uri}, nil
}

// Kind returns the kind of source a URI is by its scheme, as flagd's
// provider names it ("gcs", "s3", "azblob"), or "" for another scheme.
func Kind(uri string) string {
	scheme, _, _ := strings.Cut(uri, "://")
	return kinds[strings.ToLower(scheme)]
}

// location is a parsed URI.
type location struct {
	scheme    string
	bucketURL string // scheme://bucket?query, for the URL mux
	bucket    string
	object    string
	format    evaluator.Format // FormatAuto: from the Content-Type
}

// parse splits a URI as flagd does: the bucket is up to the first "/"
// after the scheme, the object the rest up to the query, and the query
// moves onto the bucket URL.
func parse(uri string) (location, error) {
	scheme, rest, ok := strings.Cut(uri, "://")
	scheme = strings.ToLower(scheme)
	if !ok || kinds[scheme] == "" {
		return location{}, fmt.Errorf("blobsource: %q is not a gs://, s3:// or azblob:// URI", uri)
	}
	rest, query, _ := strings.Cut(rest, "?")
	bucket, object, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return location{}, fmt.Errorf("blobsource: %q has no bucket (%s://BUCKET/PATH)", uri, scheme)
	}
	if object == "" {
		return location{}, fmt.Errorf("blobsource: %q has no object path (%s://BUCKET/PATH)", uri, scheme)
	}
	values, err := url.ParseQuery(query)
	if err != nil {
		return location{}, fmt.Errorf("blobsource: %q: bad query: %w", uri, err)
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range values {
			if !yield(k) {
				return
			}
		}
	}) {
		if !slices.Contains(queryOptions[scheme], k) {
			return location{}, fmt.Errorf("blobsource: %q: unknown option %q for %s:// (known: %s)",
				uri, k, scheme, strings.Join(queryOptions[scheme], ", "))
		}
	}
	format, err := formatForExt(path.Ext(object))
	if err != nil {
		return location{}, fmt.Errorf("blobsource: %q: %w", uri, err)
	}
	bucketURL := scheme + "://" + bucket
	if query != "" {
		bucketURL += "?" + query
	}
	return location{scheme: scheme, bucketURL: bucketURL, bucket: bucket, object: object, format: format}, nil
}

// formatForExt is flagd's choice of format by extension: the extension's
// letters and digits, lowercased; none means FormatAuto (decided by the
// Content-Type).
func formatForExt(ext string) (evaluator.Format, error) {
	if ext == "" {
		return evaluator.FormatAuto, nil
	}
	t := strings.ToLower(nonAlphanumeric.ReplaceAllString(ext, ""))
	switch t {
	case "yaml", "yml":
		return evaluator.FormatYAML, nil
	case "json":
		return evaluator.FormatJSON, nil
	}
	return 0, fmt.Errorf("unsupported file format: '%s' (the object's extension must be .json, .yaml or .yml)", t)
}

var nonAlphanumeric = regexp.MustCompile("[^a-zA-Z0-9]+")

// formatForContentType is flagd's choice of format for an object without
// an extension.
func formatForContentType(contentType string) (evaluator.Format, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, fmt.Errorf("unable to determine file format: %w", err)
	}
	switch strings.ToLower(mt) {
	case "application/yaml", "application/x-yaml":
		return evaluator.FormatYAML, nil
	case "application/json":
		return evaluator.FormatJSON, nil
	}
	return 0, fmt.Errorf("unsupported file format: '%s'", strings.ToLower(mt))
}

// Source is a flag source polling one object. Its Run may be called more
// than once, one after the other or at the same time; each run is
// independent.
type Source struct {
	loc         location
	name        string
	interval    time.Duration
	timeout     time.Duration
	maxBodySize int64
	mux         *blob.URLMux

	// Test hooks: the poller's clock and jitter.
	after func(time.Duration) <-chan time.Time
	rand  func() float64
}

var _ syncsources.Source = (*Source)(nil)

// New checks cfg and returns a source. It makes no request: a store that
// is unreachable, or a bucket that does not exist, is an outage of the
// running source.
func New(cfg Config) (*Source, error) {
	loc, err := parse(cfg.URI)
	if err != nil {
		return nil, err
	}
	if loc.scheme == "azblob" {
		// As flagd: the account names the service URL.
		account := os.Getenv("AZURE_STORAGE_ACCOUNT")
		if account == "" {
			return nil, errors.New("blobsource: environment variable AZURE_STORAGE_ACCOUNT not set or is blank")
		}
		if strings.ContainsAny(account, " \t\r\n\v\f") {
			return nil, errors.New("blobsource: environment variable AZURE_STORAGE_ACCOUNT contains whitespace")
		}
	}
	s := &Source{
		loc: loc, name: cfg.Name, interval: cfg.Interval, timeout: cfg.Timeout,
		maxBodySize: cfg.MaxBodySize, mux: cfg.URLMux,
	}
	if s.name == "" {
		s.name = cfg.URI
	}
	if s.mux == nil {
		s.mux = blob.DefaultURLMux()
	}
	switch {
	case s.interval == 0:
		s.interval = DefaultInterval
	case s.interval < 0:
		return nil, fmt.Errorf("blobsource: negative interval %v", cfg.Interval)
	}
	switch {
	case s.timeout == 0:
		s.timeout = DefaultTimeout
	case s.timeout < 0:
		return nil, fmt.Errorf("blobsource: negative timeout %v", cfg.Timeout)
	}
	switch {
	case s.maxBodySize == 0:
		s.maxBodySize = DefaultMaxBodySize
	case s.maxBodySize < 0:
		return nil, fmt.Errorf("blobsource: negative max body size %d", cfg.MaxBodySize)
	}
	return s, nil
}

// Name is the source's name in updates.
func (s *Source) Name() string { return s.name }

// Run polls the object and sends its document (or an outage) as soon as
// the first poll ends, then a new snapshot whenever the bytes change, an
// outage when a poll fails and a snapshot when one succeeds again, until
// ctx ends. It returns ctx's error, and does not send after returning.
func (s *Source) Run(ctx context.Context, updates chan<- syncsources.Update) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &run{Source: s, send: poll.Sender{Source: s.name, Updates: updates}}
	defer r.closeBucket()
	p := &poll.Poller{Interval: s.interval, After: s.after, Rand: s.rand}
	return p.Run(ctx, r.poll)
}

// run is the state of one Run.
type run struct {
	*Source
	bucket *blob.Bucket // nil until opened, and after a failure to open

	version string // ETag or modification time of the last snapshot sent; "" after an outage
	send    poll.Sender
}

func (r *run) closeBucket() {
	if r.bucket != nil {
		_ = r.bucket.Close()
		r.bucket = nil
	}
}

// errNotModified is fetch's answer for an object whose version is the one
// last delivered.
var errNotModified = errors.New("not modified")

// poll fetches once and sends what changed. It returns the fetch's error
// (for the poller's backoff), or ctx's if ctx ended while sending.
func (r *run) poll(ctx context.Context) error {
	data, format, version, err := r.fetch(ctx)
	switch {
	case errors.Is(err, errNotModified):
		return nil
	case err != nil:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err = fmt.Errorf("%s: %w", r.name, err)
		r.version = ""
		return r.send.Failure(ctx, err)
	}
	r.version = version
	return r.send.Data(ctx, data, format)
}

// fetch reads the object's attributes, and the object when its version
// is not the one last delivered (errNotModified).
func (r *run) fetch(ctx context.Context) (data []byte, format evaluator.Format, version string, err error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if r.bucket == nil {
		b, err := r.mux.OpenBucket(ctx, r.loc.bucketURL)
		if err != nil {
			return nil, 0, "", fmt.Errorf("opening the bucket: %w", err)
		}
		r.bucket = b
	}
	attrs, err := r.bucket.Attributes(ctx, r.loc.object)
	if err != nil {
		return nil, 0, "", r.explain(ctx, err)
	}
	version = attrs.ETag
	if version == "" {
		version = attrs.ModTime.UTC().Format(time.RFC3339Nano)
	}
	if r.version != "" && version == r.version {
		return nil, 0, "", errNotModified
	}
	if attrs.Size > r.maxBodySize {
		return nil, 0, "", fmt.Errorf("object of %d bytes exceeds the limit of %d", attrs.Size, r.maxBodySize)
	}
	rd, err := r.bucket.NewReader(ctx, r.loc.object, nil)
	if err != nil {
		return nil, 0, "", r.explain(ctx, err)
	}
	defer rd.Close()
	data, err = io.ReadAll(io.LimitReader(rd, r.maxBodySize+1))
	if err != nil {
		return nil, 0, "", fmt.Errorf("reading the object: %w", err)
	}
	if int64(len(data)) > r.maxBodySize {
		return nil, 0, "", fmt.Errorf("object exceeds the limit of %d bytes", r.maxBodySize)
	}
	format = r.loc.format
	if format == evaluator.FormatAuto {
		ct := rd.ContentType()
		if ct == "" {
			ct = attrs.ContentType
		}
		if format, err = formatForContentType(ct); err != nil {
			return nil, 0, "", err
		}
	}
	return data, format, version, nil
}

// explain turns a store's error into one that says what is wrong: a
// missing bucket, a missing object, refused credentials.
func (r *run) explain(ctx context.Context, err error) error {
	switch gcerrors.Code(err) {
	case gcerrors.NotFound:
		if ok, aerr := r.bucket.IsAccessible(ctx); aerr == nil && !ok {
			return fmt.Errorf("bucket %q does not exist: %w", r.loc.bucket, err)
		}
		return fmt.Errorf("object %q not found in bucket %q: %w", r.loc.object, r.loc.bucket, err)
	case gcerrors.PermissionDenied:
		return fmt.Errorf("access to bucket %q denied (check the credentials): %w", r.loc.bucket, err)
	}
	if status := httpStatus(err); status == http.StatusUnauthorized || status == http.StatusForbidden {
		return fmt.Errorf("access to bucket %q denied (check the credentials): %w", r.loc.bucket, err)
	}
	if credentialsFailed(err) {
		return fmt.Errorf("the credentials could not be used (check the credentials): %w", err)
	}
	return err
}

// credentialsFailed says whether a request failed in the client's
// credentials before reaching the store: the token endpoint refused them
// (GCS's OAuth2), or the request failed with an error that is neither the
// network's, TLS's nor the context's, which is what the OAuth2 transport
// returns when it cannot make a token (a private key that does not
// parse, a credentials file of an unknown type).
func credentialsFailed(err error) bool {
	var uerr *url.Error
	if !errors.As(err, &uerr) {
		return false
	}
	var refused *oauth2.RetrieveError
	if errors.As(uerr.Err, &refused) {
		return true
	}
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var header tls.RecordHeaderError
	switch {
	case errors.As(uerr.Err, &netErr), errors.As(uerr.Err, &certErr), errors.As(uerr.Err, &unknownCA),
		errors.As(uerr.Err, &hostname), errors.As(uerr.Err, &invalid), errors.As(uerr.Err, &header),
		errors.Is(uerr.Err, context.Canceled), errors.Is(uerr.Err, context.DeadlineExceeded), errors.Is(uerr.Err, io.EOF),
		errors.Is(uerr.Err, io.ErrUnexpectedEOF):
		return false
	}
	return true
}

// httpStatus is the HTTP status of a store's error response, for the
// refusals that gocloud leaves Unknown (Azure's answer to a HEAD with a
// wrong key has no body to read a code from); 0 if there is none.
func httpStatus(err error) int {
	var azErr *azcore.ResponseError
	if errors.As(err, &azErr) {
		return azErr.StatusCode
	}
	var gErr *googleapi.Error
	if errors.As(err, &gErr) {
		return gErr.Code
	}
	var awsErr interface{ HTTPStatusCode() int }
	if errors.As(err, &awsErr) {
		return awsErr.HTTPStatusCode()
	}
	return 0
}
