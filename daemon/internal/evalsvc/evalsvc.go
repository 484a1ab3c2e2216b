// Package evalsvc serves flagd's evaluation RPCs from the daemon's flag
// store: flagd.evaluation.v1.Service, flagd.evaluation.v2.Service and the
// deprecated schema.v1.Service, each over the Connect protocol (HTTP/JSON
// and binary), gRPC and gRPC-Web, on one mux; and the same handlers on a
// grpc-go server ([Service.NewGRPCServer]), for native gRPC clients.
//
// The handlers only decode requests and encode answers: every evaluation
// happens in daemon/internal/resolve, which reads the selector, merges the
// context and tells the observers (metrics among them) of it, on every
// path (Connect, the fast path, grpc-go). The wire messages are
// daemon/internal/wire's, the event stream loop daemon/internal/streams'.
//
// Every RPC answers as flagd's does (flagd/pkg/service/flag-evaluation):
//
//   - The Flagd-Selector header selects a flag set or a source; an invalid
//     one is answered with InvalidArgument.
//   - The evaluation context is the request's, overlaid with the static
//     context (--context-value), overlaid with the values of the mapped
//     request headers (--context-from-header), which schema.v1 ignores.
//   - Version 1 answers a disabled flag with reason DISABLED, the zero
//     value and no variant, and a flag that resolves to no value (no
//     default variant, and targeting chose none) with FLAG_NOT_FOUND.
//     Version 2 answers both with a reason (DISABLED, DEFAULT) and no value
//     or variant. schema.v1 answers the first as version 1 does and the
//     second with reason FALLBACK and the zero value.
//   - Evaluation errors are the Connect errors of [wire.ConnectError].
//   - ResolveAll (version 1 and schema.v1; version 2 has none) evaluates
//     the selection's flags.
//   - EventStream sends provider_ready, then a configuration_change
//     whenever a flag the stream's selector sees changes, keep_alive when
//     the stream has been idle for the keep-alive period, and
//     provider_shutdown when the service shuts down ([Service.Shutdown]).
package evalsvc

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/vexilhq/vexil/daemon/internal/resolve"
	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/daemon/internal/streams"
	"github.com/vexilhq/vexil/daemon/internal/wire"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1/evaluationv1connect"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2/evaluationv2connect"
	"github.com/vexilhq/vexil/schemas/gen/schema/v1/schemav1connect"
)

// DefaultKeepAlive is how long an event stream stays silent before it
// sends keep_alive, as in flagd (whose EventStream loop waits on
// time.After(20 * time.Second) between events).
const DefaultKeepAlive = 20 * time.Second

// The event types of EventStream (flagd's core/pkg/service/iservice.go).
const (
	EventProviderReady       = "provider_ready"
	EventConfigurationChange = "configuration_change"
	EventKeepAlive           = "keep_alive"
	EventProviderShutdown    = "provider_shutdown"
)

// Config configures a Service.
type Config struct {
	// Resolver evaluates every request (each Resolve, each flag of
	// ResolveAll): it reads the selector, merges the request's context
	// with the static context and the mapped headers (which schema.v1
	// ignores, as flagd does), and tells its observers (metrics among
	// them) of each evaluation. The event streams watch its store.
	// Required.
	Resolver *resolve.Resolver
	// KeepAlive is how long an event stream may stay idle before it sends
	// keep_alive; 0 means DefaultKeepAlive.
	KeepAlive time.Duration
	// StreamDeadline, when positive, ends every flagd.evaluation.v1 and v2
	// event stream that long after it opened with DeadlineExceeded
	// ("stream closed due to server-side timeout"), as flagd's
	// --stream-deadline does. schema.v1 streams have no deadline.
	StreamDeadline time.Duration
	// Now is the clock the stream deadline is measured with; nil means
	// time.Now.
	Now func() time.Time
	// Options are added to the handlers' options, after flagd's JSON codec
	// (wire.JSONCodec), the binary codec (wire.ProtoCodec) and a minimum
	// size of 1 KiB for compressed responses; interceptors, for instance.
	Options []connect.HandlerOption
	// DisableFastPath turns off the fast path (fastpath.go), which decodes
	// the ordinary Connect-protocol HTTP/JSON calls of flagd.evaluation.v1
	// and v2 Resolve<Type> and encodes their answers without connect-go,
	// byte for byte as connect-go would, and hands every other request to
	// connect-go. A request it decodes is evaluated once: connect-go is
	// handed the answer when the fast path cannot encode it. The fast path
	// runs no interceptor of Options and does not know their read limit
	// (connect.WithReadMaxBytes): with such options, bound request bodies
	// with http.MaxBytesHandler too (as the daemon does), or disable it.
	DisableFastPath bool
}

