package http1fast

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"reflect"
	"testing"

	"golang.org/x/net/http/httpguts"
)

var testLimits = limits{maxHeaderBytes: 1 << 10, maxBodyBytes: 1 << 10, allow: func(string, string) bool { return true }}

// checkParse fails unless parse, when it accepts in, reads the request
// net/http reads from it: the same method, URL, protocol, header (less
// Host, which net/http's server removes), host, length and body, the same
// bytes consumed, and nothing net/http's server would refuse.
func checkParse(t *testing.T, in []byte) {
	req, ok := parse(in, testLimits)
	if !ok {
		return
	}
	br := bufio.NewReaderSize(bytes.NewReader(in), 64<<10)
	want, err := http.ReadRequest(br)
	if err != nil {
		t.Fatalf("parse accepted %q; net/http: %v", in, err)
	}
	body, err := io.ReadAll(want.Body)
	if err != nil {
		t.Fatalf("parse accepted %q; net/http reading the body: %v", in, err)
	}
	// (http.ReadRequest moves the Host field to Host, as the server does.)
	if !httpguts.ValidHostHeader(want.Host) {
		t.Fatalf("parse accepted %q; host %q", in, want.Host)
	}
	for k, vv := range want.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			t.Fatalf("parse accepted %q; field name %q", in, k)
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				t.Fatalf("parse accepted %q; field value %q", in, v)
			}
		}
	}
	got := newRequestURL(req.path)
	switch {
	case req.method != want.Method:
		t.Fatalf("%q: method %q, net/http %q", in, req.method, want.Method)
	case !reflect.DeepEqual(got, want.URL):
		t.Fatalf("%q: URL %#v, net/http %#v", in, got, want.URL)
	case req.path != want.RequestURI:
		t.Fatalf("%q: request URI %q, net/http %q", in, req.path, want.RequestURI)
	case want.Proto != "HTTP/1.1" || want.ProtoMajor != 1 || want.ProtoMinor != 1:
		t.Fatalf("%q: net/http's protocol %q", in, want.Proto)
	case !reflect.DeepEqual(req.header, want.Header):
		t.Fatalf("%q: header %q, net/http %q", in, req.header, want.Header)
	case req.host != want.Host:
		t.Fatalf("%q: host %q, net/http %q", in, req.host, want.Host)
	case req.contentLength != want.ContentLength:
		t.Fatalf("%q: length %d, net/http %d", in, req.contentLength, want.ContentLength)
	case !bytes.Equal(req.body, body):
		t.Fatalf("%q: body %q, net/http %q", in, req.body, body)
	case want.Close || want.TransferEncoding != nil || want.Trailer != nil:
		t.Fatalf("%q: net/http: close %v, transfer encoding %q, trailer %q", in, want.Close, want.TransferEncoding, want.Trailer)
	case req.n != len(in)-br.Buffered():
		t.Fatalf("%q: read %d bytes, net/http %d", in, req.n, len(in)-br.Buffered())
	}
	if req.method == http.MethodHead || want.Header.Get("Expect") != "" || want.Header.Get("Upgrade") != "" {
		t.Fatalf("%q: accepted a request net/http's server answers its own way", in)
	}
}

// FuzzParse holds parse to net/http's reading of the requests it accepts.
func FuzzParse(f *testing.F) {
	for _, in := range seeds(f) {
		f.Add(in)
	}
	f.Fuzz(checkParse)
}

// TestParse checks the seeds, and that parse accepts the plain ones.
func TestParse(t *testing.T) {
	accepted := 0
	for name, in := range seeds(t) {
		t.Run(name, func(t *testing.T) { checkParse(t, in) })
		if _, ok := parse(in, testLimits); ok {
			accepted++
		}
	}
	if accepted == 0 {
		t.Error("parse accepted none of the seeds")
	}
}
