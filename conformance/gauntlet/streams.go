package gauntlet

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/net/http2"

	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1/evaluationv1connect"
	syncv1 "github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1/syncv1connect"
)

// h2cClient is an HTTP/2 client without TLS; it opens another connection
// when one has as many streams as the server allows.
func h2cClient() (*http.Client, func()) {
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	return &http.Client{Transport: tr}, tr.CloseIdleConnections
}

// fetchAll asks the sync port for every flag over gRPC and checks that
// flag "gauntlet" answers want.
func fetchAll(ctx context.Context, addr, want string) error {
	hc, done := h2cClient()
	defer done()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c := syncv1connect.NewFlagSyncServiceClient(hc, "http://"+addr, connect.WithGRPC())
	resp, err := c.FetchAllFlags(ctx, connect.NewRequest(&syncv1.FetchAllFlagsRequest{}))
	if err != nil {
		return err
	}
	if !strings.Contains(resp.Msg.GetFlagConfiguration(), `"`+want+`"`) {
		return fmt.Errorf("FetchAllFlags has no %q", want)
	}
	return nil
}

// streamSet is many open streams, each keeping the last message it got.
type streamSet struct {
	mu      sync.Mutex
	last    []string // per stream: the last flag configuration, or event type
	seen    []map[string]bool
	ended   []bool
	changed chan struct{} // signalled (non-blocking) on every message and end
	cancel  context.CancelFunc
	closers []func()
}

func newStreamSet(n int, cancel context.CancelFunc) *streamSet {
	s := &streamSet{last: make([]string, n), seen: make([]map[string]bool, n), ended: make([]bool, n), changed: make(chan struct{}, 1), cancel: cancel}
	for i := range s.seen {
		s.seen[i] = map[string]bool{}
	}
	return s
}

func (s *streamSet) got(i int, msg string, marks []string) {
	s.mu.Lock()
	s.last[i] = msg
	for _, m := range marks {
		if strings.Contains(msg, m) {
			s.seen[i][m] = true
		}
	}
	s.mu.Unlock()
	s.signal()
}

func (s *streamSet) end(i int) {
	s.mu.Lock()
	s.ended[i] = true
	s.mu.Unlock()
	s.signal()
}

func (s *streamSet) signal() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// await waits until every stream satisfies ok (given its index), or ctx
// ends; the error then counts those that do not and shows one.
func (s *streamSet) await(ctx context.Context, what string, ok func(i int) bool) error {
	for {
		s.mu.Lock()
		bad, example := 0, -1
		for i := range s.last {
			if !ok(i) {
				bad++
				example = i
			}
		}
		var ex string
		if example >= 0 {
			ex = fmt.Sprintf("stream %d: last %.120q, ended %v", example, s.last[example], s.ended[example])
		}
		s.mu.Unlock()
		if bad == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d streams not %s (%s): %w", bad, len(s.last), what, ex, ctx.Err())
		case <-s.changed:
		}
	}
}

// close ends the streams from the client's side.
func (s *streamSet) close() {
	s.cancel()
	for _, c := range s.closers {
		c()
	}
}

// openSyncStreams opens n flagd.sync.v1 SyncFlags streams over gRPC,
// spread over connections as the server's stream limit requires, and
// waits until each has its first configuration. marks are strings each
// stream notes having seen.
func openSyncStreams(ctx context.Context, addr string, n int, marks ...string) (*streamSet, error) {
	sctx, cancel := context.WithCancel(context.Background())
	s := newStreamSet(n, cancel)
	// A few clients, each with its own connections: the streams of one
	// client share connections up to the server's limit.
	const perClient = 200
	var c syncv1connect.FlagSyncServiceClient
	for i := range n {
		if i%perClient == 0 {
			hc, done := h2cClient()
			s.closers = append(s.closers, done)
			c = syncv1connect.NewFlagSyncServiceClient(hc, "http://"+addr, connect.WithGRPC())
		}
		st, err := c.SyncFlags(sctx, connect.NewRequest(&syncv1.SyncFlagsRequest{}))
		if err != nil {
			s.close()
			return nil, fmt.Errorf("stream %d: %w", i, err)
		}
		go func() {
			defer st.Close()
			for st.Receive() {
				s.got(i, st.Msg().GetFlagConfiguration(), marks)
			}
			s.end(i)
		}()
	}
	if err := s.await(ctx, "configured", func(i int) bool { return s.last[i] != "" }); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// openEventStreams opens n flagd.evaluation.v1 EventStreams over Connect
// (HTTP/2) and waits until each has its provider_ready.
func openEventStreams(ctx context.Context, addr string, n int) (*streamSet, error) {
	sctx, cancel := context.WithCancel(context.Background())
	s := newStreamSet(n, cancel)
	const perClient = 200
	var c evaluationv1connect.ServiceClient
	for i := range n {
		if i%perClient == 0 {
			hc, done := h2cClient()
			s.closers = append(s.closers, done)
			c = evaluationv1connect.NewServiceClient(hc, "http://"+addr)
		}
		st, err := c.EventStream(sctx, connect.NewRequest(&evaluationv1.EventStreamRequest{}))
		if err != nil {
			s.close()
			return nil, fmt.Errorf("event stream %d: %w", i, err)
		}
		go func() {
			defer st.Close()
			for st.Receive() {
				s.got(i, st.Msg().GetType(), []string{"configuration_change", "provider_shutdown"})
			}
			s.end(i)
		}()
	}
	if err := s.await(ctx, "ready", func(i int) bool { return s.last[i] != "" }); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}
