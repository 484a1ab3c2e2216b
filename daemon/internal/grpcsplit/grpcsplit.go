// Package grpcsplit divides the connections of one listener between two
// servers: the connections of native gRPC clients (grpc-go, grpc-java,
// grpc-js, grpc-c and the like) go to a grpc-go server, every other
// connection to an HTTP server.
//
// grpc-go's HTTP/2 transport answers a unary call with about half the CPU
// of net/http's HTTP/2 server, so on one core it serves twice the calls;
// everything that is not a gRPC library's connection (HTTP/1.1, the
// Connect protocol, gRPC-Web, and gRPC from Connect clients, which may mix
// protocols on one connection) stays with net/http and connect-go.
//
// A connection is routed once, by its first request:
//
//   - With TLS, the handshake is done here; a connection that did not
//     negotiate "h2" goes to the HTTP server as the *tls.Conn it is.
//   - Bytes that are not the HTTP/2 client preface, or no bytes within
//     the sniff window, send the connection to the HTTP server.
//   - After the preface, the server's first SETTINGS frame (empty: every
//     setting at its default) is written, since gRPC clients wait for it
//     before their first request, and the client's frames are read up to
//     the first HEADERS frame. If its content-type is gRPC's with the
//     protobuf codec and it comes neither from a Connect client nor
//     through a proxy (IsNativeGRPC), the
//     connection goes to the gRPC server, otherwise to the HTTP server. A
//     connection that sends the preface but no request within the sniff
//     window (a gRPC channel connecting ahead of its first call) goes to
//     the gRPC server.
//
// The chosen server reads the connection from its first byte: what was read
// here is replayed, except the client's acknowledgement of the SETTINGS
// frame written here, which is dropped (the server did not send that frame,
// and net/http's HTTP/2 server closes a connection that acknowledges
// settings it never sent). A connection that does not route (a failed
// handshake, an error) is closed.
//
// A temporary error of the listener's Accept (net.Error's Temporary, as
// for running out of file descriptors: EMFILE or ENFILE) is waited out as
// net/http's Server.Serve does: Accept is tried again after 5 ms, the wait
// doubling up to 1 s and starting over once a connection is accepted. Any
// other error ends Run, which returns it.
package grpcsplit

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// DefaultSniffWindow is how long a connection may wait for its first bytes
// and its first request by default.
const DefaultSniffWindow = time.Second

// DefaultHandshakeTimeout bounds a TLS handshake by default.
const DefaultHandshakeTimeout = 5 * time.Second

// Waits between Accept calls after a temporary error: the first, and the
// most, as net/http's Server.Serve waits.
const (
	firstAcceptRetry = 5 * time.Millisecond
	maxAcceptRetry   = time.Second
)

// maxSniffBytes bounds what is read of a connection before its first
// HEADERS frame; a client that sends more goes to the HTTP server.
const maxSniffBytes = 64 << 10

// Config configures a Split.
type Config struct {
	// TLS, when not nil, makes Split do each connection's TLS handshake
	// with it. It should offer "h2" (and "http/1.1") in NextProtos.
	TLS *tls.Config
	// HandshakeTimeout bounds the TLS handshake; 0 means
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// SniffWindow bounds the wait for a connection's first bytes and first
	// request; 0 means DefaultSniffWindow.
	SniffWindow time.Duration
	// Routed, when not nil, is called with each connection's route (true
	// for the gRPC server) before the connection is handed on.
	Routed func(grpc bool)
	// AcceptRetry, when not nil, is called with each temporary error of
	// the listener's Accept and the time Run waits before it accepts again
	// (so that the daemon can say why it does not accept).
	AcceptRetry func(err error, wait time.Duration)
}

