package ofrep_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/vexilhq/vexil/daemon/internal/ofrep"
	"github.com/vexilhq/vexil/daemon/internal/storetest"
)

// flagdCase is a request and flagd's answer to it.
type flagdCase struct {
	name     string
	method   string // POST when empty
	path     string
	body     string
	selector string
	status   int
	want     string
	location string // the Location header, for a redirect
	header   map[string]string
}

// The expected answers of TestFlagdAnswers and TestFlagdAnswersKept are
// what flagd (built from its main branch) answered these requests with,
// over the same flag file (testdata/slash.json: "bool-flag", and keys with
// "/").

// TestFlagdAnswers: invalid selectors and unclean paths, answered as flagd
// answers them (each case failed before the OFREP handler did so).
//
//   - An invalid Flagd-Selector: 400 GENERAL, details "invalid selector: "
//     then flagd's selector parser's message (which itself begins with
//     "invalid selector key"), and "metadata": null, on both endpoints.
//   - A path that cleaning the decoded path changes (dot segments, "//",
//     also when encoded) is redirected to the clean one with 301, for POST
//     too, before the method is checked.
func TestFlagdAnswers(t *testing.T) {
	runFlagdCases(t, []flagdCase{
		{name: "invalid selector, single", path: single + "bool-flag", body: `{"context":{}}`, selector: "bogus=x", status: 400,
			want: `{"key":"bool-flag","errorCode":"GENERAL","errorDetails":"invalid selector: invalid selector key \"bogus\", valid keys: \"flagSetId\", \"source\"","metadata":null}`},
		{name: "invalid selector, bulk", path: bulk, body: `{"context":{}}`, selector: "bogus=x", status: 400,
			want: `{"errorCode":"GENERAL","errorDetails":"invalid selector: invalid selector key \"bogus\", valid keys: \"flagSetId\", \"source\"","metadata":null}`},
		{name: "invalid selector, empty key", path: bulk, body: `{}`, selector: "=x", status: 400,
			want: `{"errorCode":"GENERAL","errorDetails":"invalid selector: invalid selector key \"\", valid keys: \"flagSetId\", \"source\"","metadata":null}`},
		{name: "invalid selector, only the first = splits", path: single + "bool-flag", body: `{}`, selector: "x=1,y=2", status: 400,
			want: `{"key":"bool-flag","errorCode":"GENERAL","errorDetails":"invalid selector: invalid selector key \"x\", valid keys: \"flagSetId\", \"source\"","metadata":null}`},
		{name: "encoded // is cleaned", path: single + "a%2F%2Fb?q=1", body: `{}`, status: 301, location: single + "a/b?q=1"},
		{name: "encoded / alone is cleaned", path: single + "%2F", body: `{}`, status: 301, location: single},
		{name: "encoded dot segment is cleaned", path: single + "%2E/bool-flag", body: `{}`, status: 301, location: single + "bool-flag"},
		{name: "encoded parent segment is cleaned", path: single + "flags%2F..%2Fbool-flag", body: `{}`, status: 301, location: single + "bool-flag"},
		{name: "dot segment is cleaned", path: single + "./bool-flag", body: `{}`, status: 301, location: single + "bool-flag"},
		{name: "parent segment is cleaned", path: single + "x/../bool-flag", body: `{}`, status: 301, location: single + "bool-flag"},
		{name: "// is cleaned", path: single + "/bool-flag", body: `{}`, status: 301, location: single + "bool-flag"},
		{name: "trailing dot is cleaned", path: single + ".", body: `{}`, status: 301, location: bulk},
	})
}

// TestFlagdAnswersMethods: another method than POST on either endpoint is
// answered 405 as gorilla/mux answers it in front of flagd's OFREP
// service: no Allow header, no body, no Content-Type (each case failed
// while the handler sent "Allow: POST").
func TestFlagdAnswersMethods(t *testing.T) {
	var tests []flagdCase
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions, http.MethodPatch} {
		for _, p := range []string{single + "bool-flag", single + "nope", bulk, bulk + "/"} {
			tests = append(tests, flagdCase{name: m + " " + p, method: m, path: p, body: `{}`, status: 405})
		}
	}
	runFlagdCases(t, tests)
}

