package evalsvc_test

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vexilhq/vexil/daemon/internal/evalsvc"
	"github.com/vexilhq/vexil/daemon/internal/metrics"
	"github.com/vexilhq/vexil/daemon/internal/metrics/metricstest"
	"github.com/vexilhq/vexil/daemon/internal/storetest"
	"github.com/vexilhq/vexil/daemon/internal/strictjson"
)

// The fast path is proven against connect-go: the same requests go to a
// service with the fast path and to one without (DisableFastPath), over
// one store, and must get the same status, headers and body.

// diffPaths are the paths the differential tests send to: every RPC the
// fast path answers, and some it must leave to connect-go.
var diffPaths = []string{
	"/flagd.evaluation.v1.Service/ResolveBoolean",
	"/flagd.evaluation.v1.Service/ResolveString",
	"/flagd.evaluation.v1.Service/ResolveInt",
	"/flagd.evaluation.v1.Service/ResolveFloat",
	"/flagd.evaluation.v1.Service/ResolveObject",
	"/flagd.evaluation.v2.Service/ResolveBoolean",
	"/flagd.evaluation.v2.Service/ResolveString",
	"/flagd.evaluation.v2.Service/ResolveInt",
	"/flagd.evaluation.v2.Service/ResolveFloat",
	"/flagd.evaluation.v2.Service/ResolveObject",
	"/flagd.evaluation.v1.Service/ResolveAll",
	"/schema.v1.Service/ResolveBoolean",
	"/schema.v1.Service/ResolveString",
	"/flagd.evaluation.v1.Service/ResolveBoolean/",
	"/flagd.evaluation.v1.Service/Nope",
}

// diffPair is a service with the fast path and one without, over one
// store, each with its own metrics.
type diffPair struct {
	fastSvc          *evalsvc.Service
	fast, slow       http.Handler
	fastMet, slowMet *metrics.Metrics
}

func newDiffPair(t testing.TB) *diffPair {
	st := storetest.New(t, sourceA, sourceB, "fast.json")
	static := map[string]any{"tier": "gold", "num": 2.5}
	headers := map[string]string{"X-Pick": "pick", "x-user": "user"}
	p := &diffPair{fastMet: metrics.New(), slowMet: metrics.New()}
	p.fastSvc = evalsvc.New(evalsvc.Config{Resolver: newResolver(st, static, headers, p.fastMet)})
	p.fast = p.fastSvc.Handler()
	p.slow = evalsvc.New(evalsvc.Config{Resolver: newResolver(st, static, headers, p.slowMet), DisableFastPath: true}).Handler()
	return p
}

// diffRequest is one request of a differential test.
type diffRequest struct {
	method string // POST when empty
	path   string
	header http.Header
	body   []byte
}

func (d diffRequest) http() *http.Request {
	m := d.method
	if m == "" {
		m = http.MethodPost
	}
	r := httptest.NewRequest(m, d.path, bytes.NewReader(d.body))
	for k, v := range d.header {
		r.Header[k] = slices.Clone(v)
	}
	return r
}

// compare sends req to both services and fails unless the answers are
// the same; it reports whether the fast path answered.
func (p *diffPair) compare(t testing.TB, req diffRequest) (fast bool) {
	t.Helper()
	before := p.fastSvc.FastHits()
	rf, rs := httptest.NewRecorder(), httptest.NewRecorder()
	p.fast.ServeHTTP(rf, req.http())
	p.slow.ServeHTTP(rs, req.http())
	fast = p.fastSvc.FastHits() > before
	a, b := rf.Result(), rs.Result()
	ab, _ := io.ReadAll(a.Body)
	bb, _ := io.ReadAll(b.Body)
	ha, hb := a.Header.Clone(), b.Header.Clone()
	for _, h := range []http.Header{ha, hb} {
		delete(h, "Date")
		delete(h, "Content-Length")
	}
	// Binary answers (application/proto) encode maps in random order; they
	// only ever come from connect-go, whose body is then not compared.
	sameBody := bytes.Equal(ab, bb) || !fast && !strings.HasPrefix(hb.Get("Content-Type"), "application/json")
	if a.StatusCode != b.StatusCode || !reflect.DeepEqual(ha, hb) || !sameBody {
		t.Fatalf("%s %q %v (fast path answered: %v)\nfast:    %d %v %q\nconnect: %d %v %q",
			req.method, req.path, req.header, fast, a.StatusCode, ha, ab, b.StatusCode, hb, bb)
	}
	return fast
}

