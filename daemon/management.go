package daemon

import (
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	grpchealthsrv "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/vexilhq/vexil/daemon/internal/store"
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
//   - POST /api/v1/diff: the blast radius of a proposed document for one
//     source (diffapi.go);
//   - /api/v1/explain: why a flag resolves as it does (explainapi.go);
//
// whatever the method or query string, and net/http's 404 (or its
// redirect of an unclean path) for any other path. gRPC (HTTP/2 with an
// application/grpc content type) goes to a gRPC server that serves
// grpc.health.v1 (see health), whatever the path, as in flagd; other
// protocols (Connect, gRPC-Web) are not served there.
func managementHandler(st *store.Store, grpcHealth *health, metricsHandler, explain http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", metricsHandler)
	mux.Handle("POST /api/v1/diff", diffHandler(st))
	mux.Handle(ExplainPath, explain)
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
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			grpcHealth.srv.ServeHTTP(w, r)
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

// health is grpc.health.v1 on the management port, as in flagd: grpc-go's
// health service on a gRPC server of its own, which answers SERVING for
// the server as a whole (the empty service name) and NotFound ("unknown
// service") for any other name, whatever the state of the flags (flagd
// registers no per-service status; readiness is /readyz's). Once shutdown
// begins, it answers NOT_SERVING.
type health struct {
	status *grpchealthsrv.Server
	srv    *grpc.Server
}

func newHealth() *health {
	h := &health{status: grpchealthsrv.NewServer(), srv: grpc.NewServer()}
	healthpb.RegisterHealthServer(h.srv, h.status)
	return h
}

// shutDown makes every Check answer NOT_SERVING (and tells Watch streams).
func (h *health) shutDown() { h.status.Shutdown() }

// stop ends the gRPC calls still open (Watch streams), so that the
// management port's server can shut down.
func (h *health) stop() { h.srv.Stop() }
