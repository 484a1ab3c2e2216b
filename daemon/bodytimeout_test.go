package daemon_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"

	"github.com/vexilhq/vexil/daemon"
	"github.com/vexilhq/vexil/internal/testcerts"
	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1/evaluationv1connect"
	syncv1 "github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1/syncv1connect"
)

// TestRequestBodyTimeout: a client that sends headers and part of a body
// has its request ended once the body timeout passes, on the OFREP,
// evaluation and sync ports, over HTTP/1.1 (answered, then the connection
// closed; not the sync port, which serves gRPC alone) and HTTP/2 (answered DeadlineExceeded, by connect-go or by
// grpc-go for a native gRPC client); while event and sync streams opened
// before them, over both servers and both HTTP versions, stay open past
// the timeout and get the next change.
func TestRequestBodyTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	writeAtomic(t, path, flagsDoc(false))
	d := startDaemon(t, daemon.Config{
		Sources:            []daemon.SourceSpec{{URI: "file:" + path}},
		RequestBodyTimeout: 200 * time.Millisecond,
	})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	// The streams, each once it has sent its first message.
	var streams []*received
	evalClient := evaluationv1connect.NewServiceClient(d.client, "http://"+d.addrs.Evaluation)
	events, err := evalClient.EventStream(ctx, connect.NewRequest(&evaluationv1.EventStreamRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	defer events.Close()
	streams = append(streams, receive("event stream, Connect over HTTP/1.1", func() (string, error) {
		if events.Receive() {
			return events.Msg().GetType(), nil
		}
		return "", events.Err()
	}))
	// the sync port serves gRPC alone, as flagd's does (grpcOnly)
	syncClient := syncv1connect.NewFlagSyncServiceClient(h2cClient(t), "http://"+d.addrs.Sync, connect.WithGRPC())
	syncs, err := syncClient.SyncFlags(ctx, connect.NewRequest(&syncv1.SyncFlagsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	defer syncs.Close()
	streams = append(streams, receive("sync stream, gRPC over HTTP/2 (connect-go client)", func() (string, error) {
		if syncs.Receive() {
			return syncs.Msg().GetFlagConfiguration(), nil
		}
		return "", syncs.Err()
	}))
	streams = append(streams, grpcStream(ctx, t, grpcClient(t, d.addrs.Evaluation, nil), "event stream, native gRPC (grpc-go)",
		"/flagd.evaluation.v1.Service/EventStream", &evaluationv1.EventStreamRequest{},
		func() interface{ GetType() string } { return new(evaluationv1.EventStreamResponse) }))
	streams = append(streams, grpcStream(ctx, t, grpcClient(t, d.addrs.Sync, nil), "sync stream, gRPC over HTTP/2 (connect-go)",
		syncv1connect.FlagSyncServiceSyncFlagsProcedure, &syncv1.SyncFlagsRequest{},
		func() interface{ GetType() string } { return syncResponse{new(syncv1.SyncFlagsResponse)} }))
	for _, s := range streams {
		s.await(t, func(string) bool { return true })
	}

	// The stalled requests, at once.
	const partialJSON = `{"context":`
	envelope := func(declared int, partial string) string {
		prefix := make([]byte, 5)
		binary.BigEndian.PutUint32(prefix[1:], uint32(declared))
		return string(prefix) + partial
	}
	var wg sync.WaitGroup
	for _, tc := range []struct {
		name, addr, path, contentType string
		partial                       string
		answer                        string // in the answer of an HTTP/1.1 request
	}{
		{"OFREP", d.addrs.OFREP, "/ofrep/v1/evaluate/flags", "application/json", partialJSON, "HTTP/1.1 408"},
		{"evaluation, Connect unary", d.addrs.Evaluation, evaluationv1connect.ServiceResolveAllProcedure, "application/json", partialJSON, "deadline_exceeded"},
		{"evaluation, Connect stream", d.addrs.Evaluation, evaluationv1connect.ServiceEventStreamProcedure, "application/connect+json", envelope(100, partialJSON), "deadline_exceeded"},
	} {
		wg.Go(func() {
			stalledHTTP1(t, "HTTP/1.1 "+tc.name, nil, tc.addr, tc.path, tc.contentType, tc.partial, tc.answer)
		})
	}
	for _, tc := range []struct {
		name, addr, path, contentType string
		partial                       string
		answered                      func(*http.Response, []byte) bool
	}{
		{"evaluation, Connect unary", d.addrs.Evaluation, evaluationv1connect.ServiceResolveAllProcedure, "application/json", partialJSON,
			func(_ *http.Response, body []byte) bool { return strings.Contains(string(body), `"deadline_exceeded"`) }},
		{"evaluation, native gRPC stream", d.addrs.Evaluation, evaluationv1connect.ServiceEventStreamProcedure, "application/grpc", envelope(100, "\x0a"),
			grpcDeadlineExceeded},
		{"evaluation, native gRPC unary", d.addrs.Evaluation, evaluationv1connect.ServiceResolveAllProcedure, "application/grpc", envelope(100, "\x0a"),
			grpcDeadlineExceeded},
		{"sync, gRPC stream", d.addrs.Sync, syncv1connect.FlagSyncServiceSyncFlagsProcedure, "application/grpc", envelope(100, "\x0a"),
			grpcDeadlineExceeded},
	} {
		wg.Go(func() {
			stalledHTTP2(ctx, t, "HTTP/2 "+tc.name, nil, tc.addr, tc.path, tc.contentType, tc.partial, tc.answered)
		})
	}
	wg.Wait()

	// The streams, opened before the stalled requests, outlived them: they
	// get the change.
	writeAtomic(t, path, flagsDoc(true))
	for _, s := range streams {
		s.await(t, func(msg string) bool {
			return msg == "configuration_change" || strings.Contains(msg, `"defaultVariant":"on"`)
		})
	}
}

// TestRequestBodyTimeoutTLS: over TLS too, a stalled body ends its
// request, over HTTP/1.1 and HTTP/2, on the ports that serve TLS (the
// evaluation port's connections decrypted by grpcsplit).
func TestRequestBodyTimeoutTLS(t *testing.T) {
	pair := testcerts.New(t, "127.0.0.1")
	certPath, keyPath := pair.Write(t, t.TempDir())
	d := startDaemon(t, daemon.Config{TLSCertPath: certPath, TLSKeyPath: keyPath, RequestBodyTimeout: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	h1 := &tls.Config{RootCAs: pair.Pool(), NextProtos: []string{"http/1.1"}}
	h2 := &tls.Config{RootCAs: pair.Pool()}
	prefix := string([]byte{0, 0, 0, 0, 100})
	var wg sync.WaitGroup
	wg.Go(func() {
		stalledHTTP1(t, "HTTP/1.1 OFREP", h1, d.addrs.OFREP, "/ofrep/v1/evaluate/flags", "application/json", `{"context":`, "HTTP/1.1 408")
	})
	wg.Go(func() {
		stalledHTTP1(t, "HTTP/1.1 evaluation, Connect unary", h1, d.addrs.Evaluation, evaluationv1connect.ServiceResolveAllProcedure, "application/json", `{"context":`, "deadline_exceeded")
	})
	wg.Go(func() {
		stalledHTTP2(ctx, t, "HTTP/2 OFREP", h2, d.addrs.OFREP, "/ofrep/v1/evaluate/flags", "application/json", `{"context":`,
			func(resp *http.Response, _ []byte) bool { return resp.StatusCode == http.StatusRequestTimeout })
	})
	wg.Go(func() {
		stalledHTTP2(ctx, t, "HTTP/2 evaluation, native gRPC unary", h2, d.addrs.Evaluation, evaluationv1connect.ServiceResolveAllProcedure, "application/grpc", prefix+"\x0a",
			grpcDeadlineExceeded)
	})
	wg.Go(func() {
		stalledHTTP2(ctx, t, "HTTP/2 sync, gRPC stream", h2, d.addrs.Sync, syncv1connect.FlagSyncServiceSyncFlagsProcedure, "application/grpc", prefix+"\x0a",
			grpcDeadlineExceeded)
	})
	wg.Wait()
}

// stalledHTTP1 sends an HTTP/1.1 request (over TLS with tlsConf) with a
// body of which only partial arrives, and checks that it is answered with
// answer in it (if at all) and its connection closed.
func stalledHTTP1(t *testing.T, name string, tlsConf *tls.Config, addr, path, contentType, partial, answer string) {
	var conn net.Conn
	var err error
	if tlsConf != nil {
		conn, err = tls.Dial("tcp", addr, tlsConf)
	} else {
		conn, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	req := "POST " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: " + contentType + "\r\nContent-Length: 100\r\n\r\n" + partial
	if _, err := io.WriteString(conn, req); err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	got, err := io.ReadAll(bufio.NewReader(conn))
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		t.Errorf("%s: still open after %v; got %q", name, timeout, got)
	case len(got) > 0 && !strings.Contains(string(got), answer):
		t.Errorf("%s: answered %q, want %q in it", name, got, answer)
	}
}

// stalledHTTP2 sends an HTTP/2 request (over TLS with tlsConf, else h2c)
// with a body of which only partial arrives, and checks that it is
// answered as answered says.
func stalledHTTP2(ctx context.Context, t *testing.T, name string, tlsConf *tls.Config, addr, path, contentType, partial string, answered func(*http.Response, []byte) bool) {
	var protocols http.Protocols
	tr := &http.Transport{Protocols: &protocols}
	scheme := "https://"
	if tlsConf != nil {
		tr.TLSClientConfig = tlsConf.Clone() // the Transport changes it
		protocols.SetHTTP2(true)
	} else {
		protocols.SetUnencryptedHTTP2(true)
		scheme = "http://"
	}
	defer tr.CloseIdleConnections()
	body, stall := io.Pipe()
	defer stall.Close()
	go func() { _, _ = io.WriteString(stall, partial) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, scheme+addr+path, body)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	req.Header.Set("Content-Type", contentType)
	if strings.HasPrefix(contentType, "application/grpc") {
		req.Header.Set("Te", "trailers")
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Errorf("%s: reading the answer: %v", name, err)
		return
	}
	if !answered(resp, got) {
		t.Errorf("%s: answered %d %v %q, trailers %v", name, resp.StatusCode, resp.Header, got, resp.Trailer)
	}
}

// grpcDeadlineExceeded says whether a gRPC call was answered
// DeadlineExceeded.
func grpcDeadlineExceeded(resp *http.Response, _ []byte) bool {
	const deadlineExceeded = "4"
	return resp.Header.Get("Grpc-Status") == deadlineExceeded || resp.Trailer.Get("Grpc-Status") == deadlineExceeded
}

// received are the messages of a stream, as strings.
type received struct {
	name string
	msgs chan string
	err  error // when msgs is closed
}

// receive receives the messages of a stream with next until it fails.
func receive(name string, next func() (string, error)) *received {
	r := &received{name: name, msgs: make(chan string, 16)}
	go func() {
		defer close(r.msgs)
		for {
			msg, err := next()
			if err != nil {
				r.err = err
				return
			}
			r.msgs <- msg
		}
	}()
	return r
}

// await waits for a message that matches.
func (r *received) await(t *testing.T, match func(string) bool) {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case msg, ok := <-r.msgs:
			if !ok {
				t.Fatalf("%s ended: %v", r.name, r.err)
			}
			if match(msg) {
				return
			}
		case <-timer.C:
			t.Fatalf("%s: no message in %v", r.name, timeout)
		}
	}
}

// grpcStream opens a server stream with grpc-go and receives its messages,
// as newMsg's GetType.
func grpcStream(ctx context.Context, t *testing.T, conn *grpc.ClientConn, name, method string, req any, newMsg func() interface{ GetType() string }) *received {
	t.Helper()
	st, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, method)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SendMsg(req); err != nil {
		t.Fatal(err)
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	return receive(name, func() (string, error) {
		msg := newMsg()
		m := any(msg)
		if s, ok := msg.(syncResponse); ok {
			m = s.SyncFlagsResponse
		}
		if err := st.RecvMsg(m); err != nil {
			return "", err
		}
		return msg.GetType(), nil
	})
}

// syncResponse gives a sync stream's message the GetType of event
// streams': its flag configuration.
type syncResponse struct{ *syncv1.SyncFlagsResponse }

func (s syncResponse) GetType() string { return s.GetFlagConfiguration() }
