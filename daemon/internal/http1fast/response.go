package http1fast

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// This file writes responses as net/http's HTTP/1.1 server writes them
// (net/http/server.go: response, chunkWriter), for the requests parse
// accepts: HTTP/1.1, not HEAD, no Expect, no Connection: close, the whole
// body in memory and within the handler's limit. The handler's writes go
// through a 2 KiB buffer; if they fit in it when the handler returns, the
// response gets a Content-Length, otherwise it is chunked from the write
// that overflows it, exactly as net/http decides.

// bufferBeforeChunking is net/http's bufferBeforeChunkingSize.
const bufferBeforeChunking = 2048

// response is the http.ResponseWriter of a request served here.
type response struct {
	c    *conn
	req  *http.Request
	body *body

	handlerHeader http.Header
	cwHeader      http.Header // the header as written, once WriteHeader snapshots it
	calledHeader  bool
	wroteHeader   bool
	handlerDone   bool
	status        int
	contentLength int64 // from the handler's Content-Length; -1 if none
	written       int64
	trailers      []string

	closeAfterReply bool
	w               *bufio.Writer // bufferBeforeChunking, over cw
	cw              chunkWriter
}

var bufioWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, bufferBeforeChunking) }}

// exchange is one request served here and its response, allocated
// together.
type exchange struct {
	resp response
	req  http.Request
	body body
}

// newResponse builds the *http.Request of req, as net/http's server
// builds it, and its response. Its context is the connection's (with
// http.LocalAddrContextKey), ended when the connection ends.
func (c *conn) newResponse(req *request) *response {
	x := new(exchange)
	x.req = *c.reqTemplate // the context
	r := &x.req
	r.Method = req.method
	r.URL = newRequestURL(req.path)
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	r.Header = req.header
	r.ContentLength = req.contentLength
	r.Host = req.host
	r.RemoteAddr = c.remoteAddr
	r.RequestURI = req.path
	x.body.data = req.body
	if req.contentLength == 0 {
		r.Body = http.NoBody
	} else {
		r.Body = &x.body
	}
	w := &x.resp
	w.c, w.req, w.body = c, r, &x.body
	w.handlerHeader = make(http.Header)
	w.contentLength = -1
	w.cw.res = w
	bw := bufioWriters.Get().(*bufio.Writer)
	bw.Reset(&w.cw)
	w.w = bw
	return w
}

// SetReadDeadline is not supported: the request body is in memory
// already, so that reading it never waits. (The body timeout of the
// daemon's policy then leaves the body as it is.)
func (w *response) SetReadDeadline(time.Time) error { return http.ErrNotSupported }

func (w *response) Header() http.Header {
	if w.cwHeader == nil && w.wroteHeader && !w.cw.wroteHeader {
		w.cwHeader = w.handlerHeader.Clone()
	}
	w.calledHeader = true
	return w.handlerHeader
}

func (w *response) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		// An informational response, written at once.
		bw := w.c.bufw
		writeStatusLine(bw, code)
		w.handlerHeader.WriteSubset(bw, excludedHeadersNoBody)
		bw.WriteString("\r\n")
		bw.Flush()
		return
	}
	w.wroteHeader = true
	w.status = code
	if w.calledHeader && w.cwHeader == nil {
		w.cwHeader = w.handlerHeader.Clone()
	}
	if cl := w.handlerHeader.Get("Content-Length"); cl != "" {
		v, err := strconv.ParseInt(cl, 10, 64)
		if err == nil && v >= 0 {
			w.contentLength = v
		} else {
			w.c.srv.logf("http: invalid Content-Length of %q", cl)
			w.handlerHeader.Del("Content-Length")
		}
	}
}

func (w *response) Write(p []byte) (int, error) { return w.write(len(p), p, "") }

func (w *response) WriteString(s string) (int, error) { return w.write(len(s), nil, s) }

