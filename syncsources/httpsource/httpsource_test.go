package httpsource_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
	"github.com/vexilhq/vexil/syncsources/httpsource"
	"github.com/vexilhq/vexil/syncsources/sourcetest"
)

const timeout = 5 * time.Second

// server is a backend: an HTTP server on 127.0.0.1 serving one document,
// with an ETag, or 503 while broken.
type server struct {
	mu     sync.Mutex
	doc    []byte
	broken bool
	ctype  string
	noETag bool
	reqs   []*http.Request // every request received
	srv    *httptest.Server
}

func newServer(t testing.TB, doc []byte) *server {
	s := &server{doc: bytes.Clone(doc), ctype: "application/json"}
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

func etag(doc []byte) string {
	sum := sha256.Sum256(doc)
	return fmt.Sprintf(`"%x"`, sum[:8])
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.reqs = append(s.reqs, r.Clone(context.Background()))
	doc, broken, ctype, noETag := s.doc, s.broken, s.ctype, s.noETag
	s.mu.Unlock()
	if broken {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	if !noETag {
		tag := etag(doc)
		w.Header().Set("ETag", tag)
		if r.Header.Get("If-None-Match") == tag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	if ctype != "" {
		w.Header().Set("Content-Type", ctype)
	}
	_, _ = w.Write(doc)
}

func (s *server) requests() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.reqs...)
}

func (s *server) Set(_ testing.TB, doc []byte) {
	s.mu.Lock()
	s.doc = bytes.Clone(doc)
	s.mu.Unlock()
}

func (s *server) Break(testing.TB) {
	s.mu.Lock()
	s.broken = true
	s.mu.Unlock()
}

func (s *server) Restore(testing.TB) {
	s.mu.Lock()
	s.broken = false
	s.mu.Unlock()
}

func mustNew(t testing.TB, cfg httpsource.Config) *httpsource.Source {
	t.Helper()
	src, err := httpsource.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestContract(t *testing.T) {
	for _, noETag := range []bool{false, true} {
		t.Run(fmt.Sprintf("noETag=%v", noETag), func(t *testing.T) {
			sourcetest.Run(t, sourcetest.Harness{
				New: func(t *testing.T, doc []byte) sourcetest.Instance {
					s := newServer(t, doc)
					s.noETag = noETag
					src := mustNew(t, httpsource.Config{URL: s.srv.URL + "/flags", Interval: 5 * time.Millisecond})
					return sourcetest.Instance{Source: src, Backend: s, Name: s.srv.URL + "/flags"}
				},
			})
		})
	}
}

// fakeClock hands every wait of the poller to the test, which fires it.
type fakeClock struct{ waits chan wait }

type wait struct {
	d    time.Duration
	fire chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{waits: make(chan wait, 1)} }

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	w := wait{d: d, fire: make(chan time.Time, 1)}
	c.waits <- w
	return w.fire
}

// next returns the poller's next wait: the poll before it has ended, and
// sent its update if any.
func (c *fakeClock) next(t *testing.T) wait {
	t.Helper()
	select {
	case w := <-c.waits:
		return w
	case <-time.After(timeout):
		t.Fatal("the poller did not wait")
		return wait{}
	}
}

// running is a Run driven by a fake clock.
type running struct {
	t       *testing.T
	clock   *fakeClock
	updates chan syncsources.Update
	cancel  context.CancelFunc
	done    chan error
}

func start(t *testing.T, src *httpsource.Source) *running {
	t.Helper()
	r := &running{t: t, clock: newFakeClock(), updates: make(chan syncsources.Update), done: make(chan error, 1)}
	httpsource.SetPoller(src, r.clock.After, func() float64 { return 0 })
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- src.Run(ctx, r.updates) }()
	t.Cleanup(r.stop)
	return r
}

// update receives the poll's update.
func (r *running) update() syncsources.Update {
	r.t.Helper()
	select {
	case u := <-r.updates:
		return u
	case w := <-r.clock.waits:
		r.t.Fatalf("the poller waited %v without sending an update", w.d)
	case <-time.After(timeout):
		r.t.Fatal("no update")
	}
	return syncsources.Update{}
}

// quietPoll checks that the poll ends without an update, and returns the
// wait after it.
func (r *running) quietPoll() wait {
	r.t.Helper()
	select {
	case u := <-r.updates:
		r.t.Fatalf("unexpected update: %+v", u)
	case w := <-r.clock.waits:
		return w
	case <-time.After(timeout):
		r.t.Fatal("the poller did not wait")
	}
	return wait{}
}

