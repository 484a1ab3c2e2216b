package http1fast

import (
	"bytes"
	"net/http"
	"net/textproto"
	"net/url"

	"golang.org/x/net/http/httpguts"
)

// request is a request parse found plainly framed and sure: the fields
// net/http's server would give its *http.Request, as net/http would set
// them.
type request struct {
	method        string
	path          string // the request target, a plain absolute path
	host          string
	header        http.Header // without Host, as net/http's server removes it
	contentLength int64
	body          []byte // within the parsed bytes
	n             int    // the request's length: its header block and body
}

// limits are what parse accepts.
type limits struct {
	maxHeaderBytes int   // the header block, request line included
	maxBodyBytes   int64 // the Content-Length; < 0: none
	allow          func(method, path string) bool
}

var crlfcrlf = []byte("\r\n\r\n")

// parse parses the request at the start of b. It returns ok only when b
// holds the whole request and net/http's server would read exactly this
// request from these bytes: HTTP/1.1, a method and path limits.allow
// allows, ordinary header fields (printable ASCII values, names of
// letters, digits and '-', no obsolete line folding, CRLF line ends),
// exactly one valid Host, at most one Content-Length (no Transfer-Encoding,
// Expect, Upgrade, Trailer, Pragma, nor a Connection other than
// keep-alive), and the body within the limit. Everything else, and a
// request not yet complete in b, is not ok: net/http serves it.
func parse(b []byte, lim limits) (request, bool) {
	var req request
	end := bytes.Index(b, crlfcrlf)
	if end < 0 || end+2 > lim.maxHeaderBytes {
		return req, false
	}
	head := b[:end+2] // each line with its CRLF
	// A CR or LF anywhere but in a CRLF is framing net/http reads its own
	// way (bare LF line ends).
	if bytes.Count(head, []byte{'\n'}) != bytes.Count(head, []byte{'\r'}) {
		return req, false
	}

	// The request line.
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return req, false
	}
	method := line[:sp1]
	if len(method) > 16 || !upperToken(method) {
		return req, false
	}
	target, proto, ok := bytes.Cut(line[sp1+1:], []byte(" "))
	if !ok || string(proto) != "HTTP/1.1" || !plainPath(target) {
		return req, false
	}
	req.method = internMethod(method)
	// One string for all the header's text: the path, names and values are
	// parts of it.
	text := string(head)
	req.path = text[sp1+1 : sp1+1+len(target)]
	if req.method == http.MethodHead || lim.allow == nil || !lim.allow(req.method, req.path) {
		return req, false
	}

	// The header fields.
	off := len(line) + 2
	nfields := bytes.Count(rest, []byte("\r\n"))
	req.header = make(http.Header, nfields)
	values := make([]string, nfields) // one backing array, as net/http
	var hosts, lengths int
	for len(rest) > 0 {
		l, next, _ := bytes.Cut(rest, []byte("\r\n"))
		colon := bytes.IndexByte(l, ':')
		if colon <= 0 || !fieldName(l[:colon]) {
			return req, false
		}
		v := trim(l[colon+1:])
		if !fieldValue(v) {
			return req, false
		}
		vstart := off + colon + 1 + (len(l[colon+1:]) - len(trimLeft(l[colon+1:])))
		value := text[vstart : vstart+len(v)]
		key := textproto.CanonicalMIMEHeaderKey(text[off : off+colon])
		switch key {
		case "Host":
			hosts++
			if !httpguts.ValidHostHeader(value) {
				return req, false
			}
			req.host = value
		case "Content-Length":
			lengths++
			n, ok := contentLength(v)
			if !ok || (lim.maxBodyBytes >= 0 && n > lim.maxBodyBytes) {
				return req, false
			}
			req.contentLength = n
		case "Transfer-Encoding", "Expect", "Upgrade", "Trailer", "Pragma", "Te", "Http2-Settings":
			return req, false
		case "Connection":
			if !bytes.EqualFold(v, []byte("keep-alive")) {
				return req, false
			}
		}
		if vv := req.header[key]; vv == nil {
			values[0] = value
			req.header[key] = values[:1:1]
			values = values[1:]
		} else {
			req.header[key] = append(vv, value)
		}
		off += len(l) + 2
		rest = next
	}
	if hosts != 1 || lengths > 1 {
		return req, false
	}
	delete(req.header, "Host")
	bodyStart := end + 4
	if int64(len(b)-bodyStart) < req.contentLength {
		return req, false
	}
	req.n = bodyStart + int(req.contentLength)
	req.body = b[bodyStart:req.n]
	return req, true
}

// newRequestURL is the URL net/http's url.ParseRequestURI makes of a
// plainPath.
func newRequestURL(path string) *url.URL { return &url.URL{Path: path} }

// upperToken reports whether b is a method of upper-case letters.
func upperToken(b []byte) bool {
	for _, c := range b {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// plainPath reports whether b is an absolute path that url.ParseRequestURI
// takes as it is (no RawPath): '/' then letters, digits, "-._~", the
// sub-delimiters url does not escape in a path ("$&+,;="), ':', '@' and
// '/'; no '%', '?' or '#'.
func plainPath(b []byte) bool {
	if len(b) == 0 || b[0] != '/' {
		return false
	}
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		default:
			switch c {
			case '-', '.', '_', '~', '/', ':', '@', '$', '&', '+', ',', ';', '=':
			default:
				return false
			}
		}
	}
	return true
}

// fieldName reports whether b is a header field name of letters, digits
// and '-'.
func fieldName(b []byte) bool {
	for _, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// fieldValue reports whether b is a header field value of printable ASCII,
// spaces and tabs.
func fieldValue(b []byte) bool {
	for _, c := range b {
		if (c < ' ' && c != '\t') || c > '~' {
			return false
		}
	}
	return true
}

func trimLeft(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

func trim(b []byte) []byte {
	b = trimLeft(b)
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// contentLength parses a Content-Length of digits only.
func contentLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// internMethod returns the method as a string, without allocating for the
// common ones.
func internMethod(b []byte) string {
	switch string(b) {
	case http.MethodPost:
		return http.MethodPost
	case http.MethodGet:
		return http.MethodGet
	case http.MethodHead:
		return http.MethodHead
	}
	return string(b)
}
