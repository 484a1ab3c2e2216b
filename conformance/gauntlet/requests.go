package gauntlet

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Paths the hostile requests go to.
const (
	ofrepPath   = "/ofrep/v1/evaluate/flags/gauntlet"
	connectPath = "/flagd.evaluation.v1.Service/ResolveString"
	syncPath    = "/flagd.sync.v1.FlagSyncService/FetchAllFlags"
)

// verdict is how the daemon answered a hostile request.
type verdict struct {
	status int    // HTTP status; 0 if the connection was closed or reset
	grpc   string // grpc-status, for gRPC
	body   string
	err    error
}

// rejected reports whether the answer is a rejection: a 4xx, a gRPC error
// status, or a closed connection.
func (v verdict) rejected() bool {
	switch {
	case v.status == 0:
		return v.err != nil
	case v.grpc != "":
		return v.grpc != "0"
	default:
		return v.status >= 400 && v.status < 500
	}
}

func (v verdict) String() string {
	if v.status == 0 {
		return fmt.Sprintf("connection ended (%v)", v.err)
	}
	if v.grpc != "" {
		return fmt.Sprintf("%d grpc-status %s: %.200q", v.status, v.grpc, v.body)
	}
	return fmt.Sprintf("%d: %.200q", v.status, v.body)
}