// IsNativeGRPC reports whether a first request with these headers (as
// http.Header keys them) is a gRPC library's own protobuf call, whose
// connection the gRPC server can serve whole: gRPC with the protobuf codec
// (content-type "application/grpc" or "application/grpc+proto"),
//
//   - from a client whose user-agent's product is not a Connect client's
//     (connect-go speaking gRPC calls itself "grpc-go-connect/...", its
//     Connect protocol "connect-go/...", connect-es "connect-es/..."):
//     Connect clients may send other protocols on the same connection;
//   - and not through a proxy that says so (Via, Forwarded,
//     X-Forwarded-For, X-Forwarded-Proto, X-Request-Id, or a header of
//     Envoy's "X-Envoy-" or Linkerd's "L5d-"): a proxy may send the
//     requests of many clients, gRPC and others, over one connection.
func IsNativeGRPC(h http.Header) bool {
	ct := strings.ToLower(strings.TrimSpace(h.Get("Content-Type")))
	if ct != "application/grpc" && ct != "application/grpc+proto" {
		return false
	}
	product, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(h.Get("User-Agent"))), "/")
	if strings.HasPrefix(product, "connect-") || strings.HasSuffix(product, "-connect") {
		return false
	}
	for name := range h {
		switch name {
		case "Via", "Forwarded", "X-Forwarded-For", "X-Forwarded-Proto", "X-Request-Id":
			return false
		}
		if strings.HasPrefix(name, "X-Envoy-") || strings.HasPrefix(name, "L5d-") {
			return false
		}
	}
	return true
}

// Split routes the connections of a listener. Run accepts them; HTTP and
// GRPC are the listeners the two servers serve.
type Split struct {
	ln   net.Listener
	cfg  Config
	http *connListener
	grpc *connListener

	stop     chan struct{} // closed by Close: ends a wait between Accepts
	mu       sync.Mutex
	closed   bool
	sniffing map[net.Conn]struct{}
	wg       sync.WaitGroup
}

// New returns a Split of ln's connections.
func New(ln net.Listener, cfg Config) *Split {
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.SniffWindow <= 0 {
		cfg.SniffWindow = DefaultSniffWindow
	}
	s := &Split{ln: ln, cfg: cfg, stop: make(chan struct{}), sniffing: map[net.Conn]struct{}{}}
	s.http = newConnListener(ln.Addr())
	s.grpc = newConnListener(ln.Addr())
	return s
}

// HTTP is the listener of the connections for the HTTP server. With TLS,
// they are decrypted already: serve them with Serve, not ServeTLS, with
// unencrypted HTTP/2 enabled. HTTP/1.x over TLS comes as the *tls.Conn, for
// which net/http sets Request.TLS; for HTTP/2 over TLS, see RestoreTLS.
func (s *Split) HTTP() net.Listener { return s.http }

// GRPC is the listener of the connections for the gRPC server (without
// transport credentials: with TLS, they are decrypted already).
func (s *Split) GRPC() net.Listener { return s.grpc }

// Run accepts connections until Close is called or the listener fails
// with an error that is not temporary: it returns nil after Close, and
// that error of the listener otherwise. After a temporary error (see the
// package comment) it waits and accepts again. Each connection is routed
// on a goroutine of its own. When Run returns, the HTTP and GRPC
// listeners answer Accept with net.ErrClosed.
func (s *Split) Run() error {
	defer s.wg.Wait()
	defer s.closeListeners()
	var wait time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.isClosed() {
				return nil
			}
			if !isTemporary(err) {
				return err
			}
			wait = nextAcceptRetry(wait)
			if s.cfg.AcceptRetry != nil {
				s.cfg.AcceptRetry(err, wait)
			}
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-s.stop:
				t.Stop()
			}
			continue
		}
		wait = 0
		if !s.track(c) {
			c.Close()
			continue
		}
		s.wg.Go(func() { s.route(c) })
	}
}

// Close stops Run: it closes the listener, the HTTP and GRPC listeners and
// the connections being sniffed. Connections already routed are the
// servers'.
func (s *Split) Close() error {
	s.mu.Lock()
	if !s.closed {
		close(s.stop)
	}
	s.closed = true
	for c := range s.sniffing {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.closeListeners()
	return err
}

func (s *Split) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// isTemporary reports whether Run waits out err of Accept, as net/http's
// Server.Serve does: a net.Error that says it is temporary (as
// net.OpError does for the syscall.Errno EMFILE, ENFILE and EINTR).
func isTemporary(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Temporary()
}

// nextAcceptRetry is the wait after a temporary Accept error, given the
// previous wait (0 when the previous Accept succeeded).
func nextAcceptRetry(last time.Duration) time.Duration {
	return min(max(2*last, firstAcceptRetry), maxAcceptRetry)
}

func (s *Split) closeListeners() {
	s.http.Close()
	s.grpc.Close()
}

// track records c as being sniffed, unless the Split is closed.
func (s *Split) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.sniffing[c] = struct{}{}
	return true
}

