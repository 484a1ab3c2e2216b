package grpcsplit_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"

	"github.com/vexilhq/vexil/daemon/internal/grpcsplit"
	"github.com/vexilhq/vexil/internal/testcerts"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The servers answer grpc.health.v1 Check for their own name only, so a
// call for "grpc" succeeds only on the gRPC server and one for "http" only
// on the HTTP server; /who on the HTTP server names it and says whether
// the request came over TLS.
type split struct {
	addr    string
	pool    *tlsPool      // the client TLS config, with TLS
	httpNew chan struct{} // a connection reached the HTTP server
	grpcNew chan struct{} // a connection reached the gRPC server
}

type tlsPool struct{ cfg *tls.Config }

type httpChecker struct{}

func (httpChecker) Check(_ context.Context, req *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	if req.Service != "http" {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("unknown service"))
	}
	return &grpchealth.CheckResponse{Status: grpchealth.StatusServing}, nil
}

// connSignal is a grpc-go stats handler that signals each new connection.
type connSignal struct{ ch chan struct{} }

func (c connSignal) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (c connSignal) HandleRPC(context.Context, stats.RPCStats)                         {}
func (c connSignal) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (c connSignal) HandleConn(_ context.Context, s stats.ConnStats) {
	if _, ok := s.(*stats.ConnBegin); ok {
		select {
		case c.ch <- struct{}{}:
		default:
		}
	}
}

// start serves a Split on a loopback port (with TLS when pair is not nil)
// with an HTTP server (HTTP/1.1 and h2c) and a gRPC server.
func start(t *testing.T, pair *testcerts.Pair, window time.Duration) *split {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := grpcsplit.Config{SniffWindow: window}
	s := &split{addr: ln.Addr().String(), httpNew: make(chan struct{}, 16), grpcNew: make(chan struct{}, 16)}
	if pair != nil {
		cert, err := tls.X509KeyPair(pair.CertPEM, pair.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
		s.pool = &tlsPool{&tls.Config{RootCAs: pair.Pool()}}
	}
	sp := grpcsplit.New(ln, cfg)

	mux := http.NewServeMux()
	mux.Handle(grpchealth.NewHandler(httpChecker{}))
	mux.HandleFunc("/who", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "http/%d tls=%v", r.ProtoMajor, r.TLS != nil)
	})
	hs := &http.Server{
		Handler:   mux,
		Protocols: new(http.Protocols),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				select {
				case s.httpNew <- struct{}{}:
				default:
				}
			}
		},
	}
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetUnencryptedHTTP2(true)
	grpcsplit.RestoreTLS(hs)

	gs := grpc.NewServer(grpc.StatsHandler(connSignal{s.grpcNew}))
	hsrv := health.NewServer()
	hsrv.SetServingStatus("grpc", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, hsrv)

	done := make(chan error, 3)
	go func() { done <- sp.Run() }()
	go func() { done <- hs.Serve(sp.HTTP()) }()
	go func() { done <- gs.Serve(sp.GRPC()) }()
	t.Cleanup(func() {
		if err := sp.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		hs.Close()
		gs.Stop()
		for range 3 {
			if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				t.Errorf("serving: %v", err)
			}
		}
	})
	return s
}

func (s *split) scheme() string {
	if s.pool != nil {
		return "https"
	}
	return "http"
}

