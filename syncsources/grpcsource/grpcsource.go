// Package grpcsource is the flag source for flagd's sync protocol:
// `grpc://host:port` and `grpcs://host:port` URIs, served by flagd, by
// another Vexil daemon (its sync port) or by any implementation of
// flagd.sync.v1.FlagSyncService.
//
// A [Source] opens a SyncFlags stream, sending its selector and provider
// id, and delivers each message's flag_configuration, a whole JSON
// document, with its sync_context, when either differs from what it
// delivered before.
//
// With TLS, the server's certificate is verified against the system's CAs,
// or, when [Config.CAFile] is set, against that file's CAs only, as flagd
// and its providers do (the provider package's in-process mode is this
// source).
//
// When the stream cannot be opened or breaks (the server down or
// restarting, a message larger than [Config.MaxMsgSize]), the source sends
// a [syncsources.Update] with Err, an outage, and reconnects, forever,
// with exponential backoff and jitter between [Config.MinBackoff] and
// [Config.MaxBackoff]. During an outage it sends another Update with Err
// only when the failure changes (the server shut the stream down, and now
// refuses connections), so that the consumer knows the latest failure
// without hearing every retry. On reconnection it delivers the server's
// first message even if the document did not change. A stream that the server
// ends cleanly is reopened after the shortest backoff, and one that reaches
// [Config.StreamDeadline] at once; either is an outage only if that fails.
package grpcsource

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/vexilhq/vexil/evaluator"
	syncv1 "github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1"
	"github.com/vexilhq/vexil/syncsources"
	"github.com/vexilhq/vexil/syncsources/poll"
)

// Defaults of Config.
const (
	// DefaultMinBackoff is the delay (before jitter) of the first
	// reconnection attempt after a failure when Config.MinBackoff is 0.
	DefaultMinBackoff = 250 * time.Millisecond
	// DefaultMaxBackoff caps the reconnection delay when Config.MaxBackoff
	// is 0.
	DefaultMaxBackoff = 30 * time.Second
	// DefaultMaxMsgSize bounds a received message when Config.MaxMsgSize is
	// 0: grpc-go's default, as flagd's.
	DefaultMaxMsgSize = 4 << 20
)

// syncFlagsMethod is the RPC the source calls.
const syncFlagsMethod = "/flagd.sync.v1.FlagSyncService/SyncFlags"

// Config configures a Source.
type Config struct {
	// Target is the server's address, host:port, or any grpc-go target
	// ("dns:///flags.internal:8015", "unix:///run/vexil.sock"). Required.
	Target string
	// Name is the source's name in updates (Update.Source); empty means
	// "grpc://" (or "grpcs://" with TLS) followed by Target. FromURI sets
	// it to the URI without its scheme, as flagd names the source.
	Name string
	// TLS connects with TLS, verifying the server's certificate against
	// the system's CAs, or CAFile's.
	TLS bool
	// CAFile is a PEM file of the CA certificates to trust instead of the
	// system's, as flagd's certPath: a server certificate that the system
	// trusts but these CAs did not sign is refused. It requires TLS: it is
	// an error without, as in flagd, so that a configuration meant to be
	// secure never connects in clear.
	CAFile string
	// Authority, when set, is the :authority the requests name instead of
	// the target's (for a proxy that routes by it, or a unix socket).
	Authority string
	// Selector asks the server for one flag set (the request's selector).
	Selector string
	// ProviderID identifies this client to the server (the request's
	// provider_id).
	ProviderID string
	// Headers are sent as request metadata. Keys are lower-cased, as gRPC
	// requires.
	Headers map[string]string
	// MaxMsgSize bounds a received message, in bytes; 0 means
	// DefaultMaxMsgSize.
	MaxMsgSize int
	// MinBackoff and MaxBackoff bound the delays between reconnection
	// attempts, which double after each failure and are jittered; 0 means
	// DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// KeepaliveTime, when positive, pings the server after that much
	// inactivity, so that a connection lost without notice (a crashed
	// node) is noticed; 0 disables pings. Servers built on grpc-go refuse
	// pings more frequent than every five minutes by default.
	KeepaliveTime time.Duration
	// ConnectTimeout, when positive, bounds each connection attempt
	// instead of grpc-go's 20 seconds, so that an unreachable server is an
	// outage sooner.
	ConnectTimeout time.Duration
	// StreamDeadline, when positive, ends each stream after that long and
	// opens a new one at once, without an outage (flagd's providers do so,
	// so that a balancer spreads long-lived clients).
	StreamDeadline time.Duration
}