const (
	pathV1Bool = "/flagd.evaluation.v1.Service/ResolveBoolean"
	pathV1Str  = "/flagd.evaluation.v1.Service/ResolveString"
	pathV1Int  = "/flagd.evaluation.v1.Service/ResolveInt"
	pathV1Flt  = "/flagd.evaluation.v1.Service/ResolveFloat"
	pathV1Obj  = "/flagd.evaluation.v1.Service/ResolveObject"
	pathV2Bool = "/flagd.evaluation.v2.Service/ResolveBoolean"
	pathV2Str  = "/flagd.evaluation.v2.Service/ResolveString"
	pathV2Int  = "/flagd.evaluation.v2.Service/ResolveInt"
	pathV2Flt  = "/flagd.evaluation.v2.Service/ResolveFloat"
	pathV2Obj  = "/flagd.evaluation.v2.Service/ResolveObject"
)

// fastCase is a case of TestFastPathEqualsConnect; want says whether the
// fast path must answer ("fast"), must not ("slow"), or either ("").
type fastCase struct {
	name string
	req  diffRequest
	want string
}

func jsonHeader(kv ...string) http.Header {
	h := http.Header{"Content-Type": {"application/json"}}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func fastCases() []fastCase {
	var cs []fastCase
	add := func(name, path, body, want string, kv ...string) {
		cs = append(cs, fastCase{name, diffRequest{path: path, header: jsonHeader(kv...), body: []byte(body)}, want})
	}
	ctx := `"context":{"targetingKey":"user-123","email":"ana@example.com","country":"NO","appVersion":"2.1.0","tier":"gold"}`
	byKind := map[string][2]string{
		"bool":   {pathV1Bool, pathV2Bool},
		"string": {pathV1Str, pathV2Str},
		"int":    {pathV1Int, pathV2Int},
		"float":  {pathV1Flt, pathV2Flt},
		"object": {pathV1Obj, pathV2Obj},
	}
	// Every type, every variant, in both versions.
	variants := map[string][]string{
		"f-bool":      {"", "on", "off"},
		"f-string":    {"", "plain", "esc", "empty"},
		"f-int":       {"", "zero", "neg", "big", "huge", "frac"},
		"f-float":     {"", "pi", "tiny", "edge", "huge", "big", "negzero", "int"},
		"f-object":    {"", "x", "empty"},
		"f-nodefault": {"", "a", "t", "n", "o"},
		"f-large":     {"", "big", "small"},
	}
	for _, kind := range slices.Sorted(maps.Keys(byKind)) {
		for vi, path := range byKind[kind] {
			for _, flag := range []string{"bool-flag", "string-flag", "int-flag", "float-flag", "object-flag", "disabled-flag",
				"no-default", "no-default-targeted", "array-default", "bad-rule", "missing-variant", "wrong-type", "b-only",
				"f-disabled", "f-ctx", "f-fractional", "absent"} {
				add(fmt.Sprintf("v%d/%s/%s", vi+1, kind, flag), path, `{"flagKey":"`+flag+`",`+ctx+`}`, "")
			}
			for _, flag := range slices.Sorted(maps.Keys(variants)) {
				for _, v := range variants[flag] {
					add(fmt.Sprintf("v%d/%s/%s/%s", vi+1, kind, flag, v), path, `{"flagKey":"`+flag+`","context":{"pick":"`+v+`"}}`, "")
					add(fmt.Sprintf("v%d/%s/%s/%s/header", vi+1, kind, flag, v), path, `{"flagKey":"`+flag+`"}`, "", "X-Pick", v)
				}
			}
		}
	}
	// The ordinary case is answered by the fast path.
	add("static", pathV1Bool, `{"flagKey":"bool-flag",`+ctx+`}`, "fast")
	add("static v2", pathV2Bool, `{"flagKey":"bool-flag",`+ctx+`}`, "fast")
	add("targeting match", pathV1Bool, `{"flagKey":"f-bool","context":{"user":"bob"}}`, "fast")
	add("targeting by header", pathV1Bool, `{"flagKey":"f-bool"}`, "fast", "X-User", "bob")
	add("fractional", pathV1Bool, `{"flagKey":"f-fractional",`+ctx+`}`, "fast")
	add("string escapes", pathV1Str, `{"flagKey":"f-string","context":{"pick":"esc"}}`, "fast")
	add("int big", pathV1Int, `{"flagKey":"f-int","context":{"pick":"big"}}`, "fast")
	add("float 1e21", pathV1Flt, `{"flagKey":"f-float","context":{"pick":"huge"}}`, "fast")
	add("float 1e-7", pathV2Flt, `{"flagKey":"f-float","context":{"pick":"tiny"}}`, "fast")
	add("object", pathV1Obj, `{"flagKey":"f-object"}`, "fast")
	add("object v2", pathV2Obj, `{"flagKey":"f-object"}`, "fast")
	add("disabled v1", pathV1Bool, `{"flagKey":"f-disabled"}`, "fast")
	add("disabled v2", pathV2Bool, `{"flagKey":"f-disabled"}`, "fast")
	add("disabled object v1", pathV1Obj, `{"flagKey":"f-disabled"}`, "")
	add("no default v2", pathV2Str, `{"flagKey":"f-nodefault"}`, "fast")
	add("no default v1", pathV1Str, `{"flagKey":"f-nodefault"}`, "slow")
	add("not found", pathV1Bool, `{"flagKey":"absent"}`, "slow")
	add("type mismatch", pathV1Str, `{"flagKey":"bool-flag"}`, "slow")
	add("snake case key", pathV1Bool, `{"flag_key":"bool-flag"}`, "fast")
	add("null context", pathV1Bool, `{"flagKey":"bool-flag","context":null}`, "fast")
	add("empty context", pathV1Bool, `{"context":{},"flagKey":"bool-flag"}`, "fast")
	add("no context", pathV1Bool, `{"flagKey":"bool-flag"}`, "fast")
	add("empty object", pathV1Bool, `{}`, "slow")
	add("whitespace", pathV1Bool, " \t\r\n{ \"flagKey\" : \"bool-flag\" , \"context\" : { \"a\" : [ 1 , 2 ] } } \n", "fast")
	add("context values", pathV1Str, `{"flagKey":"f-ctx","context":{"deep":{"x":{"y":"\u00e9\n"}}}}`, "fast")
	add("context list", pathV1Str, `{"flagKey":"f-ctx","context":{"list":["a","x"]}}`, "fast")
	add("context number", pathV1Str, `{"flagKey":"f-ctx","context":{"num":1e301}}`, "fast")
	add("context escapes", pathV1Str, `{"flagKey":"f-ctx","context":{"deep":{"x":{"y":"\u00E9\u000a"}},"s":"\ud83d\ude00\/\"\\\b\f\r\t"}}`, "fast")
	add("numbers", pathV1Bool, `{"flagKey":"bool-flag","context":{"a":-0,"b":0.1,"c":1e-7,"d":1E+2,"e":123456789012345678901234567890,"f":4.9e-324,"g":1e-400}}`, "")
	add("selector set", pathV1Bool, `{"flagKey":"bool-flag"}`, "fast", "Flagd-Selector", "flagSetId=set-a")
	add("selector source", pathV1Bool, `{"flagKey":"b-only"}`, "fast", "Flagd-Selector", "source=b.json")
	add("selector bare source", pathV1Bool, `{"flagKey":"f-bool"}`, "fast", "Flagd-Selector", "fast.json")
	add("selector misses", pathV1Bool, `{"flagKey":"bool-flag"}`, "slow", "Flagd-Selector", "flagSetId=fast")
	add("selector invalid", pathV1Bool, `{"flagKey":"bool-flag"}`, "slow", "Flagd-Selector", "nope=1")
	add("charset", pathV1Bool, `{"flagKey":"bool-flag"}`, "")
	cs[len(cs)-1].req.header.Set("Content-Type", "application/json; charset=utf-8")
	add("protocol version 1", pathV1Bool, `{"flagKey":"bool-flag"}`, "fast", "Connect-Protocol-Version", "1")
	add("accept gzip small", pathV1Bool, `{"flagKey":"bool-flag"}`, "fast", "Accept-Encoding", "gzip")
	add("accept gzip, br", pathV1Bool, `{"flagKey":"bool-flag"}`, "slow", "Accept-Encoding", "gzip, br")
	add("accept identity", pathV1Bool, `{"flagKey":"bool-flag"}`, "slow", "Accept-Encoding", "identity")
	add("large answer", pathV1Obj, `{"flagKey":"f-large"}`, "fast")
	add("large answer v2", pathV2Obj, `{"flagKey":"f-large"}`, "fast")
	add("large answer gzip", pathV1Obj, `{"flagKey":"f-large"}`, "fast", "Accept-Encoding", "gzip")
	add("large answer br", pathV1Obj, `{"flagKey":"f-large"}`, "slow", "Accept-Encoding", "br")
	add("small answer gzip", pathV1Obj, `{"flagKey":"f-large","context":{"pick":"small"}}`, "fast", "Accept-Encoding", "gzip")
	// Left to connect-go.
	add("unknown key", pathV1Bool, `{"flagKey":"bool-flag","extra":1}`, "slow")
	add("duplicate key", pathV1Bool, `{"flagKey":"bool-flag","flagKey":"f-bool"}`, "slow")
	add("both key names", pathV1Bool, `{"flagKey":"bool-flag","flag_key":"f-bool"}`, "slow")
	add("duplicate context key", pathV1Bool, `{"flagKey":"bool-flag","context":{"a":1,"a":2}}`, "slow")
	add("duplicate nested key", pathV1Bool, `{"flagKey":"bool-flag","context":{"a":{"b":1,"b":1}}}`, "slow")
	add("invalid utf-8", pathV1Bool, "{\"flagKey\":\"bool-flag\",\"context\":{\"a\":\"\xff\"}}", "slow")
	add("invalid utf-8 key", pathV1Bool, "{\"flagKey\":\"bool-flag\xc3\"}", "slow")
	add("lone surrogate", pathV1Bool, `{"flagKey":"bool-flag","context":{"a":"\ud800"}}`, "slow")
	add("control char", pathV1Bool, "{\"flagKey\":\"bool-flag\",\"context\":{\"a\":\"\x01\"}}", "slow")
	add("1e400", pathV1Bool, `{"flagKey":"bool-flag","context":{"a":1e400}}`, "slow")
	add("-1e400", pathV1Bool, `{"flagKey":"bool-flag","context":{"a":-1e400}}`, "slow")
	add("leading zero", pathV1Bool, `{"flagKey":"bool-flag","context":{"a":01}}`, "slow")
	add("NaN", pathV1Bool, `{"flagKey":"bool-flag","context":{"a":NaN}}`, "slow")
	add("trailing garbage", pathV1Bool, `{"flagKey":"bool-flag"}x`, "slow")
	add("two objects", pathV1Bool, `{"flagKey":"bool-flag"}{}`, "slow")
	add("trailing comma", pathV1Bool, `{"flagKey":"bool-flag",}`, "slow")
	add("empty body", pathV1Bool, ``, "slow")
	add("null body", pathV1Bool, `null`, "slow")
	add("array body", pathV1Bool, `[]`, "slow")
	add("flagKey null", pathV1Bool, `{"flagKey":null}`, "slow")
	add("flagKey number", pathV1Bool, `{"flagKey":1}`, "slow")
	add("context array", pathV1Bool, `{"flagKey":"bool-flag","context":[]}`, "slow")
	add("context string", pathV1Bool, `{"flagKey":"bool-flag","context":"x"}`, "slow")
	add("truncated", pathV1Bool, `{"flagKey":"bool-flag","context":{"a":`, "slow")
	add("BOM", pathV1Bool, "\ufeff{\"flagKey\":\"bool-flag\"}", "slow")
	add("protocol version 2", pathV1Bool, `{"flagKey":"bool-flag"}`, "slow", "Connect-Protocol-Version", "2")
	add("timeout", pathV1Bool, `{"flagKey":"bool-flag"}`, "slow", "Connect-Timeout-Ms", "10000")
	add("identity encoding", pathV1Bool, `{"flagKey":"bool-flag"}`, "slow", "Content-Encoding", "identity")
	add("gzip encoding", pathV1Bool, `{"flagKey":"bool-flag"}`, "slow", "Content-Encoding", "gzip")
	add("resolve all", "/flagd.evaluation.v1.Service/ResolveAll", `{}`, "slow")
	add("resolve all gzip", "/flagd.evaluation.v1.Service/ResolveAll", `{}`, "slow", "Accept-Encoding", "gzip")
	add("schema.v1", "/schema.v1.Service/ResolveBoolean", `{"flagKey":"bool-flag"}`, "slow")
	add("query", pathV1Bool+"?x=1", `{"flagKey":"bool-flag"}`, "slow")
	// Nesting at and over the limit.
	nest := func(n int) string {
		return `{"flagKey":"bool-flag","context":` + strings.Repeat(`{"a":`, n-1) + `{}` + strings.Repeat(`}`, n-1) + `}`
	}
	nestList := func(n int) string {
		return `{"flagKey":"bool-flag","context":{"a":` + strings.Repeat(`[`, n-1) + strings.Repeat(`]`, n-1) + `}}`
	}
	add("depth max", pathV1Bool, nest(strictjson.MaxDepth), "fast")
	add("depth over", pathV1Bool, nest(strictjson.MaxDepth+1), "slow")
	add("list depth max", pathV1Bool, nestList(strictjson.MaxDepth), "fast")
	add("list depth over", pathV1Bool, nestList(strictjson.MaxDepth+1), "slow")
	add("depth far over", pathV1Bool, nest(20000), "slow")
	// Body sizes around the cap.
	manyKeys := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"flagKey":"bool-flag","context":{`)
		for i := 0; b.Len() < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"k%d":"value-%d"`, i, i)
		}
		b.WriteString(`}}`)
		return b.String()
	}
	pad := func(n int) string {
		s := `{"flagKey":"bool-flag","context":{"p":""}}`
		return `{"flagKey":"bool-flag","context":{"p":"` + strings.Repeat("x", n-len(s)) + `"}}`
	}
	add("body of 64 KiB", pathV1Bool, pad(64<<10), "fast")
	// A 1 MiB context (the daemon's default body limit) is decoded by the
	// fast path: connect-go's protojson took five times its CPU (issue
	// 17, defect 6).
	add("body of 1 MiB", pathV1Bool, pad(1<<20), "fast")
	add("body of 1 MiB, many keys", pathV1Bool, manyKeys(1<<20), "fast")
	add("body at cap", pathV1Bool, pad(4<<20), "fast")
	add("body over cap", pathV1Bool, pad(4<<20+1), "slow")
	// Methods and content types.
	cs = append(cs,
		fastCase{"GET", diffRequest{method: http.MethodGet, path: pathV1Bool + "?encoding=json&message=%7B%7D", header: http.Header{}}, "slow"},
		fastCase{"PUT", diffRequest{method: http.MethodPut, path: pathV1Bool, header: jsonHeader(), body: []byte(`{"flagKey":"bool-flag"}`)}, "slow"},
		fastCase{"no content type", diffRequest{path: pathV1Bool, header: http.Header{}, body: []byte(`{"flagKey":"bool-flag"}`)}, "slow"},
		fastCase{"upper content type", diffRequest{path: pathV1Bool, header: http.Header{"Content-Type": {"Application/JSON"}}, body: []byte(`{"flagKey":"bool-flag"}`)}, "slow"},
		fastCase{"two content types", diffRequest{path: pathV1Bool, header: http.Header{"Content-Type": {"application/json", "application/json"}}, body: []byte(`{"flagKey":"bool-flag"}`)}, "slow"},
		fastCase{"proto", diffRequest{path: pathV1Bool, header: http.Header{"Content-Type": {"application/proto"}}, body: nil}, "slow"},
	)
	return cs
}

