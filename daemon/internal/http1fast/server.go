// Package http1fast serves the plain HTTP/1.1 requests of a port's hot
// paths itself, and hands every other connection to the port's net/http
// server.
//
// net/http's HTTP/1.1 server spends about 20 µs of one core on each
// request of a keep-alive connection before the handler runs (its
// per-connection reader and writer machinery, a background read per
// request, a context and a cancel per request, deadlines set and cleared
// several times); for the daemon's evaluation requests that is three
// quarters of the cost. A Server reads a connection itself while each
// request is plainly framed and sure (see parse: a complete request in
// the read buffer, HTTP/1.1, a method and path the Config allows, ordinary
// header fields, a Content-Length within the limit), builds the
// *http.Request net/http would, calls the same handler (the port's whole
// policy chain) with a ResponseWriter that writes the response bytes as
// net/http's does, and reads the next request. Anything else — a request
// it is not sure of, a request that has not arrived whole, TLS, HTTP/2 —
// is handed over, with the bytes already read put back in front, to the
// net/http server that serves Fallback, which then serves the connection
// to its end. A differential fuzz test holds the responses of both equal
// byte for byte.
//
// Timeouts and lifecycle are net/http's: ReadHeaderTimeout bounds the
// wait for the first request, IdleTimeout the wait between requests;
// Shutdown closes idle connections and waits for the active ones, which
// answer their request with "Connection: close"; a request read during a
// shutdown is not answered, as net/http does. A connection handed over
// during the first wait gets net/http's own header timeout from then on.
//
// What differs from net/http, for the requests served here (none of it
// seen by the daemon's unary handlers):
//
//   - A request's context is its connection's: it ends when the connection
//     does, not when the handler returns, nor when the client goes away
//     while the handler runs (net/http watches for that with a read in the
//     background, a cost per request).
//   - The ResponseWriter supports Flush (http.Flusher, and
//     ResponseController's), not Hijack, read or write deadlines, nor full
//     duplex: the request body is in memory already.
//   - On a port that serves unencrypted HTTP/2, a connection that sends the
//     HTTP/2 preface after HTTP/1.1 requests is served HTTP/2 by the
//     server it is handed to (net/http would answer 505).
package http1fast