// FromURI makes a Config from a `grpc://host:port` or `grpcs://host:port`
// URI (grpcs meaning TLS). The Config's Name is what follows the "://",
// as flagd names a gRPC source (and matches "source=" selectors). It also
// takes flagd's custom resolver targets, named whole as flagd names them:
// `envoy://proxy-host:proxy-port/service` (see envoyConfig) and grpc-go's
// `dns:///host:port`.
func FromURI(uri string) (Config, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return Config{}, fmt.Errorf("grpcsource: %w", err)
	}
	_, name, _ := strings.Cut(uri, "://")
	cfg := Config{Name: name}
	switch strings.ToLower(u.Scheme) {
	case "grpc":
	case "grpcs":
		cfg.TLS = true
	case "envoy":
		return envoyConfig(uri, u)
	case "dns":
		// grpc-go's own resolver: dns:///host:port or
		// dns://dns-server/host:port. The target is the URI, named whole,
		// as flagd names it.
		if u.Host == "" && u.Path == "" {
			return Config{}, fmt.Errorf("grpcsource: %q: write dns:///host:port", uri)
		}
		return Config{Target: uri, Name: uri}, nil
	default:
		return Config{}, fmt.Errorf("grpcsource: %q is not a grpc://, grpcs://, envoy:// or dns:// URI", uri)
	}
	if u.Opaque != "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return Config{}, fmt.Errorf("grpcsource: %q: write grpc://host:port, with nothing after the port", uri)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" || port == "" {
		return Config{}, fmt.Errorf("grpcsource: %q has no host:port", uri)
	}
	cfg.Target = u.Host
	return cfg, nil
}

// envoyConfig reads envoy://PROXY-HOST:PROXY-PORT/SERVICE as flagd's envoy
// resolver does: connect to the proxy (Target) and name SERVICE as the
// :authority of every request, by which the proxy routes. The source is
// named by the whole URI, as flagd names it.
func envoyConfig(uri string, u *url.URL) (Config, error) {
	host, port := u.Hostname(), u.Port()
	service := strings.TrimPrefix(u.Path, "/")
	switch {
	case host == "" || port == "":
		return Config{}, fmt.Errorf("grpcsource: %q: write envoy://proxy-host:proxy-port/service (no host:port)", uri)
	case service == "" || strings.Contains(service, "/"):
		return Config{}, fmt.Errorf("grpcsource: %q: write envoy://proxy-host:proxy-port/service (the path is one service name)", uri)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return Config{}, fmt.Errorf("grpcsource: %q: write envoy://proxy-host:proxy-port/service, with nothing after the service", uri)
	}
	return Config{Target: net.JoinHostPort(host, port), Authority: service, Name: uri}, nil
}

// Source is a flag source reading a SyncFlags stream. Its Run may be called
// more than once, one after the other or at the same time; each run is
// independent, with its own connection.
type Source struct {
	target     string
	name       string
	creds      credentials.TransportCredentials
	request    *syncv1.SyncFlagsRequest
	md         metadata.MD
	maxMsgSize int
	minBackoff time.Duration
	maxBackoff time.Duration
	keepalive  time.Duration
	authority  string
	connect    time.Duration // connection attempt timeout; 0: grpc-go's
	deadline   time.Duration // stream deadline; 0: none

	// Test hooks: the backoff's clock and jitter.
	after func(time.Duration) <-chan time.Time
	rand  func() float64
}

var _ syncsources.Source = (*Source)(nil)