// TestFlagdAnswersNoETag: without Config.ETags, bulk answers are flagd's,
// which has no ETag and answers 200 whatever If-None-Match says (each
// failed while every bulk answer had an ETag and a matching If-None-Match
// was answered 304).
func TestFlagdAnswersNoETag(t *testing.T) {
	const all = `{"flags":[{"value":"slash","key":"a/b","reason":"STATIC","variant":"x","metadata":{}},{"value":true,"key":"bool-flag","reason":"STATIC","variant":"on","metadata":{}},{"value":false,"key":"flags/bool-flag","reason":"STATIC","variant":"off","metadata":{}},{"key":"missing-variant","errorCode":"GENERAL","errorDetails":"error processing the flag for evaluation","metadata":{}}],"metadata":{}}`
	runFlagdCases(t, []flagdCase{
		{name: "bulk", path: bulk, body: `{}`, status: 200, want: all},
		{name: "bulk, If-None-Match *", path: bulk, body: `{}`, header: map[string]string{"If-None-Match": "*"}, status: 200, want: all},
		{name: "bulk/, If-None-Match *", path: bulk + "/", body: `{}`, header: map[string]string{"If-None-Match": "*"}, status: 200, want: all},
	})
}

// TestFlagdAnswersKept: what Vexil already answered as flagd does, kept so.
//
//   - A request error (the body, the selector) has "metadata": null, as
//     flagd's; an evaluation error the selection's metadata ({} without a
//     selector).
//   - The single-flag path is the decoded path: "flags%2Fbool-flag" is
//     ".../flags/flags/bool-flag", a 404 (text, not JSON) and not the flag
//     "flags/bool-flag", which only bulk evaluation reaches.
func TestFlagdAnswersKept(t *testing.T) {
	runFlagdCases(t, []flagdCase{
		{name: "invalid context, single", path: single + "bool-flag", body: `{context}`, status: 400,
			want: `{"key":"bool-flag","errorCode":"INVALID_CONTEXT","errorDetails":"Provider context is not valid","metadata":null}`},
		{name: "invalid context, bulk", path: bulk, body: `{context}`, status: 400,
			want: `{"errorCode":"INVALID_CONTEXT","errorDetails":"Provider context is not valid","metadata":null}`},
		{name: "evaluation error has the selection's metadata", path: single + "nope", body: `{}`, status: 404,
			want: "{\"key\":\"nope\",\"errorCode\":\"FLAG_NOT_FOUND\",\"errorDetails\":\"flag `nope` does not exist\",\"metadata\":{}}"},
		{name: "bulk lists keys with /", path: bulk, body: `{}`, status: 200,
			want: `{"flags":[{"value":"slash","key":"a/b","reason":"STATIC","variant":"x","metadata":{}},{"value":true,"key":"bool-flag","reason":"STATIC","variant":"on","metadata":{}},{"value":false,"key":"flags/bool-flag","reason":"STATIC","variant":"off","metadata":{}},{"key":"missing-variant","errorCode":"GENERAL","errorDetails":"error processing the flag for evaluation","metadata":{}}],"metadata":{}}`},
		{name: "%2F is decoded: 404", path: single + "flags%2Fbool-flag", body: `{}`, status: 404, want: "404 page not found\n"},
		{name: "%2f is decoded: 404", path: single + "a%2fb", body: `{}`, status: 404, want: "404 page not found\n"},
		{name: "key with / unencoded: 404", path: single + "a/b", body: `{}`, status: 404, want: "404 page not found\n"},
		{name: "trailing slash: 404", path: single + "bool-flag/", body: `{}`, status: 404, want: "404 page not found\n"},
		{name: "other escapes are decoded", path: single + "%62ool-flag", body: `{}`, status: 200,
			want: `{"value":true,"key":"bool-flag","reason":"STATIC","variant":"on","metadata":{}}`},
	})
}

// runFlagdCases sends each case's request to a server over
// testdata/slash.json, following no redirect, and checks the answer.
func runFlagdCases(t *testing.T, tests []flagdCase) {
	s := startServer(t, ofrep.Config{Resolver: newResolver(storetest.New(t, "slash.json"), nil, nil, nil)})
	client := &http.Client{
		Transport:     s.client.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequest(method, s.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.selector != "" {
				req.Header.Set("Flagd-Selector", tc.selector)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			r := doRequest(t, client, req)
			if r.status != tc.status {
				t.Errorf("status %d, want %d (%s)", r.status, tc.status, r.body)
			}
			if got := r.header.Get("Location"); got != tc.location {
				t.Errorf("Location %q, want %q", got, tc.location)
			}
			if got := r.header.Get("ETag"); got != "" {
				t.Errorf("ETag %q, want none", got)
			}
			if got := r.header.Get("Allow"); got != "" {
				t.Errorf("Allow %q, want none", got)
			}
			if tc.status == http.StatusMethodNotAllowed {
				if got := r.header.Get("Content-Type"); got != "" {
					t.Errorf("Content-Type %q, want none", got)
				}
			}
			if string(r.body) != tc.want {
				t.Errorf("body\n got: %s\nwant: %s", r.body, tc.want)
			}
		})
	}
}

// doRequest sends req with client and reads the whole answer.
func doRequest(t testing.TB, client *http.Client, req *http.Request) response {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, out}
}
