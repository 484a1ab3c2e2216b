package daemon

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/rs/cors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	"github.com/vexilhq/vexil/daemon/internal/http1fast"
	"github.com/vexilhq/vexil/daemon/internal/metrics"
)

// Server timeouts. There is no whole-request read timeout: event and sync
// streams are long-lived. A request's headers must arrive within
// readHeaderTimeout, and its body within the body timeout (see
// DefaultRequestBodyTimeout).
const (
	readHeaderTimeout = 5 * time.Second
	idleTimeout       = 2 * time.Minute
)

// HTTP/2 limits of one connection, on both servers (see policy).
const (
	// maxConcurrentStreams is the number of streams a client may have open
	// at once on one connection: net/http's default, said explicitly, and
	// grpc-go's limit, which has none by default. A stream over it is
	// reset: REFUSED_STREAM from grpc-go, PROTOCOL_ERROR from net/http
	// once the client has acknowledged the limit (REFUSED_STREAM before).
	maxConcurrentStreams = 250
	// minPingInterval is the least time grpc-go expects between a client's
	// pings while it sends the client nothing: a client that sends more
	// than two pings in a row each sooner than that after the one before
	// (with no HEADERS or DATA from the server between them) is sent
	// GOAWAY ENHANCE_YOUR_CALM ("too_many_pings") and its connection
	// closed. It is far below any keepalive interval (grpc-go's and
	// grpc-java's clients ping every 10 s at most; net/http's transport
	// pings only after a read timeout), so only a flood (about 100,000
	// pings a second were seen) meets it.
	minPingInterval = 10 * time.Millisecond
)

// DefaultRequestBodyTimeout is the time a request's body may take to
// arrive, from the start of its handling (after its headers), on every
// port: a body not received by then ends the request (see policy). Event
// and sync streams are server streams, whose request is one message sent
// at once, so the limit does not bound how long they stay open.
const DefaultRequestBodyTimeout = 10 * time.Second

// bodyTimeoutError is the error of reading a request body that did not
// arrive within the body timeout. It is an os.ErrDeadlineExceeded, which
// connect-go answers DeadlineExceeded and OFREP 408.
type bodyTimeoutError struct{}

func (bodyTimeoutError) Error() string        { return "request body not received in time" }
func (bodyTimeoutError) Is(target error) bool { return target == os.ErrDeadlineExceeded }
func (bodyTimeoutError) Timeout() bool        { return true }

