package evalsvc_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/vexilhq/vexil/daemon/internal/evalsvc"
	"github.com/vexilhq/vexil/daemon/internal/storetest"
	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
	"github.com/vexilhq/vexil/syncsources"
)

// rawResponse is what a plain HTTP client gets.
type rawResponse struct {
	status      int
	contentType string
	body        string
}

func do(t *testing.T, c *http.Client, method, url, contentType string, body []byte, h http.Header) rawResponse {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawResponse{resp.StatusCode, resp.Header.Get("Content-Type"), string(data)}
}

// errorCode reads the code of a Connect error body.
func errorCode(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return e.Code
}

// TestHTTPJSON checks the facts of the Connect protocol's HTTP/JSON form
// that clients written without connect-go (curl, flagd's web provider)
// depend on.
func TestHTTPJSON(t *testing.T) {
	srv := startServer(t, evalsvc.Config{})
	c := http1Client(t)
	const (
		v1  = "/flagd.evaluation.v1.Service/"
		v2  = "/flagd.evaluation.v2.Service/"
		old = "/schema.v1.Service/"
	)
	cases := []struct {
		name        string
		method      string // default POST
		path        string
		contentType string
		body        string
		sel         string
		status      int
		want        string // the exact body, or for errors "code:" and the code
	}{
		{name: "resolve", path: v1 + "ResolveBoolean", body: `{"flagKey":"bool-flag","context":{"user":"x"}}`, status: 200,
			want: `{"value":true,"reason":"STATIC","variant":"on","metadata":{"flagSetId":"set-a","owner":"x","team":"core"}}`},
		{name: "no context", path: v1 + "ResolveBoolean", body: `{"flagKey":"b-only"}`, status: 200,
			want: `{"value":false,"reason":"STATIC","variant":"off","metadata":{}}`},
		{name: "null context", path: v1 + "ResolveBoolean", body: `{"flagKey":"b-only","context":null}`, status: 200,
			want: `{"value":false,"reason":"STATIC","variant":"off","metadata":{}}`},
		{name: "snake_case field and unknown fields", path: v1 + "ResolveBoolean", body: `{"flag_key":"b-only","extra":{"a":1}}`, status: 200,
			want: `{"value":false,"reason":"STATIC","variant":"off","metadata":{}}`},
		{name: "charset", path: v1 + "ResolveBoolean", contentType: "application/json; charset=utf-8", body: `{"flagKey":"b-only"}`, status: 200,
			want: `{"value":false,"reason":"STATIC","variant":"off","metadata":{}}`},
		{name: "targeting", path: v1 + "ResolveString", body: `{"flagKey":"string-flag","context":{"user":"bob"}}`, status: 200,
			want: `{"value":"B","reason":"TARGETING_MATCH","variant":"b","metadata":{"flagSetId":"set-a","team":"core"}}`},
		{name: "int64 as a string", path: v1 + "ResolveInt", body: `{"flagKey":"int-flag"}`, status: 200,
			want: `{"value":"9007199254740991","reason":"STATIC","variant":"big","metadata":{"flagSetId":"set-a","team":"core"}}`},
		{name: "float as an int64 string", path: v1 + "ResolveInt", body: `{"flagKey":"float-flag"}`, status: 200,
			want: `{"value":"3","reason":"STATIC","variant":"pi","metadata":{"flagSetId":"set-a","team":"core"}}`},
		{name: "disabled", path: v1 + "ResolveFloat", body: `{"flagKey":"disabled-flag"}`, status: 200,
			want: `{"value":0,"reason":"DISABLED","variant":"","metadata":{"flagSetId":"set-a","team":"core"}}`},
		{name: "FLAG_NOT_FOUND", path: v1 + "ResolveBoolean", body: `{"flagKey":"absent"}`, status: 404,
			want: `{"code":"not_found","message":"Flag not found"}`},
		{name: "no default variant", path: v1 + "ResolveString", body: `{"flagKey":"no-default"}`, status: 404,
			want: `{"code":"not_found","message":"Flag not found"}`},
		{name: "TYPE_MISMATCH", path: v1 + "ResolveString", body: `{"flagKey":"bool-flag"}`, status: 400,
			want: `{"code":"invalid_argument","message":"Type mismatch error"}`},
		{name: "PARSE_ERROR", path: v1 + "ResolveObject", body: `{"flagKey":"bad-rule"}`, status: 500,
			want: `{"code":"data_loss","message":"Error parsing input or configuration"}`},
		{name: "GENERAL", path: v1 + "ResolveBoolean", body: `{"flagKey":"missing-variant"}`, status: 500,
			want: `{"code":"unknown","message":"General error"}`},
		// flagd's answers to an invalid selector, recorded from flagd.
		{name: "invalid selector", path: v1 + "ResolveBoolean", body: `{"flagKey":"bool-flag"}`, sel: "bogus=x", status: 400,
			want: `{"code":"invalid_argument","message":"invalid selector key \"bogus\", valid keys: \"flagSetId\", \"source\""}`},
		{name: "invalid selector, v2", path: v2 + "ResolveBoolean", body: `{"flagKey":"bool-flag"}`, sel: "bogus=x", status: 400,
			want: `{"code":"invalid_argument","message":"invalid selector key \"bogus\", valid keys: \"flagSetId\", \"source\""}`},
		{name: "invalid selector, ResolveAll", path: v1 + "ResolveAll", body: `{}`, sel: "bogus=x", status: 400,
			want: `{"code":"invalid_argument","message":"invalid selector key \"bogus\", valid keys: \"flagSetId\", \"source\""}`},
		{name: "invalid selector, schema.v1", path: old + "ResolveBoolean", body: `{"flagKey":"bool-flag"}`, sel: "bogus=x", status: 400,
			want: `{"code":"invalid_argument","message":"invalid selector key \"bogus\", valid keys: \"flagSetId\", \"source\""}`},
		{name: "invalid selector, empty key", path: v1 + "ResolveBoolean", body: `{"flagKey":"bool-flag"}`, sel: "=x", status: 400,
			want: `{"code":"invalid_argument","message":"invalid selector key \"\", valid keys: \"flagSetId\", \"source\""}`},
		{name: "invalid selector, only the first = splits", path: v1 + "ResolveBoolean", body: `{"flagKey":"bool-flag"}`, sel: "x=1,y=2", status: 400,
			want: `{"code":"invalid_argument","message":"invalid selector key \"x\", valid keys: \"flagSetId\", \"source\""}`},
		{name: "selector", path: v1 + "ResolveBoolean", body: `{"flagKey":"b-only"}`, sel: "flagSetId=set-a", status: 404,
			want: `{"code":"not_found","message":"Flag not found"}`},
		{name: "unparsable body", path: v1 + "ResolveBoolean", body: `{"flagKey":`, status: 400, want: "code:invalid_argument"},
		{name: "empty body", path: v1 + "ResolveBoolean", body: ``, status: 400, want: "code:invalid_argument"},
		{name: "number context", path: v1 + "ResolveBoolean", body: `{"flagKey":"bool-flag","context":5}`, status: 400, want: "code:invalid_argument"},
		{name: "array context", path: v1 + "ResolveBoolean", body: `{"flagKey":"bool-flag","context":[1]}`, status: 400, want: "code:invalid_argument"},
		{name: "string context", path: v1 + "ResolveBoolean", body: `{"flagKey":"bool-flag","context":"x"}`, status: 400, want: "code:invalid_argument"},
		{name: "number flag key", path: v1 + "ResolveBoolean", body: `{"flagKey":1}`, status: 400, want: "code:invalid_argument"},
		{name: "no content type", path: v1 + "ResolveBoolean", contentType: "-", body: `{"flagKey":"bool-flag"}`, status: 415},
		{name: "wrong content type", path: v1 + "ResolveBoolean", contentType: "text/plain", body: `{"flagKey":"bool-flag"}`, status: 415},
		{name: "GET", method: http.MethodGet, path: v1 + "ResolveBoolean", status: 405},
		{name: "unknown method", path: v1 + "ResolveNothing", body: `{}`, status: 404},
		{name: "ResolveAll", path: v1 + "ResolveAll", body: `{"context":{}}`, sel: "source=b.json", status: 200,
			want: `{"flags":{"b-only":{"reason":"STATIC","variant":"off","boolValue":false,"metadata":{"source":"b.json"}}},"metadata":{"source":"b.json"}}`},
		{name: "v2 value", path: v2 + "ResolveFloat", body: `{"flagKey":"float-flag"}`, status: 200,
			want: `{"value":3.14,"reason":"STATIC","variant":"pi","metadata":{"flagSetId":"set-a","team":"core"}}`},
		{name: "v2 disabled", path: v2 + "ResolveBoolean", body: `{"flagKey":"disabled-flag"}`, status: 200,
			want: `{"reason":"DISABLED","metadata":{"flagSetId":"set-a","team":"core"}}`},
		{name: "v2 no default", path: v2 + "ResolveObject", body: `{"flagKey":"no-default"}`, status: 200,
			want: `{"reason":"DEFAULT","metadata":{"flagSetId":"set-a","team":"core"}}`},
		{name: "v2 FLAG_NOT_FOUND", path: v2 + "ResolveBoolean", body: `{"flagKey":"absent"}`, status: 404,
			want: `{"code":"not_found","message":"Flag not found"}`},
		{name: "v2 has no ResolveAll", path: v2 + "ResolveAll", body: `{}`, status: 404},
		{name: "schema.v1 no default", path: old + "ResolveInt", body: `{"flagKey":"no-default"}`, status: 200,
			want: `{"value":"0","reason":"FALLBACK","variant":"","metadata":{"flagSetId":"set-a","team":"core"}}`},
		{name: "schema.v1 ResolveAll", path: old + "ResolveAll", body: `{}`, sel: "b.json", status: 200,
			want: `{"flags":{"b-only":{"reason":"STATIC","variant":"off","boolValue":false}}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			ct := tc.contentType
			switch ct {
			case "":
				ct = "application/json"
			case "-":
				ct = ""
			}
			var h http.Header
			if tc.sel != "" {
				h = http.Header{"Flagd-Selector": {tc.sel}}
			}
			got := do(t, c, method, srv.URL+tc.path, ct, []byte(tc.body), h)
			if got.status != tc.status {
				t.Fatalf("status %d, want %d (body %s)", got.status, tc.status, got.body)
			}
			switch {
			case tc.want == "":
			case strings.HasPrefix(tc.want, "code:"):
				if code := errorCode(t, got.body); code != strings.TrimPrefix(tc.want, "code:") {
					t.Errorf("code %q, want %s (body %s)", code, tc.want, got.body)
				}
			default:
				if got.body != tc.want {
					t.Errorf("got  %s\nwant %s", got.body, tc.want)
				}
			}
			if tc.status == 200 && got.contentType != "application/json" && !strings.HasPrefix(ct, "application/json;") {
				t.Errorf("content type %q", got.contentType)
			}
		})
	}
}

// TestHTTPProto checks the Connect protocol's binary form, without a
// Connect client.
func TestHTTPProto(t *testing.T) {
	srv := startServer(t, evalsvc.Config{})
	body, err := proto.Marshal(&evaluationv1.ResolveIntRequest{FlagKey: "int-flag"})
	if err != nil {
		t.Fatal(err)
	}
	got := do(t, http1Client(t), http.MethodPost, srv.URL+"/flagd.evaluation.v1.Service/ResolveInt", "application/proto", body, nil)
	if got.status != 200 || got.contentType != "application/proto" {
		t.Fatalf("status %d, content type %q: %q", got.status, got.contentType, got.body)
	}
	var resp evaluationv1.ResolveIntResponse
	if err := proto.Unmarshal([]byte(got.body), &resp); err != nil {
		t.Fatal(err)
	}
	if resp.GetValue() != 9007199254740991 || resp.GetVariant() != "big" || resp.GetReason() != "STATIC" {
		t.Errorf("got %v", &resp)
	}
}

// envelopeReader reads the messages of a Connect streaming response.
type envelopeReader struct {
	t *testing.T
	r *bufio.Reader
}

// next returns the next message and whether it is the end of the stream.
func (e *envelopeReader) next() (string, bool) {
	e.t.Helper()
	var head [5]byte
	if _, err := io.ReadFull(e.r, head[:]); err != nil {
		e.t.Fatalf("reading an envelope: %v", err)
	}
	data := make([]byte, binary.BigEndian.Uint32(head[1:]))
	if _, err := io.ReadFull(e.r, data); err != nil {
		e.t.Fatalf("reading an envelope: %v", err)
	}
	return string(data), head[0]&2 != 0
}

// event returns the next event that is not keep_alive.
func (e *envelopeReader) event() string {
	e.t.Helper()
	for {
		msg, end := e.next()
		if end {
			e.t.Fatalf("stream ended: %s", msg)
		}
		if msg != `{"type":"keep_alive","data":null}` {
			return msg
		}
	}
}

// TestHTTPEventStream reads an event stream as raw Connect JSON: the exact
// JSON of each event type.
func TestHTTPEventStream(t *testing.T) {
	st := newStore(t)
	srv := startServer(t, evalsvc.Config{Resolver: newResolver(st, nil, nil, nil), KeepAlive: 20 * time.Millisecond})
	var env bytes.Buffer
	env.Write([]byte{0, 0, 0, 0, 2})
	env.WriteString("{}")
	req, err := http.NewRequestWithContext(testContext(t), http.MethodPost, srv.URL+"/flagd.evaluation.v1.Service/EventStream", &env)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/connect+json")
	req.Header.Set("Flagd-Selector", "source=b.json")
	resp, err := http1Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/connect+json" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	r := &envelopeReader{t: t, r: bufio.NewReader(resp.Body)}

	if msg, _ := r.next(); msg != `{"type":"provider_ready","data":{}}` {
		t.Fatalf("first event %s", msg)
	}
	if msg, _ := r.next(); msg != `{"type":"keep_alive","data":null}` {
		t.Fatalf("idle stream sent %s", msg)
	}
	storetest.ApplyFile(t, st, sourceB, "b2.json")
	if msg := r.event(); msg != `{"type":"configuration_change","data":{"flags":{"b-new":{"type":"write"},"b-only":{"type":"update"}}}}` {
		t.Fatalf("after an update: %s", msg)
	}
	if _, err := st.Apply(syncsources.Update{Source: sourceB, Removed: true}); err != nil {
		t.Fatal(err)
	}
	if msg := r.event(); msg != `{"type":"configuration_change","data":{"flags":{"b-new":{"type":"delete"},"b-only":{"type":"delete"}}}}` {
		t.Fatalf("after a removal: %s", msg)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- srv.Svc.Shutdown(ctx)
	}()
	if msg := r.event(); msg != `{"type":"provider_shutdown","data":{}}` {
		t.Fatalf("on shutdown: %s", msg)
	}
	if msg, end := r.next(); !end || msg != `{}` {
		t.Fatalf("after provider_shutdown: %s (end of stream %v)", msg, end)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestHTTPCompression: a client that accepts gzip gets every answer
// compressed, small ones too, as from flagd (conformance/oracle/testdata/
// 030-http, http/header: ResolveBoolean with Accept-Encoding: gzip is
// answered with Content-Encoding: gzip).
func TestHTTPCompression(t *testing.T) {
	srv := startServer(t, evalsvc.Config{})
	c := http1Client(t)
	encoding := func(method, body string) string {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/flagd.evaluation.v1.Service/"+method, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept-Encoding", "gzip") // so the transport does not decompress
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", method, resp.StatusCode)
		}
		return resp.Header.Get("Content-Encoding")
	}
	if got := encoding("ResolveBoolean", `{"flagKey":"bool-flag"}`); got != "gzip" {
		t.Errorf("ResolveBoolean: Content-Encoding %q, want gzip", got)
	}
	if got := encoding("ResolveAll", `{}`); got != "gzip" {
		t.Errorf("ResolveAll: Content-Encoding %q, want gzip", got)
	}
}
