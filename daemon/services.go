package daemon

import (
	"context"
	"net/http"
	"slices"

	"connectrpc.com/connect"
	"google.golang.org/grpc"

	"github.com/vexilhq/vexil/daemon/internal/evalsvc"
	"github.com/vexilhq/vexil/daemon/internal/ofrep"
	"github.com/vexilhq/vexil/daemon/internal/resolve"
	"github.com/vexilhq/vexil/daemon/internal/syncsvc"
)

// services are the services of the evaluation, sync and OFREP ports.
type services struct {
	evaluation http.Handler
	// newEvaluationGRPC returns a grpc-go server of the evaluation
	// services, for native gRPC clients; nil with DisableNativeGRPC.
	newEvaluationGRPC func(...grpc.ServerOption) *grpc.Server
	sync              http.Handler
	ofrep             http.Handler
	// shutdowns end the services' streams.
	shutdowns []func(context.Context) error
}

// newServices builds the services over the daemon's store; evalOpts and
// syncOpts are the connect-go options of the evaluation and sync ports'
// policies. The evaluation and OFREP services share one resolver, whose
// observers are the daemon's metrics, the log of failed evaluations and
// OpenTelemetry.
func (d *Daemon) newServices(evalOpts, syncOpts []connect.HandlerOption) services {
	cfg := d.cfg
	var observers []resolve.Observer
	if d.metrics != nil { // a nil *metrics.Metrics is a non-nil Observer
		observers = append(observers, d.metrics)
	}
	// Failed evaluations are logged with their cause, at most one line a
	// minute per flag.
	observers = append(observers, resolve.NewErrorLog(resolve.ErrorLogConfig{Logger: d.log}))
	if d.telemetry != nil {
		observers = append(observers, d.telemetry)
		syncOpts = append(slices.Clip(syncOpts), connect.WithInterceptors(d.telemetry.SyncInterceptor()))
	}
	resolver := resolve.New(resolve.Config{
		Store:              d.store,
		StaticContext:      cfg.StaticContext,
		ContextFromHeaders: cfg.ContextFromHeaders,
		Observers:          observers,
	})
	eval := evalsvc.New(evalsvc.Config{
		Resolver:       resolver,
		StreamDeadline: cfg.StreamDeadline,
		Options:        evalOpts,
	})
	sync := syncsvc.New(syncsvc.Config{
		Store:               d.store,
		StaticContext:       cfg.StaticContext,
		DisableSyncMetadata: cfg.DisableSyncMetadata,
		StreamDeadline:      cfg.StreamDeadline,
		Logger:              d.log,
		Options:             syncOpts,
		Metrics:             d.metrics,
	})
	// The OFREP handler serves its port alone, with no ServeMux in front:
	// it answers 404 for any other path, and cleans paths as flagd's
	// router does (a ServeMux would clean the escaped path, with 307).
	ofrepSvc := ofrep.New(ofrep.Config{
		Resolver:       resolver,
		ETags:          cfg.OFREPETags,
		EventStreams:   cfg.OFREPEventStreams,
		StreamDeadline: cfg.StreamDeadline,
	})
	s := services{
		// With spans exported, an evaluation's is a child of the
		// caller's span (traceparent).
		evaluation: d.telemetry.HTTPHandler(eval.Handler()),
		sync:       sync.Handler(),
		ofrep:      d.telemetry.HTTPHandler(ofrepSvc.Handler()),
		shutdowns:  []func(context.Context) error{eval.Shutdown, sync.Shutdown, ofrepSvc.Shutdown},
	}
	if !cfg.DisableNativeGRPC {
		s.newEvaluationGRPC = eval.NewGRPCServer
		if traced := d.telemetry.GRPCServerOptions(); traced != nil {
			s.newEvaluationGRPC = func(opts ...grpc.ServerOption) *grpc.Server {
				return eval.NewGRPCServer(append(slices.Clip(opts), traced...)...)
			}
		}
	}
	return s
}
