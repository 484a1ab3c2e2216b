package daemon_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/vexilhq/vexil/daemon"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1/evaluationv1connect"
)

// wantMaxConcurrentStreams is the per-connection stream limit both servers
// of a port advertise (policy.go's maxConcurrentStreams).
const wantMaxConcurrentStreams = 250

// The user agents by which grpcsplit routes a connection of gRPC requests:
// a Connect client's to net/http, a grpc-go client's to grpc-go.
var http2Servers = []struct{ name, userAgent string }{
	{"net/http", "connect-go/1.21.1 (go1.26)"},
	{"grpc-go", "grpc-go/1.85.0"},
}

// rawH2C is a client's HTTP/2 connection without TLS, written frame by
// frame.
type rawH2C struct {
	t         *testing.T
	conn      net.Conn
	fr        *http2.Framer
	hb        bytes.Buffer
	enc       *hpack.Encoder
	userAgent string
	addr      string
}

// dialH2C opens an h2c connection to addr and sends the client preface
// and an empty SETTINGS frame. Every read and write of it must end within
// timeout.
func dialH2C(t *testing.T, addr, userAgent string) *rawH2C {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		t.Fatal(err)
	}
	c := &rawH2C{t: t, conn: conn, fr: http2.NewFramer(conn, conn), userAgent: userAgent, addr: addr}
	c.enc = hpack.NewEncoder(&c.hb)
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := c.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return c
}

// openStream sends the HEADERS of a native gRPC ResolveBoolean call on
// stream id, without END_STREAM: the request stays open, waiting for its
// message.
func (c *rawH2C) openStream(id uint32) {
	c.t.Helper()
	c.hb.Reset()
	for _, f := range [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":path", evaluationv1connect.ServiceResolveBooleanProcedure},
		{":authority", c.addr}, {"content-type", "application/grpc"}, {"te", "trailers"}, {"user-agent", c.userAgent},
	} {
		_ = c.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hb.Bytes(), EndHeaders: true}); err != nil {
		c.t.Fatalf("HEADERS of stream %d: %v", id, err)
	}
}

// serverSettings reads frames up to the server's SETTINGS that set
// MAX_CONCURRENT_STREAMS (grpcsplit writes an empty SETTINGS frame before
// the server's own), acknowledging every SETTINGS frame, and returns the
// limit; ok is false if the server's SETTINGS did not set one (it came
// with its first PING or WINDOW_UPDATE, or after the read of stop frames).
func (c *rawH2C) serverSettings() (limit uint32, ok bool) {
	c.t.Helper()
	for range 20 {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.t.Fatalf("reading the server's SETTINGS: %v", err)
		}
		s, isSettings := f.(*http2.SettingsFrame)
		if !isSettings || s.IsAck() {
			continue
		}
		if err := c.fr.WriteSettingsAck(); err != nil {
			c.t.Fatal(err)
		}
		if v, has := s.Value(http2.SettingMaxConcurrentStreams); has {
			return v, true
		}
		if s.NumSettings() > 0 {
			// The server's own SETTINGS, without the limit.
			return 0, false
		}
	}
	return 0, false
}

// TestHTTP2MaxConcurrentStreams: on the evaluation port, both servers
// (net/http for a Connect client's connection, grpc-go for a native gRPC
// client's) advertise a limit of concurrent streams per connection and
// reset a stream opened over it, while the connection stays up. (grpc-go
// had no limit.)
func TestHTTP2MaxConcurrentStreams(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	for _, s := range http2Servers {
		t.Run(s.name, func(t *testing.T) {
			c := dialH2C(t, d.addrs.Evaluation, s.userAgent)
			c.openStream(1)
			limit, ok := c.serverSettings()
			if !ok || limit != wantMaxConcurrentStreams {
				t.Fatalf("SETTINGS_MAX_CONCURRENT_STREAMS: %d (set: %v), want %d", limit, ok, wantMaxConcurrentStreams)
			}
			// Streams 3, 5, ...: the limit's worth of streams more, so the
			// last is one over it.
			last := uint32(1 + 2*wantMaxConcurrentStreams)
			for id := uint32(3); id <= last; id += 2 {
				c.openStream(id)
			}
			for {
				f, err := c.fr.ReadFrame()
				if err != nil {
					t.Fatalf("no RST_STREAM of stream %d (over the limit): %v", last, err)
				}
				switch f := f.(type) {
				case *http2.RSTStreamFrame:
					if f.StreamID != last {
						t.Fatalf("stream %d (within the limit) reset: %v", f.StreamID, f.ErrCode)
					}
					// net/http answers PROTOCOL_ERROR to a client that
					// acknowledged the limit, grpc-go REFUSED_STREAM; both are
					// what RFC 9113 (5.1.2) allows.
					if f.ErrCode != http2.ErrCodeRefusedStream && f.ErrCode != http2.ErrCodeProtocol {
						t.Fatalf("stream %d over the limit reset with %v", last, f.ErrCode)
					}
					t.Logf("stream %d over the limit: RST_STREAM %v", last, f.ErrCode)
					return
				case *http2.GoAwayFrame:
					t.Fatalf("GOAWAY %v %q before the stream over the limit was reset", f.ErrCode, f.DebugData())
				case *http2.HeadersFrame:
					if f.StreamID == last {
						t.Fatalf("stream %d over the limit answered", last)
					}
				}
			}
		})
	}
}

