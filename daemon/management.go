package daemon

import (
	"encoding/json"
	"net/http"
	"time"

	"connectrpc.com/grpchealth"

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