// policy is what every request to one port passes through, whichever
// server answers it: net/http (HTTP/1.1 and HTTP/2; Connect, gRPC-Web,
// OFREP, the management endpoints, and gRPC from Connect clients and
// proxies), or grpc-go (native gRPC clients of the evaluation port, see
// grpcsplit). This is the one place that says it; every port has one
// (Daemon.openEndpoints), and its outputs are all a port's servers and
// services get of it:
//
//   - server: the net/http server, whose header size and header timeout
//     are bounded, whose HTTP/2 connections have at most
//     maxConcurrentStreams streams, whose handler is handler's chain;
//   - fastServer: on the evaluation and OFREP ports without TLS, the
//     HTTP/1.1 fast path in front of that server (daemon/internal/http1fast),
//     with the same handler chain, header limit and timeouts, which serves
//     the plainly framed unary evaluation requests within the body limit
//     and hands every other connection to the server;
//   - handler, outermost first: CORS on the evaluation and OFREP ports,
//     for the configured origins or, as in flagd, any origin when none is
//     configured (a preflight is answered there and not measured), the body timeout
//     (408 from OFREP, DeadlineExceeded from Connect; over HTTP/1.1 the
//     connection is closed), the body limit (413 from OFREP,
//     ResourceExhausted from Connect), the metrics, authentication (the
//     slot, empty today), then the port's handler;
//   - grpcOptions: the same for grpc-go, as server options: the stream
//     limit, keepalive (the ping policy) and idle limits, the header and
//     message limits, the message timeout
//     (the body timeout: DeadlineExceeded), the metrics, and
//     authentication;
//   - connectOptions: the body limit again for connect-go, which reads
//     gRPC messages from the body and must refuse a message larger than
//     the limit as ResourceExhausted; on the evaluation port
//     (evaluationConnectOptions), only for the decompressed size of a
//     message, as flagd's answers are those of the HTTP limit.
//
// (Before the chain, on the evaluation port with TLS, grpcsplit.RestoreTLS
// gives net/http's requests the TLS state of the connections the split
// decrypted.)
//
// The body timeout bounds the time to receive a request's body, not the
// request: a client that sends headers and part of a body is not held
// longer than bodyTimeout, while an event or sync stream, whose one
// request message is read whole before the server streams (connect-go
// reads a server stream's body to its end first, grpc-go's handler
// receives the one message), stays open. On net/http it is a read
// deadline of the request (http.ResponseController: the connection's over
// HTTP/1.1, the stream's over HTTP/2), cleared when the body has been read
// to its end (net/http's HTTP/1.1 server clears it then too, as it starts
// watching the connection for the client closing it) and kept otherwise,
// so that what net/http reads of the body after the handler is bounded
// too. On grpc-go, whose transport a stalled message would otherwise hold
// until the client gives up (keepalive pings are answered by the client's
// HTTP/2 stack, and MaxConnectionIdle spares connections with a stream),
// it is a timer that ends the call's context unless the request message
// (the first one, of a streaming call) arrives in time.
//
// HTTP/2 abuse of one connection is bounded by what the two libraries
// offer, under the same stream limit (maxConcurrentStreams):
//
//   - Streams over the limit are reset (see maxConcurrentStreams).
//   - Rapid reset (HEADERS then RST_STREAM, over and over): net/http's
//     server (since Go 1.21.3) runs at most the stream limit of handlers
//     of a connection at once, even for streams the client reset, queues
//     the others, and closes the connection (GOAWAY ENHANCE_YOUR_CALM)
//     when more than 4 times the limit are queued. grpc-go's (since
//     1.56.3, with an explicit stream limit only, hence the option) stops
//     reading the connection while the limit of handlers run. Neither
//     closes a connection for the resets themselves: a client whose
//     streams' handlers end as fast as it resets them (ours do, as the
//     request never arrives) keeps its connection, at the cost of one
//     handler per stream at a time (see TestHTTP2RapidReset).
//   - Pings: net/http's server answers every ping, with no limit of rate
//     (its only bound is on the control frames queued for a client that
//     does not read them: the connection is closed past 10,000), so a
//     flood there costs one PING ack each. grpc-go's keepalive
//     enforcement closes a connection that floods (minPingInterval),
//     also between calls, and spares every client that pings as
//     keepalive does.
type policy struct {
	maxBodyBytes   int64 // 0: none
	maxHeaderBytes int   // 0: net/http's default
	// bodyTimeout bounds the time to receive a request's body (a grpc-go
	// call's request message); 0: none.
	bodyTimeout time.Duration
	// cors puts CORS in front of the port's handler, for corsOrigins
	// (none: any origin), as flagd does on its evaluation and OFREP ports.
	cors        bool
	corsOrigins []string
	// metrics measures the requests as service (the service_name label);
	// nil measures none.
	metrics *metrics.Metrics
	service string
	// authenticate is the slot where authentication goes; nil lets every
	// request through, as today on every port.
	authenticate authenticator
}

// authenticator decides whether a request may reach its handler, after
// the body limit and the metrics (so that refused requests are measured).
// It returns the context the handler runs with (which may carry the
// caller's identity), or an error, answered Unauthenticated (401 outside
// the RPC protocols). It is called for each net/http request and each
// grpc-go call.
type authenticator func(ctx context.Context, c caller) (context.Context, error)