func (r *running) stop() {
	r.cancel()
	select {
	case err := <-r.done:
		if !errors.Is(err, context.Canceled) {
			r.t.Errorf("Run returned %v", err)
		}
	case <-time.After(timeout):
		r.t.Fatal("Run did not return")
	}
	r.done <- context.Canceled // for a second stop
}

func TestETag(t *testing.T) {
	noLeaks(t)
	s := newServer(t, sourcetest.Doc(0))
	src := mustNew(t, httpsource.Config{URL: s.srv.URL, Interval: time.Minute})
	r := start(t, src)
	if u := r.update(); !bytes.Equal(u.Data, sourcetest.Doc(0)) {
		t.Fatalf("first update %+v", u)
	}
	w := r.clock.next(t)
	if w.d != time.Minute {
		t.Errorf("waited %v, want the interval", w.d)
	}
	w.fire <- time.Time{}
	w = r.quietPoll()
	reqs := s.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if got := reqs[0].Header.Get("If-None-Match"); got != "" {
		t.Errorf("first request sent If-None-Match %q", got)
	}
	if got, want := reqs[1].Header.Get("If-None-Match"), etag(sourcetest.Doc(0)); got != want {
		t.Errorf("second request sent If-None-Match %q, want %q", got, want)
	}
	// A change is fetched in full and delivered.
	s.Set(t, sourcetest.Doc(1))
	w.fire <- time.Time{}
	if u := r.update(); !bytes.Equal(u.Data, sourcetest.Doc(1)) {
		t.Fatalf("update %+v", u)
	}
	r.stop()
	if got, want := s.requests()[2].Header.Get("If-None-Match"), etag(sourcetest.Doc(0)); got != want {
		t.Errorf("third request sent If-None-Match %q, want %q", got, want)
	}
}

func TestSameBytesNoETag(t *testing.T) {
	noLeaks(t)
	s := newServer(t, sourcetest.Doc(0))
	s.noETag = true
	r := start(t, mustNew(t, httpsource.Config{URL: s.srv.URL, Interval: time.Minute}))
	r.update()
	r.clock.next(t).fire <- time.Time{}
	r.quietPoll()
	if got := s.requests()[1].Header.Get("If-None-Match"); got != "" {
		t.Errorf("sent If-None-Match %q without an ETag", got)
	}
}

func TestContentType(t *testing.T) {
	noLeaks(t)
	yamlDoc := []byte("flags:\n  f:\n    state: ENABLED\n")
	for _, tt := range []struct {
		ctype, path string
		want        evaluator.Format
	}{
		{"application/json", "/flags.yaml", evaluator.FormatJSON},
		{"application/json; charset=utf-8", "/flags", evaluator.FormatJSON},
		{"application/yaml", "/flags.json", evaluator.FormatYAML},
		{"application/x-yaml", "/flags", evaluator.FormatYAML},
		{"text/yaml; charset=utf-8", "/flags", evaluator.FormatYAML},
		{"text/plain; charset=utf-8", "/flags.yaml", evaluator.FormatYAML},
		{"text/plain", "/flags.yml", evaluator.FormatYAML},
		{"application/octet-stream", "/flags.json", evaluator.FormatJSON},
		{"", "/flags", evaluator.FormatJSON},
	} {
		t.Run(tt.ctype+tt.path, func(t *testing.T) {
			s := newServer(t, yamlDoc)
			s.ctype = tt.ctype
			r := start(t, mustNew(t, httpsource.Config{URL: s.srv.URL + tt.path}))
			u := r.update()
			if u.Err != nil || u.Format != tt.want || !bytes.Equal(u.Data, yamlDoc) {
				t.Errorf("update %+v, want format %v", u, tt.want)
			}
			r.stop()
		})
	}
}

func TestHeaders(t *testing.T) {
	noLeaks(t)
	s := newServer(t, sourcetest.Doc(0))
	src := mustNew(t, httpsource.Config{
		URL:        s.srv.URL + "/flags.json",
		AuthHeader: "Bearer secret-token",
		Headers:    map[string]string{"x-tenant": "acme", "Host": "flags.example"},
	})
	r := start(t, src)
	r.update()
	r.stop()
	req := s.requests()[0]
	if got := req.Header.Get("Authorization"); got != "Bearer secret-token" {
		t.Errorf("Authorization %q", got)
	}
	if got := req.Header.Get("X-Tenant"); got != "acme" {
		t.Errorf("X-Tenant %q", got)
	}
	if req.Host != "flags.example" {
		t.Errorf("Host %q", req.Host)
	}
	if got := req.Header.Get("Accept"); !strings.Contains(got, "application/json") || !strings.Contains(got, "application/yaml") {
		t.Errorf("Accept %q", got)
	}
}

