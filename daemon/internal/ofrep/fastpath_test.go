package ofrep_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/vexilhq/vexil/daemon/internal/metrics"
	"github.com/vexilhq/vexil/daemon/internal/metrics/metricstest"
	"github.com/vexilhq/vexil/daemon/internal/ofrep"
	"github.com/vexilhq/vexil/daemon/internal/storetest"
	"github.com/vexilhq/vexil/daemon/internal/strictjson"
)

// The fast path is proven against the service without it
// (DisableFastPath), which decodes and encodes with encoding/json: the
// same requests must get the same status, headers and body.

// diffPair is a service with the fast path and one without, over one
// store, each with its own metrics.
type diffPair struct {
	fastSvc          *ofrep.Service
	fast, slow       http.Handler
	fastMet, slowMet *metrics.Metrics
}

func newDiffPair(t testing.TB, maxBody int64) *diffPair {
	st := storetest.New(t, sourceFlags, sourceOverride, "fast.json")
	static := map[string]any{"tier": "gold", "num": 2.5}
	headers := map[string]string{"X-Pick": "pick", "x-user": "user"}
	p := &diffPair{fastMet: metrics.New(), slowMet: metrics.New()}
	p.fastSvc = ofrep.New(ofrep.Config{Resolver: newResolver(st, static, headers, p.fastMet), MaxBodyBytes: maxBody})
	p.fast = p.fastSvc.Handler()
	p.slow = ofrep.New(ofrep.Config{Resolver: newResolver(st, static, headers, p.slowMet), MaxBodyBytes: maxBody, DisableFastPath: true}).Handler()
	return p
}

// compare sends the request to both and fails unless the answers are the
// same; it reports whether the fast path read the body and wrote the
// answer.
func (p *diffPair) compare(t testing.TB, path string, h http.Header, body []byte) (read, wrote bool) {
	t.Helper()
	r0, w0 := p.fastSvc.FastHits()
	req := func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		for k, v := range h {
			r.Header[k] = v
		}
		return r
	}
	rf, rs := httptest.NewRecorder(), httptest.NewRecorder()
	p.fast.ServeHTTP(rf, req())
	p.slow.ServeHTTP(rs, req())
	r1, w1 := p.fastSvc.FastHits()
	a, b := rf.Result(), rs.Result()
	ab, _ := io.ReadAll(a.Body)
	bb, _ := io.ReadAll(b.Body)
	if a.StatusCode != b.StatusCode || !reflect.DeepEqual(a.Header, b.Header) || !bytes.Equal(ab, bb) {
		t.Fatalf("%s %v %q (fast read %v, wrote %v)\nfast:   %d %v %s\noracle: %d %v %s",
			path, h, body, r1 > r0, w1 > w0, a.StatusCode, a.Header, ab, b.StatusCode, b.Header, bb)
	}
	return r1 > r0, w1 > w0
}

const singlePrefix = ofrep.BulkPath + "/"