func (w *response) write(n int, b []byte, s string) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if n == 0 {
		return 0, nil
	}
	if !bodyAllowedForStatus(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.written += int64(n)
	if w.contentLength != -1 && w.written > w.contentLength {
		return 0, http.ErrContentLength
	}
	if b != nil {
		return w.w.Write(b)
	}
	return w.w.WriteString(s)
}

// Flush sends what was written so far, as net/http's Flush.
func (w *response) Flush() { _ = w.FlushError() }

// FlushError is Flush, with its error (for http.ResponseController).
func (w *response) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	err := w.w.Flush()
	if e := w.cw.flush(); err == nil {
		err = e
	}
	return err
}

// finishRequest completes the response, as net/http's.
func (w *response) finishRequest() {
	w.handlerDone = true
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.w.Flush()
	w.w.Reset(nil)
	bufioWriters.Put(w.w)
	w.w = nil
	w.cw.close()
	w.c.bufw.Flush()
	w.body.Close()
}

// shouldReuseConnection is net/http's.
func (w *response) shouldReuseConnection() bool {
	if w.closeAfterReply {
		return false
	}
	if w.contentLength != -1 && bodyAllowedForStatus(w.status) && w.contentLength != w.written {
		return false
	}
	return w.c.werr == nil
}

func (w *response) declareTrailer(k string) {
	k = http.CanonicalHeaderKey(k)
	if !httpguts.ValidTrailerHeader(k) {
		return
	}
	w.trailers = append(w.trailers, k)
}

func (w *response) finalTrailers() http.Header {
	var t http.Header
	for k, vv := range w.handlerHeader {
		if kk, found := strings.CutPrefix(k, http.TrailerPrefix); found {
			if t == nil {
				t = make(http.Header)
			}
			t[kk] = vv
		}
	}
	for _, k := range w.trailers {
		if t == nil {
			t = make(http.Header)
		}
		for _, v := range w.handlerHeader[k] {
			t.Add(k, v)
		}
	}
	return t
}

// chunkWriter writes the header on the first write, then the body,
// chunked if the response has no length.
type chunkWriter struct {
	res         *response
	wroteHeader bool
	chunking    bool
}

func (cw *chunkWriter) Write(p []byte) (int, error) {
	if !cw.wroteHeader {
		cw.writeHeader(p)
	}
	bw := cw.res.c.bufw
	if cw.chunking {
		if _, err := fmt.Fprintf(bw, "%x\r\n", len(p)); err != nil {
			cw.res.c.rwc.Close()
			return 0, err
		}
	}
	n, err := bw.Write(p)
	if cw.chunking && err == nil {
		_, err = bw.WriteString("\r\n")
	}
	if err != nil {
		cw.res.c.rwc.Close()
	}
	return n, err
}

func (cw *chunkWriter) flush() error {
	if !cw.wroteHeader {
		cw.writeHeader(nil)
	}
	return cw.res.c.bufw.Flush()
}

func (cw *chunkWriter) close() {
	if !cw.wroteHeader {
		cw.writeHeader(nil)
	}
	if cw.chunking {
		bw := cw.res.c.bufw
		bw.WriteString("0\r\n")
		if trailers := cw.res.finalTrailers(); trailers != nil {
			trailers.Write(bw)
		}
		bw.WriteString("\r\n")
	}
}

var (
	excludedHeadersNoBody   = map[string]bool{"Content-Length": true, "Transfer-Encoding": true}
	suppressedHeaders304    = []string{"Content-Type", "Content-Length", "Transfer-Encoding"}
	suppressedHeadersNoBody = []string{"Content-Length", "Transfer-Encoding"}
)