func (s *Split) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.sniffing, c)
	s.mu.Unlock()
}

// route sniffs c and hands it to a server.
func (s *Split) route(raw net.Conn) {
	c, to := s.sniff(raw)
	s.untrack(raw)
	if to == nil {
		raw.Close()
		return
	}
	if s.cfg.Routed != nil {
		s.cfg.Routed(to == s.grpc)
	}
	to.push(c)
}

// sniff reads c's first request and returns the connection to hand on and
// its listener, or a nil listener for a connection to close.
func (s *Split) sniff(c net.Conn) (net.Conn, *connListener) {
	var tc *tls.Conn
	if s.cfg.TLS != nil {
		tc = tls.Server(c, s.cfg.TLS)
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HandshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			return nil, nil
		}
		if tc.ConnectionState().NegotiatedProtocol != "h2" {
			return tc, s.http
		}
		c = tc
	}
	wrap := func(read []byte, dropAck bool) net.Conn {
		sc := &conn{Conn: c, r: io.MultiReader(bytes.NewReader(read), c)}
		if tc == nil && !dropAck {
			sc.sniffed = read
		}
		if dropAck {
			sc.r = &ackFilter{r: sc.r, pass: len(http2.ClientPreface)}
		}
		if tc != nil {
			return &tlsConn{conn: sc, tc: tc}
		}
		return sc
	}

	if err := c.SetReadDeadline(time.Now().Add(s.cfg.SniffWindow)); err != nil {
		return nil, nil
	}
	rec := &recorder{r: c}
	// The preface, compared as it arrives: HTTP/1.1 diverges from it within
	// its first bytes.
	var buf [len(http2.ClientPreface)]byte
	for n := 0; n < len(buf); {
		m, err := rec.Read(buf[n:])
		n += m
		if !strings.HasPrefix(http2.ClientPreface, string(buf[:n])) {
			return s.handOff(c, wrap(rec.buf, false), s.http)
		}
		if err != nil {
			if isTimeout(err) && n == 0 {
				// A silent client: the HTTP server's own timeouts apply.
				return s.handOff(c, wrap(rec.buf, false), s.http)
			}
			return nil, nil
		}
	}
	// The server's preface: gRPC clients wait for it.
	if _, err := c.Write(emptySettings); err != nil {
		return nil, nil
	}
	fr := http2.NewFramer(io.Discard, rec)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.MaxHeaderListSize = maxSniffBytes
	for len(rec.buf) <= maxSniffBytes {
		f, err := fr.ReadFrame()
		if err != nil {
			if isTimeout(err) {
				// A connection without a request yet: a gRPC channel
				// connecting ahead of its first call.
				return s.handOff(c, wrap(rec.buf, true), s.grpc)
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
				return nil, nil
			}
			// A protocol error: the HTTP server answers it.
			return s.handOff(c, wrap(rec.buf, true), s.http)
		}
		if h, ok := f.(*http2.MetaHeadersFrame); ok {
			to := s.http
			if IsNativeGRPC(regularHeader(h)) {
				to = s.grpc
			}
			return s.handOff(c, wrap(rec.buf, true), to)
		}
	}
	return s.handOff(c, wrap(rec.buf, true), s.http)
}

// handOff clears the sniffing deadline.
func (s *Split) handOff(c, wrapped net.Conn, to *connListener) (net.Conn, *connListener) {
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		return nil, nil
	}
	return wrapped, to
}