// caller is what an authenticator knows of a request, the same whichever
// server answers it. (Client certificates are not in it yet: grpc-go gets
// the evaluation port's TLS connections decrypted by grpcsplit, without
// their state.)
type caller struct {
	// Procedure is the request's path; an RPC's is "/package.Service/Method".
	Procedure string
	Header    http.Header
}

// server returns the net/http server of h under the policy.
func (p policy) server(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           p.handler(h),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    p.maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: maxConcurrentStreams},
	}
}

// fastServer returns the HTTP/1.1 fast path of srv, the policy's server:
// the same handler chain, for the requests of method and path allowed
// says, under the same limits and timeouts.
func (p policy) fastServer(srv *http.Server, allowed func(method, path string) bool) *http1fast.Server {
	return http1fast.New(http1fast.Config{
		Handler:           srv.Handler,
		Allow:             allowed,
		MaxHeaderBytes:    srv.MaxHeaderBytes,
		MaxBodyBytes:      p.maxBodyBytes,
		ReadHeaderTimeout: srv.ReadHeaderTimeout,
		IdleTimeout:       srv.IdleTimeout,
		ErrorLog:          srv.ErrorLog,
	})
}

// handler returns h behind the policy's net/http chain.
func (p policy) handler(h http.Handler) http.Handler {
	if p.authenticate != nil {
		h = p.authenticate.http(h)
	}
	h = p.metrics.HTTP(p.service, h)
	// The body limit wraps the measuring: http.MaxBytesReader must see the
	// server's own ResponseWriter to close the connection after a body it
	// refused (a wrapped one hides that, and the connection is reused with
	// the unread rest of the body in it). OFREP answers 413 when its read
	// fails with the limit's error.
	if p.maxBodyBytes > 0 {
		h = http.MaxBytesHandler(h, p.maxBodyBytes)
	}
	if p.bodyTimeout > 0 {
		h = bodyTimeoutHandler(h, p.bodyTimeout)
	}
	if p.cors {
		h = corsHandler(p.corsOrigins, h)
	}
	return h
}

// corsExposedHeaders are the response headers a browser may read, those
// flagd's CORS middleware exposes (not the OFREP bulk answer's ETag, which
// flagd does not send).
var corsExposedHeaders = []string{
	"Accept", "Accept-Encoding", "Accept-Post",
	"Connect-Accept-Encoding", "Connect-Content-Encoding", "Content-Encoding",
	"Grpc-Accept-Encoding", "Grpc-Encoding", "Grpc-Message", "Grpc-Status", "Grpc-Status-Details-Bin",
}

// corsHandler answers browsers' preflight requests and adds CORS headers
// (Vary: Origin on every answer) with the options of flagd's CORS
// middleware: origins ("*", or none, allows any), the methods HEAD, GET,
// POST, PUT, PATCH and DELETE, any request header, and no max age.
func corsHandler(origins []string, h http.Handler) http.Handler {
	return cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: []string{http.MethodHead, http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
		AllowedHeaders: []string{"*"},
		ExposedHeaders: corsExposedHeaders,
	}).Handler(h)
}