func TestCustomCA(t *testing.T) {
	noLeaks(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(sourcetest.Doc(7))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshake
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}

	r := start(t, mustNew(t, httpsource.Config{URL: srv.URL, CAFile: ca}))
	if u := r.update(); u.Err != nil || !bytes.Equal(u.Data, sourcetest.Doc(7)) {
		t.Errorf("with the CA: %+v", u)
	}
	r.stop()

	// Without it the server is not trusted: an outage.
	r = start(t, mustNew(t, httpsource.Config{URL: srv.URL}))
	if u := r.update(); u.Err == nil {
		t.Errorf("without the CA: %+v, want an outage", u)
	}
	r.stop()
	srv.CloseClientConnections()
}

// tokenServer is a fake OAuth token endpoint issuing tok-1, tok-2, ...
type tokenServer struct {
	calls     atomic.Int32
	expiresIn int
	// basicOK false refuses Basic credentials, as some servers do.
	basicOK bool
	mu      sync.Mutex
	styles  []string
	srv     *httptest.Server
}

func newTokenServer(t *testing.T, basicOK bool) *tokenServer {
	ts := &tokenServer{expiresIn: 3600, basicOK: basicOK}
	ts.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Method != http.MethodPost || r.PostForm.Get("grant_type") != "client_credentials" {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		id, secret, basic := r.BasicAuth()
		style := "basic"
		if basic { // RFC 6749 section 2.3.1: form-encoded first
			id, _ = url.QueryUnescape(id)
			secret, _ = url.QueryUnescape(secret)
		}
		if !basic {
			id, secret, style = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret"), "params"
		}
		ts.mu.Lock()
		ts.styles = append(ts.styles, style)
		ts.mu.Unlock()
		if (basic && !ts.basicOK) || id != "client:1" || secret != "s3cret&" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		n := ts.calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"bearer","expires_in":%d}`, n, ts.expiresIn)
	}))
	t.Cleanup(ts.srv.Close)
	return ts
}

func TestOAuth(t *testing.T) {
	noLeaks(t)
	for _, basicOK := range []bool{true, false} {
		t.Run(fmt.Sprintf("basicOK=%v", basicOK), func(t *testing.T) {
			tokens := newTokenServer(t, basicOK)
			s := newServer(t, sourcetest.Doc(0))
			src := mustNew(t, httpsource.Config{
				URL:      s.srv.URL,
				Interval: time.Minute,
				OAuth: &httpsource.OAuthConfig{
					ClientID: "client:1", ClientSecret: "s3cret&", TokenURL: tokens.srv.URL + "/token",
				},
			})
			var now atomic.Int64
			now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
			httpsource.SetClock(src, func() time.Time { return time.Unix(0, now.Load()) })
			r := start(t, src)
			// step lets the clock advance while the poller waits, then polls.
			step := func(advance time.Duration) {
				t.Helper()
				w := r.clock.next(t)
				now.Add(int64(advance))
				w.fire <- time.Time{}
			}
			r.update()
			step(0)                  // the token is reused
			step(0)                  //
			step(3500 * time.Second) // not yet expired
			step(95 * time.Second)   // within the renewal margin: renewed
			r.clock.next(t)
			r.stop()
			auths := []string{}
			for _, req := range s.requests() {
				auths = append(auths, req.Header.Get("Authorization"))
			}
			want := []string{"Bearer tok-1", "Bearer tok-1", "Bearer tok-1", "Bearer tok-1", "Bearer tok-2"}
			if strings.Join(auths, ",") != strings.Join(want, ",") {
				t.Errorf("Authorization headers %q, want %q", auths, want)
			}
			if n := tokens.calls.Load(); n != 2 {
				t.Errorf("%d tokens issued, want 2", n)
			}
			wantStyles := "basic,basic"
			if !basicOK {
				wantStyles = "basic,params,params" // learnt once
			}
			if got := strings.Join(tokens.styles, ","); got != wantStyles {
				t.Errorf("credentials sent as %s, want %s", got, wantStyles)
			}
		})
	}
}

func TestOAuthRevoked(t *testing.T) {
	noLeaks(t)
	tokens := newTokenServer(t, true)
	var valid atomic.Value
	valid.Store("Bearer tok-1")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != valid.Load() {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write(sourcetest.Doc(0))
	}))
	defer srv.Close()
	src := mustNew(t, httpsource.Config{
		URL:   srv.URL,
		OAuth: &httpsource.OAuthConfig{ClientID: "client:1", ClientSecret: "s3cret&", TokenURL: tokens.srv.URL},
	})
	r := start(t, src)
	r.update()
	valid.Store("Bearer tok-2") // tok-1 revoked early
	r.clock.next(t).fire <- time.Time{}
	if u := r.update(); u.Err == nil || !strings.Contains(u.Err.Error(), "401") {
		t.Errorf("update %+v, want a 401 outage", u)
	}
	r.clock.next(t).fire <- time.Time{}
	if u := r.update(); u.Err != nil {
		t.Errorf("update %+v, want the document with a new token", u)
	}
	r.stop()
	srv.CloseClientConnections()
}

func TestOAuthTokenEndpointDown(t *testing.T) {
	noLeaks(t)
	tokens := newTokenServer(t, true)
	s := newServer(t, sourcetest.Doc(0))
	src := mustNew(t, httpsource.Config{
		URL:   s.srv.URL,
		OAuth: &httpsource.OAuthConfig{ClientID: "client:1", ClientSecret: "wrong", TokenURL: tokens.srv.URL},
	})
	r := start(t, src)
	u := r.update()
	if u.Err == nil || !strings.Contains(u.Err.Error(), "invalid_client") {
		t.Errorf("update %+v, want an outage naming the token error", u)
	}
	r.stop()
	if n := len(s.requests()); n != 0 {
		t.Errorf("%d requests without a token", n)
	}
}

func TestServerErrorAndRecovery(t *testing.T) {
	noLeaks(t)
	s := newServer(t, sourcetest.Doc(0))
	r := start(t, mustNew(t, httpsource.Config{URL: s.srv.URL, Interval: 10 * time.Second}))
	r.update()
	s.Break(t)
	r.clock.next(t).fire <- time.Time{}
	u := r.update()
	if u.Err == nil || !strings.Contains(u.Err.Error(), "503") {
		t.Fatalf("update %+v, want a 503 outage", u)
	}
	// Retries back off, up to the interval, and report the outage once.
	var waits []time.Duration
	for range 6 {
		w := r.quietPoll()
		waits = append(waits, w.d)
		w.fire <- time.Time{}
	}
	want := []time.Duration{500, 1000, 2000, 4000, 5000, 5000}
	for i := range want {
		if waits[i] != want[i]*time.Millisecond {
			t.Errorf("retry delays %v, want %v ms", waits, want)
			break
		}
	}
	w := r.quietPoll()
	s.Restore(t)
	w.fire <- time.Time{}
	if u := r.update(); u.Err != nil || !bytes.Equal(u.Data, sourcetest.Doc(0)) {
		t.Errorf("after recovery: %+v", u)
	}
	if w := r.clock.next(t); w.d != 10*time.Second {
		t.Errorf("after recovery waits %v", w.d)
	}
}

func TestConnectionRefused(t *testing.T) {
	noLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := start(t, mustNew(t, httpsource.Config{URL: "http://" + addr + "/flags.json"}))
	if u := r.update(); u.Err == nil {
		t.Fatalf("update %+v, want an outage", u)
	}
	w := r.quietPoll()
	// The server comes up on that address.
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port taken meanwhile: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(sourcetest.Doc(3))
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	w.fire <- time.Time{}
	if u := r.update(); u.Err != nil || !bytes.Equal(u.Data, sourcetest.Doc(3)) {
		t.Errorf("after recovery: %+v", u)
	}
	r.stop()
}

// TestOutageChange: during an outage a changed failure is reported (the
// server refused connections, and now answers 500), so that the consumer
// shows the latest; the same failure again is not.
func TestOutageChange(t *testing.T) {
	noLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := start(t, mustNew(t, httpsource.Config{URL: "http://" + addr + "/flags.json", Interval: 10 * time.Second}))
	if u := r.update(); u.Err == nil || !strings.Contains(u.Err.Error(), "connection refused") {
		t.Fatalf("update %+v, want a connection-refused outage", u)
	}
	w := r.quietPoll()
	w.fire <- time.Time{}
	w = r.quietPoll() // refused again: nothing new
	// A server comes up on that address, answering 500.
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port taken meanwhile: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	w.fire <- time.Time{}
	if u := r.update(); u.Err == nil || !strings.Contains(u.Err.Error(), "500") {
		t.Fatalf("update %+v, want the 500 outage", u)
	}
	w = r.quietPoll()
	w.fire <- time.Time{}
	r.quietPoll() // 500 again: nothing new
	r.stop()
}

func TestOutageKeyIgnoresLocalAddress(t *testing.T) {
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}
	reset := func(localPort int) error {
		return &url.Error{Op: "Get", URL: "http://127.0.0.1/flags.json", Err: &net.OpError{
			Op: "read", Net: "tcp", Source: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: localPort}, Addr: remote,
			Err: errors.New("connection reset by peer"),
		}}
	}
	a, b := httpsource.OutageKey(reset(50001)), httpsource.OutageKey(reset(50002))
	if a != b {
		t.Errorf("keys of the same failure on two connections differ: %q, %q", a, b)
	}
	if !strings.Contains(a, "127.0.0.1:80") || !strings.Contains(a, "connection reset by peer") {
		t.Errorf("key %q lost the remote address or the cause", a)
	}
	if c := httpsource.OutageKey(errors.New(`GET http://127.0.0.1/flags.json: 500 Internal Server Error`)); c == a {
		t.Errorf("a different failure has the same key %q", c)
	}
}