// New checks cfg, reads the CA file if any, and returns a source. It does
// not connect: a server that is down is an outage of the running source,
// not an error.
func New(cfg Config) (*Source, error) {
	if cfg.Target == "" {
		return nil, errors.New("grpcsource: empty target")
	}
	s := &Source{
		target:     cfg.Target,
		name:       cfg.Name,
		request:    &syncv1.SyncFlagsRequest{Selector: cfg.Selector, ProviderId: cfg.ProviderID},
		md:         metadata.MD{},
		maxMsgSize: cfg.MaxMsgSize,
		minBackoff: cfg.MinBackoff,
		maxBackoff: cfg.MaxBackoff,
		keepalive:  cfg.KeepaliveTime,
		authority:  cfg.Authority,
		connect:    cfg.ConnectTimeout,
		deadline:   cfg.StreamDeadline,
		after:      time.After,
	}
	if s.name == "" {
		s.name = "grpc://" + cfg.Target
		if cfg.TLS {
			s.name = "grpcs://" + cfg.Target
		}
	}
	switch {
	case s.maxMsgSize == 0:
		s.maxMsgSize = DefaultMaxMsgSize
	case s.maxMsgSize < 0:
		return nil, fmt.Errorf("grpcsource: negative max message size %d", cfg.MaxMsgSize)
	}
	if s.minBackoff == 0 {
		s.minBackoff = DefaultMinBackoff
	}
	if s.maxBackoff == 0 {
		s.maxBackoff = max(DefaultMaxBackoff, s.minBackoff)
	}
	if s.minBackoff < 0 || s.maxBackoff < 0 || s.minBackoff > s.maxBackoff {
		return nil, fmt.Errorf("grpcsource: invalid backoff bounds %v..%v", cfg.MinBackoff, cfg.MaxBackoff)
	}
	if s.keepalive < 0 || s.connect < 0 || s.deadline < 0 {
		return nil, fmt.Errorf("grpcsource: negative keepalive time, connect timeout or stream deadline")
	}
	for k, v := range cfg.Headers {
		key := strings.ToLower(k)
		if !validMetadataKey(key) || strings.HasPrefix(key, "grpc-") {
			return nil, fmt.Errorf("grpcsource: invalid metadata key %q", k)
		}
		if !strings.HasSuffix(key, "-bin") && !printable(v) {
			return nil, fmt.Errorf("grpcsource: metadata %q has a non-printable value", k)
		}
		s.md.Append(key, v)
	}
	switch {
	case cfg.TLS:
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("grpcsource: reading the CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("grpcsource: no PEM certificate in the CA file %s", cfg.CAFile)
			}
			tc.RootCAs = pool
		}
		s.creds = credentials.NewTLS(tc)
	case cfg.CAFile != "":
		return nil, fmt.Errorf("grpcsource: a CA file (%s) is set but TLS is not; use grpcs:// or enable TLS", cfg.CAFile)
	default:
		s.creds = insecure.NewCredentials()
	}
	// Check the target now rather than at every attempt.
	conn, err := s.dial()
	if err != nil {
		return nil, fmt.Errorf("grpcsource: target %q: %w", cfg.Target, err)
	}
	_ = conn.Close()
	return s, nil
}

// validMetadataKey reports whether k is a valid gRPC metadata key:
// lower-case letters, digits, '-', '_' and '.'.
func validMetadataKey(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range []byte(k) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// printable reports whether v is a valid ASCII metadata value.
func printable(v string) bool {
	for _, c := range []byte(v) {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// Name is the source's name in updates.
func (s *Source) Name() string { return s.name }

// dial makes a client connection; it does not connect yet.
func (s *Source) dial() (*grpc.ClientConn, error) {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(s.creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(s.maxMsgSize)),
	}
	if s.keepalive > 0 {
		opts = append(opts, grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: s.keepalive, Timeout: 20 * time.Second}))
	}
	if s.authority != "" {
		opts = append(opts, grpc.WithAuthority(s.authority))
	}
	if s.connect > 0 {
		opts = append(opts, grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.DefaultConfig, MinConnectTimeout: s.connect}))
	}
	return grpc.NewClient(s.target, opts...)
}

