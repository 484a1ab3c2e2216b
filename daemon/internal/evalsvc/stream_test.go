package evalsvc_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/vexilhq/vexil/daemon/internal/evalsvc"
	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/daemon/internal/storetest"
	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1/evaluationv1connect"
	evaluationv2 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2/evaluationv2connect"
	schemav1 "github.com/vexilhq/vexil/schemas/gen/schema/v1"
	"github.com/vexilhq/vexil/schemas/gen/schema/v1/schemav1connect"
	"github.com/vexilhq/vexil/syncsources"
)

// eventStream is an open EventStream of any version.
type eventStream struct {
	name    string
	receive func() bool
	msg     func() proto.Message
	err     func() error
	close   func() error
}

// next returns the next event as JSON, or "" when the stream ended.
func (s *eventStream) next(t *testing.T) string {
	t.Helper()
	if !s.receive() {
		return ""
	}
	return jsonOf(t, s.msg())
}

// event returns the next event that is not keep_alive.
func (s *eventStream) event(t *testing.T) string {
	t.Helper()
	for {
		ev := s.next(t)
		if ev != keepAlive {
			return ev
		}
	}
}

func wrap[T any](name string, st *connect.ServerStreamForClient[T]) *eventStream {
	return &eventStream{
		name:    name,
		receive: st.Receive,
		msg:     func() proto.Message { return any(st.Msg()).(proto.Message) },
		err:     st.Err,
		close:   st.Close,
	}
}

func withSelector[T any](msg *T, sel string) *connect.Request[T] {
	req := connect.NewRequest(msg)
	if sel != "" {
		req.Header().Set("Flagd-Selector", sel)
	}
	return req
}

// openStreams opens an EventStream of each version over the protocol.
func openStreams(t *testing.T, ctx context.Context, url string, p protocol, sel string) []*eventStream {
	t.Helper()
	c1 := evaluationv1connect.NewServiceClient(p.client, url, p.opts...)
	c2 := evaluationv2connect.NewServiceClient(p.client, url, p.opts...)
	c0 := schemav1connect.NewServiceClient(p.client, url, p.opts...)
	var out []*eventStream
	name := fmt.Sprintf("%s/%%s/%q", p.name, sel)
	s1, err := c1.EventStream(ctx, withSelector(&evaluationv1.EventStreamRequest{}, sel))
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, wrap(fmt.Sprintf(name, "v1"), s1))
	s2, err := c2.EventStream(ctx, withSelector(&evaluationv2.EventStreamRequest{}, sel))
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, wrap(fmt.Sprintf(name, "v2"), s2))
	s0, err := c0.EventStream(ctx, withSelector(&schemav1.EventStreamRequest{}, sel))
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, wrap(fmt.Sprintf(name, "schema.v1"), s0))
	t.Cleanup(func() {
		for _, s := range out {
			s.close()
		}
	})
	return out
}

const (
	ready     = `{"type":"provider_ready","data":{}}`
	keepAlive = `{"type":"keep_alive","data":null}`
	shutdown  = `{"type":"provider_shutdown","data":{}}`
)