// TestFastPathEqualsOracle: edge cases get the same answers with the fast
// path as without, the fast path handles the plain ones, and the metrics
// agree.
func TestFastPathEqualsOracle(t *testing.T) {
	p := newDiffPair(t, 0)
	ctx := `{"context":{"targetingKey":"user-123","email":"ana@example.com","country":"NO","appVersion":"2.1.0","tier":"gold"}}`
	keys := []string{"bool-flag", "string-flag", "number-flag", "object-flag", "targeted", "disabled-flag", "no-default",
		"bad-rule", "missing-variant", "mismatch", "meta-flag", "set-flag", "context-flag",
		"f-bool", "f-string", "f-int", "f-float", "f-object", "f-disabled", "f-nodefault", "f-ctx", "f-fractional", "f-large", "absent", "%3Cx%3E"}
	picks := []string{"", "on", "off", "plain", "esc", "empty", "zero", "neg", "big", "huge", "frac", "pi", "tiny", "edge", "negzero", "int", "x", "a", "t", "n", "o", "small"}
	reads, writes := 0, 0
	count := func(r, w bool) {
		if r {
			reads++
		}
		if w {
			writes++
		}
	}
	for _, k := range keys {
		for _, pick := range picks {
			h := http.Header{"Content-Type": {"application/json"}}
			if pick != "" {
				h.Set("X-Pick", pick)
			}
			count(p.compare(t, singlePrefix+k, h, []byte(ctx)))
			count(p.compare(t, singlePrefix+k, h, []byte(`{"context":{"pick":"`+pick+`","user":"bob"}}`)))
		}
		for _, sel := range []string{"flagSetId=set-a", "source=flags.json", "fast.json", "flagSetId=nope", "nope=1"} {
			count(p.compare(t, singlePrefix+k, http.Header{"Flagd-Selector": {sel}}, []byte(ctx)))
		}
	}
	if reads == 0 || writes == 0 {
		t.Fatalf("the fast path read %d bodies and wrote %d answers", reads, writes)
	}
	nest := func(n int) string {
		return `{"context":` + strings.Repeat(`{"a":`, n-1) + `{}` + strings.Repeat(`}`, n-1) + `}`
	}
	cases := []struct {
		body string
		fast bool // the fast path must read it (else it must not)
	}{
		{`{"context":{"pick":"esc"}}`, true},
		{`{"context":null}`, true},
		{`{}`, true},
		{" {\n\"context\" : { \"a\" : [ 1 , -0 , 0.1 , 1e-7 , 1E+2, 4.9e-324, 1e-400, \"\\u00e9\\ud83d\\ude00\\/\" ] } } ", true},
		{nest(strictjson.MaxDepth), true},
		{nest(strictjson.MaxDepth + 1), false},
		{nest(20000), false},
		{``, false},
		{`null`, false},
		{`[]`, false},
		{`"x"`, false},
		{`{"context":[]}`, false},
		{`{"context":"x"}`, false},
		{`{"context":1}`, false},
		{`{"Context":{"pick":"x"}}`, false},
		{`{"CONTEXT":{"pick":"x"}}`, false},
		{`{"context":{"pick":"x"},"context":{"pick":"o"}}`, false},
		{`{"context":{"pick":"x","pick":"o"}}`, false},
		{`{"other":1,"context":{"pick":"x"}}`, false},
		{`{"context":{"pick":"x"}} trailing`, false},
		{`{"context":{"pick":"x"}}{}`, false},
		{"{\"context\":{\"pick\":\"\xff\"}}", false},
		{`{"context":{"pick":"\ud800"}}`, false},
		{`{"context":{"a":1e400}}`, false},
		{`{"context":{"a":01}}`, false},
		{`{"context":{"a":`, false},
		{"\ufeff{}", false},
	}
	for _, c := range cases {
		read, _ := p.compare(t, singlePrefix+"f-string", http.Header{}, []byte(c.body))
		if read != c.fast {
			t.Errorf("%.60q: fast path read it: %v", c.body, read)
		}
		p.compare(t, ofrep.BulkPath, http.Header{}, []byte(c.body))
	}
	// Bodies over the limit.
	q := newDiffPair(t, 100)
	for _, n := range []int{10, 99, 100, 101, 1000} {
		q.compare(t, singlePrefix+"bool-flag", http.Header{}, []byte(`{"context":{"p":"`+strings.Repeat("x", n)+`"}}`))
	}
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
		t.Errorf("metrics differ:\nfast:   %+v\noracle: %+v", a, b)
	}
}

// FuzzFastPathEqualsOracle sends generated bodies to both, for a flag key
// and header choices.
func FuzzFastPathEqualsOracle(f *testing.F) {
	for _, s := range []string{`{"context":{"pick":"esc"}}`, `{}`, `{"context":null}`, `{"context":{"a":[1,-0,0.1,1e21,"\u2028<>&"]}}`,
		`{"context":{"deep":{"x":{"y":"\u00e9\n"}}}}`, `{"context":{"list":["x"],"num":1e301}}`, `{"context":{"pick":"x"},"Context":{}}`, ``} {
		for k := range uint8(8) {
			f.Add(k, []byte(s), k*37)
		}
	}
	p := newDiffPair(f, 0)
	keys := []string{"f-string", "f-object", "f-int", "f-float", "f-bool", "f-nodefault", "f-ctx", "f-disabled", "meta-flag", "object-flag", "absent", "mismatch"}
	picks := []string{"", "esc", "huge", "x", "o", "n", "t", "big", "tiny", "negzero", "empty", "frac", "edge", "int"}
	selectors := []string{"", "flagSetId=set-a", "fast.json", "nope=1"}
	f.Fuzz(func(t *testing.T, key uint8, body []byte, hdr uint8) {
		h := http.Header{}
		if pk := picks[int(hdr)%len(picks)]; pk != "" {
			h.Set("X-Pick", pk)
		}
		if s := selectors[(hdr>>4)&3]; s != "" {
			h.Set("Flagd-Selector", s)
		}
		if hdr&64 != 0 {
			h.Set("X-User", "bob")
		}
		path := ofrep.BulkPath
		if hdr&128 == 0 {
			path = singlePrefix + keys[int(key)%len(keys)]
		}
		p.compare(t, path, h, body)
	})
}

// BenchmarkHandlerSingle measures single-flag evaluation in the handler
// alone (no network), with the fast path and without: the bench
// scenario's request.
func BenchmarkHandlerSingle(b *testing.B) {
	body := []byte(`{"context":{"targetingKey":"user-123","email":"ana@example.com","country":"NO","appVersion":"2.1.0","tier":"gold"}}`)
	for _, disable := range []bool{false, true} {
		name := "fast"
		if disable {
			name = "oracle"
		}
		b.Run(name, func(b *testing.B) {
			h := ofrep.New(ofrep.Config{Resolver: newResolver(newStore(b), nil, nil, nil), DisableFastPath: disable}).Handler()
			b.ReportAllocs()
			for b.Loop() {
				r, _ := http.NewRequest(http.MethodPost, singlePrefix+"targeted", bytes.NewReader(body))
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
