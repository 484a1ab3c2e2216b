package daemon

import (
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
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

// managementHandler serves the management port as flagd does:
//
//   - /healthz: 200, no body, while the daemon runs;
//   - /readyz: 200 once every source has delivered a document (loaded or
//     rejected: flagd's readiness), 412 before, with no body; a client that
//     asks for JSON (Accept: application/json) gets a JSON body describing
//     each source instead;
//   - /metrics: Prometheus;
//
// whatever the method or query string, and net/http's 404 (or its
// redirect of an unclean path) for any other path. gRPC (HTTP/2 with an
// application/grpc content type) goes to grpc.health.v1 whatever the path,
// as in flagd, where a gRPC server answers it; other protocols (Connect,
// gRPC-Web) are not served there.
func managementHandler(st *store.Store, checker grpchealth.Checker, metricsHandler http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", metricsHandler)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		snap := st.Current()
		status := http.StatusPreconditionFailed
		if snap.Received() {
			status = http.StatusOK
		}
		if !acceptsJSON(r.Header.Values("Accept")) {
			w.WriteHeader(status)
			return
		}
		data, err := json.Marshal(readyzReport(snap))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(append(data, '\n'))
	})
	healthPath, healthHandler := grpchealth.NewHandler(checker)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			if strings.HasPrefix(r.URL.Path, healthPath) {
				healthHandler.ServeHTTP(w, r)
				return
			}
			grpcUnimplemented(w, r.URL.Path)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// readyzReport is the JSON /readyz body: whether the daemon is ready, and
// each source's state.
func readyzReport(snap *store.Snapshot) readyzBody {
	body := readyzBody{Ready: snap.Received(), Sources: []readyzSource{}}
	for _, s := range snap.Sources() {
		rs := readyzSource{
			Name:      s.Name,
			State:     sourceState(s),
			Ready:     s.Received,
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
	return body
}

// acceptsJSON reports whether an Accept header names application/json
// itself (a wildcard such as */*, which kubelet sends, does not count).
func acceptsJSON(accept []string) bool {
	for _, v := range accept {
		for _, part := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || mt != "application/json" {
				continue
			}
			if q, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
					continue
				}
			}
			return true
		}
	}
	return false
}

// grpcUnimplemented answers a gRPC call of a method the management port
// does not serve as grpc-go does: a trailers-only response with
// Unimplemented.
func grpcUnimplemented(w http.ResponseWriter, path string) {
	msg := "malformed method name: " + strconv.Quote(path)
	if service, method, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/"); ok && strings.HasPrefix(path, "/") && !strings.Contains(method, "/") {
		if service == grpchealth.HealthV1ServiceName {
			msg = "unknown method " + method + " for service " + service
		} else {
			msg = "unknown service " + service
		}
	}
	w.Header().Set("Content-Type", "application/grpc")
	w.Header().Set("Grpc-Status", strconv.Itoa(int(connect.CodeUnimplemented)))
	w.Header().Set("Grpc-Message", msg)
	w.WriteHeader(http.StatusOK)
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