// TestFastPathEqualsConnect: the edge cases get the same answers from
// the fast path as from connect-go, the fast path answers the ordinary
// ones and leaves the unusual ones alone, and the metrics agree.
func TestFastPathEqualsConnect(t *testing.T) {
	p := newDiffPair(t)
	fastCount := 0
	for _, c := range fastCases() {
		fast := p.compare(t, c.req)
		if fast {
			fastCount++
		}
		switch {
		case c.want == "fast" && !fast:
			t.Errorf("%s: the fast path did not answer", c.name)
		case c.want == "slow" && fast:
			t.Errorf("%s: the fast path answered", c.name)
		}
	}
	if fastCount == 0 || p.fastSvc.FastHits() != uint64(fastCount) {
		t.Errorf("fast path answered %d requests (counter %d)", fastCount, p.fastSvc.FastHits())
	}
	t.Logf("%d of %d cases answered by the fast path", fastCount, len(fastCases()))
	flagSamples := func(m *metrics.Metrics) []metricstest.Sample {
		var out []metricstest.Sample
		for _, s := range metricstest.Of(t, m).Samples {
			if strings.HasPrefix(s.Name, "feature_flag_") {
				out = append(out, s)
			}
		}
		return out
	}
	if a, b := flagSamples(p.fastMet), flagSamples(p.slowMet); len(a) == 0 || !reflect.DeepEqual(a, b) {
		t.Errorf("metrics differ:\nfast:    %+v\nconnect: %+v", a, b)
	}
}