// send makes one request on a fresh client (HTTP/1.1, or h2c for h2) and
// returns the verdict; the body is read up to 64 KiB.
func send(ctx context.Context, h2 bool, method, url string, header http.Header, body io.Reader) verdict {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var rt http.RoundTripper = &http.Transport{DisableKeepAlives: true, DisableCompression: true}
	if h2 {
		hc, done := h2cClient()
		defer done()
		rt = hc.Transport
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return verdict{err: err}
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return verdict{err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	v := verdict{status: resp.StatusCode, body: string(b)}
	v.grpc = resp.Trailer.Get("Grpc-Status")
	if v.grpc == "" {
		v.grpc = resp.Header.Get("Grpc-Status")
	}
	if v.grpc == "" && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/grpc") {
		v.grpc = "missing"
	}
	return v
}

// grpcFrame is a gRPC length-prefixed message, compressed or not.
func grpcFrame(msg []byte, compressed bool) []byte {
	out := make([]byte, 5, 5+len(msg))
	if compressed {
		out[0] = 1
	}
	binary.BigEndian.PutUint32(out[1:], uint32(len(msg)))
	return append(out, msg...)
}

// target is a hostile request's destination.
type target struct {
	name   string
	h2     bool
	url    string
	header http.Header
	// wrap makes the request's body from a payload (the JSON context or
	// the protobuf message).
	wrap func(payload []byte) []byte
}

func (e *Env) targets() []target {
	a := e.Daemon.Addrs
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	grpcHeader := http.Header{"Content-Type": {"application/grpc"}, "Te": {"trailers"}}
	return []target{
		{"OFREP", false, "http://" + a.OFREP + ofrepPath, jsonHeader, nil},
		{"evaluation (Connect JSON)", false, "http://" + a.Evaluation + connectPath, jsonHeader, nil},
		{"evaluation (gRPC)", true, "http://" + a.Evaluation + connectPath, grpcHeader, func(p []byte) []byte { return grpcFrame(p, false) }},
		{"sync (gRPC)", true, "http://" + a.Sync + syncPath, grpcHeader, func(p []byte) []byte { return grpcFrame(p, false) }},
	}
}

// expectRejected sends body to every target and fails unless each answer
// is a rejection; it then checks that healthy clients are served.
func (e *Env) expectRejected(ctx context.Context, what string, header http.Header, body func(t target) []byte) error {
	var errs []error
	for _, t := range e.targets() {
		h := t.header.Clone()
		for k, v := range header {
			h[k] = v
		}
		if strings.Contains(t.name, "gRPC") {
			// gRPC compression is per message, declared by grpc-encoding.
			if h.Get("Content-Encoding") != "" {
				h.Del("Content-Encoding")
				h.Set("Grpc-Encoding", "gzip")
			}
		}
		start := time.Now()
		v := send(ctx, t.h2, http.MethodPost, t.url, h, bytes.NewReader(body(t)))
		e.cfg.Logf("  %s, %s: %v in %v", what, t.name, shorten(v.String(), 120), time.Since(start).Round(time.Millisecond))
		if !v.rejected() {
			errs = append(errs, fmt.Errorf("%s, %s: not rejected: %v", what, t.name, v))
		}
	}
	if err := e.Daemon.Alive(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

func checkOversized(ctx context.Context, e *Env) error {
	big := []byte(`{"context":{"pad":"` + strings.Repeat("x", 3<<20) + `"}}`)
	err := e.expectRejected(ctx, "3 MiB body", nil, func(t target) []byte {
		if t.wrap != nil {
			return t.wrap(bytes.Repeat([]byte{0}, 3<<20))
		}
		return big
	})
	// A 2 MiB header line on every port, management included.
	var errs []error
	for _, addr := range []string{e.Daemon.Addrs.OFREP, e.Daemon.Addrs.Evaluation, e.Daemon.Addrs.Management} {
		v := send(ctx, false, http.MethodPost, "http://"+addr+ofrepPath, http.Header{"X-Pad": {strings.Repeat("y", 2<<20)}}, strings.NewReader("{}"))
		if !v.rejected() {
			errs = append(errs, fmt.Errorf("2 MiB header to %s: not rejected: %v", addr, v))
		}
	}
	return errors.Join(append(errs, err)...)
}

// gzipZeros is n zero bytes gzipped (about n/1000 bytes).
func gzipZeros(n int) []byte {
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	chunk := make([]byte, 1<<20)
	for n > 0 {
		k := min(n, len(chunk))
		_, _ = w.Write(chunk[:k])
		n -= k
	}
	_ = w.Close()
	return b.Bytes()
}

// gzipJSONBomb is a JSON context with a string of n spaces, gzipped.
func gzipJSONBomb(n int) []byte {
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	_, _ = io.WriteString(w, `{"context":{"pad":"`)
	chunk := bytes.Repeat([]byte(" "), 1<<20)
	for n > 0 {
		k := min(n, len(chunk))
		_, _ = w.Write(chunk[:k])
		n -= k
	}
	_, _ = io.WriteString(w, `"}}`)
	_ = w.Close()
	return b.Bytes()
}

func checkCompressionBombs(ctx context.Context, e *Env) error {
	const size = 256 << 20 // 256 MiB once inflated
	jsonBomb, zeros := gzipJSONBomb(size), gzipZeros(size)
	before, _ := e.Daemon.Stats(ctx)
	err := e.expectRejected(ctx, "gzip bomb (256 MiB inflated)", http.Header{"Content-Encoding": {"gzip"}, "Connect-Content-Encoding": {"gzip"}},
		func(t target) []byte {
			if t.wrap != nil {
				return grpcFrame(zeros, true)
			}
			return jsonBomb
		})
	after, serr := e.Daemon.Stats(ctx)
	if serr == nil && after.RSS > before.RSS+rssSlack {
		err = errors.Join(err, fmt.Errorf("resident memory grew from %d MiB to %d MiB", before.RSS>>20, after.RSS>>20))
	}
	return err
}

// rssSlack is how much the resident memory may grow during one hostile
// request check: the body limit (1 MB) times the requests in flight, and
// the collector's headroom (64 MiB), with room to spare.
const rssSlack = 256 << 20

// nestedJSON is a context whose one value is depth arrays deep.
func nestedJSON(depth int) []byte {
	return []byte(`{"context":{"deep":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}}`)
}

// nestedStruct is a ResolveStringRequest (flag_key 1, context 2) whose
// google.protobuf.Struct context nests depth levels: {"a":{"a":...}}. The
// sizes are computed from the inside out, then the bytes written from the
// outside in.
func nestedStruct(depth int) []byte {
	uv := func(n int) int { return len(binary.AppendUvarint(nil, uint64(n))) }
	structLen := make([]int, depth+1) // structLen[0] = 0: the innermost, empty
	valueLen := make([]int, depth+1)
	entryLen := make([]int, depth+1)
	for k := 1; k <= depth; k++ {
		valueLen[k] = 1 + uv(structLen[k-1]) + structLen[k-1] // Value.struct_value = 5
		entryLen[k] = 3 + 1 + uv(valueLen[k]) + valueLen[k]   // key = 1 ("a"), value = 2
		structLen[k] = 1 + uv(entryLen[k]) + entryLen[k]      // Struct.fields = 1
	}
	b := append([]byte{0x0a, 8}, "gauntlet"...)
	b = append(b, 0x12)
	b = binary.AppendUvarint(b, uint64(structLen[depth]))
	for k := depth; k >= 1; k-- {
		b = append(b, 0x0a)
		b = binary.AppendUvarint(b, uint64(entryLen[k]))
		b = append(b, 0x0a, 1, 'a', 0x12)
		b = binary.AppendUvarint(b, uint64(valueLen[k]))
		b = append(b, 0x2a)
		b = binary.AppendUvarint(b, uint64(structLen[k-1]))
	}
	return b
}

func checkDeepNesting(ctx context.Context, e *Env) error {
	return e.expectRejected(ctx, "context nested 100,000 deep", nil, func(t target) []byte {
		if t.wrap != nil {
			return t.wrap(nestedStruct(20000))
		}
		return nestedJSON(100000)
	})
}

func checkMalformed(ctx context.Context, e *Env) error {
	var errs []error
	// (Text after the JSON value is ignored on OFREP, as flagd's
	// encoding/json decoder ignores it: not a check.)
	for _, body := range []string{`{"context":`, `not json`, "\x00\xff\xfe", `[]`} {
		if err := e.expectRejected(ctx, fmt.Sprintf("body %q", body), nil, func(t target) []byte {
			if t.wrap != nil {
				return t.wrap([]byte(body))
			}
			return []byte(body)
		}); err != nil {
			errs = append(errs, err)
		}
	}
	// Raw garbage on every port: the answer is a 4xx or a closed
	// connection, never a hang past the header timeout.
	for _, addr := range e.allAddrs() {
		for _, raw := range []string{"\x16\x03\x01\x02\x00garbage\r\n\r\n", "GET / HTTP/9.9\r\n\r\n", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\xff\xff\xff\xff\xff\xff\xff\xff\xff"} {
			if err := rawExchange(ctx, addr, raw); err != nil {
				errs = append(errs, fmt.Errorf("raw %q to %s: %w", raw, addr, err))
			}
		}
	}
	return errors.Join(errs...)
}

// rawExchange writes raw and reads until the server closes the connection
// (at most 30 s); an answer, if any, must not be a 2xx or 5xx.
func rawExchange(ctx context.Context, addr, raw string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		return nil // closed at once
	}
	out, err := io.ReadAll(c)
	if errors.Is(err, ErrTimeout) || isTimeout(err) {
		return fmt.Errorf("connection still open after 30 s (read %.100q)", out)
	}
	if bytes.HasPrefix(out, []byte("HTTP/1.")) {
		// 505 is net/http's answer to an unknown HTTP version.
		if st := string(out[9:min(12, len(out))]); st[0] == '2' || (st[0] == '5' && st != "505") {
			return fmt.Errorf("answered %.100q", out)
		}
	}
	return nil
}

// ErrTimeout is a bounded wait that ran out.
var ErrTimeout = errors.New("timed out")

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (e *Env) allAddrs() []string {
	a := e.Daemon.Addrs
	return []string{a.Evaluation, a.Management, a.Sync, a.OFREP}
}

// holdConns opens n connections to each port and writes first on each;
// it returns them open.
func (e *Env) holdConns(ctx context.Context, n int, first func(addr string) string) ([]net.Conn, error) {
	var conns []net.Conn
	var d net.Dialer
	for _, addr := range e.allAddrs() {
		for range n {
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				closeAll(conns)
				return nil, fmt.Errorf("connection %d to %s: %w", len(conns), addr, err)
			}
			conns = append(conns, c)
			if s := first(addr); s != "" {
				if _, err := io.WriteString(c, s); err != nil {
					closeAll(conns)
					return nil, err
				}
			}
		}
	}
	return conns, nil
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		_ = c.Close()
	}
}