// grpcOptions returns the policy as grpc-go server options, for a server
// of connections that came over TLS when tls is set.
func (p policy) grpcOptions(tls bool) []grpc.ServerOption {
	// The body limit counts the 5-byte prefix of the message, as the HTTP
	// body limit does; without one, grpc-go's default of 4 MiB would be a
	// limit Connect does not have.
	maxRecv := math.MaxInt32
	if p.maxBodyBytes > 0 {
		maxRecv = int(min(max(p.maxBodyBytes-5, 0), math.MaxInt32))
	}
	opts := []grpc.ServerOption{
		// Also its rapid-reset mitigation: at most this many handlers of
		// a connection run at once.
		grpc.MaxConcurrentStreams(maxConcurrentStreams),
		// Client keepalive pings at any rate a client pings at, also
		// between calls, as net/http's HTTP/2 server accepts them
		// (grpc-go's default policy answers pings more often than every 5
		// minutes with GOAWAY); only a flood is closed (minPingInterval).
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: minPingInterval, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: idleTimeout}),
		grpc.MaxRecvMsgSize(maxRecv),
	}
	if p.maxHeaderBytes > 0 {
		opts = append(opts, grpc.MaxHeaderListSize(uint32(min(p.maxHeaderBytes, math.MaxUint32))))
	}
	if sh := p.metrics.GRPCStats(p.service, tls); sh != nil {
		opts = append(opts, grpc.StatsHandler(sh))
	}
	if p.bodyTimeout > 0 {
		opts = append(opts,
			grpc.ChainUnaryInterceptor(unaryMessageReceived),
			grpc.ChainStreamInterceptor(streamMessageReceived))
	}
	// grpc-go takes one tap handle.
	if p.authenticate != nil || p.bodyTimeout > 0 {
		opts = append(opts, grpc.InTapHandle(p.grpcTap))
	}
	return opts
}

// grpcTap authenticates a grpc-go call and starts its message timeout.
func (p policy) grpcTap(ctx context.Context, info *tap.Info) (context.Context, error) {
	if p.authenticate != nil {
		var err error
		if ctx, err = p.authenticate.grpc(ctx, info); err != nil {
			return nil, err
		}
	}
	if p.bodyTimeout > 0 {
		ctx = withMessageTimeout(ctx, p.bodyTimeout)
	}
	return ctx, nil
}

// connectOptions returns the policy's options for connect-go handlers.
func (p policy) connectOptions() []connect.HandlerOption {
	if p.maxBodyBytes <= 0 {
		return nil
	}
	return []connect.HandlerOption{connect.WithReadMaxBytes(int(min(p.maxBodyBytes, math.MaxInt32)))}
}

// evaluationConnectOptions returns the policy's options for the
// evaluation port's connect-go handlers, which flagd gives no read limit
// of their own: a message larger than the body limit is answered as the
// HTTP body limit answers it (ResourceExhausted "read ... exceeded ...
// http.MaxBytesReader limit"), and a gRPC-Web envelope that promises more
// than its body holds as a protocol error (InvalidArgument "promised N
// bytes ..."), as flagd answers both. Only the decompressed size of a
// gzip-compressed message, which the body limit does not bound, is bounded
// by the limit (limitedGzip).
func (p policy) evaluationConnectOptions() []connect.HandlerOption {
	if p.maxBodyBytes <= 0 {
		return nil
	}
	limit := p.maxBodyBytes
	return []connect.HandlerOption{connect.WithCompression("gzip",
		func() connect.Decompressor { return &limitedGzip{limit: limit} },
		func() connect.Compressor { return gzip.NewWriter(nil) },
	)}
}

// limitedGzip is a gzip decompressor that fails with ResourceExhausted
// once it has produced more than limit bytes.
type limitedGzip struct {
	r         gzip.Reader
	limit     int64
	remaining int64
}

func (z *limitedGzip) Read(b []byte) (int, error) {
	if z.remaining <= 0 {
		return 0, connect.NewError(connect.CodeResourceExhausted,
			fmt.Errorf("decompressed message is larger than configured max %d", z.limit))
	}
	if int64(len(b)) > z.remaining {
		b = b[:z.remaining]
	}
	n, err := z.r.Read(b)
	z.remaining -= int64(n)
	return n, err
}

func (z *limitedGzip) Reset(r io.Reader) error {
	// One byte over the limit is read before the message is refused.
	z.remaining = z.limit + 1
	return z.r.Reset(r)
}

func (z *limitedGzip) Close() error { return z.r.Close() }