// TestFastPathDisabled: DisableFastPath leaves every request to connect-go.
func TestFastPathDisabled(t *testing.T) {
	st := newStore(t)
	svc := evalsvc.New(evalsvc.Config{Resolver: newResolver(st, nil, nil, nil), DisableFastPath: true})
	rec := httptest.NewRecorder()
	svc.Handler().ServeHTTP(rec, diffRequest{path: pathV1Bool, header: jsonHeader(), body: []byte(`{"flagKey":"bool-flag"}`)}.http())
	if rec.Code != http.StatusOK || svc.FastHits() != 0 {
		t.Errorf("status %d, fast hits %d", rec.Code, svc.FastHits())
	}
}

// TestFastPathOverHTTP compares the two over real loopback servers
// (HTTP/1.1), where net/http adds its own headers.
func TestFastPathOverHTTP(t *testing.T) {
	fast := startServer(t, evalsvc.Config{})
	slow := startServer(t, evalsvc.Config{DisableFastPath: true})
	c := http1Client(t)
	for _, body := range []string{`{"flagKey":"bool-flag"}`, `{"flagKey":"absent"}`, `{"flagKey":"object-flag","context":{"a":[1]}}`, `{"flagKey":"x","y":1}`} {
		for _, path := range []string{pathV1Bool, pathV2Obj} {
			get := func(base string) (*http.Response, []byte) {
				req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				delete(resp.Header, "Date")
				return resp, b
			}
			a, ab := get(fast.URL)
			b, bb := get(slow.URL)
			if a.StatusCode != b.StatusCode || !reflect.DeepEqual(a.Header, b.Header) || !bytes.Equal(ab, bb) {
				t.Errorf("%s %s:\nfast:    %d %v %s\nconnect: %d %v %s", path, body, a.StatusCode, a.Header, ab, b.StatusCode, b.Header, bb)
			}
		}
	}
	if fast.Svc.FastHits() == 0 {
		t.Error("the fast path answered nothing")
	}
}