// httpClient speaks HTTP/1.1 (h2 false) or HTTP/2 (h2c without TLS).
func (s *split) httpClient(t *testing.T, h2 bool) *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	if s.pool != nil {
		tr.TLSClientConfig = s.pool.cfg.Clone()
		if h2 {
			tr.Protocols.SetHTTP2(true)
		} else {
			tr.Protocols.SetHTTP1(true)
		}
	} else if h2 {
		tr.Protocols.SetUnencryptedHTTP2(true)
	} else {
		tr.Protocols.SetHTTP1(true)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func (s *split) grpcConn(t *testing.T, opts ...grpc.DialOption) *grpc.ClientConn {
	creds := insecure.NewCredentials()
	if s.pool != nil {
		creds = credentials.NewTLS(s.pool.cfg.Clone())
	}
	conn, err := grpc.NewClient(s.addr, append(opts, grpc.WithTransportCredentials(creds))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// TestRouting: each kind of client reaches the server meant for it, over
// TCP and over TLS.
func TestRouting(t *testing.T) {
	pair := testcerts.New(t, "split")
	for _, withTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", withTLS), func(t *testing.T) {
			var p *testcerts.Pair
			if withTLS {
				p = &pair
			}
			s := start(t, p, 0)
			base := s.scheme() + "://" + s.addr

			for _, h2 := range []bool{false, true} {
				resp, err := s.httpClient(t, h2).Get(base + "/who")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := fmt.Sprintf("http/%d tls=%v", map[bool]int{false: 1, true: 2}[h2], withTLS)
				if string(body) != want {
					t.Errorf("GET /who (h2 %v): %q, want %q", h2, body, want)
				}
			}

			// Connect clients, in every protocol, reach the HTTP server.
			for name, c := range map[string]struct {
				h2   bool
				opts []connect.ClientOption
			}{
				"connect-grpc": {true, []connect.ClientOption{connect.WithGRPC()}},
				"grpc-web":     {false, []connect.ClientOption{connect.WithGRPCWeb()}},
				"connect-h2":   {true, nil},
			} {
				client := connect.NewClient[healthpb.HealthCheckRequest, healthpb.HealthCheckResponse](
					s.httpClient(t, c.h2), base+"/grpc.health.v1.Health/Check", c.opts...)
				resp, err := client.CallUnary(ctx(t), connect.NewRequest(&healthpb.HealthCheckRequest{Service: "http"}))
				if err != nil || resp.Msg.GetStatus() != healthpb.HealthCheckResponse_SERVING {
					t.Errorf("%s: %v, %v", name, resp, err)
				}
			}

			// A gRPC library reaches the gRPC server...
			hc := healthpb.NewHealthClient(s.grpcConn(t))
			if resp, err := hc.Check(ctx(t), &healthpb.HealthCheckRequest{Service: "grpc"}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("grpc-go: %v, %v", resp, err)
			}
			// ...unless it says it is a Connect client, or comes through a
			// proxy.
			hc = healthpb.NewHealthClient(s.grpcConn(t, grpc.WithUserAgent("connect-es/1.0")))
			if resp, err := hc.Check(ctx(t), &healthpb.HealthCheckRequest{Service: "http"}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("grpc-go as connect-es: %v, %v", resp, err)
			}
			hc = healthpb.NewHealthClient(s.grpcConn(t))
			viaProxy := metadata.AppendToOutgoingContext(ctx(t), "x-request-id", "42")
			if resp, err := hc.Check(viaProxy, &healthpb.HealthCheckRequest{Service: "http"}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("grpc-go through a proxy: %v, %v", resp, err)
			}
		})
	}
}

// TestSilentClient: a connection that sends nothing within the sniff
// window goes to the HTTP server, whose own timeouts then apply.
func TestSilentClient(t *testing.T) {
	s := start(t, nil, 10*time.Millisecond)
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case <-s.httpNew:
	case <-ctx(t).Done():
		t.Fatal("the silent connection never reached the HTTP server")
	}
	// It is served once it speaks.
	if _, err := io.WriteString(c, "GET /who HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	n, _ := c.Read(buf)
	if !bytes.Contains(buf[:n], []byte("http/1 tls=false")) {
		t.Fatalf("answer: %q", buf[:n])
	}
}

// TestConnectionAheadOfCall: an HTTP/2 connection with no request within
// the window (a gRPC channel that connects before its first call) goes to
// the gRPC server.
func TestConnectionAheadOfCall(t *testing.T) {
	s := start(t, nil, 10*time.Millisecond)
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The preface and an empty SETTINGS frame.
	if _, err := io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.grpcNew:
	case <-ctx(t).Done():
		t.Fatal("the connection never reached the gRPC server")
	}
}

