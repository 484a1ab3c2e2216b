// Package syncsvc serves flagd's flag sync RPCs, flagd.sync.v1.FlagSyncService,
// from the daemon's flag store, over the Connect protocol, gRPC (which
// grpc-go clients, flagd's in-process providers among them, speak over
// h2c) and gRPC-Web. It evaluates nothing (the providers do): evaluations
// happen in daemon/internal/resolve. Its selector header is resolve's, its
// stream loop daemon/internal/streams'.
//
// Every RPC answers as flagd's does (flagd/pkg/service/flag-sync/handler.go):
//
//   - The selector is the Flagd-Selector header's when the request has the
//     header at all (even empty), else the request's selector field
//     (getSelectorExpression). An invalid one is InvalidArgument.
//   - No RPC is answered before every source has loaded a document, or
//     before StartupWait (flagd's 5 s) has passed since the service was
//     made, whichever comes first: flagd's sync server only starts
//     serving then (its startup tracker counts a source once a document
//     of it is stored; a rejected one does not count). A call made
//     earlier waits, as a call to flagd's not yet serving port does.
//   - SyncFlags sends the selection's flags once it is served (at once
//     when every source has loaded), then again, in full,
//     whenever an update changes a flag the stream's selector sees. Each
//     message carries the static context (--context-value) as sync_context.
//   - FetchAllFlags answers the selection's flags once, without context.
//   - The flags are flag_configuration, the JSON flagd marshals
//     (generateResponse): {"flags": {key: flag}} and nothing else, see
//     [FlagConfiguration].
//   - GetMetadata (deprecated in flagd) answers the static context, or
//     Unimplemented ("metadata endpoint disabled") with
//     --disable-sync-metadata.
//   - provider_id is only logged: flagd uses it for metrics alone.
//
// [Service.Shutdown] ends every open SyncFlags stream with Unavailable, the
// code a grpc-go client sees when flagd's sync server stops, so that
// providers reconnect.
package syncsvc

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/vexilhq/vexil/daemon/internal/metrics"
	"github.com/vexilhq/vexil/daemon/internal/resolve"
	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/daemon/internal/streams"
	"github.com/vexilhq/vexil/daemon/internal/wire"
	syncv1 "github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1/syncv1connect"
)

// Config configures a Service.
type Config struct {
	// Store holds the flags. Required.
	Store *store.Store
	// StaticContext is sent as every SyncFlags message's sync_context and
	// as GetMetadata's metadata (flagd's --context-value). It is copied.
	StaticContext map[string]any
	// DisableSyncMetadata makes GetMetadata answer Unimplemented (flagd's
	// --disable-sync-metadata). sync_context is sent regardless, as in
	// flagd.
	DisableSyncMetadata bool
	// StreamDeadline, when positive, ends every SyncFlags stream that long
	// after it opened with DeadlineExceeded ("stream closed due to
	// server-side timeout"), as flagd's --stream-deadline does.
	StreamDeadline time.Duration
	// Now is the clock the stream deadline is measured with; nil means
	// time.Now.
	Now func() time.Time
	// Logger receives debug logs of streams; nil means slog.Default().
	Logger *slog.Logger
	// Options are added to the handler's options, after flagd's JSON codec
	// (wire.JSONCodec); interceptors, for instance.
	Options []connect.HandlerOption
	// Metrics counts the open SyncFlags streams; nil counts none.
	Metrics *metrics.Metrics
	// StartupWait bounds how long, from New, the RPCs wait for every
	// source to load a document before they are served with the flags at
	// hand. Zero means DefaultStartupWait, flagd's; negative means no
	// wait.
	StartupWait time.Duration
}

// DefaultStartupWait is how long flagd's sync service waits, at most, for
// every source's first document before it serves.
const DefaultStartupWait = 5 * time.Second

