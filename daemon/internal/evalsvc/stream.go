package evalsvc

import (
	"context"
	"errors"
	"net/http"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/vexilhq/vexil/daemon/internal/store"
)

// sendFunc sends one event of a stream.
type sendFunc func(typ string, data *structpb.Struct) error

// eventStream runs an EventStream as flagd's does (eventing.go and the
// EventStream methods of flag_evaluator*.go):
//
//   - provider_ready first, with empty data, once the store is ready
//     (every source has delivered);
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
	sel, err := selector(h)
	if err != nil {
		return err
	}
	if !s.streams.Open() {
		return send(EventProviderShutdown, emptyStruct())
	}
	defer s.streams.Close()
	if versioned && s.streamDeadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, s.now().Add(s.streamDeadline))
		defer cancel()
	}
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	snap, changes := s.store.Subscribe(subCtx)

	// provider_ready only once the flags are servable, so that a provider
	// that is ready finds them (flagd sends it at once, and its providers
	// can see FLAG_NOT_FOUND while it still loads).
	for !snap.Ready() {
		select {
		case c, ok := <-changes:
			if !ok {
				changes = nil
				continue
			}
			snap = c.New
		case <-s.streams.Done():
			return send(EventProviderShutdown, emptyStruct())
		case <-ctx.Done():
			if versioned && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return errDeadline()
			}
			return nil
		}
	}
	if err := send(EventProviderReady, emptyStruct()); err != nil {
		return err
	}
	idle := time.NewTimer(s.keepAlive)
	defer idle.Stop()
	for {
		select {
		case <-idle.C:
			if err := send(EventKeepAlive, nil); err != nil {
				return err
			}
		case c, ok := <-changes:
			if !ok {
				changes = nil // ctx ended: the next round sees it
				continue
			}
			diff := c.For(sel)
			if len(diff) == 0 {
				continue
			}
			if err := send(EventConfigurationChange, changeData(diff)); err != nil {
				return err
			}
		case <-s.streams.Done():
			return send(EventProviderShutdown, emptyStruct())
		case <-ctx.Done():
			if versioned && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return errDeadline()
			}
			return nil
		}
		idle.Reset(s.keepAlive)
	}
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