// TestIsNativeGRPC names which first requests make a gRPC connection.
func TestIsNativeGRPC(t *testing.T) {
	for _, c := range []struct {
		ct, ua string
		more   []string // more header names, each with the value "x"
		want   bool
	}{
		{"application/grpc", "grpc-go/1.85.0", nil, true},
		{"application/grpc+proto", "grpc-java-netty/1.70.0", nil, true},
		{"Application/GRPC", "grpc-node-js/1.12.0", nil, true},
		{"application/grpc", "", nil, true},
		{"application/grpc", "h2load nghttp2/1.52.0", []string{"Grpc-Timeout", "Flagd-Selector"}, true},
		{"application/grpc", "connect-go/1.18.1 (go1.26.8)", nil, false},
		{"application/grpc", "grpc-go-connect/1.18.1 (go1.26.8)", nil, false},
		{"application/grpc", "connect-es/2.0.0", nil, false},
		{"application/grpc", "grpc-go/1.85.0", []string{"X-Envoy-Expected-Rq-Timeout-Ms"}, false},
		{"application/grpc", "grpc-go/1.85.0", []string{"X-Request-Id"}, false},
		{"application/grpc", "grpc-go/1.85.0", []string{"Via"}, false},
		{"application/grpc", "grpc-go/1.85.0", []string{"x-forwarded-for"}, false},
		{"application/grpc", "grpc-go/1.85.0", []string{"l5d-dst-canonical"}, false},
		{"application/grpc+json", "grpc-go/1.85.0", nil, false},
		{"application/grpc-web+proto", "grpc-web-javascript/0.1", nil, false},
		{"application/proto", "grpc-go/1.85.0", nil, false},
		{"application/json", "", nil, false},
	} {
		h := http.Header{}
		h.Set("Content-Type", c.ct)
		if c.ua != "" {
			h.Set("User-Agent", c.ua)
		}
		for _, name := range c.more {
			h.Add(name, "x")
		}
		if got := grpcsplit.IsNativeGRPC(h); got != c.want {
			t.Errorf("IsNativeGRPC(%v) = %v, want %v", h, got, c.want)
		}
	}
}

// TestClose: Run returns nil after Close, and the listeners refuse.
func TestClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sp := grpcsplit.New(ln, grpcsplit.Config{})
	done := make(chan error, 1)
	go func() { done <- sp.Run() }()
	// A connection being sniffed is closed by Close too.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "PRI * HTTP/2.0\r\n"); err != nil {
		t.Fatal(err)
	}
	sp.Close()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, l := range []net.Listener{sp.HTTP(), sp.GRPC()} {
		if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close: %v", err)
		}
	}
	if _, err := io.ReadAll(c); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Errorf("the sniffed connection: %v", err)
	}
}

// TestCloseWrite: a connection routed to HTTP can close its writing side,
// as the TCP connection under it can: net/http does so before closing a
// connection whose request it refused unread (431, for headers over its
// limit), so that the client reads the answer rather than a reset, as on
// the ports without a Split. (A Python http.client request with 1.1 MB of
// headers read "connection reset" from the evaluation port before, where
// flagd answers 431.)
func TestCloseWrite(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sp := grpcsplit.New(ln, grpcsplit.Config{})
	ran := make(chan error, 1)
	go func() { ran <- sp.Run() }()
	defer func() {
		sp.Close()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	routed, err := sp.HTTP().Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer routed.Close()
	cw, ok := routed.(interface{ CloseWrite() error })
	if !ok {
		t.Fatalf("the routed connection (%T) has no CloseWrite", routed)
	}
	if _, err := io.WriteString(routed, "answer"); err != nil {
		t.Fatal(err)
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	// The client reads the answer, then the end of the stream.
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "answer" {
		t.Errorf("client read %q, %v; want the answer then EOF", got, err)
	}
}

// TestSniffed: an HTTP/1.1 connection's routed conn gives, before it is
// read, the bytes read to route it and the connection under it, whose
// reads go on after them; once read, it gives nothing.
func TestSniffed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sp := grpcsplit.New(ln, grpcsplit.Config{})
	ran := make(chan error, 1)
	go func() { ran <- sp.Run() }()
	defer func() {
		sp.Close()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const req = "POST / HTTP/1.1\r\nHost: x\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	routed, err := sp.HTTP().Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer routed.Close()
	sn, ok := routed.(interface {
		Sniffed() ([]byte, net.Conn, bool)
	})
	if !ok {
		t.Fatalf("the routed connection (%T) has no Sniffed", routed)
	}
	read, under, ok := sn.Sniffed()
	if !ok || len(read) == 0 {
		t.Fatalf("Sniffed: %q, %v", read, ok)
	}
	rest, err := io.ReadAll(under)
	if err != nil || string(read)+string(rest) != req {
		t.Errorf("sniffed %q then read %q (%v); want the request", read, rest, err)
	}

	// A routed connection that was read no longer offers it.
	c2, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := io.WriteString(c2, req); err != nil {
		t.Fatal(err)
	}
	routed2, err := sp.HTTP().Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer routed2.Close()
	if _, err := routed2.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := routed2.(interface {
		Sniffed() ([]byte, net.Conn, bool)
	}).Sniffed(); ok {
		t.Error("Sniffed after a read: ok")
	}
}