// FuzzFastPathEqualsConnect sends generated requests to both services:
// path (an index into diffPaths), body, and header choices.
func FuzzFastPathEqualsConnect(f *testing.F) {
	for i, c := range fastCases() {
		if len(c.req.body) > 4096 || c.req.method != "" {
			continue
		}
		pi := slices.Index(diffPaths, c.req.path)
		if pi < 0 {
			pi = i % len(diffPaths)
		}
		f.Add(uint8(pi), c.req.body, uint8(i), uint8(i>>3))
	}
	p := newDiffPair(f)
	contentTypes := []string{"application/json", "application/json; charset=utf-8", "application/proto", "application/json;charset=utf-8"}
	selectors := []string{"", "flagSetId=set-a", "source=a.json", "flagSetId=fast", "flagSetId=", "fast.json", "bad=1", "source="}
	picks := []string{"", "esc", "huge", "x", "o", "n", "t", "big", "tiny", "negzero", "small"}
	f.Fuzz(func(t *testing.T, path uint8, body []byte, hdr, extra uint8) {
		h := http.Header{}
		h.Set("Content-Type", contentTypes[hdr&3])
		if hdr&4 != 0 {
			h.Set("Connect-Protocol-Version", "1")
		}
		if hdr&8 != 0 {
			h.Add("Connect-Protocol-Version", "2")
		}
		if hdr&16 != 0 {
			h.Set("Accept-Encoding", "gzip")
		}
		if hdr&32 != 0 {
			h.Set("Content-Encoding", "identity")
		}
		if hdr&64 != 0 {
			h.Set("Connect-Timeout-Ms", "60000")
		}
		if hdr&128 != 0 {
			h.Set("Accept-Encoding", "br, identity")
		}
		if s := selectors[extra&7]; s != "" {
			h.Set("Flagd-Selector", s)
		}
		if pk := picks[int(extra>>3)%len(picks)]; pk != "" {
			h.Set("X-Pick", pk)
		}
		if extra&128 != 0 {
			h.Set("X-User", "bob")
		}
		p.compare(t, diffRequest{path: diffPaths[int(path)%len(diffPaths)], header: h, body: body})
	})
}

// BenchmarkHandlerResolveBoolean measures the handler alone (no network),
// with the fast path and without: the bench scenario's request.
func BenchmarkHandlerResolveBoolean(b *testing.B) {
	body := []byte(`{"flagKey":"bool-flag","context":{"targetingKey":"user-123","email":"ana@example.com","country":"NO","appVersion":"2.1.0","tier":"gold"}}`)
	for _, disable := range []bool{false, true} {
		name := "fast"
		if disable {
			name = "connect"
		}
		b.Run(name, func(b *testing.B) {
			h := evalsvc.New(evalsvc.Config{Resolver: newResolver(newStore(b), nil, nil, nil), DisableFastPath: disable}).Handler()
			b.ReportAllocs()
			for b.Loop() {
				r, _ := http.NewRequest(http.MethodPost, pathV1Bool, bytes.NewReader(body))
				r.Header["Content-Type"] = []string{"application/json"}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code, w.Body)
				}
			}
		})
	}
}
