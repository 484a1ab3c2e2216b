package http1fast

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// testHandler answers by the request's path with the shapes of response
// net/http writes differently: small and large bodies (a Content-Length,
// or chunked from the write that overflows the 2 KiB buffer), a declared
// Content-Length, no body (204, 304), an unknown status, a sniffed
// Content-Type, the header changed after WriteHeader, flushes, trailers,
// a body read in part, a Content-Length not met, a Connection: close of
// the handler's, a panic; /echo writes the request as the handler sees it.
func testHandler(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/json":
		b, err := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("Vary", "Origin")
		fmt.Fprintf(w, `{"read":%d,"err":%q}`, len(b), errString(err))
	case "/echo":
		b, err := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s %s %q %s host=%q len=%d close=%v te=%v trailer=%v laddr=%v\n",
			r.Method, r.URL, r.RequestURI, r.Proto, r.Host, r.ContentLength, r.Close, r.TransferEncoding, r.Trailer,
			r.Context().Value(http.LocalAddrContextKey) != nil)
		for _, k := range slices.Sorted(maps.Keys(r.Header)) {
			fmt.Fprintf(w, "%s=%q\n", k, r.Header[k])
		}
		fmt.Fprintf(w, "body=%q err=%v\n", b, err)
	case "/big":
		for i := range 5 {
			_, _ = w.Write(bytes.Repeat([]byte{'a' + byte(i)}, 1000))
		}
	case "/bigcl":
		w.Header().Set("Content-Length", "5000")
		_, _ = w.Write(bytes.Repeat([]byte("x"), 5000))
	case "/nocontent":
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "3")
		w.WriteHeader(http.StatusNoContent)
		_, _ = w.Write([]byte("abc"))
	case "/notmodified":
		w.Header().Set("Etag", `"1"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotModified)
	case "/status599":
		w.WriteHeader(599)
		_, _ = w.Write([]byte("odd"))
	case "/sniff":
		_, _ = w.Write([]byte("<html><body>hi</body></html>"))
	case "/late":
		h := w.Header()
		h.Set("X-Before", "1")
		w.WriteHeader(http.StatusAccepted)
		h.Set("X-After", "1")
		w.Header().Set("X-After-Header", "1")
		_, _ = w.Write([]byte("late"))
	case "/flush":
		_, _ = w.Write([]byte("one"))
		w.(http.Flusher).Flush()
		_, _ = w.Write([]byte("two"))
	case "/trailer":
		w.Header().Set("Trailer", "X-Sum, X-Bad-Content-Length")
		w.Header().Set(http.TrailerPrefix+"X-Extra", "e")
		_, _ = w.Write([]byte("body"))
		w.Header().Set("X-Sum", "42")
	case "/partialread":
		var b [1]byte
		_, _ = r.Body.Read(b[:])
		_, _ = w.Write(b[:])
	case "/short":
		w.Header().Set("Content-Length", "10")
		_, _ = w.Write([]byte("12345"))
	case "/respclose":
		w.Header().Set("Connection", "close")
		_, _ = w.Write([]byte("bye"))
	case "/empty":
	case "/panic":
		panic("test panic")
	default:
		http.NotFound(w, r)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// pair is a net/http server and a fast path with its fallback, both of
// testHandler.
type pair struct {
	plain, fast string // addresses
	// sniffed is the fast path behind a router that read the first bytes
	// of each connection (as grpcsplit does on the evaluation port).
	sniffed string
	stop    func()
	// handedOver counts the connections the fast path handed to its
	// fallback server.
	handedOver, sniffedHandedOver atomic.Int64
}

func startPair(tb testing.TB) *pair {
	tb.Helper()
	quiet := log.New(io.Discard, "", 0)
	h := http.HandlerFunc(testHandler)
	newSrv := func() *http.Server {
		return &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 10 * time.Second, ErrorLog: quiet}
	}
	plainLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	fastLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	sniffLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &pair{plain: plainLn.Addr().String(), fast: fastLn.Addr().String(), sniffed: sniffLn.Addr().String()}
	plain, fallback := newSrv(), newSrv()
	fallback.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			p.handedOver.Add(1)
		}
	}
	fast := New(Config{
		Handler:           h,
		Allow:             func(method, path string) bool { return path != "/stream" },
		MaxBodyBytes:      1 << 10,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       10 * time.Second,
		ErrorLog:          quiet,
	})
	sniffFast := New(Config{
		Handler:           h,
		Allow:             func(method, path string) bool { return path != "/stream" },
		MaxBodyBytes:      1 << 10,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       10 * time.Second,
		ErrorLog:          quiet,
	})
	sniffFallback := newSrv()
	sniffFallback.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			p.sniffedHandedOver.Add(1)
		}
	}
	done := make(chan struct{}, 5)
	go func() { _ = plain.Serve(plainLn); done <- struct{}{} }()
	go func() { _ = fast.Serve(fastLn); done <- struct{}{} }()
	go func() { _ = fallback.Serve(fast.Fallback()); done <- struct{}{} }()
	go func() { _ = sniffFast.Serve(sniffListener{sniffLn}); done <- struct{}{} }()
	go func() { _ = sniffFallback.Serve(sniffFast.Fallback()); done <- struct{}{} }()
	p.stop = func() {
		plain.Close()
		fast.Close()
		fallback.Close()
		sniffFast.Close()
		sniffFallback.Close()
		for range 5 {
			<-done
		}
	}
	return p
}

// sniffListener reads the first bytes of each connection it accepts (one
// read of at most 5 bytes, as grpcsplit reads until they differ from the
// HTTP/2 preface) and hands them on as grpcsplit's connections do.
type sniffListener struct{ net.Listener }

func (l sniffListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	b := make([]byte, 5)
	n, _ := c.Read(b)
	_ = c.SetReadDeadline(time.Time{})
	return &sniffedConn{Conn: c, read: b[:n]}, nil
}

// sniffedConn is a connection whose first bytes were read.
type sniffedConn struct {
	net.Conn
	read []byte
}

func (c *sniffedConn) Read(p []byte) (int, error) {
	if len(c.read) > 0 {
		n := copy(p, c.read)
		c.read = c.read[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *sniffedConn) Sniffed() ([]byte, net.Conn, bool) {
	return c.read, c.Conn, len(c.read) > 0
}

// roundTrip sends in on a new connection to addr, closes the connection's
// writing side, and returns all it reads until the server closes it, and
// whether the read ended with an error (a reset).
func roundTrip(tb testing.TB, addr string, in []byte) ([]byte, bool) {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		tb.Fatal(err)
	}
	if _, err := c.Write(in); err != nil {
		return nil, true
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return nil, true
	}
	out, err := io.ReadAll(c)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			tb.Fatalf("%s: no end within 10s; read %q", addr, out)
		}
	}
	return out, err != nil
}

var dateField = regexp.MustCompile(`(?m)^Date: [^\r\n]*\r$`)

// compare sends in to both servers and fails unless they answer the same
// bytes (the Date fields aside). When a read ends with a reset, the
// answers may be cut at any point: one must then start the other.
func compare(t *testing.T, p *pair, in []byte) {
	t.Helper()
	want, wantReset := roundTrip(t, p.plain, in)
	want = dateField.ReplaceAll(want, []byte("Date: -\r"))
	for _, addr := range []string{p.fast, p.sniffed} {
		got, gotReset := roundTrip(t, addr, in)
		got = dateField.ReplaceAll(got, []byte("Date: -\r"))
		if bytes.Equal(got, want) {
			continue
		}
		if (wantReset || gotReset) && (bytes.HasPrefix(got, want) || bytes.HasPrefix(want, got)) {
			continue
		}
		via := "the fast path"
		if addr == p.sniffed {
			via = "the fast path behind a router"
		}
		t.Errorf("request %q:\nnet/http answered:\n%s\n%s answered:\n%s", in, want, via, got)
	}
}

func seeds(tb testing.TB) map[string][]byte {
	tb.Helper()
	files, err := filepath.Glob("testdata/requests/*.http")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no seeds in testdata/requests: %v", err)
	}
	m := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		m[strings.TrimSuffix(filepath.Base(f), ".http")] = b
	}
	return m
}

// TestDifferential holds the fast path's answers to the requests of
// testdata/requests equal, byte for byte, to net/http's with the same
// handler: requests it serves, pipelined requests, and requests it hands
// over at the start and in the middle of a connection. The connections of
// the files named handover-* must be handed over, the others served
// whole by the fast path.
func TestDifferential(t *testing.T) {
	p := startPair(t)
	defer p.stop()
	for name, in := range seeds(t) {
		t.Run(name, func(t *testing.T) {
			before, sniffedBefore := p.handedOver.Load(), p.sniffedHandedOver.Load()
			compare(t, p, in)
			// The fallback server counts a connection as it starts
			// serving it, before it reads it: before the answer.
			want := strings.HasPrefix(name, "handover-")
			if handed := p.handedOver.Load() > before; handed != want {
				t.Errorf("connection handed over: %v, want %v", handed, want)
			}
			if handed := p.sniffedHandedOver.Load() > sniffedBefore; handed != want {
				t.Errorf("connection behind the router handed over: %v, want %v", handed, want)
			}
		})
	}
}

// FuzzDifferential is TestDifferential over any bytes.
func FuzzDifferential(f *testing.F) {
	for _, in := range seeds(f) {
		f.Add(in)
	}
	p := startPair(f)
	defer p.stop()
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 16<<10 {
			return
		}
		compare(t, p, in)
	})
}
