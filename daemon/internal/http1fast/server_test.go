package http1fast

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serveFast serves h on a new listener with the fast path in front of a
// net/http server, and returns its address, the fast path, and a func
// that waits for both to end.
func serveFast(t *testing.T, h http.Handler, cfg Config) (string, *Server, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Handler = h
	if cfg.Allow == nil {
		cfg.Allow = func(string, string) bool { return true }
	}
	cfg.ErrorLog = log.New(io.Discard, "", 0)
	fs := New(cfg)
	srv := &http.Server{Handler: h, ErrorLog: cfg.ErrorLog}
	fastErr, srvErr := make(chan error, 1), make(chan error, 1)
	go func() { fastErr <- fs.Serve(ln) }()
	go func() { srvErr <- srv.Serve(fs.Fallback()) }()
	return ln.Addr().String(), fs, func() {
		srv.Close()
		if err := <-fastErr; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v, want http.ErrServerClosed", err)
		}
		<-srvErr
	}
}

// client is a keep-alive connection.
type client struct {
	net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{Conn: c, br: bufio.NewReader(c)}
}

// do sends a POST to path and returns the response.
func (c *client) do(t *testing.T, path string) *http.Response {
	t.Helper()
	if _, err := io.WriteString(c, "POST "+path+" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp
}

// closed waits until the server closes the connection.
func (c *client) closed(t *testing.T) {
	t.Helper()
	if n, err := c.br.Read(make([]byte, 1)); n != 0 || !(errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err)) {
		t.Fatalf("read %d bytes, %v; want the connection closed", n, err)
	}
}

func isReset(err error) bool { return err != nil && strings.Contains(err.Error(), "reset") }

// TestShutdown: Shutdown closes the idle connections at once, and waits
// for the active one, whose answer says Connection: close.
func TestShutdown(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			close(entered)
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	})
	addr, fs, wait := serveFast(t, h, Config{})
	defer wait()

	idle := dial(t, addr)
	if resp := idle.do(t, "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	active := dial(t, addr)
	if _, err := io.WriteString(active, "POST /block HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	<-entered

	shutdown := make(chan error, 1)
	go func() { shutdown <- fs.Shutdown(context.Background()) }()
	idle.closed(t)
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	default:
	}
	close(release)
	resp, err := http.ReadResponse(active.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Close { // (ReadResponse takes Connection: close out of the header)
		t.Error("answer in shutdown without Connection: close")
	}
	_, _ = io.ReadAll(resp.Body)
	active.closed(t)
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestShutdownTimeout: Shutdown returns the context's error when a request
// outlasts it; Close then ends the connection.
func TestShutdownTimeout(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	})
	addr, fs, wait := serveFast(t, h, Config{})
	defer wait()
	c := dial(t, addr)
	if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := fs.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown: %v, want context.Canceled", err)
	}
	fs.Close()
	c.closed(t)
	close(release)
}

// TestTimeouts: a connection that sends nothing is closed after
// ReadHeaderTimeout, one that sends nothing more after IdleTimeout.
func TestTimeouts(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	addr, fs, wait := serveFast(t, h, Config{ReadHeaderTimeout: 20 * time.Millisecond, IdleTimeout: 30 * time.Millisecond})
	defer wait()
	defer fs.Close()

	silent := dial(t, addr)
	silent.closed(t)

	idle := dial(t, addr)
	idle.do(t, "/")
	idle.do(t, "/")
	idle.closed(t)
}

// TestServeClosedListener: Serve returns the listener's error when it
// fails, and closes Fallback.
func TestServeClosedListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fs := New(Config{Handler: http.NotFoundHandler()})
	ln.Close()
	if err := fs.Serve(ln); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Serve: %v, want net.ErrClosed", err)
	}
	if _, err := fs.Fallback().Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Fallback().Accept: %v, want net.ErrClosed", err)
	}
	if err := fs.Serve(ln); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Serve again: %v", err)
	}
}

// TestMaxHeaderBytes: a request whose header is over the limit is handed
// to net/http, which answers it under its own limit.
func TestMaxHeaderBytes(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.Header.Get("X-Long")) })
	addr, fs, wait := serveFast(t, h, Config{MaxHeaderBytes: 64})
	defer wait()
	defer fs.Close()
	c := dial(t, addr)
	long := strings.Repeat("a", 100)
	if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nX-Long: "+long+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != long {
		t.Errorf("body %q", body)
	}
}