// writeHeader writes the status line and header, as net/http's
// chunkWriter.writeHeader for an HTTP/1.1 request that is not HEAD, whose
// body is read or in memory.
func (cw *chunkWriter) writeHeader(p []byte) {
	cw.wroteHeader = true
	w := cw.res
	keepAlives := !w.c.srv.inShutdown.Load()

	header := cw.res.cwHeader
	owned := header != nil
	if !owned {
		header = w.handlerHeader
	}
	var exclude map[string]bool
	delHeader := func(key string) {
		if owned {
			header.Del(key)
			return
		}
		if _, ok := header[key]; !ok {
			return
		}
		if exclude == nil {
			exclude = map[string]bool{}
		}
		exclude[key] = true
	}
	var set extraHeader

	trailers := false
	for k := range cw.res.cwHeader {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			if exclude == nil {
				exclude = map[string]bool{}
			}
			exclude[k] = true
			trailers = true
		}
	}
	for _, v := range cw.res.cwHeader["Trailer"] {
		trailers = true
		foreachHeaderElement(v, cw.res.declareTrailer)
	}

	te := headerGet(header, "Transfer-Encoding")
	hasTE := te != ""

	if w.handlerDone && !trailers && !hasTE && bodyAllowedForStatus(w.status) && !headerHas(header, "Content-Length") {
		w.contentLength = int64(len(p))
		set.contentLength = strconv.AppendInt(w.c.lengthBuf[:0], int64(len(p)), 10)
	}
	hasCL := w.contentLength != -1

	if headerGet(header, "Connection") == "close" || !keepAlives {
		w.closeAfterReply = true
	}

	// The request body is in memory: reading the rest of it (net/http's
	// discard) always succeeds, and the connection is kept.

	code := w.status
	if bodyAllowedForStatus(code) {
		_, haveType := header["Content-Type"]
		hasCE := len(header.Get("Content-Encoding")) > 0
		if !hasCE && !haveType && !hasTE && len(p) > 0 {
			set.contentType = http.DetectContentType(p)
		}
	} else {
		for _, k := range suppressedHeaders(code) {
			delHeader(k)
		}
	}

	if !headerHas(header, "Date") {
		set.date = appendDate(w.c.dateBuf[:0], time.Now())
	}

	if hasCL && hasTE && te != "identity" {
		w.c.srv.logf("http: WriteHeader called with both Transfer-Encoding of %q and a Content-Length of %d",
			te, w.contentLength)
		delHeader("Content-Length")
		hasCL = false
	}

	switch {
	case !bodyAllowedForStatus(code) || code == http.StatusNoContent:
		delHeader("Transfer-Encoding")
	case hasCL:
		delHeader("Transfer-Encoding")
	case hasTE && te == "identity":
		cw.chunking = false
		w.closeAfterReply = true
		delHeader("Transfer-Encoding")
	default:
		cw.chunking = true
		set.transferEncoding = "chunked"
		if hasTE && te == "chunked" {
			delHeader("Transfer-Encoding")
		}
	}
	if cw.chunking {
		delHeader("Content-Length")
	}

	delConnection := w.closeAfterReply &&
		(!keepAlives || !hasToken(headerGet(cw.res.cwHeader, "Connection"), "close")) &&
		!isProtocolSwitchResponse(w.status, header)
	if delConnection {
		delHeader("Connection")
		set.connection = "close"
	}

	bw := w.c.bufw
	writeStatusLine(bw, code)
	cw.res.cwHeader.WriteSubset(bw, exclude)
	set.write(bw)
	bw.WriteString("\r\n")
}

// extraHeader is net/http's: the header fields the server adds.
type extraHeader struct {
	contentType      string
	connection       string
	transferEncoding string
	date             []byte
	contentLength    []byte
}