// Run connects and sends the server's document (or an outage) as soon as
// it can, then a new snapshot whenever the server sends a different one, an
// outage when the stream breaks or cannot be opened, and a snapshot when it
// is open again, until ctx ends. It returns ctx's error, and does not send
// after returning. The Data it sends is never modified afterwards.
func (s *Source) Run(ctx context.Context, updates chan<- syncsources.Update) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &run{Source: s, updates: updates}
	b := poll.Backoff{Min: s.minBackoff, Max: s.maxBackoff, Rand: s.rand}
	for {
		received, err := r.stream(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if received {
			b.Reset() // it was connected: start backing off anew
			if errors.Is(err, errStreamDeadline) {
				continue
			}
		}
		// A stream the server ended cleanly after serving is reopened
		// without reporting an outage; anything else is one, reported
		// again only when the failure changes.
		if !(errors.Is(err, io.EOF) && received) {
			if key := poll.OutageKey(err); !r.sent || !r.outage || key != r.outageKey {
				r.sent, r.outage, r.outageKey, r.last = true, true, key, nil
				if !r.send(ctx, syncsources.Update{Source: s.name, Format: evaluator.FormatJSON, Err: err}) {
					return ctx.Err()
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.after(b.Next()):
		}
	}
}

// run is the state of one Run.
type run struct {
	*Source
	updates chan<- syncsources.Update

	sent      bool             // a snapshot or an outage was sent
	outage    bool             // the last thing sent was an outage
	outageKey string           // poll.OutageKey of the error of that outage
	last      []byte           // the last snapshot's data
	lastCtx   *structpb.Struct // and its sync context
}

// errStreamDeadline ends a stream at Config.StreamDeadline.
var errStreamDeadline = errors.New("stream deadline reached")

// stream opens one SyncFlags stream and delivers its messages until it
// ends. It reports whether a message was received, and why the stream
// ended: io.EOF when the server ended it cleanly, errStreamDeadline at the
// stream deadline.
func (r *run) stream(parent context.Context) (received bool, err error) {
	conn, err := r.dial()
	if err != nil {
		return false, err
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	if r.deadline > 0 {
		ctx, cancel = context.WithTimeout(ctx, r.deadline)
		defer cancel()
	}
	if len(r.md) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, r.md)
	}
	cs, err := conn.NewStream(ctx, &grpc.StreamDesc{StreamName: "SyncFlags", ServerStreams: true}, syncFlagsMethod)
	if err != nil {
		return false, err
	}
	if err := cs.SendMsg(r.request); err != nil {
		if errors.Is(err, io.EOF) {
			// The stream failed; RecvMsg tells why.
			err = cs.RecvMsg(new(syncv1.SyncFlagsResponse))
		}
		return false, unEOF(err, false)
	}
	if err := cs.CloseSend(); err != nil {
		return false, err
	}
	for {
		var msg syncv1.SyncFlagsResponse
		if err := cs.RecvMsg(&msg); err != nil {
			// The stream's own deadline: seen by the client's context, or
			// first by the server, which then resets the stream (grpc-go
			// sends the deadline as grpc-timeout), as DeadlineExceeded.
			if parent.Err() == nil && r.deadline > 0 &&
				(errors.Is(ctx.Err(), context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded) {
				err = errStreamDeadline
			}
			return received, unEOF(err, received)
		}
		received = true
		data, sc := []byte(msg.GetFlagConfiguration()), msg.GetSyncContext()
		if r.sent && !r.outage && bytes.Equal(data, r.last) && proto.Equal(sc, r.lastCtx) {
			continue
		}
		r.sent, r.outage, r.last, r.lastCtx = true, false, data, sc
		u := syncsources.Update{Source: r.name, Data: data, Format: evaluator.FormatJSON}
		if sc != nil {
			u.SyncContext = sc.AsMap()
		}
		if !r.send(parent, u) {
			return received, parent.Err()
		}
	}
}

// unEOF turns a clean end of a stream that delivered nothing into an
// error worth reporting.
func unEOF(err error, received bool) error {
	if errors.Is(err, io.EOF) && !received {
		return errors.New("the server ended the stream without sending flags")
	}
	return err
}

func (r *run) send(ctx context.Context, u syncsources.Update) bool {
	select {
	case r.updates <- u:
		return true
	case <-ctx.Done():
		return false
	}
}
