package daemon

import (
	"context"
	"sync/atomic"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"

	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1/evaluationv1connect"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2/evaluationv2connect"
	"github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1/syncv1connect"
	"github.com/vexilhq/vexil/schemas/gen/schema/v1/schemav1connect"
)

// health answers the gRPC health protocol (grpc.health.v1.Health/Check) on
// the management port, as flagd does, for Kubernetes' gRPC probes:
//
//   - the empty service name (the server as a whole) is SERVING while the
//     daemon runs, as in flagd, so that a liveness probe does not restart
//     a daemon whose sources are slow;
//   - each service the daemon serves is SERVING once the flags are
//     servable (as /readyz says), NOT_SERVING before;
//   - everything is NOT_SERVING once shutdown begins;
//   - an unknown service is NotFound, as the protocol asks.
type health struct {
	st       *store.Store
	stopping atomic.Bool
}

func newHealth(st *store.Store) *health { return &health{st: st} }

// servedServices are the services whose health follows readiness.
var servedServices = map[string]bool{
	evaluationv1connect.ServiceName:   true,
	evaluationv2connect.ServiceName:   true,
	schemav1connect.ServiceName:       true,
	syncv1connect.FlagSyncServiceName: true,
}

func (h *health) shutDown() { h.stopping.Store(true) }

// Check implements grpchealth.Checker.
func (h *health) Check(_ context.Context, req *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	if req.Service != "" && !servedServices[req.Service] {
		return nil, connect.NewError(connect.CodeNotFound, nil)
	}
	switch {
	case h.stopping.Load():
		return &grpchealth.CheckResponse{Status: grpchealth.StatusNotServing}, nil
	case req.Service == "" || h.st.Current().Ready():
		return &grpchealth.CheckResponse{Status: grpchealth.StatusServing}, nil
	default:
		return &grpchealth.CheckResponse{Status: grpchealth.StatusNotServing}, nil
	}
}