func (h extraHeader) write(w *bufio.Writer) {
	if h.date != nil {
		w.WriteString("Date: ")
		w.Write(h.date)
		w.WriteString("\r\n")
	}
	if h.contentLength != nil {
		w.WriteString("Content-Length: ")
		w.Write(h.contentLength)
		w.WriteString("\r\n")
	}
	for i, v := range []string{h.contentType, h.connection, h.transferEncoding} {
		if v != "" {
			w.WriteString([]string{"Content-Type", "Connection", "Transfer-Encoding"}[i])
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
}

func writeStatusLine(bw *bufio.Writer, code int) {
	bw.WriteString("HTTP/1.1 ")
	if text := http.StatusText(code); text != "" {
		var scratch [3]byte
		bw.Write(strconv.AppendInt(scratch[:0], int64(code), 10))
		bw.WriteByte(' ')
		bw.WriteString(text)
		bw.WriteString("\r\n")
	} else {
		fmt.Fprintf(bw, "%03d status code %d\r\n", code, code)
	}
}

func suppressedHeaders(status int) []string {
	switch {
	case status == 304:
		return suppressedHeaders304
	case !bodyAllowedForStatus(status):
		return suppressedHeadersNoBody
	}
	return nil
}

func bodyAllowedForStatus(status int) bool {
	switch {
	case status >= 100 && status <= 199:
		return false
	case status == 204:
		return false
	case status == 304:
		return false
	}
	return true
}

func isProtocolSwitchResponse(code int, h http.Header) bool {
	return code == http.StatusSwitchingProtocols && isProtocolSwitchHeader(h)
}

func isProtocolSwitchHeader(h http.Header) bool {
	return h.Get("Upgrade") != "" && httpguts.HeaderValuesContainsToken(h["Connection"], "Upgrade")
}

// headerGet and headerHas are net/http's Header.get and has: the key is
// canonical already.
func headerGet(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func headerHas(h http.Header, key string) bool {
	_, ok := h[key]
	return ok
}

func hasToken(v, token string) bool {
	if len(token) > len(v) || token == "" {
		return false
	}
	if v == token {
		return true
	}
	for sp := 0; sp <= len(v)-len(token); sp++ {
		if b := v[sp]; b != token[0] && b|0x20 != token[0] {
			continue
		}
		if sp > 0 && !isTokenBoundary(v[sp-1]) {
			continue
		}
		if endPos := sp + len(token); endPos != len(v) && !isTokenBoundary(v[endPos]) {
			continue
		}
		if strings.EqualFold(v[sp:sp+len(token)], token) {
			return true
		}
	}
	return false
}

func isTokenBoundary(b byte) bool { return b == ' ' || b == ',' || b == '\t' }

func foreachHeaderElement(v string, fn func(string)) {
	v = strings.Trim(v, " \t")
	if v == "" {
		return
	}
	if !strings.Contains(v, ",") {
		fn(v)
		return
	}
	for f := range strings.SplitSeq(v, ",") {
		if f = strings.Trim(f, " \t"); f != "" {
			fn(f)
		}
	}
}

// body is a request body in memory. After Close (net/http closes it when
// the handler returns) reads fail with http.ErrBodyReadAfterClose.
type body struct {
	data   []byte
	closed bool
}

func (b *body) Read(p []byte) (int, error) {
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if len(b.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, b.data)
	b.data = b.data[n:]
	if len(b.data) == 0 {
		// The last bytes come with io.EOF, as from net/http's body.
		return n, io.EOF
	}
	return n, nil
}

func (b *body) Close() error {
	b.closed = true
	b.data = nil
	return nil
}

// dateCache is the Date of the current second, formatted once.
type dateCache struct {
	sec  int64
	date [len(http.TimeFormat)]byte
}

var lastDate atomic.Pointer[dateCache]

// appendDate appends now as net/http's Date field, formatting it once a
// second.
func appendDate(b []byte, now time.Time) []byte {
	sec := now.Unix()
	if d := lastDate.Load(); d != nil && d.sec == sec {
		return append(b, d.date[:]...)
	}
	d := &dateCache{sec: sec}
	now.UTC().AppendFormat(d.date[:0], http.TimeFormat)
	lastDate.Store(d)
	return append(b, d.date[:]...)
}
