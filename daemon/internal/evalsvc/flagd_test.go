package evalsvc_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/vexilhq/vexil/daemon/internal/evalsvc"
	"github.com/vexilhq/vexil/daemon/internal/storetest"
)

// flagdCase is a request to the evaluation services and flagd's answer to
// it.
type flagdCase struct {
	name   string
	method string // POST when empty
	path   string
	body   string
	status int
	allow  string // the Allow header
	want   string
	// contentType is the request's Content-Type, application/json when
	// empty; header more request headers; wantHeader answer headers.
	contentType string
	header      map[string]string
	wantHeader  map[string]string
}

// flagdBool is the request body of most cases, and flagdTrue flagd's
// answer to it.
const (
	flagdBool = `{"flagKey":"bool-flag"}`
	flagdTrue = `{"value":true,"reason":"STATIC","variant":"on","metadata":{}}`
	notFound  = "404 page not found\n"
)

// TestFlagdAnswers: the expected answers are what flagd (commit bbb05d4)
// answered these requests with, over the same flag file
// (testdata/routing.json), each failing before the services routed as
// flagd's evaluation port does (by the prefix of the decoded path, with no
// mux: no path cleaning, no redirect) and decoded an empty body with
// connect-go's message.
func TestFlagdAnswers(t *testing.T) {
	runFlagdCases(t, []flagdCase{
		{name: "service path without slash: 404", path: "/flagd.evaluation.v2.Service", body: flagdBool, status: 404, want: notFound},
		{name: "leading // is not cleaned: 404", path: "//schema.v1.Service/ResolveBoolean", body: flagdBool, status: 404, want: notFound},
		{name: "dot segment is not cleaned: 404", path: "/./flagd.evaluation.v1.Service/ResolveBoolean", body: flagdBool, status: 404, want: notFound},
		{name: "parent segment is not cleaned: 404", path: "/x/../flagd.evaluation.v2.Service/ResolveBoolean", body: flagdBool, status: 404, want: notFound},
		{name: "// alone: 404", path: "//", body: flagdBool, status: 404, want: notFound},
		{name: "%2F is decoded, schema.v1", path: "/schema.v1.Service%2FResolveBoolean", body: flagdBool, status: 200, want: flagdTrue},
		{name: "%2F is decoded, v1", path: "/flagd.evaluation.v1.Service%2FResolveBoolean", body: flagdBool, status: 200, want: flagdTrue},
		{name: "%2f is decoded, v2", path: "/flagd.evaluation.v2.Service%2fResolveBoolean", body: flagdBool, status: 200, want: flagdTrue},
		{name: "%2F is decoded, other method: 405", method: http.MethodGet, path: "/schema.v1.Service%2FResolveBoolean", status: 405, allow: "POST"},
		{name: "empty body, v1", path: "/flagd.evaluation.v1.Service/ResolveBoolean", status: 400,
			want: `{"code":"invalid_argument","message":"unmarshal message: zero-length payload is not a valid JSON object"}`},
		{name: "empty body, schema.v1 ResolveAll", path: "/schema.v1.Service/ResolveAll", status: 400,
			want: `{"code":"invalid_argument","message":"unmarshal message: zero-length payload is not a valid JSON object"}`},
	})
}

// TestFlagdAnswersConnect: answers of connect-go itself, as flagd's
// connect-go (v1.19.1) gives them (each failed with v1.21.1): a negative
// Connect-Timeout-Ms is a deadline already past, not a parse error (the
// body is still read first: an unreadable one is InvalidArgument), and a
// gRPC-Web body shorter than its envelope is InvalidArgument, not Internal.
func TestFlagdAnswersConnect(t *testing.T) {
	const path = "/flagd.evaluation.v1.Service/ResolveBoolean"
	runFlagdCases(t, []flagdCase{
		{name: "negative timeout", path: path, body: flagdBool, header: map[string]string{"Connect-Timeout-Ms": "-1"}, status: 504,
			want: `{"code":"deadline_exceeded","message":"context deadline exceeded"}`},
		{name: "negative timeout, v2", path: "/flagd.evaluation.v2.Service/ResolveString", body: `{"flagKey":"nope"}`, header: map[string]string{"Connect-Timeout-Ms": "-5"}, status: 504,
			want: `{"code":"deadline_exceeded","message":"context deadline exceeded"}`},
		{name: "negative timeout, unreadable body", path: path, body: `{"flagKey":1}`, header: map[string]string{"Connect-Timeout-Ms": "-1"}, status: 400,
			want: `{"code":"invalid_argument","message":"unmarshal message: proto: (line 1:12): invalid value for string field flagKey: 1"}`},
		{name: "gRPC-Web, body shorter than an envelope prefix", path: path, body: `{}`, contentType: "application/grpc-web+json", status: 200,
			wantHeader: map[string]string{"Grpc-Status": "3", "Grpc-Message": "protocol error: incomplete envelope: unexpected EOF"}},
		{name: "gRPC-Web, body shorter than its envelope", path: path, body: `{"flagKey":1}`, contentType: "application/grpc-web+json", status: 200,
			wantHeader: map[string]string{"Grpc-Status": "3", "Grpc-Message": "protocol error: promised 577137761 bytes in enveloped message, got 8 bytes"}},
	})
}