func TestTimeout(t *testing.T) {
	noLeaks(t)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	r := start(t, mustNew(t, httpsource.Config{URL: srv.URL, Timeout: 20 * time.Millisecond}))
	if u := r.update(); !errors.Is(u.Err, context.DeadlineExceeded) {
		t.Errorf("update %+v, want a deadline outage", u)
	}
	r.stop()
}

func TestBodyTooLarge(t *testing.T) {
	noLeaks(t)
	big := bytes.Repeat([]byte("x"), 1000)
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if !chunked {
					w.Header().Set("Content-Length", fmt.Sprint(len(big)))
				}
				_, _ = w.Write(big[:500])
				if f, ok := w.(http.Flusher); ok {
					f.Flush()
				}
				_, _ = w.Write(big[500:])
			}))
			defer srv.Close()
			r := start(t, mustNew(t, httpsource.Config{URL: srv.URL, MaxBodySize: 999}))
			if u := r.update(); u.Err == nil || !strings.Contains(u.Err.Error(), "exceeds") {
				t.Errorf("update %+v, want a too-large outage", u)
			}
			r.stop()
			srv.CloseClientConnections()

			// At the limit exactly, it is served.
			r = start(t, mustNew(t, httpsource.Config{URL: srv.URL, MaxBodySize: 1000}))
			if u := r.update(); u.Err != nil || len(u.Data) != 1000 {
				t.Errorf("at the limit: err %v, %d bytes", u.Err, len(u.Data))
			}
			r.stop()
		})
	}
}

