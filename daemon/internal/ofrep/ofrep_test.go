package ofrep_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vexilhq/vexil/daemon/internal/ofrep"
	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/daemon/internal/storetest"
	"github.com/vexilhq/vexil/syncsources"
)

const (
	single = "/ofrep/v1/evaluate/flags/"
	bulk   = "/ofrep/v1/evaluate/flags"
)

// TestSingle covers the single-flag endpoint: each case's body is either
// compared exactly (want) or with a golden file.
func TestSingle(t *testing.T) {
	s := startServer(t, ofrep.Config{})
	tests := []struct {
		name    string
		key     string
		body    string
		headers []string
		status  int
		want    string // exact body, unless golden is set
		golden  string
	}{
		// Successes. Without a selector a key resolves to the flag of the
		// highest-priority source (override.json's "bool-flag").
		{name: "bool, highest priority source", key: "bool-flag", body: `{"context":{}}`, status: 200,
			want: `{"value":false,"key":"bool-flag","reason":"STATIC","variant":"off","metadata":{"flagSetId":"set-b"}}`},
		// "flagSetId=": flagd names its random id of the flags of no flag
		// set (conformance/oracle/testdata/*-sets, sets/selector/ofrep).
		{name: "bool, flag set selector", key: "bool-flag", body: `{"context":{}}`, headers: []string{"Flagd-Selector", "flagSetId="}, status: 200,
			want: `{"value":true,"key":"bool-flag","reason":"STATIC","variant":"on","metadata":{"flagSetId":"` + store.NoFlagSetID + `"}}`},
		{name: "string", key: "string-flag", body: `{"context":{}}`, status: 200, golden: "single-string"},
		{name: "number", key: "number-flag", body: `{"context":{}}`, status: 200,
			want: `{"value":0.5,"key":"number-flag","reason":"STATIC","variant":"half","metadata":{}}`},
		{name: "object, HTML escaped as flagd", key: "object-flag", body: `{"context":{}}`, status: 200, golden: "single-object"},
		{name: "targeting match", key: "targeted", body: `{"context":{"email":"a@example.com"}}`, status: 200, golden: "single-targeting-match"},
		{name: "targeting null is DEFAULT", key: "targeted", body: `{"context":{"email":"a@other.org"}}`, status: 200,
			want: `{"value":"user","key":"targeted","reason":"DEFAULT","variant":"user","metadata":{}}`},
		{name: "flag metadata", key: "meta-flag", body: `{}`, status: 200, golden: "single-metadata"},
		{name: "any type (no type mismatch in single evaluation)", key: "mismatch", body: `{}`, status: 200,
			want: `{"value":"word","key":"mismatch","reason":"TARGETING_MATCH","variant":"word","metadata":{}}`},
		{name: "disabled: no value, no variant", key: "disabled-flag", body: `{}`, status: 200, golden: "single-disabled"},
		{name: "no default variant: DEFAULT without value", key: "no-default", body: `{}`, status: 200,
			want: `{"key":"no-default","reason":"DEFAULT","metadata":{}}`},

		// Bodies.
		{name: "empty body", key: "targeted", body: ``, status: 200,
			want: `{"value":"user","key":"targeted","reason":"DEFAULT","variant":"user","metadata":{}}`},
		{name: "blank body", key: "string-flag", body: " \n", status: 200,
			want: `{"value":"red","key":"string-flag","reason":"STATIC","variant":"red","metadata":{}}`},
		{name: "null body", key: "string-flag", body: `null`, status: 200,
			want: `{"value":"red","key":"string-flag","reason":"STATIC","variant":"red","metadata":{}}`},
		{name: "null context", key: "string-flag", body: `{"context":null}`, status: 200,
			want: `{"value":"red","key":"string-flag","reason":"STATIC","variant":"red","metadata":{}}`},
		{name: "string context is ignored", key: "targeted", body: `{"context":"a@example.com"}`, status: 200,
			want: `{"value":"user","key":"targeted","reason":"DEFAULT","variant":"user","metadata":{}}`},
		{name: "array context is ignored", key: "targeted", body: `{"context":[{"email":"a@example.com"}]}`, status: 200,
			want: `{"value":"user","key":"targeted","reason":"DEFAULT","variant":"user","metadata":{}}`},
		{name: "member name matched case-insensitively", key: "targeted", body: `{"Context":{"email":"a@example.com"}}`, status: 200,
			want: `{"value":"admin","key":"targeted","reason":"TARGETING_MATCH","variant":"admin","metadata":{}}`},
		{name: "anything after the first value is ignored", key: "targeted", body: `{"context":{"email":"a@example.com"}} trailing`, status: 200,
			want: `{"value":"admin","key":"targeted","reason":"TARGETING_MATCH","variant":"admin","metadata":{}}`},
		{name: "bad JSON", key: "string-flag", body: `{"context":`, status: 400, golden: "single-invalid-context"},
		{name: "syntax error", key: "string-flag", body: `{context}`, status: 400,
			want: `{"key":"string-flag","errorCode":"INVALID_CONTEXT","errorDetails":"Provider context is not valid","metadata":null}`},
		{name: "body is an array", key: "string-flag", body: `[{"context":{}}]`, status: 400,
			want: `{"key":"string-flag","errorCode":"INVALID_CONTEXT","errorDetails":"Provider context is not valid","metadata":null}`},
		{name: "body is a string", key: "string-flag", body: `"x"`, status: 400,
			want: `{"key":"string-flag","errorCode":"INVALID_CONTEXT","errorDetails":"Provider context is not valid","metadata":null}`},
		{name: "bad JSON is checked before the selector", key: "string-flag", body: `{`, headers: []string{"Flagd-Selector", "bogus=x"}, status: 400,
			want: `{"key":"string-flag","errorCode":"INVALID_CONTEXT","errorDetails":"Provider context is not valid","metadata":null}`},

		// Errors.
		{name: "not found", key: "nope", body: `{}`, status: 404, golden: "single-not-found"},
		{name: "not found in the selected flag set", key: "string-flag", body: `{}`, headers: []string{"Flagd-Selector", "flagSetId=set-a"}, status: 404,
			want: "{\"key\":\"string-flag\",\"errorCode\":\"FLAG_NOT_FOUND\",\"errorDetails\":\"flag `string-flag` does not exist\",\"metadata\":{\"flagSetId\":\"set-a\"}}"},
		{name: "not found in the selected source", key: "nope", body: `{}`, headers: []string{"Flagd-Selector", "source=flags.json"}, status: 404,
			want: "{\"key\":\"nope\",\"errorCode\":\"FLAG_NOT_FOUND\",\"errorDetails\":\"flag `nope` does not exist\",\"metadata\":{\"source\":\"flags.json\"}}"},
		{name: "source selector sees its own flag (another flag set)", key: "bool-flag", body: `{}`, headers: []string{"Flagd-Selector", "source=flags.json"}, status: 200,
			want: `{"value":true,"key":"bool-flag","reason":"STATIC","variant":"on","metadata":{"source":"flags.json"}}`},
		{name: "PARSE_ERROR", key: "bad-rule", body: `{}`, status: 400,
			want: "{\"key\":\"bad-rule\",\"errorCode\":\"PARSE_ERROR\",\"errorDetails\":\"error parsing the flag `bad-rule`\",\"metadata\":{}}"},
		{name: "unknown variant is GENERAL", key: "missing-variant", body: `{}`, status: 400, golden: "single-general"},

		// Selectors.
		{name: "flag set selector", key: "set-flag", body: `{}`, headers: []string{"Flagd-Selector", "flagSetId=set-a"}, status: 200,
			want: `{"value":true,"key":"set-flag","reason":"STATIC","variant":"on","metadata":{"flagSetId":"set-a"}}`},
		{name: "source selector", key: "bool-flag", body: `{}`, headers: []string{"Flagd-Selector", "source=override.json"}, status: 200,
			want: `{"value":false,"key":"bool-flag","reason":"STATIC","variant":"off","metadata":{"flagSetId":"set-b","source":"override.json"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.post(t, single+tc.key, tc.body, tc.headers...)
			if r.status != tc.status {
				t.Errorf("status %d, want %d (%s)", r.status, tc.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if et := r.header.Get("ETag"); et != "" {
				t.Errorf("single evaluation has an ETag: %q", et)
			}
			if tc.golden != "" {
				checkGolden(t, tc.golden, r.body)
			} else if string(r.body) != tc.want {
				t.Errorf("body\n got: %s\nwant: %s", r.body, tc.want)
			}
		})
	}
}

// TestInvalidSelector: 400 GENERAL, with no metadata, on both endpoints.
func TestInvalidSelector(t *testing.T) {
	s := startServer(t, ofrep.Config{})
	for _, path := range []string{single + "string-flag", bulk} {
		r := s.post(t, path, `{"context":{}}`, "Flagd-Selector", "bogus=x")
		if r.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", path, r.status)
		}
		m := decode(t, r.body)
		if m["errorCode"] != "GENERAL" {
			t.Errorf("%s: errorCode %v", path, m["errorCode"])
		}
		if d, _ := m["errorDetails"].(string); !strings.HasPrefix(d, "invalid selector: ") {
			t.Errorf("%s: errorDetails %q", path, d)
		}
		if v, ok := m["metadata"]; !ok || v != nil {
			t.Errorf("%s: metadata %v, want null", path, v)
		}
		_, hasKey := m["key"]
		if wantKey := path != bulk; hasKey != wantKey {
			t.Errorf("%s: has key %v, want %v", path, hasKey, wantKey)
		}
	}
}

// TestContext: the request's context, overlaid with the static context,
// overlaid with the mapped headers.
func TestContext(t *testing.T) {
	s := startServer(t, ofrep.Config{Resolver: newResolver(newStore(t),
		map[string]any{"region": "eu"},
		map[string]string{"x-tenant": "tenant"}, nil)})
	match := `{"value":"match","key":"context-flag","reason":"TARGETING_MATCH","variant":"match","metadata":{}}`
	other := `{"value":"other","key":"context-flag","reason":"DEFAULT","variant":"other","metadata":{}}`
	tests := []struct {
		name    string
		body    string
		headers []string
		want    string
	}{
		{"request and static", `{"context":{"tenant":"acme"}}`, nil, match},
		{"static over request", `{"context":{"tenant":"acme","region":"us"}}`, nil, match},
		{"header with no context", ``, []string{"X-Tenant", "acme"}, match},
		{"header over request", `{"context":{"tenant":"other"}}`, []string{"X-TENANT", "acme"}, match},
		{"empty header is ignored", `{"context":{"tenant":"acme"}}`, []string{"X-Tenant", ""}, match},
		{"header value", `{"context":{"tenant":"acme"}}`, []string{"X-Tenant", "globex"}, other},
		{"non-object context is ignored, static still applies", `{"context":1}`, []string{"X-Tenant", "acme"}, match},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.post(t, single+"context-flag", tc.body, tc.headers...)
			if r.status != 200 || string(r.body) != tc.want {
				t.Errorf("got %d %s, want %s", r.status, r.body, tc.want)
			}
		})
	}
	// The same for bulk evaluation.
	r := s.post(t, bulk, `{"context":{"tenant":"acme"}}`)
	if !strings.Contains(string(r.body), match) {
		t.Errorf("bulk: %s does not hold %s", r.body, match)
	}
}

// TestBulk covers the bulk endpoint's bodies.
func TestBulk(t *testing.T) {
	s := startServer(t, ofrep.Config{ETags: true})
	tests := []struct {
		name    string
		path    string
		body    string
		headers []string
		status  int
		want    string
		golden  string
	}{
		// Every (flag set, key): "bool-flag" twice, both times as the
		// highest-priority source's; "mismatch" is evaluated as a boolean
		// (its default variant's type) and fails as GENERAL.
		{name: "all flags", path: bulk, body: `{"context":{"email":"a@example.com"}}`, status: 200, golden: "bulk-all"},
		{name: "trailing slash", path: bulk + "/", body: `{"context":{"email":"a@example.com"}}`, status: 200, golden: "bulk-all"},
		{name: "flag set selector", path: bulk, body: `{}`, headers: []string{"Flagd-Selector", "flagSetId=set-a"}, status: 200,
			want: `{"flags":[{"value":true,"key":"set-flag","reason":"STATIC","variant":"on","metadata":{"flagSetId":"set-a"}}],"metadata":{"flagSetId":"set-a"}}`},
		{name: "source selector", path: bulk, body: `{}`, headers: []string{"Flagd-Selector", "source=override.json"}, status: 200, golden: "bulk-source"},
		{name: "empty selection", path: bulk, body: `{}`, headers: []string{"Flagd-Selector", "flagSetId=none"}, status: 200,
			want: `{"flags":[],"metadata":{"flagSetId":"none"}}`},
		{name: "empty body", path: bulk, body: ``, headers: []string{"Flagd-Selector", "flagSetId=set-a"}, status: 200,
			want: `{"flags":[{"value":true,"key":"set-flag","reason":"STATIC","variant":"on","metadata":{"flagSetId":"set-a"}}],"metadata":{"flagSetId":"set-a"}}`},
		{name: "bad JSON", path: bulk, body: `{"context":{`, status: 400, golden: "bulk-invalid-context"},
		{name: "body is a number", path: bulk, body: `42`, status: 400,
			want: `{"errorCode":"INVALID_CONTEXT","errorDetails":"Provider context is not valid","metadata":null}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.post(t, tc.path, tc.body, tc.headers...)
			if r.status != tc.status {
				t.Errorf("status %d, want %d (%s)", r.status, tc.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if et := r.header.Get("ETag"); (et != "") != (tc.status == 200) {
				t.Errorf("ETag %q with status %d", et, r.status)
			}
			if tc.golden != "" {
				checkGolden(t, tc.golden, r.body)
			} else if string(r.body) != tc.want {
				t.Errorf("body\n got: %s\nwant: %s", r.body, tc.want)
			}
		})
	}
}

// TestBulkEntries checks the per-flag entries of a bulk evaluation
// against single evaluations: the same answers, except that bulk
// evaluation types each flag by its default variant.
func TestBulkEntries(t *testing.T) {
	s := startServer(t, ofrep.Config{})
	r := s.post(t, bulk, `{"context":{}}`)
	flags, _ := decode(t, r.body)["flags"].([]any)
	if len(flags) != 14 {
		t.Fatalf("%d flags, want 14 (13 + bool-flag of set-b): %s", len(flags), r.body)
	}
	byKey := map[string]map[string]any{}
	for _, f := range flags {
		m := f.(map[string]any)
		byKey[m["key"].(string)] = m
	}
	for key, wantCode := range map[string]string{"bad-rule": "PARSE_ERROR", "missing-variant": "GENERAL", "mismatch": "GENERAL"} {
		if got := byKey[key]["errorCode"]; got != wantCode {
			t.Errorf("%s: errorCode %v, want %s", key, got, wantCode)
		}
	}
	if _, ok := byKey["disabled-flag"]["value"]; ok || byKey["disabled-flag"]["reason"] != "DISABLED" {
		t.Errorf("disabled-flag: %v", byKey["disabled-flag"])
	}
	if _, ok := byKey["no-default"]["value"]; ok || byKey["no-default"]["reason"] != "DEFAULT" {
		t.Errorf("no-default: %v", byKey["no-default"])
	}
}

// TestETag covers the bulk ETag and If-None-Match.
func TestETag(t *testing.T) {
	st := newStore(t)
	s := startServer(t, ofrep.Config{Resolver: newResolver(st, nil, nil, nil), ETags: true})
	ctxA := `{"context":{"email":"a@example.com"}}`
	ctxB := `{"context":{"email":"b@other.org"}}`

	first := s.post(t, bulk, ctxA)
	etag := first.header.Get("ETag")
	if len(etag) < 3 || etag[0] != '"' || etag[len(etag)-1] != '"' || strings.HasPrefix(etag, "W/") {
		t.Fatalf("ETag %q is not a strong entity tag", etag)
	}
	if again := s.post(t, bulk, ctxA).header.Get("ETag"); again != etag {
		t.Errorf("same flags and context: ETag %q, then %q", etag, again)
	}
	// The same context written differently is the same context.
	if again := s.post(t, bulk, `{ "context" : { "email" : "a@example.com" } }`).header.Get("ETag"); again != etag {
		t.Errorf("same context reformatted: ETag %q, then %q", etag, again)
	}
	if other := s.post(t, bulk, ctxB).header.Get("ETag"); other == etag {
		t.Errorf("another context gives the same ETag %q", etag)
	}
	if other := s.post(t, bulk, ctxA, "Flagd-Selector", "flagSetId=set-a").header.Get("ETag"); other == etag {
		t.Errorf("another selection gives the same ETag %q", etag)
	}

	for _, inm := range []string{etag, "W/" + etag, `"x", ` + etag, strings.Trim(etag, `"`), "*"} {
		r := s.post(t, bulk, ctxA, "If-None-Match", inm)
		if r.status != http.StatusNotModified || len(r.body) != 0 {
			t.Errorf("If-None-Match %s: %d %q, want 304 with no body", inm, r.status, r.body)
		}
		if got := r.header.Get("ETag"); got != etag {
			t.Errorf("If-None-Match %s: 304 with ETag %q, want %q", inm, got, etag)
		}
	}
	if r := s.post(t, bulk, ctxA, "If-None-Match", `"stale"`); r.status != 200 || string(r.body) != string(first.body) {
		t.Errorf("stale If-None-Match: %d %s", r.status, r.body)
	}
	if r := s.post(t, bulk, ctxB, "If-None-Match", etag); r.status != 200 {
		t.Errorf("If-None-Match of another context: %d, want 200", r.status)
	}

	// A changed flag: a new ETag, and the old one no longer matches.
	storetest.ApplyFile(t, st, sourceOverride, "override2.json")
	r := s.post(t, bulk, ctxA, "If-None-Match", etag)
	if r.status != 200 {
		t.Fatalf("after a change, the old ETag still matches: %d", r.status)
	}
	newTag := r.header.Get("ETag")
	if newTag == etag || newTag == "" {
		t.Errorf("after a change, ETag %q (was %q)", newTag, etag)
	}
	if r := s.post(t, bulk, ctxA, "If-None-Match", newTag); r.status != http.StatusNotModified {
		t.Errorf("new ETag: %d, want 304", r.status)
	}
	// Changing it back gives back the first ETag: it depends on what is
	// answered only.
	storetest.ApplyFile(t, st, sourceOverride, "override.json")
	if got := s.post(t, bulk, ctxA).header.Get("ETag"); got != etag {
		t.Errorf("after reverting, ETag %q, want %q", got, etag)
	}

	// Errors carry no ETag and never 304.
	if r := s.post(t, bulk, `{`, "If-None-Match", "*"); r.status != 400 || r.header.Get("ETag") != "" {
		t.Errorf("bad JSON with If-None-Match *: %d, ETag %q", r.status, r.header.Get("ETag"))
	}
}

// TestBodyLimit: a body over MaxBodyBytes is 413.
func TestBodyLimit(t *testing.T) {
	s := startServer(t, ofrep.Config{MaxBodyBytes: 64})
	big := `{"context":{"email":"` + strings.Repeat("a", 100) + `@example.com"}}`
	for _, path := range []string{single + "targeted", bulk} {
		r := s.post(t, path, big)
		if r.status != http.StatusRequestEntityTooLarge || string(r.body) != `{"errorDetails":"request body too large"}` {
			t.Errorf("%s: %d %s, want 413", path, r.status, r.body)
		}
		if r := s.post(t, path, `{"context":{"email":"a@example.com"}}`); r.status != 200 {
			t.Errorf("%s: a small body: %d %s", path, r.status, r.body)
		}
	}
}

// TestRouting: other methods are 405, other paths 404.
func TestRouting(t *testing.T) {
	s := startServer(t, ofrep.Config{})
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, single + "string-flag", 405},
		{http.MethodPut, single + "string-flag", 405},
		{http.MethodGet, bulk, 405},
		{http.MethodDelete, bulk + "/", 405},
		{http.MethodPost, "/ofrep/v1/evaluate/other", 404},
		{http.MethodPost, single + "a/b", 404},
		{http.MethodPost, single + "a%2Fb", 404},
		{http.MethodPost, "/ofrep/v1/evaluate/flagsx", 404},
		{http.MethodPost, single + "string-flag", 200},
	} {
		r := s.do(t, tc.method, tc.path, `{}`)
		if r.status != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, r.status, tc.status)
		}
		// flagd (gorilla/mux) answers 405 with no Allow header and no body.
		if tc.status == 405 {
			if allow := r.header.Get("Allow"); allow != "" || len(r.body) != 0 {
				t.Errorf("%s %s: Allow %q, body %q", tc.method, tc.path, allow, r.body)
			}
		}
	}
}

