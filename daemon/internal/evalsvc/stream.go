package evalsvc

import (
	"context"
	"net/http"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/daemon/internal/streams"
)

// sendFunc sends one event of a stream.
type sendFunc func(typ string, data *structpb.Struct) error

// eventStream runs an EventStream as flagd's does (eventing.go and the
// EventStream methods of flag_evaluator*.go), in streams.Tracker.Run's
// loop:
//
//   - provider_ready first, with empty data, once every source has
//     delivered a document, loaded or rejected (flagd's readiness: it
//     answers provider_ready at once, also when its only document was
//     rejected, and lists the flags of a later good document as written);
//   - configuration_change when an update changes a flag the stream's
//     selector sees, with {"flags": {key: {"type": "write|update|delete"}}};
//     an update that changes nothing the selector sees sends nothing;
//   - keep_alive, with no data, after KeepAlive without an event;
//   - provider_shutdown, with empty data, on Shutdown; the stream then
//     ends.
//
// When the request's context ends the stream ends; with versioned set
// (flagd.evaluation.v1 and v2) a passed deadline, the server's
// StreamDeadline or the client's own, ends it with DeadlineExceeded.
func (s *Service) eventStream(ctx context.Context, h http.Header, versioned bool, send sendFunc) error {
	sel, err := s.selector(h)
	if err != nil {
		return err
	}
	st := streams.Stream{
		Store:           s.resolver.Store(),
		Selector:        sel,
		EndWithDeadline: versioned,
		KeepAlive:       s.keepAlive,
		KeepAliveFunc:   func() error { return send(EventKeepAlive, nil) },
		Ready:           func(*store.Snapshot) error { return send(EventProviderReady, emptyStruct()) },
		ReadyWhen:       (*store.Snapshot).Received,
		Changed: func(_ store.Change, diff map[string]store.ChangeType) error {
			return send(EventConfigurationChange, changeData(diff))
		},
		Shutdown: func() error { return send(EventProviderShutdown, emptyStruct()) },
	}
	if versioned && s.streamDeadline > 0 {
		st.Deadline = s.now().Add(s.streamDeadline)
	}
	return s.streams.Run(ctx, st)
}

func emptyStruct() *structpb.Struct {
	return &structpb.Struct{Fields: map[string]*structpb.Value{}}
}

// changeData is the data of a configuration_change event:
// {"flags": {key: {"type": "write"}}} (flagd's notifications.NewFromFlags).
func changeData(diff map[string]store.ChangeType) *structpb.Struct {
	flags := make(map[string]*structpb.Value, len(diff))
	for key, t := range diff {
		flags[key] = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
			"type": structpb.NewStringValue(string(t)),
		}})
	}
	return &structpb.Struct{Fields: map[string]*structpb.Value{
		"flags": structpb.NewStructValue(&structpb.Struct{Fields: flags}),
	}}
}