func TestInvalidDocumentIsPublished(t *testing.T) {
	noLeaks(t)
	s := newServer(t, []byte("{not json"))
	r := start(t, mustNew(t, httpsource.Config{URL: s.srv.URL}))
	if u := r.update(); u.Err != nil || string(u.Data) != "{not json" {
		t.Errorf("update %+v", u)
	}
	r.stop()
}

func TestFromURI(t *testing.T) {
	for _, tt := range []struct {
		uri string
		ok  bool
	}{
		{"http://example.com/flags.json", true},
		{"https://example.com:8443/flags.yaml?ref=main", true},
		{"HTTPS://example.com/", true},
		{"http://user:pw@127.0.0.1/x", true},
		{"ftp://example.com/flags.json", false},
		{"http:///flags.json", false},
		{"http//example.com", false},
		{"file:/etc/flags.json", false},
		{"", false},
		{"http://[::1", false},
	} {
		cfg, err := httpsource.FromURI(tt.uri)
		if (err == nil) != tt.ok {
			t.Errorf("FromURI(%q): %v, want ok=%v", tt.uri, err, tt.ok)
			continue
		}
		if tt.ok && (cfg.URL != tt.uri || cfg.Name != tt.uri) {
			t.Errorf("FromURI(%q) = %+v", tt.uri, cfg)
		}
		if tt.ok {
			if _, err := httpsource.New(cfg); err != nil {
				t.Errorf("New(FromURI(%q)): %v", tt.uri, err)
			}
		}
	}
}