// http authenticates net/http requests.
func (a authenticator) http(next http.Handler) http.Handler {
	errs := connect.NewErrorWriter()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, err := a(r.Context(), caller{Procedure: r.URL.Path, Header: r.Header})
		switch {
		case err == nil:
			next.ServeHTTP(w, r.WithContext(ctx))
		case errs.IsSupported(r):
			_ = errs.Write(w, r, connect.NewError(connect.CodeUnauthenticated, err))
		default:
			http.Error(w, err.Error(), http.StatusUnauthorized)
		}
	})
}

// grpc authenticates grpc-go calls, as a tap.ServerInHandle.
func (a authenticator) grpc(ctx context.Context, info *tap.Info) (context.Context, error) {
	h := http.Header{}
	for k, vs := range info.Header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	ctx, err := a(ctx, caller{Procedure: info.FullMethodName, Header: h})
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	return ctx, nil
}

// bodyTimeoutHandler ends the reading of a request body that has not
// arrived within d of the start of h: reading it then fails with
// bodyTimeoutError (see policy).
func bodyTimeoutHandler(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(d)); err != nil {
			// A ResponseWriter without deadlines (not net/http's own).
			h.ServeHTTP(w, r)
			return
		}
		r2 := new(http.Request)
		*r2 = *r
		r2.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
		h.ServeHTTP(w, r2)
	})
}

// deadlineBody is a request body read under a read deadline, which it
// clears once the body has been read to its end.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool // read to its end, or failed
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == nil:
	case err == io.EOF:
		if !b.done {
			b.done = true
			// The body is in: a stream may now stay open. (Over HTTP/1.1
			// net/http now reads the connection to see it closed.)
			_ = b.rc.SetReadDeadline(time.Time{})
		}
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The deadline stays, bounding what net/http would read of the
		// rest; over HTTP/1.1 the connection is then closed.
		b.done = true
		err = bodyTimeoutError{}
	default:
		b.done = true
	}
	return n, err
}

// messageTimeoutKey is the context key of a grpc-go call's messageTimeout.
type messageTimeoutKey struct{}

// messageTimeout is the context of a grpc-go call (as grpcTap returns it,
// which grpc-go's transport reads the call's messages under) until its
// request message has arrived: ended unless it arrives in time, with
// context.DeadlineExceeded as its error then, which grpc-go answers
// DeadlineExceeded.
type messageTimeout struct {
	context.Context
	timer   *time.Timer
	expired atomic.Bool
}

// withMessageTimeout returns ctx, ended after d unless messageReceived is
// called with it (or a context of it) first.
func withMessageTimeout(ctx context.Context, d time.Duration) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	m := &messageTimeout{Context: ctx}
	m.timer = time.AfterFunc(d, func() {
		m.expired.Store(true)
		cancel()
	})
	return m
}

func (m *messageTimeout) Err() error {
	err := m.Context.Err()
	if err != nil && m.expired.Load() {
		return context.DeadlineExceeded
	}
	return err
}

func (m *messageTimeout) Value(key any) any {
	if key == (messageTimeoutKey{}) {
		return m
	}
	return m.Context.Value(key)
}

// messageReceived stops the message timeout of ctx's call: its request
// message has arrived.
func messageReceived(ctx context.Context) {
	if m, ok := ctx.Value(messageTimeoutKey{}).(*messageTimeout); ok {
		m.timer.Stop()
	}
}

// unaryMessageReceived stops the message timeout of a unary call, whose
// handler grpc-go calls with the message received.
func unaryMessageReceived(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	messageReceived(ctx)
	return handler(ctx, req)
}

// streamMessageReceived stops the message timeout of a streaming call once
// its first message has arrived, or when its handler returns.
func streamMessageReceived(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	defer messageReceived(ss.Context())
	return handler(srv, &firstMessageStream{ServerStream: ss})
}

// firstMessageStream stops its call's message timeout when a message
// arrives.
type firstMessageStream struct {
	grpc.ServerStream
	received bool
}

func (s *firstMessageStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if err == nil && !s.received {
		s.received = true
		messageReceived(s.Context())
	}
	return err
}