// TestFlagdAnswersKept: what the services already answered as flagd does,
// kept so.
func TestFlagdAnswersKept(t *testing.T) {
	runFlagdCases(t, []flagdCase{
		{name: "service path with a slash and no method: 404", path: "/flagd.evaluation.v1.Service/", body: flagdBool, status: 404, want: notFound},
		{name: "trailing slash: 404", path: "/flagd.evaluation.v1.Service/ResolveBoolean/", body: flagdBool, status: 404, want: notFound},
		{name: "other escapes are decoded", path: "/flagd%2Eevaluation.v1.Service/ResolveString", body: flagdBool, status: 400,
			want: `{"code":"invalid_argument","message":"Type mismatch error"}`},
		{name: "query string is ignored", path: "/flagd.evaluation.v2.Service/ResolveBoolean?x=1", body: flagdBool, status: 200, want: flagdTrue},
		{name: "other /flagd prefix: 404", path: "/flagdX/ResolveBoolean", body: flagdBool, status: 404, want: notFound},
		{name: "v2 has no ResolveAll: 404", path: "/flagd.evaluation.v2.Service/ResolveAll", body: `{}`, status: 404, want: notFound},
		{name: "method names are case-sensitive: 404", path: "/flagd.evaluation.v1.Service/resolveboolean", body: flagdBool, status: 404, want: notFound},
		{name: "OFREP path: 404", path: "/ofrep/v1/evaluate/flags", body: flagdBool, status: 404, want: notFound},
		{name: "other method: 405", method: http.MethodPut, path: "/flagd.evaluation.v1.Service/ResolveBoolean", body: flagdBool, status: 405, allow: "POST"},
	})
}

// runFlagdCases sends each case's request (Content-Type application/json)
// to a server over testdata/routing.json, with and without the fast path,
// following no redirect, and checks the answer.
func runFlagdCases(t *testing.T, tests []flagdCase) {
	for _, fast := range []bool{true, false} {
		s := startServer(t, evalsvc.Config{
			Resolver:        newResolver(storetest.New(t, "routing.json"), nil, nil, nil),
			DisableFastPath: !fast,
		})
		client := http1Client(t)
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		for _, tc := range tests {
			name := tc.name
			if !fast {
				name += ", no fast path"
			}
			t.Run(name, func(t *testing.T) {
				method := tc.method
				if method == "" {
					method = http.MethodPost
				}
				req, err := http.NewRequest(method, s.URL+tc.path, strings.NewReader(tc.body))
				if err != nil {
					t.Fatal(err)
				}
				ct := tc.contentType
				if ct == "" {
					ct = "application/json"
				}
				req.Header.Set("Content-Type", ct)
				for k, v := range tc.header {
					req.Header.Set(k, v)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body := readAll(t, resp)
				if resp.StatusCode != tc.status {
					t.Errorf("status %d, want %d (%s)", resp.StatusCode, tc.status, body)
				}
				if got := resp.Header.Get("Allow"); got != tc.allow {
					t.Errorf("Allow %q, want %q", got, tc.allow)
				}
				if got := resp.Header.Get("Location"); got != "" {
					t.Errorf("Location %q, want none", got)
				}
				for k, want := range tc.wantHeader {
					if got := resp.Header.Get(k); got != want {
						t.Errorf("%s %q, want %q", k, got, want)
					}
				}
				if body != tc.want {
					t.Errorf("body\n got: %s\nwant: %s", body, tc.want)
				}
			})
		}
	}
}

// readAll reads and closes resp's body.
func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