// Service serves flagd.sync.v1.FlagSyncService. It is safe for concurrent
// use.
type Service struct {
	store          *store.Store
	static         map[string]any
	syncCtx        *structpb.Struct // nil when static cannot be a Struct
	syncCtxErr     error
	disableMeta    bool
	streamDeadline time.Duration
	now            func() time.Time
	log            *slog.Logger
	options        []connect.HandlerOption
	metrics        *metrics.Metrics

	cache configCache

	streams *streams.Tracker
	// startupOver is closed once StartupWait has passed since New.
	startupOver chan struct{}
}

// New returns a service over cfg.Store. It panics if cfg.Store is nil.
func New(cfg Config) *Service {
	if cfg.Store == nil {
		panic("syncsvc: Config.Store is nil")
	}
	s := &Service{
		store:          cfg.Store,
		static:         maps.Clone(cfg.StaticContext),
		disableMeta:    cfg.DisableSyncMetadata,
		streamDeadline: cfg.StreamDeadline,
		now:            cfg.Now,
		log:            cfg.Logger,
		options:        append([]connect.HandlerOption{wire.JSONCodec()}, cfg.Options...),
		streams:        streams.New(),
		metrics:        cfg.Metrics,
		cache:          configCache{maxEntries: maxCacheEntries, maxBytes: maxCacheBytes},
	}
	if s.static == nil {
		s.static = map[string]any{}
	}
	over := make(chan struct{})
	s.startupOver = over
	switch wait := cfg.StartupWait; {
	case wait < 0:
		close(over)
	case wait == 0:
		wait = DefaultStartupWait
		fallthrough
	default:
		time.AfterFunc(wait, func() { close(over) }) // keeps over alone reachable
	}
	// Built once: messages only read it. flagd builds it per stream, from
	// the same never-changing values, and fails the stream with DataLoss
	// when it cannot.
	s.syncCtx, s.syncCtxErr = structpb.NewStruct(s.static)
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s
}

// Path is the path prefix the service is mounted on.
const Path = "/" + syncv1connect.FlagSyncServiceName + "/"

// Mount registers the service's handler on mux and returns its path
// prefix ("/flagd.sync.v1.FlagSyncService/").
func (s *Service) Mount(mux *http.ServeMux) string {
	path, h := syncv1connect.NewFlagSyncServiceHandler(&handler{s}, s.options...)
	mux.Handle(path, h)
	return path
}

// Handler returns a mux serving the service and nothing else.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Mount(mux)
	return mux
}

// Shutdown ends every open SyncFlags stream with Unavailable; a stream
// opened later is refused with Unavailable. Unary RPCs keep being served.
// Shutdown waits until every stream has ended, or ctx has; it returns
// ctx's error then. It may be called more than once.
func (s *Service) Shutdown(ctx context.Context) error { return s.streams.Shutdown(ctx) }

// selectorExpression returns the selector expression of a request as
// flagd's getSelectorExpression does: the first Flagd-Selector header
// when there is one, even empty, else the request's selector field.
func selectorExpression(h http.Header, body string) string {
	if v := h.Values(resolve.SelectorHeader); len(v) > 0 {
		return v[0]
	}
	return body
}

// selector parses a request's selector; an invalid one is InvalidArgument
// with the parser's message, as in flagd.
func selector(h http.Header, body string) (store.Selector, string, error) {
	expr := selectorExpression(h, body)
	sel, err := resolve.ParseSelector(expr)
	if err != nil {
		return store.Selector{}, expr, connect.NewError(connect.CodeInvalidArgument, errors.Unwrap(err))
	}
	return sel, expr, nil
}

// served reports whether the service serves snap: once every source has
// loaded a document, or once the startup wait is over.
func (s *Service) served(snap *store.Snapshot) bool {
	if snap.Ready() {
		return true
	}
	select {
	case <-s.startupOver:
		return true
	default:
		return false
	}
}

// awaitServed returns the store's snapshot once the service serves it
// (see served), or ctx's error when ctx ends first.
func (s *Service) awaitServed(ctx context.Context) (*store.Snapshot, error) {
	if snap := s.store.Current(); s.served(snap) {
		return snap, nil
	}
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	snap, changes := s.store.Subscribe(subCtx)
	for !snap.Ready() {
		select {
		case c, ok := <-changes:
			if !ok {
				return nil, ctx.Err() // connect-go answers DeadlineExceeded or Canceled
			}
			snap = c.New
		case <-s.startupOver:
			return s.store.Current(), nil
		case <-ctx.Done():
			return nil, ctx.Err() // connect-go answers DeadlineExceeded or Canceled
		}
	}
	return snap, nil
}