// awaitClosed waits until the server has closed every connection (a read
// returns), at most wait; it returns how many are still open.
func awaitClosed(conns []net.Conn, wait time.Duration) int {
	deadline := time.Now().Add(wait)
	var open atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			_ = c.SetReadDeadline(deadline)
			r := bufio.NewReader(c)
			for {
				if _, err := r.ReadByte(); err != nil {
					if isTimeout(err) {
						open.Add(1)
					}
					return
				}
			}
		})
	}
	wg.Wait()
	return int(open.Load())
}

func checkIdleConns(ctx context.Context, e *Env) error {
	conns, err := e.holdConns(ctx, e.cfg.Scale.Conns, func(string) string { return "" })
	if err != nil {
		return err
	}
	defer closeAll(conns)
	if err := e.Healthy(ctx); err != nil {
		return fmt.Errorf("with %d idle connections open: %w", len(conns), err)
	}
	return nil
}

// slowHeader is the start of a request whose headers never end.
func slowHeader(addr string) string {
	return "POST " + ofrepPath + " HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\n"
}

func checkSlowHeaders(ctx context.Context, e *Env) error {
	conns, err := e.holdConns(ctx, e.cfg.Scale.Conns, slowHeader)
	if err != nil {
		return err
	}
	defer closeAll(conns)
	if err := e.Healthy(ctx); err != nil {
		return fmt.Errorf("with %d slow-header connections open: %w", len(conns), err)
	}
	if e.cfg.Scale.WaitSlow {
		// The header timeout is 5 s; the sync port (grpc-go) ends a
		// connection without an HTTP/2 preface after its own 20 s.
		if open := awaitClosed(conns, 40*time.Second); open > 0 {
			return fmt.Errorf("%d of %d slow-header connections still open after 40 s", open, len(conns))
		}
	}
	return nil
}