// Service serves the three evaluation services. It is safe for concurrent
// use.
type Service struct {
	resolver       *resolve.Resolver
	keepAlive      time.Duration
	streamDeadline time.Duration
	now            func() time.Time
	options        []connect.HandlerOption
	fastPath       bool

	streams *streams.Tracker
}

// New returns a service over cfg.Resolver. It panics if cfg.Resolver is
// nil.
func New(cfg Config) *Service {
	if cfg.Resolver == nil {
		panic("evalsvc: Config.Resolver is nil")
	}
	s := &Service{
		resolver:       cfg.Resolver,
		keepAlive:      cfg.KeepAlive,
		streamDeadline: cfg.StreamDeadline,
		now:            cfg.Now,
		options:        append([]connect.HandlerOption{wire.JSONCodec(), wire.ProtoCodec()}, cfg.Options...),
		streams:        streams.New(),
		fastPath:       !cfg.DisableFastPath,
	}
	if s.keepAlive <= 0 {
		s.keepAlive = DefaultKeepAlive
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Handler is one service's handler and the path prefix it is mounted on.
type Handler struct {
	Path    string
	Handler http.Handler
}

// Handlers returns the handlers of flagd.evaluation.v1, flagd.evaluation.v2
// and schema.v1, with the path prefixes to mount them on
// ("/flagd.evaluation.v1.Service/", ...).
func (s *Service) Handlers() []Handler {
	hs := s.connectHandlers()
	if s.fastPath {
		for i := range hs[:2] { // flagd.evaluation.v1 and v2
			hs[i].Handler = s.withFastPath(hs[i].Handler)
		}
	}
	return hs
}

// connectHandlers are connect-go's handlers of the three services, in
// Handlers' order.
func (s *Service) connectHandlers() []Handler {
	p1, h1 := evaluationv1connect.NewServiceHandler(&v1Service{s}, s.options...)
	p2, h2 := evaluationv2connect.NewServiceHandler(&v2Service{s}, s.options...)
	p0, h0 := schemav1connect.NewServiceHandler(&schemaService{s}, s.options...)
	return []Handler{{p1, h1}, {p2, h2}, {p0, h0}}
}

// Mount registers the handlers on mux and returns their path prefixes.
func (s *Service) Mount(mux *http.ServeMux) []string {
	var paths []string
	for _, h := range s.Handlers() {
		mux.Handle(h.Path, h.Handler)
		paths = append(paths, h.Path)
	}
	return paths
}

// The path prefixes that route a request to a service, as flagd's
// evaluation port routes them: a decoded path that starts with
// routeV2Prefix goes to flagd.evaluation.v2, else one that starts with
// routeV1Prefix to flagd.evaluation.v1, and any other path to schema.v1.
const (
	routeV2Prefix = "/flagd.evaluation.v2"
	routeV1Prefix = "/flagd"
)

// Handler returns a handler serving the three services and nothing else.
// It routes as flagd's evaluation port does, with no mux: by the prefix
// of the decoded path (routeV2Prefix, routeV1Prefix, else schema.v1), to
// the service's handler, which serves its procedures' exact paths and
// answers 404 for any other. Paths are neither cleaned nor redirected:
// "/flagd.evaluation.v1.Service/" is a 404, "//schema.v1.Service/..." too,
// and "/schema.v1.Service%2FResolveBoolean" is that RPC (its decoded path).
// Behind it, the fast path's RPCs are served directly.
func (s *Service) Handler() http.Handler {
	hs := s.Handlers()
	v1, v2, old := hs[0].Handler, hs[1].Handler, hs[2].Handler
	var direct map[string]http.HandlerFunc
	if s.fastPath {
		direct = make(map[string]http.HandlerFunc, len(fastRPCs))
		for _, h := range s.connectHandlers() {
			for path, rpc := range fastRPCs {
				if strings.HasPrefix(path, h.Path) {
					next := h.Handler
					direct[path] = func(w http.ResponseWriter, r *http.Request) { s.serveFast(w, r, rpc, next) }
				}
			}
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if h, ok := direct[p]; ok {
			h(w, r)
			return
		}
		switch {
		case strings.HasPrefix(p, routeV2Prefix):
			v2.ServeHTTP(w, r)
		case strings.HasPrefix(p, routeV1Prefix):
			v1.ServeHTTP(w, r)
		default:
			old.ServeHTTP(w, r)
		}
	})
}

// Shutdown makes every open event stream send provider_shutdown and end,
// as flagd's ConnectService.Shutdown announces its end; a stream opened
// later sends provider_shutdown at once and ends. Unary RPCs keep being
// served. Shutdown waits until every stream has ended, or ctx has; it
// returns ctx's error then. It may be called more than once.
func (s *Service) Shutdown(ctx context.Context) error { return s.streams.Shutdown(ctx) }

// selector reads a request's selector: an invalid one is
// InvalidArgument, with the parser's message.
func (s *Service) selector(h http.Header) (store.Selector, error) {
	sel, err := s.resolver.Selector(h)
	if err != nil {
		return sel, connect.NewError(connect.CodeInvalidArgument, errors.Unwrap(err))
	}
	return sel, nil
}

// request is what every Resolve request carries.
type request interface {
	GetFlagKey() string
	GetContext() *structpb.Struct
}

// scope reads a request's selector and context: the evaluations of a
// Connect or gRPC request. A context nests as deeply as the request's
// decoding allows (as in flagd: protobuf-go's recursion limit), the
// request's size being bounded by the body limit.
func (s *Service) scope(h http.Header, reqCtx *structpb.Struct, withHeaders bool) (resolve.Scope, error) {
	sel, err := s.selector(h)
	if err != nil {
		return resolve.Scope{}, err
	}
	return s.resolver.Scope(sel, reqCtx.AsMap(), h, withHeaders), nil
}

// unaryPaths are the paths of the unary RPCs of flagd.evaluation.v1 and
// v2, whose answers are written once (see IsUnary).
var unaryPaths = map[string]bool{
	evaluationv1connect.ServiceResolveAllProcedure:     true,
	evaluationv1connect.ServiceResolveBooleanProcedure: true,
	evaluationv1connect.ServiceResolveStringProcedure:  true,
	evaluationv1connect.ServiceResolveIntProcedure:     true,
	evaluationv1connect.ServiceResolveFloatProcedure:   true,
	evaluationv1connect.ServiceResolveObjectProcedure:  true,
	evaluationv2connect.ServiceResolveBooleanProcedure: true,
	evaluationv2connect.ServiceResolveStringProcedure:  true,
	evaluationv2connect.ServiceResolveIntProcedure:     true,
	evaluationv2connect.ServiceResolveFloatProcedure:   true,
	evaluationv2connect.ServiceResolveObjectProcedure:  true,
}

// IsUnary reports whether a request of method to path is a call of a
// unary RPC of flagd.evaluation.v1 or v2 (Resolve* and ResolveAll), whose
// answer Handler writes once and never flushes: the requests the
// daemon's HTTP/1.1 fast path (http1fast) may serve. Event streams are not.
func IsUnary(method, path string) bool {
	return method == http.MethodPost && unaryPaths[path]
}