// errShutdown ends the streams open when the service shuts down.
func errShutdown() error {
	return connect.NewError(connect.CodeUnavailable, errors.New("flag sync service shutting down"))
}

// handler implements the generated handler interface.
type handler struct{ s *Service }

var _ syncv1connect.FlagSyncServiceHandler = (*handler)(nil)

// SyncFlags streams the selection's flags: once the store is ready, then
// after every update that changes a flag the selector sees (flagd sends
// whenever its store's watch on the selection fires). The loop is
// streams.Tracker.Run's, which EventStream shares.
func (h *handler) SyncFlags(ctx context.Context, req *connect.Request[syncv1.SyncFlagsRequest], stream *connect.ServerStream[syncv1.SyncFlagsResponse]) error {
	s := h.s
	sel, expr, err := selector(req.Header(), req.Msg.GetSelector())
	if err != nil {
		return err
	}
	if s.syncCtxErr != nil {
		return connect.NewError(connect.CodeDataLoss, errors.New("error constructing sync context"))
	}
	log := s.log.With("selector", expr, "provider_id", req.Msg.GetProviderId(), "peer", req.Peer().Addr)
	send := func(snap *store.Snapshot) error {
		conf, err := s.configuration(snap, sel)
		if err != nil {
			log.Error("marshalling flags", "error", err)
			return connect.NewError(connect.CodeDataLoss, errors.New("error marshalling flags"))
		}
		return stream.Send(&syncv1.SyncFlagsResponse{FlagConfiguration: conf, SyncContext: s.syncCtx})
	}
	st := streams.Stream{
		Store:           s.store,
		Selector:        sel,
		EndWithDeadline: true,
		Ready:           send,
		ReadyWhen:       s.served,
		ReadyAnyway:     s.startupOver,
		Changed:         func(c store.Change, _ map[string]store.ChangeType) error { return send(c.New) },
		Shutdown:        errShutdown,
		Opened: func() func() {
			s.metrics.SyncStreamStarted()
			log.Debug("sync stream opened")
			return func() {
				log.Debug("sync stream closed")
				s.metrics.SyncStreamEnded()
			}
		},
	}
	if s.streamDeadline > 0 {
		st.Deadline = s.now().Add(s.streamDeadline)
	}
	return s.streams.Run(ctx, st)
}

// FetchAllFlags answers the selection's flags once.
func (h *handler) FetchAllFlags(ctx context.Context, req *connect.Request[syncv1.FetchAllFlagsRequest]) (*connect.Response[syncv1.FetchAllFlagsResponse], error) {
	sel, _, err := selector(req.Header(), req.Msg.GetSelector())
	if err != nil {
		return nil, err
	}
	snap, err := h.s.awaitServed(ctx)
	if err != nil {
		return nil, err
	}
	conf, err := h.s.configuration(snap, sel)
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, errors.New("error marshalling flags"))
	}
	return connect.NewResponse(&syncv1.FetchAllFlagsResponse{FlagConfiguration: conf}), nil
}

// GetMetadata answers the static context, as flagd's deprecated
// GetMetadata does, or Unimplemented when it is disabled.
func (h *handler) GetMetadata(ctx context.Context, _ *connect.Request[syncv1.GetMetadataRequest]) (*connect.Response[syncv1.GetMetadataResponse], error) {
	if _, err := h.s.awaitServed(ctx); err != nil {
		return nil, err
	}
	if h.s.disableMeta {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("metadata endpoint disabled"))
	}
	if h.s.syncCtxErr != nil {
		return nil, connect.NewError(connect.CodeUnknown, errors.New("error constructing metadata response"))
	}
	return connect.NewResponse(&syncv1.GetMetadataResponse{Metadata: h.s.syncCtx}), nil
}