// TestConcurrentUpdates evaluates while the flags change: every answer is
// one of the two states', and equal bodies always have equal ETags.
func TestConcurrentUpdates(t *testing.T) {
	st := newStore(t)
	s := startServer(t, ofrep.Config{Resolver: newResolver(st, nil, nil, nil), ETags: true})
	var docs [2][]byte
	for i, file := range []string{"override.json", "override2.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		docs[i] = data
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			if _, err := st.Apply(syncsources.Update{Source: sourceOverride, Data: docs[i%2]}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var mu sync.Mutex
	tags := map[string]string{} // body -> ETag
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 25 {
				r := s.post(t, bulk, `{"context":{}}`)
				if r.status != 200 {
					t.Errorf("bulk: %d", r.status)
					return
				}
				mu.Lock()
				if prev, ok := tags[string(r.body)]; ok && prev != r.header.Get("ETag") {
					t.Errorf("one body, two ETags: %s, %s", prev, r.header.Get("ETag"))
				}
				tags[string(r.body)] = r.header.Get("ETag")
				mu.Unlock()
				if r := s.post(t, single+"bool-flag", `{}`); r.status != 200 {
					t.Errorf("single: %d", r.status)
				}
			}
		})
	}
	wg.Wait()
	<-done
	if len(tags) > 2 {
		t.Errorf("%d distinct bodies, want at most 2", len(tags))
	}
	seen := map[string]bool{}
	for _, tag := range tags {
		if seen[tag] {
			t.Errorf("two bodies share the ETag %s", tag)
		}
		seen[tag] = true
	}
}