import (
	"bufio"
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Server.
type Config struct {
	// Handler answers the requests served here (the same handler as the
	// net/http server's).
	Handler http.Handler
	// Allow reports whether requests of method to path may be served here
	// (the paths of unary calls; never streams, whose responses flush).
	Allow func(method, path string) bool
	// MaxHeaderBytes bounds the request line and header fields of a
	// request served here; 0 means http.DefaultMaxHeaderBytes. Requests
	// over it go to net/http, which applies its own limit.
	MaxHeaderBytes int
	// MaxBodyBytes bounds the Content-Length of a request served here (the
	// policy's body limit, so that the handler's limit is never hit here);
	// 0 means none. The read buffer bounds it too.
	MaxBodyBytes int64
	// ReadHeaderTimeout bounds the wait for a connection's first request,
	// IdleTimeout the wait for each next one, as in an http.Server without
	// a ReadTimeout (0: no bound).
	ReadHeaderTimeout, IdleTimeout time.Duration
	// ErrorLog logs the panics of handlers, as http.Server's; nil logs
	// with the log package's standard logger.
	ErrorLog *log.Logger
}

// readBufferSize is the size of a connection's read buffer: a request
// larger than it goes to net/http.
const readBufferSize = 4 << 10

// Server serves plain HTTP/1.1 requests of the connections of a listener
// and hands the others to Fallback.
type Server struct {
	cfg      Config
	limits   limits
	fallback *connListener

	inShutdown atomic.Bool
	mu         sync.Mutex
	listeners  map[net.Listener]struct{}
	conns      map[*conn]struct{}
	connsGone  chan struct{} // signalled when a connection leaves conns
}

// New returns a Server of cfg.
func New(cfg Config) *Server {
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = http.DefaultMaxHeaderBytes
	}
	maxBody := cfg.MaxBodyBytes
	if maxBody <= 0 {
		maxBody = -1
	}
	return &Server{
		cfg:       cfg,
		limits:    limits{maxHeaderBytes: cfg.MaxHeaderBytes, maxBodyBytes: maxBody, allow: cfg.Allow},
		fallback:  newConnListener(),
		listeners: map[net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
		connsGone: make(chan struct{}, 1),
	}
}

// Fallback is the listener of the connections handed over: serve it with
// the net/http server of the same handler. When Serve returns for another
// reason than Shutdown or Close (its listener failed), it closes
// Fallback, so that the server's Serve returns too; in a shutdown, the
// server's own Shutdown closes it.
func (s *Server) Fallback() net.Listener { return s.fallback }

// Serve accepts the connections of ln until ln fails or Shutdown or Close
// is called: it returns http.ErrServerClosed then, else ln's error. A
// temporary error of Accept is waited out as http.Server.Serve does.
func (s *Server) Serve(ln net.Listener) error {
	s.fallback.setAddr(ln.Addr())
	defer func() {
		if !s.inShutdown.Load() {
			s.fallback.Close()
		}
	}()
	s.mu.Lock()
	if s.inShutdown.Load() {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var wait time.Duration
	for {
		rw, err := ln.Accept()
		if err != nil {
			if s.inShutdown.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Temporary() {
				wait = min(max(2*wait, 5*time.Millisecond), time.Second)
				s.logf("http: Accept error: %v; retrying in %v", err, wait)
				time.Sleep(wait)
				continue
			}
			return err
		}
		wait = 0
		c := &conn{srv: s, rwc: rw, accepted: time.Now(), buf: make([]byte, readBufferSize)}
		c.init()
		if !s.track(c) {
			rw.Close()
			continue
		}
		go c.serve()
	}
}

// Shutdown stops accepting, closes the idle connections and waits for the
// others to end, as http.Server.Shutdown; when ctx ends first, it returns
// ctx's error (Close then closes them).
func (s *Server) Shutdown(ctx context.Context) error {
	s.inShutdown.Store(true)
	s.closeListeners()
	for {
		if s.closeIdle() {
			return nil
		}
		select {
		case <-s.connsGone:
		case <-time.After(100 * time.Millisecond): // a new connection may turn idle
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close closes the listeners and every connection being served here.
func (s *Server) Close() error {
	s.inShutdown.Store(true)
	s.closeListeners()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.rwc.Close()
	}
	return nil
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ln := range s.listeners {
		ln.Close()
	}
}

// closeIdle closes the idle connections, and reports whether none is left.
// A connection that has read nothing yet is active for its first 5
// seconds, as in net/http.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		switch c.state.Load() {
		case stateIdle:
			c.rwc.Close()
		case stateNew:
			if time.Since(c.accepted) > 5*time.Second {
				c.rwc.Close()
			}
		}
	}
	return len(s.conns) == 0
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inShutdown.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	select {
	case s.connsGone <- struct{}{}:
	default:
	}
}

func (s *Server) logf(format string, args ...any) {
	if s.cfg.ErrorLog != nil {
		s.cfg.ErrorLog.Printf(format, args...)
	} else {
		log.Printf(format, args...)
	}
}

// Connection states, for Shutdown.
const (
	stateNew int32 = iota
	stateActive
	stateIdle
)

// conn is a connection served here.
type conn struct {
	srv      *Server
	rwc      net.Conn
	accepted time.Time
	state    atomic.Int32

	buf  []byte // the read buffer; buf[r:w] is unread
	r, w int
	bufw *bufio.Writer // to rwc, as net/http's 4 KiB writer
	werr error         // the first write error

	// sniffed: the unread bytes are what a router read to route the
	// connection (the first bytes of its first request, usually): the
	// rest of the request is read before deciding.
	sniffed bool
	// lastMethod is the method of the last request served.
	lastMethod string

	remoteAddr  string
	reqTemplate *http.Request // carries the connection's context
	cancel      context.CancelFunc
	dateBuf     [len(http.TimeFormat)]byte
	lengthBuf   [20]byte
}

// init takes over the bytes a router read of the connection already
// (grpcsplit's Sniffed), to read the connection under it directly.
func (c *conn) init() {
	if sn, ok := c.rwc.(interface {
		Sniffed() ([]byte, net.Conn, bool)
	}); ok {
		if read, under, ok := sn.Sniffed(); ok && len(read) < len(c.buf) {
			c.w = copy(c.buf, read)
			c.rwc = under
			c.sniffed = c.w > 0
		}
	}
}

// serve serves c until it ends or is handed over.
func (c *conn) serve() {
	s := c.srv
	handedOver := false
	defer func() {
		if err := recover(); err != nil && err != http.ErrAbortHandler {
			const size = 64 << 10
			buf := make([]byte, size)
			buf = buf[:runtime.Stack(buf, false)]
			s.logf("http: panic serving %v: %v\n%s", c.remoteAddr, err, buf)
		}
		if c.cancel != nil {
			c.cancel()
		}
		if !handedOver {
			if c.bufw != nil {
				c.bufw.Flush() // as net/http's final flush
			}
			c.rwc.Close()
		}
		s.untrack(c)
	}()

	timeout := s.cfg.ReadHeaderTimeout
	for {
		// Wait for the next request (its first bytes: the whole of it,
		// usually).
		if c.r == c.w {
			c.r, c.w = 0, 0
			var deadline time.Time
			if timeout > 0 {
				deadline = time.Now().Add(timeout)
			}
			if c.rwc.SetReadDeadline(deadline) != nil {
				return
			}
			if c.state.Load() == stateIdle && s.inShutdown.Load() {
				return
			}
			n, err := c.rwc.Read(c.buf)
			if n == 0 || err != nil {
				return // a closed, failed or timed-out connection
			}
			c.w = n
		}
		req, ok := parse(c.buf[c.r:c.w], s.limits)
		if !ok && c.sniffed {
			// The router read only the first bytes: read what has come
			// of the rest, once.
			c.sniffed = false
			if timeout > 0 && c.rwc.SetReadDeadline(time.Now().Add(timeout)) != nil {
				return
			}
			n, err := c.rwc.Read(c.buf[c.w:])
			c.w += n
			if err == nil {
				req, ok = parse(c.buf[c.r:c.w], s.limits)
			}
			// (After an error, net/http reads the same bytes and the
			// same error.)
		}
		if !ok {
			// net/http reads a connection's next request once 4 bytes
			// of it have come (within the idle timeout), and closes the
			// connection if they do not: the same here, so that the
			// server it is handed to, which reads a new connection's
			// first request at once, answers the same.
			if c.bufw != nil {
				if !c.fill(4) {
					return
				}
				// After a POST, net/http skips the CR and LF bytes
				// that start those 4 (a tolerance of RFC 7230 for
				// clients that end a body with CRLF).
				if c.lastMethod == http.MethodPost {
					for i := 0; i < 4 && (c.buf[c.r] == '\r' || c.buf[c.r] == '\n'); i++ {
						c.r++
					}
				}
			}
			handedOver = c.handOver()
			return
		}
		c.state.Store(stateActive)
		if s.inShutdown.Load() {
			return // as net/http: a request read in shutdown is not answered
		}
		if c.bufw == nil {
			c.bufw = bufio.NewWriterSize(connWriter{c}, 4<<10)
			if ra := c.rwc.RemoteAddr(); ra != nil {
				c.remoteAddr = ra.String()
			}
			ctx := context.WithValue(context.Background(), http.LocalAddrContextKey, c.rwc.LocalAddr())
			ctx, c.cancel = context.WithCancel(ctx)
			c.reqTemplate = new(http.Request).WithContext(ctx)
		}
		w := c.newResponse(&req)
		c.r += req.n
		c.lastMethod = req.method
		s.cfg.Handler.ServeHTTP(w, w.req)
		w.finishRequest()
		if !w.shouldReuseConnection() {
			return
		}
		c.state.Store(stateIdle)
		if s.inShutdown.Load() {
			return
		}
		timeout = s.cfg.IdleTimeout
	}
}

// fill reads until n bytes are unread, and reports whether they are.
func (c *conn) fill(n int) bool {
	if c.w-c.r >= n {
		return true
	}
	c.w = copy(c.buf, c.buf[c.r:c.w])
	c.r = 0
	for c.w < n {
		m, err := c.rwc.Read(c.buf[c.w:])
		c.w += m
		if err != nil && c.w < n {
			return false
		}
	}
	return true
}

// handOver hands the connection to the fallback listener, with its unread
// bytes in front, and reports whether it did.
func (c *conn) handOver() bool {
	if c.rwc.SetReadDeadline(time.Time{}) != nil {
		return false
	}
	if c.bufw != nil && c.bufw.Flush() != nil {
		return false
	}
	rest := append([]byte(nil), c.buf[c.r:c.w]...)
	c.srv.fallback.push(&prefixConn{Conn: c.rwc, prefix: rest})
	return true
}

// connWriter writes to the connection and keeps its first error.
type connWriter struct{ c *conn }

func (w connWriter) Write(p []byte) (int, error) {
	n, err := w.c.rwc.Write(p)
	if err != nil && w.c.werr == nil {
		w.c.werr = err
	}
	return n, err
}

// prefixConn is a connection handed over: its reads start with prefix.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite closes the connection's writing side when it has one
// (net/http does so before closing a connection whose request it
// refused).
func (c *prefixConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// connListener is the listener of the connections handed over.
type connListener struct {
	addr  atomic.Value // net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newConnListener() *connListener {
	return &connListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) setAddr(a net.Addr) { l.addr.Store(&a) }

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr {
	if a, ok := l.addr.Load().(*net.Addr); ok {
		return *a
	}
	return &net.TCPAddr{}
}

// push hands c to the listener's server, or closes it once the listener is
// closed.
func (l *connListener) push(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}