// flood writes frames with write (n at most, stopping at the first error,
// as when the server closes the connection) while the frames the server
// sends back are read with read until it returns true or reading fails,
// which flood returns (nil when read returned true).
func (c *rawH2C) flood(n int, write func(i int) error, read func(http2.Frame) bool) error {
	c.t.Helper()
	written := make(chan struct{})
	go func() {
		defer close(written)
		for i := range n {
			if write(i) != nil {
				return
			}
		}
	}()
	defer func() {
		c.conn.Close() // ends the writes if they still run
		<-written
	}()
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return err
		}
		if read(f) {
			return nil
		}
	}
}

// closedByServer reports whether err, of reading a connection, says the
// server closed it (after a GOAWAY frame or without one).
func closedByServer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET)
}

// TestHTTP2PingFlood: a flood of pings on one connection of the
// evaluation port is closed by grpc-go (GOAWAY ENHANCE_YOUR_CALM,
// "too_many_pings": its keepalive enforcement with a minimum interval far
// below any keepalive's), while net/http answers every ping (it has no
// limit of rate; see policy). (grpc-go accepted pings at any rate.)
func TestHTTP2PingFlood(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	const pings = 10000
	for _, s := range http2Servers {
		t.Run(s.name, func(t *testing.T) {
			c := dialH2C(t, d.addrs.Evaluation, s.userAgent)
			c.openStream(1)
			c.serverSettings()
			var acks int
			var goAway *http2.GoAwayFrame
			err := c.flood(pings, func(i int) error {
				return c.fr.WritePing(false, [8]byte{byte(i >> 8), byte(i), 'f', 'l', 'o', 'o', 'd', '!'})
			}, func(f http2.Frame) bool {
				switch f := f.(type) {
				case *http2.PingFrame:
					if f.IsAck() && f.Data[2] == 'f' {
						acks++
					}
				case *http2.GoAwayFrame:
					goAway = f
					return true
				}
				return acks == pings
			})
			switch s.name {
			case "grpc-go":
				if goAway == nil || goAway.ErrCode != http2.ErrCodeEnhanceYourCalm || string(goAway.DebugData()) != "too_many_pings" {
					t.Fatalf("after %d of %d pings answered, no GOAWAY ENHANCE_YOUR_CALM too_many_pings (GOAWAY %v), read: %v", acks, pings, goAway, err)
				}
				t.Logf("closed after %d pings answered: GOAWAY %v %q", acks, goAway.ErrCode, goAway.DebugData())
			case "net/http":
				if err != nil || goAway != nil {
					t.Fatalf("after %d of %d pings answered: %v (GOAWAY %v)", acks, pings, err, goAway)
				}
			}
		})
	}
}

// TestHTTP2RapidReset: a rapid reset flood (HEADERS then RST_STREAM,
// 20,000 times over one connection) on the evaluation port ends, on both
// servers, within the tests' timeout, either with the connection closed
// or with it answering a PING sent after the flood; which one is logged.
// Neither library closes such a connection for the resets themselves
// (see policy): both bound the handlers a connection runs at once to the
// stream limit, and net/http closes it (GOAWAY ENHANCE_YOUR_CALM) only
// when more than 4 times the limit of reset streams wait for a handler.
// The daemon then still answers.
func TestHTTP2RapidReset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	writeAtomic(t, path, flagsDoc(true))
	d := startDaemon(t, daemon.Config{Sources: []daemon.SourceSpec{{URI: "file:" + path}}})
	const pairs = 20000
	marker := [8]byte{'a', 'f', 't', 'e', 'r'}
	for _, s := range http2Servers {
		t.Run(s.name, func(t *testing.T) {
			c := dialH2C(t, d.addrs.Evaluation, s.userAgent)
			c.openStream(1)
			c.serverSettings()
			var goAway *http2.GoAwayFrame
			var resets int
			err := c.flood(pairs+1, func(i int) error {
				if i == pairs {
					return c.fr.WritePing(false, marker)
				}
				id := uint32(3 + 2*i)
				c.openStream(id)
				return c.fr.WriteRSTStream(id, http2.ErrCodeCancel)
			}, func(f http2.Frame) bool {
				switch f := f.(type) {
				case *http2.RSTStreamFrame:
					resets++
				case *http2.GoAwayFrame:
					goAway = f
				case *http2.PingFrame:
					return f.IsAck() && f.Data == marker
				}
				return false
			})
			goAwayText := "none"
			if goAway != nil {
				goAwayText = fmt.Sprintf("%v %q", goAway.ErrCode, goAway.DebugData())
			}
			switch {
			case err == nil:
				t.Logf("%d HEADERS+RST_STREAM: the connection still answers (%d streams reset by the server)", pairs, resets)
			case closedByServer(err):
				t.Logf("%d HEADERS+RST_STREAM: connection closed (GOAWAY: %s), %d streams reset by the server", pairs, goAwayText, resets)
			default:
				t.Fatalf("%d HEADERS+RST_STREAM: %v (GOAWAY: %s)", pairs, err, goAwayText)
			}
			if got := d.resolveBoolean(t, "my-flag", `{}`); !got.Value {
				t.Errorf("after the flood: %+v", got)
			}
		})
	}
}
