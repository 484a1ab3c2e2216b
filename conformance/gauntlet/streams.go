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
	last    []string               // per stream: the last flag configuration, or event type
	seen    []map[string]time.Time // per stream: when each mark first arrived
	count   map[string]int         // per mark: the streams that got it
	ended   []bool
	changed chan struct{} // signalled (non-blocking) on every message and end
	cancel  context.CancelFunc
	closers []func()
}

func newStreamSet(n int, cancel context.CancelFunc) *streamSet {
	s := &streamSet{last: make([]string, n), seen: make([]map[string]time.Time, n), ended: make([]bool, n), changed: make(chan struct{}, 1), cancel: cancel, count: map[string]int{}}
	for i := range s.seen {
		s.seen[i] = map[string]time.Time{}
	}
	return s
}

func (s *streamSet) got(i int, msg string, marks []string) {
	now := time.Now()
	s.mu.Lock()
	s.last[i] = msg
	for _, m := range marks {
		if _, ok := s.seen[i][m]; !ok && strings.Contains(msg, m) {
			s.seen[i][m] = now
			s.count[m]++
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
	return openSyncStreamsWith(ctx, addr, n, nil, marks...)
}

func openSyncStreamsWith(ctx context.Context, addr string, n int, opts []connect.ClientOption, marks ...string) (*streamSet, error) {
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
			c = syncv1connect.NewFlagSyncServiceClient(hc, "http://"+addr, append([]connect.ClientOption{connect.WithGRPC()}, opts...)...)
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

// has reports whether stream i got a message with mark; s.mu is held.
func (s *streamSet) has(i int, mark string) bool {
	_, ok := s.seen[i][mark]
	return ok
}

// SyncStreams are open flagd.sync.v1 SyncFlags streams, for the fan-out
// measurements (bench/fanout).
type SyncStreams struct{ s *streamSet }

// OpenSyncStreams opens n SyncFlags streams to addr (over as many HTTP/2
// connections as the server's stream limit requires) and waits until each
// has its first configuration. Each notes when a configuration holding
// one of marks first arrived. With gzip false the clients do not accept
// compressed messages (as Vexil's provider); connect-go's default is to
// accept gzip, which the server then uses.
func OpenSyncStreams(ctx context.Context, addr string, n int, gzip bool, marks ...string) (*SyncStreams, error) {
	var opts []connect.ClientOption
	if !gzip {
		opts = append(opts, connect.WithAcceptCompression("gzip", nil, nil))
	}
	s, err := openSyncStreamsWith(ctx, addr, n, opts, marks...)
	if err != nil {
		return nil, err
	}
	return &SyncStreams{s}, nil
}

// AwaitMark waits until every stream got a configuration holding mark, and
// returns when each did, in stream order.
func (ss *SyncStreams) AwaitMark(ctx context.Context, mark string) ([]time.Time, error) {
	s := ss.s
	// Counted as they arrive: a scan of every stream at each message would
	// cost the client n² for n streams.
	for {
		s.mu.Lock()
		got := s.count[mark]
		s.mu.Unlock()
		if got == len(s.seen) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%d of %d streams given %s: %w", got, len(s.seen), mark, ctx.Err())
		case <-s.changed:
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	at := make([]time.Time, len(s.seen))
	for i := range s.seen {
		at[i] = s.seen[i][mark]
	}
	return at, nil
}

// Close ends the streams.
func (ss *SyncStreams) Close() { ss.s.close() }
