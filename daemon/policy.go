package daemon

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"time"

	"connectrpc.com/connect"
	connectcors "connectrpc.com/cors"
	"github.com/rs/cors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	"github.com/vexilhq/vexil/daemon/internal/metrics"
)

// Server timeouts. There is no read timeout: event and sync streams are
// long-lived, and request bodies are bounded by the body limit.
const (
	readHeaderTimeout = 5 * time.Second
	idleTimeout       = 2 * time.Minute
)

// policy is what every request to one port passes through, whichever
// server answers it: net/http (HTTP/1.1 and HTTP/2; Connect, gRPC-Web,
// OFREP, the management endpoints, and gRPC from Connect clients and
// proxies), or grpc-go (native gRPC clients of the evaluation port, see
// grpcsplit). This is the one place that says it; every port has one
// (Daemon.openEndpoints), and its outputs are all a port's servers and
// services get of it:
//
//   - server: the net/http server, whose header size and header timeout
//     are bounded, whose handler is handler's chain;
//   - handler, outermost first: CORS for the configured origins (a
//     preflight is answered there and not measured), the body limit
//     (413 from OFREP, ResourceExhausted from Connect), the metrics,
//     authentication (the slot, empty today), then the port's handler;
//   - grpcOptions: the same for grpc-go, as server options: keepalive and
//     idle limits, the header and message limits, the metrics, and
//     authentication;
//   - connectOptions: the body limit again for connect-go, which reads
//     gRPC messages from the body and must refuse a message larger than
//     the limit as ResourceExhausted.
//
// (Before the chain, on the evaluation port with TLS, grpcsplit.RestoreTLS
// gives net/http's requests the TLS state of the connections the split
// decrypted.)
type policy struct {
	maxBodyBytes   int64 // 0: none
	maxHeaderBytes int   // 0: net/http's default
	corsOrigins    []string
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
	}
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
	if len(p.corsOrigins) > 0 {
		// Answers browsers' preflight requests and adds CORS headers for the
		// allowed origins ("*" allows any), with the methods and headers
		// Connect, gRPC-Web and OFREP clients use.
		h = cors.New(cors.Options{
			AllowedOrigins: p.corsOrigins,
			AllowedMethods: []string{http.MethodGet, http.MethodPost, http.MethodHead, http.MethodOptions},
			AllowedHeaders: []string{"*"},
			ExposedHeaders: append(connectcors.ExposedHeaders(), "ETag"),
			MaxAge:         7200,
		}).Handler(h)
	}
	return h
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
		// Client keepalive pings at any rate, also between calls, as
		// net/http's HTTP/2 server accepts them (grpc-go's default policy
		// answers pings more often than every 5 minutes with GOAWAY).
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Nanosecond, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: idleTimeout}),
		grpc.MaxRecvMsgSize(maxRecv),
	}
	if p.maxHeaderBytes > 0 {
		opts = append(opts, grpc.MaxHeaderListSize(uint32(min(p.maxHeaderBytes, math.MaxUint32))))
	}
	if sh := p.metrics.GRPCStats(p.service, tls); sh != nil {
		opts = append(opts, grpc.StatsHandler(sh))
	}
	if p.authenticate != nil {
		opts = append(opts, grpc.InTapHandle(p.authenticate.grpc))
	}
	return opts
}

// connectOptions returns the policy's options for connect-go handlers.
func (p policy) connectOptions() []connect.HandlerOption {
	if p.maxBodyBytes <= 0 {
		return nil
	}
	return []connect.HandlerOption{connect.WithReadMaxBytes(int(min(p.maxBodyBytes, math.MaxInt32)))}
}

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