func TestNewValidates(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	oauth := &httpsource.OAuthConfig{ClientID: "a", ClientSecret: "b", TokenURL: "https://idp.example/token"}
	for name, cfg := range map[string]httpsource.Config{
		"no URL":            {},
		"bad scheme":        {URL: "ws://example.com"},
		"negative interval": {URL: "http://x", Interval: -time.Second},
		"negative timeout":  {URL: "http://x", Timeout: -time.Second},
		"negative max body": {URL: "http://x", MaxBodySize: -1},
		"missing CA file":   {URL: "https://x", CAFile: filepath.Join(dir, "missing.pem")},
		"CA not PEM":        {URL: "https://x", CAFile: notPEM},
		"bad header name":   {URL: "http://x", Headers: map[string]string{"a b": "c"}},
		"bad header value":  {URL: "http://x", Headers: map[string]string{"a": "b\r\nc: d"}},
		"bad auth header":   {URL: "http://x", AuthHeader: "Bearer a\nb"},
		"auth and OAuth":    {URL: "http://x", AuthHeader: "Bearer a", OAuth: oauth},
		"OAuth incomplete":  {URL: "http://x", OAuth: &httpsource.OAuthConfig{ClientID: "a", TokenURL: "https://idp"}},
		"OAuth bad URL":     {URL: "http://x", OAuth: &httpsource.OAuthConfig{ClientID: "a", ClientSecret: "b", TokenURL: "idp/token"}},
	} {
		if _, err := httpsource.New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	src, err := httpsource.New(httpsource.Config{URL: "http://x/f", OAuth: oauth})
	if err != nil {
		t.Fatal(err)
	}
	if src.Name() != "http://x/f" {
		t.Errorf("default name %q", src.Name())
	}
}

func TestFormatFor(t *testing.T) {
	for _, tt := range []struct {
		ctype, path string
		want        evaluator.Format
	}{
		{"application/json", "", evaluator.FormatJSON},
		{"Application/JSON ; charset=UTF-8", "/a.yaml", evaluator.FormatJSON},
		{"application/vnd.flags+json", "/a.yaml", evaluator.FormatJSON},
		{"text/json", "", evaluator.FormatJSON},
		{"application/yaml", "", evaluator.FormatYAML},
		{"application/x-yaml", "", evaluator.FormatYAML},
		{"text/yaml", "", evaluator.FormatYAML},
		{"text/x-yaml", "", evaluator.FormatYAML},
		{"application/vnd.flags+yaml", "", evaluator.FormatYAML},
		{"application/yaml; charset=\"unterminated", "", evaluator.FormatYAML},
		{"text/plain", "/flags.YML", evaluator.FormatYAML},
		{"text/plain", "/flags.json", evaluator.FormatJSON},
		{"text/plain", "/flags", evaluator.FormatJSON},
		{"", "", evaluator.FormatJSON},
	} {
		if got := httpsource.FormatFor(tt.ctype, tt.path); got != tt.want {
			t.Errorf("FormatFor(%q, %q) = %v, want %v", tt.ctype, tt.path, got, tt.want)
		}
	}
}

func FuzzFormatFor(f *testing.F) {
	f.Add("application/json", "/flags.yaml")
	f.Add("text/yaml; charset=utf-8", "/x")
	f.Add("text/plain", "/flags.yml")
	f.Add(";;==", "")
	f.Fuzz(func(t *testing.T, ctype, path string) {
		got := httpsource.FormatFor(ctype, path)
		if got != evaluator.FormatJSON && got != evaluator.FormatYAML {
			t.Fatalf("FormatFor(%q, %q) = %v, neither JSON nor YAML", ctype, path, got)
		}
		if again := httpsource.FormatFor(ctype, path); again != got {
			t.Fatalf("not deterministic")
		}
	})
}

func FuzzFromURI(f *testing.F) {
	f.Add("http://example.com/flags.json")
	f.Add("https://[::1]:8443/x?y#z")
	f.Add("http://%zz")
	f.Fuzz(func(t *testing.T, uri string) {
		cfg, err := httpsource.FromURI(uri)
		if err != nil {
			return
		}
		if cfg.URL != uri || cfg.Name != uri {
			t.Fatalf("FromURI(%q) = %+v", uri, cfg)
		}
		if _, err := httpsource.New(cfg); err != nil {
			t.Fatalf("New rejects what FromURI accepts: %q: %v", uri, err)
		}
	})
}

// noLeaks checks for leaked goroutines after the test and its cleanups.
func noLeaks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}