// TestEventStream follows streams of every version, over every protocol,
// with three selectors, through two updates and the shutdown: each sees
// provider_ready, the changes of the flags its selector sees and nothing
// else, and provider_shutdown.
func TestEventStream(t *testing.T) {
	st := newStore(t)
	srv := startServer(t, evalsvc.Config{Resolver: newResolver(st, nil, nil, nil)})
	ctx := testContext(t)
	streams := map[string][]*eventStream{}
	for _, p := range protocols(t) {
		for _, sel := range []string{"", "flagSetId=set-a", "source=b.json"} {
			streams[sel] = append(streams[sel], openStreams(t, ctx, srv.URL, p, sel)...)
		}
	}
	expect := func(sel, want string) {
		t.Helper()
		for _, s := range streams[sel] {
			if got := s.event(t); got != want {
				t.Errorf("%s:\ngot  %s\nwant %s (err %v)", s.name, got, want, s.err())
			}
		}
	}
	for sel := range streams {
		expect(sel, ready)
	}

	// An update of b.json: set-a sees nothing.
	storetest.ApplyFile(t, st, sourceB, "b2.json")
	bChange := `{"type":"configuration_change","data":{"flags":{"b-new":{"type":"write"},"b-only":{"type":"update"}}}}`
	expect("", bChange)
	expect("source=b.json", bChange)

	// An update of a.json: b.json sees nothing, set-a's next event is this.
	storetest.ApplyFile(t, st, sourceA, "a2.json")
	aChange := `{"type":"configuration_change","data":{"flags":{"bool-flag":{"type":"update"},"float-flag":{"type":"delete"}}}}`
	expect("", aChange)
	expect("flagSetId=set-a", aChange)

	// An update that changes no flag sends nothing.
	storetest.ApplyFile(t, st, sourceA, "a2.json")

	// Shutdown: source=b.json's next event is provider_shutdown, and every
	// stream ends without an error.
	done := make(chan error, 1)
	go func() { done <- srv.Svc.Shutdown(ctx) }()
	for sel := range streams {
		expect(sel, shutdown)
		for _, s := range streams[sel] {
			if got := s.next(t); got != "" {
				t.Errorf("%s: after provider_shutdown: %s", s.name, got)
			}
			if err := s.err(); err != nil {
				t.Errorf("%s: ended with %v", s.name, err)
			}
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// A stream opened after Shutdown sends provider_shutdown and ends.
	for _, s := range openStreams(t, ctx, srv.URL, protocols(t)[0], "") {
		if got := s.next(t); got != shutdown {
			t.Errorf("%s after Shutdown: %s", s.name, got)
		}
		if got := s.next(t); got != "" || s.err() != nil {
			t.Errorf("%s after Shutdown: %s, %v", s.name, got, s.err())
		}
	}
}

// TestEventStreamKeepAlive checks that an idle stream sends keep_alive
// every KeepAlive, and that a stream the client abandons ends.
func TestEventStreamKeepAlive(t *testing.T) {
	srv := startServer(t, evalsvc.Config{KeepAlive: 10 * time.Millisecond})
	for _, p := range protocols(t) {
		ctx, cancel := context.WithCancel(testContext(t))
		for _, s := range openStreams(t, ctx, srv.URL, p, "") {
			for i, want := range []string{ready, keepAlive, keepAlive, keepAlive} {
				if got := s.next(t); got != want {
					t.Fatalf("%s: event %d: got %s, want %s (err %v)", s.name, i, got, want, s.err())
				}
			}
		}
		cancel()
	}
	// Cleanup's Shutdown waits for every stream to have ended.
}

// TestEventStreamDeadline checks StreamDeadline (flagd's
// --stream-deadline): version 1 and 2 streams end with DeadlineExceeded,
// schema.v1 streams stay open.
func TestEventStreamDeadline(t *testing.T) {
	srv := startServer(t, evalsvc.Config{StreamDeadline: 50 * time.Millisecond})
	ctx := testContext(t)
	for _, p := range protocols(t) {
		streams := openStreams(t, ctx, srv.URL, p, "")
		for _, s := range streams {
			if got := s.next(t); got != ready {
				t.Fatalf("%s: %s", s.name, got)
			}
		}
		for _, s := range streams[:2] {
			if got := s.next(t); got != "" {
				t.Fatalf("%s: %s", s.name, got)
			}
			var cerr *connect.Error
			if !errors.As(s.err(), &cerr) || cerr.Code() != connect.CodeDeadlineExceeded || cerr.Message() != "stream closed due to server-side timeout" {
				t.Errorf("%s: ended with %v", s.name, s.err())
			}
		}
		// The schema.v1 stream outlived the others' deadline.
		defer func(s *eventStream) {
			if got := s.next(t); got != shutdown {
				t.Errorf("%s: %s", s.name, got)
			}
		}(streams[2])
	}
	if err := srv.Svc.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestEventStreamInvalidSelector: InvalidArgument, as for the Resolve
// RPCs.
func TestEventStreamInvalidSelector(t *testing.T) {
	srv := startServer(t, evalsvc.Config{})
	ctx := testContext(t)
	for _, p := range protocols(t) {
		for _, s := range openStreams(t, ctx, srv.URL, p, "bogus=1") {
			if got := s.next(t); got != "" {
				t.Fatalf("%s: %s", s.name, got)
			}
			if connect.CodeOf(s.err()) != connect.CodeInvalidArgument {
				t.Errorf("%s: ended with %v", s.name, s.err())
			}
		}
	}
}

// TestMount checks the paths the services are mounted on.
func TestMount(t *testing.T) {
	svc := evalsvc.New(evalsvc.Config{Resolver: newResolver(newStore(t), nil, nil, nil)})
	defer svc.Shutdown(context.Background())
	mux := http.NewServeMux()
	got := fmt.Sprint(svc.Mount(mux))
	want := "[/flagd.evaluation.v1.Service/ /flagd.evaluation.v2.Service/ /schema.v1.Service/]"
	if got != want {
		t.Errorf("Mount: %s, want %s", got, want)
	}
}

func TestNewWithoutResolver(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New without a resolver did not panic")
		}
	}()
	evalsvc.New(evalsvc.Config{})
}

// TestEventStreamReadyWaitsForTheStore: provider_ready is sent only once
// every source has delivered, so a provider that is ready finds its flags.
func TestEventStreamReadyWaitsForTheStore(t *testing.T) {
	st := store.New(store.Config{Sources: []string{"late"}})
	srv := startServer(t, evalsvc.Config{Resolver: newResolver(st, nil, nil, nil)})
	p := protocols(t)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := evaluationv2connect.NewServiceClient(p.client, srv.URL, p.opts...)
	// The client returns from EventStream once the first event's headers
	// arrive, so the stream is opened in its own goroutine.
	got := make(chan string, 1)
	go func() {
		defer close(got)
		stream, err := c.EventStream(ctx, connect.NewRequest(&evaluationv2.EventStreamRequest{}))
		if err != nil {
			return
		}
		defer stream.Close()
		if stream.Receive() {
			got <- stream.Msg().GetType()
		}
	}()
	for len(srv.requests("/flagd.evaluation.v2.Service/EventStream")) == 0 {
		<-time.After(time.Millisecond) // until the server has the request
	}
	// Nothing is sent while the store is not ready. (A stream that sent
	// provider_ready at once would be seen here, the HTTP round trip
	// having had the time of the flag load below.)
	c2 := evaluationv2connect.NewServiceClient(p.client, srv.URL, p.opts...)
	if _, err := c2.ResolveBoolean(ctx, connect.NewRequest(&evaluationv2.ResolveBooleanRequest{FlagKey: "f"})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("before the load: %v, want NotFound", err)
	}
	select {
	case typ := <-got:
		t.Fatalf("event %q before the store was ready", typ)
	default:
	}
	storetest.Apply(t, st, "late", []byte(`{"flags":{"f":{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on"}}}`))
	if typ := <-got; typ != evalsvc.EventProviderReady {
		t.Fatalf("first event %q, want provider_ready", typ)
	}
	resp, err := c2.ResolveBoolean(ctx, connect.NewRequest(&evaluationv2.ResolveBooleanRequest{FlagKey: "f"}))
	if err != nil || !resp.Msg.GetValue() {
		t.Fatalf("after provider_ready: %v, %v", resp, err)
	}
}

// TestEventStreamRejectedDocument follows streams of every version over
// every protocol on a source whose first document is rejected, with the
// events flagd (bbb05d4) sent for the same documents: provider_ready at
// once (flagd counts a source ready once it has read its file, whether or
// not the document loads), the flags of the first good document as
// written, nothing for a later rejected document (its last good flags keep
// serving), and the next good document's changes.
func TestEventStreamRejectedDocument(t *testing.T) {
	const source = "flags.json"
	st := store.New(store.Config{Sources: []string{source}})
	apply := func(doc string, wantErr bool) {
		t.Helper()
		if _, err := st.Apply(syncsources.Update{Source: source, Data: []byte(doc)}); (err != nil) != wantErr {
			t.Fatalf("Apply %s: %v, want error %v", doc, err, wantErr)
		}
	}
	apply(`{"flags":{`, true)
	srv := startServer(t, evalsvc.Config{Resolver: newResolver(st, nil, nil, nil)})
	ctx := testContext(t)
	var streams []*eventStream
	for _, p := range protocols(t) {
		streams = append(streams, openStreams(t, ctx, srv.URL, p, "")...)
	}
	expect := func(want string) {
		t.Helper()
		for _, s := range streams {
			if got := s.event(t); got != want {
				t.Errorf("%s:\ngot  %s\nwant %s (err %v)", s.name, got, want, s.err())
			}
		}
	}
	expect(ready)

	flag := func(defaultVariant string) string {
		return `{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"` + defaultVariant + `"}`
	}
	apply(`{"flags":{"a":`+flag("on")+`,"b":`+flag("off")+`}}`, false)
	expect(`{"type":"configuration_change","data":{"flags":{"a":{"type":"write"},"b":{"type":"write"}}}}`)

	apply(`{"flags":`, true)
	apply(`{"flags":{"a":`+flag("off")+`,"c":`+flag("off")+`}}`, false)
	expect(`{"type":"configuration_change","data":{"flags":{"a":{"type":"update"},"b":{"type":"delete"},"c":{"type":"write"}}}}`)
}
