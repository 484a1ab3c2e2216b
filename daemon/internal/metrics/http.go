package metrics

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// The OFREP routes, as flagd's gorilla/mux patterns spell them
// (flagd/pkg/service/flag-evaluation/ofrep/handler.go); its middleware
// labels each route's requests with its pattern.
const (
	RouteOFREPSingle = "/ofrep/v1/evaluate/flags/{key}"
	RouteOFREPBulk   = `/ofrep/v1/evaluate/{path:flags\/|flags}`

	ofrepBulkPath   = "/ofrep/v1/evaluate/flags"
	ofrepSinglePath = ofrepBulkPath + "/"
)

// HTTP returns next measured as service (the service_name label; flagd
// uses "flagd" on both the evaluation and the OFREP port): each request's
// duration, request and response body sizes, and the requests in flight,
// by route, method, status and scheme. The route is the OFREP route
// pattern for OFREP paths, the path itself for the path of an RPC
// ("/package.Service/Method") of a protobuf service linked into the binary
// (protoregistry.GlobalFiles), and "" for any other path, so that request
// paths never make new series. Streaming responses are measured until they
// end; the response writer passed on flushes (http.Flusher, and
// http.ResponseController through Unwrap) as the server's does.
//
// Wrap the services' handler directly: under CORS, so that preflight
// requests for any path are not measured. A nil *Metrics returns next.
func (m *Metrics) HTTP(service string, next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return &httpHandler{m: m, service: service, next: next}
}

// httpHandler is the middleware of HTTP.
type httpHandler struct {
	m       *Metrics
	service string
	next    http.Handler

	routes cache[*routeSeries] // by route (an RPC's path is its route)
	mu     sync.Mutex          // adding to a routeSeries
}

// routeSeries are the series of one route, bound to their labels.
type routeSeries struct {
	route  string
	active list[activeSeries]
	done   list[doneSeries]
}

// activeSeries is the in-flight gauge of one method and scheme.
type activeSeries struct {
	method string
	tls    bool
	gauge  prometheus.Gauge
}

// doneSeries are the histograms of one method, status and scheme.
type doneSeries struct {
	method                      string
	status                      int
	tls                         bool
	duration, reqSize, respSize prometheus.Observer
}

func (h *httpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rs := h.routeSeries(r.URL.Path)
	method := methodLabel(r.Method)
	tls := r.TLS != nil
	gauge := h.activeGauge(rs, method, tls)
	gauge.Inc()

	rec := &recorder{ResponseWriter: w}
	body := r.Body
	if body != nil && body != http.NoBody {
		rec.body.ReadCloser = body
		r.Body = &rec.body
	}
	defer func() {
		r.Body = body
		gauge.Dec()
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		ds := h.doneSeries(rs, method, status, tls)
		ds.duration.Observe(time.Since(start).Seconds())
		ds.reqSize.Observe(float64(rec.body.n))
		ds.respSize.Observe(float64(rec.written))
	}()
	h.next.ServeHTTP(rec, r)
}

// routeSeries returns the series of the route of a request path: the OFREP
// route pattern for OFREP paths, the path itself for the path of an RPC of
// a linked protobuf service, "" for any other path.
func (h *httpHandler) routeSeries(path string) *routeSeries {
	route, ofrep := ofrepRoute(path)
	if !ofrep {
		if rs, ok := h.routes.load(path); ok {
			return rs
		}
		if isRPC(path) {
			route = path
		}
	}
	if rs, ok := h.routes.load(route); ok {
		return rs
	}
	rs, _ := h.routes.get(route, func() *routeSeries { return &routeSeries{route: route} })
	return rs
}

// ofrepRoute returns the route of an OFREP path ("" for a path the OFREP
// handler answers 404), and false for a path outside OFREP's evaluation
// paths.
func ofrepRoute(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, ofrepBulkPath)
	switch {
	case !ok:
		return "", false
	case rest == "" || rest == "/":
		return RouteOFREPBulk, true
	case rest[0] == '/' && !strings.Contains(rest[1:], "/"):
		return RouteOFREPSingle, true
	}
	return "", true
}

func (h *httpHandler) activeGauge(rs *routeSeries, method string, tls bool) prometheus.Gauge {
	for _, a := range rs.active.all() {
		if a.method == method && a.tls == tls {
			return a.gauge
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range rs.active.all() {
		if a.method == method && a.tls == tls {
			return a.gauge
		}
	}
	g := h.m.httpActive.WithLabelValues(h.service, rs.route, method, scheme(tls))
	rs.active.add(activeSeries{method, tls, g})
	return g
}

func (h *httpHandler) doneSeries(rs *routeSeries, method string, status int, tls bool) *doneSeries {
	find := func() *doneSeries {
		all := rs.done.all()
		for i := range all {
			if d := &all[i]; d.method == method && d.status == status && d.tls == tls {
				return d
			}
		}
		return nil
	}
	if d := find(); d != nil {
		return d
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if d := find(); d != nil {
		return d
	}
	lv := []string{h.service, rs.route, method, strconv.Itoa(status), scheme(tls)}
	rs.done.add(doneSeries{
		method: method, status: status, tls: tls,
		duration: h.m.httpDuration.WithLabelValues(lv...),
		reqSize:  h.m.httpReqSize.WithLabelValues(lv...),
		respSize: h.m.httpRespSize.WithLabelValues(lv...),
	})
	return find()
}

// isRPC reports whether path is "/package.Service/Method" for a method of
// a service in protoregistry.GlobalFiles.
func isRPC(path string) bool {
	svc, method, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if !ok || !protoreflect.FullName(svc).IsValid() || !protoreflect.Name(method).IsValid() {
		return false
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return false
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	return ok && sd.Methods().ByName(protoreflect.Name(method)) != nil
}

// methodLabel is the http_request_method of a request method: one of the
// nine of RFC 9110 and RFC 5789, or "_OTHER", as OpenTelemetry's HTTP
// conventions say.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead,
		http.MethodOptions, http.MethodPatch, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

func scheme(tls bool) string {
	if tls {
		return "https"
	}
	return "http"
}

// recorder is the response writer the measured handler writes to: it
// notes the status and the body bytes written, and counts the request
// body bytes read (body).
type recorder struct {
	http.ResponseWriter
	status  int
	written int64
	body    countingBody
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	return n, err
}

// Flush sends what was written so far, as the server's writer does.
func (w *recorder) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
		return
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the server's writer, for http.ResponseController.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingBody counts the bytes read from a request body.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}