func checkSlowBodies(ctx context.Context, e *Env) error {
	a := e.Daemon.Addrs
	var conns []net.Conn
	defer func() { closeAll(conns) }()
	var d net.Dialer
	for _, t := range []struct{ addr, path string }{{a.OFREP, ofrepPath}, {a.Evaluation, connectPath}} {
		for range e.cfg.Scale.Conns {
			c, err := d.DialContext(ctx, "tcp", t.addr)
			if err != nil {
				return fmt.Errorf("connection %d: %w", len(conns), err)
			}
			conns = append(conns, c)
			req := "POST " + t.path + " HTTP/1.1\r\nHost: " + t.addr + "\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"context\":"
			if _, err := io.WriteString(c, req); err != nil {
				return err
			}
		}
	}
	// The sync port takes HTTP/2 only: a gRPC request whose message never
	// ends, on a connection of its own each.
	for range e.cfg.Scale.Conns / 4 {
		c, err := d.DialContext(ctx, "tcp", a.Sync)
		if err != nil {
			return err
		}
		conns = append(conns, c)
		if err := openH2Request(c, a.Sync, syncPath, []byte{0, 0, 0, 1, 0}); err != nil {
			return err
		}
	}
	if err := e.Healthy(ctx); err != nil {
		return fmt.Errorf("with %d slow-body requests open: %w", len(conns), err)
	}
	if e.cfg.Scale.WaitSlow {
		// The body timeout is 10 s: HTTP/1.1 requests are answered 408 (or
		// DeadlineExceeded) and their connections closed. HTTP/2 streams
		// are reset but their connections may stay; those are not awaited.
		n := 2 * e.cfg.Scale.Conns
		if open := awaitClosed(conns[:n], 30*time.Second); open > 0 {
			return fmt.Errorf("%d of %d slow-body HTTP/1.1 connections still open after 30 s", open, n)
		}
	}
	return nil
}

// openH2Request writes the HTTP/2 preface, SETTINGS and a gRPC request's
// HEADERS and the first bytes of its DATA on c, without ending the stream.
func openH2Request(c net.Conn, authority, path string, data []byte) error {
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		return err
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		return err
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", path}, {":authority", authority},
		{"content-type", "application/grpc"}, {"te", "trailers"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true}); err != nil {
		return err
	}
	return fr.WriteData(1, false, data)
}

