package ofrep

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/daemon/internal/streams"
)

// OFREP's change events over server-sent events, as the OFREP spec's event
// streams document (service/event-streams.yaml, ADR-0008) describes them.
// With Config.EventStreams, bulk responses list one event stream:
//
//	"eventStreams": [{"type": "sse", "endpoint": {"requestUri": "/ofrep/v1/event-stream"}}]
//
// (no origin: the provider connects to its configured OFREP origin), and
// GET EventStreamPath opens a text/event-stream. Once the stream is
// subscribed to the flag store its response headers are sent; then every
// change to a flag the request's Flagd-Selector sees sends one event,
//
//	event: message
//	id: N
//	data: {"type":"refetchEvaluation"}
//
// after which the provider re-fetches its evaluations. No etag is sent:
// the bulk ETag depends on the request's context, which the stream does
// not know. An idle stream gets a comment every KeepAliveInterval, so that
// proxies keep it open. flagd (at the pinned version) has no event streams.

// EventStreamPath is where the event stream is served.
const EventStreamPath = "/ofrep/v1/event-stream"

// KeepAliveInterval is how long an event stream may stay idle before a
// comment line is sent on it.
const KeepAliveInterval = 30 * time.Second

// eventStream is an entry of a bulk response's eventStreams.
type eventStream struct {
	Type     string              `json:"type"`
	Endpoint eventStreamEndpoint `json:"endpoint"`
}

type eventStreamEndpoint struct {
	RequestURI string `json:"requestUri"`
}

// advertised is the eventStreams of a bulk response.
var advertised = []eventStream{{Type: "sse", Endpoint: eventStreamEndpoint{RequestURI: EventStreamPath}}}

// refetchEvent is the data of every event.
const refetchEvent = `{"type":"refetchEvaluation"}`

// serveEvents serves one event stream, until the client goes, the stream
// deadline passes or the service shuts down.
func (s *Service) serveEvents(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	sel, err := s.resolver.Selector(r.Header)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, bulkError{ErrorCode: "GENERAL", ErrorDetails: "invalid selector: " + err.Error()})
		return
	}
	rc := http.NewResponseController(w)
	// An event stream outlives any write deadline the port sets.
	_ = rc.SetWriteDeadline(time.Time{})
	write := func(text string) error {
		if _, err := fmt.Fprint(w, text); err != nil {
			return err
		}
		return rc.Flush()
	}
	var id uint64
	st := streams.Stream{
		Store:    s.resolver.Store(),
		Selector: sel,
		// The provider re-fetches whatever the store holds: the stream is
		// open as soon as it is subscribed.
		ReadyWhen: func(*store.Snapshot) bool { return true },
		Ready: func(*store.Snapshot) error {
			h := w.Header()
			h.Set("Content-Type", "text/event-stream")
			h.Set("Cache-Control", "no-cache")
			h.Set("X-Accel-Buffering", "no") // nginx: do not buffer
			w.WriteHeader(http.StatusOK)
			return rc.Flush()
		},
		Changed: func(store.Change, map[string]store.ChangeType) error {
			id++
			return write("event: message\nid: " + strconv.FormatUint(id, 10) + "\ndata: " + refetchEvent + "\n\n")
		},
		KeepAlive:     s.keepAlive,
		KeepAliveFunc: func() error { return write(": keep-alive\n\n") },
		Shutdown:      func() error { return nil },
	}
	if s.deadline > 0 {
		st.Deadline = time.Now().Add(s.deadline)
	}
	// An error is a write that failed: the client is gone, and there is
	// nothing to answer.
	_ = s.streams.Run(r.Context(), st)
}

// Shutdown ends the open event streams, waiting for them until ctx ends.
func (s *Service) Shutdown(ctx context.Context) error { return s.streams.Shutdown(ctx) }
