package daemon

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"

	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1/evaluationv1connect"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2/evaluationv2connect"
	"github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1/syncv1connect"
	"github.com/vexilhq/vexil/schemas/gen/schema/v1/schemav1connect"
)

// The states of a source in /readyz.
const (
	statePending  = "pending"  // nothing delivered yet
	stateLoaded   = "loaded"   // serving its latest document
	stateRejected = "rejected" // its latest document was rejected
	stateOutage   = "outage"   // it cannot deliver
	stateRemoved  = "removed"  // its flags were removed
)

// readyzSource is one source in the /readyz body.
type readyzSource struct {
	Name      string    `json:"name"`
	State     string    `json:"state"`
	Ready     bool      `json:"ready"`
	Flags     int       `json:"flags"`
	Rejected  int       `json:"rejected,omitempty"`
	LastError string    `json:"lastError,omitempty"`
	Problems  []string  `json:"problems,omitempty"`
	Updated   time.Time `json:"updated,omitzero"`
	Loaded    time.Time `json:"loaded,omitzero"`
}

// readyzBody is the /readyz body.
type readyzBody struct {
	Ready   bool           `json:"ready"`
	Sources []readyzSource `json:"sources"`
}

func sourceState(s store.SourceState) string {
	switch {
	case s.Outage:
		return stateOutage
	case s.LastError != "":
		return stateRejected
	case s.Removed:
		return stateRemoved
	case s.Delivered:
		return stateLoaded
	default:
		return statePending
	}
}

// managementHandler serves /healthz (200 while the daemon runs), /readyz
// (200 once every source has delivered, 412 before; the body describes
// each source), /metrics and grpc.health.v1.
func managementHandler(st *store.Store, checker grpchealth.Checker, metricsHandler http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metricsHandler)
	mux.Handle(grpchealth.NewHandler(checker))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		snap := st.Current()
		body := readyzBody{Ready: snap.Ready(), Sources: []readyzSource{}}
		for _, s := range snap.Sources() {
			rs := readyzSource{
				Name:      s.Name,
				State:     sourceState(s),
				Ready:     s.Delivered,
				Flags:     s.Flags,
				Rejected:  s.Rejected,
				LastError: s.LastError,
				Updated:   s.Updated,
				Loaded:    s.Loaded,
			}
			for _, p := range s.Problems {
				rs.Problems = append(rs.Problems, p.String())
			}
			body.Sources = append(body.Sources, rs)
		}
		data, err := json.Marshal(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if body.Ready {
			w.WriteHeader(http.StatusOK)
		} else {
			w.WriteHeader(http.StatusPreconditionFailed)
		}
		_, _ = w.Write(append(data, '\n'))
	})
	return mux
}

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