// regularHeader is the header fields of a HEADERS frame, pseudo-headers
// left out.
func regularHeader(f *http2.MetaHeadersFrame) http.Header {
	h := http.Header{}
	for _, hf := range f.RegularFields() {
		h.Add(hf.Name, hf.Value)
	}
	return h
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// emptySettings is a SETTINGS frame without settings.
var emptySettings = []byte{0, 0, 0, 0x4, 0, 0, 0, 0, 0}

// recorder keeps what it reads.
type recorder struct {
	r   io.Reader
	buf []byte
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.buf = append(r.buf, p[:n]...)
	return n, err
}

// HTTP/2 frame header fields.
const (
	frameHeaderLen   = 9
	frameSettings    = 0x4
	flagSettingsAck  = 0x1
	settingsAckBytes = 0
)

// ackFilter passes an HTTP/2 client's byte stream through, less the first
// SETTINGS frame with the ACK flag; after it, it passes everything. pass is
// the number of bytes to pass before the next frame header (the preface,
// first).
type ackFilter struct {
	r       io.Reader
	done    bool
	pass    int
	hdr     [frameHeaderLen]byte
	nh      int    // bytes of hdr read
	pending []byte // header bytes not yet returned
}

func (f *ackFilter) Read(p []byte) (int, error) {
	for {
		if len(f.pending) > 0 {
			n := copy(p, f.pending)
			f.pending = f.pending[n:]
			return n, nil
		}
		if f.done {
			return f.r.Read(p)
		}
		if f.pass > 0 {
			q := p
			if len(q) > f.pass {
				q = q[:f.pass]
			}
			n, err := f.r.Read(q)
			f.pass -= n
			return n, err
		}
		n, err := f.r.Read(f.hdr[f.nh:])
		f.nh += n
		if f.nh < frameHeaderLen {
			if err != nil {
				if f.nh > 0 && errors.Is(err, io.EOF) {
					// A truncated frame header: hand on what there is.
					f.pending, f.nh, f.done = f.hdr[:f.nh], 0, true
					continue
				}
				return 0, err
			}
			continue
		}
		f.nh = 0
		length := int(f.hdr[0])<<16 | int(f.hdr[1])<<8 | int(f.hdr[2])
		if length == settingsAckBytes && f.hdr[3] == frameSettings && f.hdr[4]&flagSettingsAck != 0 {
			f.done = true
			continue
		}
		f.pending, f.pass = f.hdr[:], length
	}
}

// conn is a routed connection: its reads start with what was sniffed.
type conn struct {
	net.Conn
	r       io.Reader
	sniffed []byte // what was read of a plain connection, for Sniffed
	read    bool
}

func (c *conn) Read(p []byte) (int, error) {
	c.read = true
	return c.r.Read(p)
}

// Sniffed returns, before the connection is read, the bytes read from it
// here and the connection under it, when the bytes are all it takes to
// read it as it came (no TLS, no acknowledgement dropped), so that a
// server may read them and then the connection itself (as
// daemon/internal/http1fast does). ok is false otherwise.
func (c *conn) Sniffed() (read []byte, under net.Conn, ok bool) {
	if c.read || c.sniffed == nil {
		return nil, nil, false
	}
	return c.sniffed, c.Conn, true
}

// CloseWrite closes the connection's writing side when it has one to
// close (TCP, TLS): net/http does so before closing a connection whose
// request it refused unread (431, for headers over its limit), so that
// the client reads the answer rather than a reset.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// tlsConn is a routed TLS connection.
type tlsConn struct {
	*conn
	tc *tls.Conn
}

// TLSConnectionState is the TLS connection's state. (It is not named
// ConnectionState: net/http would then take the connection for HTTP/1.x
// over TLS and not look for unencrypted HTTP/2.)
func (c *tlsConn) TLSConnectionState() tls.ConnectionState { return c.tc.ConnectionState() }

// RestoreTLS makes srv, the HTTP server of a Split's HTTP listener, set
// Request.TLS for the HTTP/2 connections the Split decrypted (net/http
// leaves it nil, having seen unencrypted HTTP/2). It sets srv's
// ConnContext, which carries each connection's TLS state to its requests
// (net/http offers no other way from a connection to its requests), and
// wraps srv's Handler; call it once the Handler is set.
func RestoreTLS(srv *http.Server) {
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if tc, ok := c.(*tlsConn); ok {
			st := tc.TLSConnectionState()
			return context.WithValue(ctx, tlsStateKey{}, &st)
		}
		return ctx
	}
	next := srv.Handler
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if st, ok := r.Context().Value(tlsStateKey{}).(*tls.ConnectionState); ok && r.TLS == nil {
			r.TLS = st
		}
		next.ServeHTTP(w, r)
	})
}

// tlsStateKey is the context key of the TLS state of a connection that a
// Split decrypted.
type tlsStateKey struct{}

// connListener is a listener fed by a Split.
type connListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

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

func (l *connListener) Addr() net.Addr { return l.addr }

// push hands c to the listener's server, or closes it if the listener is
// closed.
func (l *connListener) push(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}