func checkFloods(ctx context.Context, e *Env) error {
	a := e.Daemon.Addrs
	var failures atomic.Int64
	var firstErr atomic.Value
	var next atomic.Int64
	n := int64(e.cfg.Scale.Flood)
	const workers = 64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			// Half the workers open a connection per request (a
			// connection flood), half reuse theirs.
			tr := &http.Transport{DisableKeepAlives: w%2 == 0}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			for {
				i := next.Add(1)
				if i > n || ctx.Err() != nil {
					return
				}
				url, body := "http://"+a.OFREP+ofrepPath, `{"context":{"targetingKey":"flood"}}`
				if i%2 == 0 {
					url, body = "http://"+a.Evaluation+connectPath, `{"flagKey":"gauntlet","context":{"targetingKey":"flood"}}`
				}
				resp, err := hc.Post(url, "application/json", strings.NewReader(body))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("%s: %s", url, resp.Status)
					}
				}
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	wg.Wait()
	if f := failures.Load(); f > 0 {
		return fmt.Errorf("%d of %d flood requests failed; the first: %v", f, n, firstErr.Load())
	}
	return nil
}

// h2Flood writes n frames on a fresh h2c connection to addr, then a
// marker PING, while draining the server's frames. The flood is over when
// the marker's ack arrives (the connection survived and still answers) or
// the server ends the connection (a GOAWAY or a close): either is a
// correct defence (see daemon/http2abuse_test.go); a flood still going when
// ctx ends is not. It says which happened.
func h2Flood(ctx context.Context, addr string, n int, frame func(fr *http2.Framer, i int) error) (string, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		return "", err
	}
	marker := [8]byte{'g', 'a', 'u', 'n', 't', 'l', 'e', 't'}
	outcome := make(chan string, 1)
	go func() {
		rfr := http2.NewFramer(io.Discard, c)
		for {
			f, err := rfr.ReadFrame()
			if err != nil {
				if isTimeout(err) {
					outcome <- ""
				} else {
					outcome <- "connection closed by the server"
				}
				return
			}
			switch f := f.(type) {
			case *http2.GoAwayFrame:
				outcome <- fmt.Sprintf("GOAWAY %v %q", f.ErrCode, f.DebugData())
				return
			case *http2.PingFrame:
				if f.IsAck() && f.Data == marker {
					outcome <- "survived, still answering"
					return
				}
			}
		}
	}()
	bw := bufio.NewWriterSize(c, 64<<10)
	wfr := http2.NewFramer(bw, nil)
	_ = wfr.WriteSettings()
	for i := range n {
		if frame(wfr, i) != nil {
			break
		}
	}
	_ = wfr.WritePing(false, marker)
	_ = bw.Flush()
	if o := <-outcome; o != "" {
		return o, nil
	}
	return "", fmt.Errorf("the flood of %d frames neither answered nor ended: %w", n, ctx.Err())
}

func checkHTTP2Floods(ctx context.Context, e *Env) error {
	addr := e.Daemon.Addrs.Evaluation
	n := e.cfg.Scale.Flood * 10
	var errs []error
	for _, ua := range []string{"connect-go/1.21.1 (go1.26)", "grpc-go/1.85.0"} {
		// One HPACK encoder per connection: its dynamic table is the
		// connection's.
		var hb bytes.Buffer
		var enc *hpack.Encoder
		headers := func() []byte {
			hb.Reset()
			for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", connectPath}, {":authority", addr},
				{"content-type", "application/grpc"}, {"te", "trailers"}, {"user-agent", ua}} {
				_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
			}
			return hb.Bytes()
		}
		enc = hpack.NewEncoder(&hb)
		o, err := h2Flood(ctx, addr, n, func(fr *http2.Framer, i int) error {
			id := uint32(2*i + 1)
			if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: headers(), EndHeaders: true}); err != nil {
				return err
			}
			return fr.WriteRSTStream(id, http2.ErrCodeCancel)
		})
		e.cfg.Logf("  %d HEADERS+RST_STREAM (%s): %s", n, ua, o)
		if err != nil {
			errs = append(errs, fmt.Errorf("rapid reset (%s): %w", ua, err))
		}
		enc = hpack.NewEncoder(&hb)
		o, err = h2Flood(ctx, addr, n, func(fr *http2.Framer, i int) error {
			if i == 0 {
				if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: headers(), EndHeaders: true}); err != nil {
					return err
				}
			}
			return fr.WritePing(false, [8]byte{byte(i), byte(i >> 8)})
		})
		e.cfg.Logf("  %d PINGs (%s): %s", n, ua, o)
		if err != nil {
			errs = append(errs, fmt.Errorf("ping flood (%s): %w", ua, err))
		}
	}
	return errors.Join(errs...)
}
