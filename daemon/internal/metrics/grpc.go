package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/stats"
)

// GRPCStats returns a grpc-go stats handler that measures the calls of a
// grpc-go server into the series of HTTP(service): each call is a POST to
// its method's path that answered 200 (as every gRPC call does over HTTP),
// with the request and response sizes of its messages on the wire
// (5-byte prefixes included, as in the HTTP bodies HTTP measures), over
// https when tls is set. A call is measured from the moment grpc-go reads
// its headers until it ends. A nil *Metrics returns nil.
func (m *Metrics) GRPCStats(service string, tls bool) stats.Handler {
	if m == nil {
		return nil
	}
	return &grpcStats{h: &httpHandler{m: m, service: service}, tls: tls}
}

type grpcStats struct {
	h   *httpHandler
	tls bool
}

// grpcCall is one call's measurement, kept in its context.
type grpcCall struct {
	start   time.Time
	rs      *routeSeries
	gauge   prometheus.Gauge
	in, out int
}

type grpcCallKey struct{}

func (g *grpcStats) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	rs := g.h.routeSeries(info.FullMethodName)
	gauge := g.h.activeGauge(rs, http.MethodPost, g.tls)
	gauge.Inc()
	return context.WithValue(ctx, grpcCallKey{}, &grpcCall{start: time.Now(), rs: rs, gauge: gauge})
}

func (g *grpcStats) HandleRPC(ctx context.Context, s stats.RPCStats) {
	c, ok := ctx.Value(grpcCallKey{}).(*grpcCall)
	if !ok {
		return
	}
	switch s := s.(type) {
	case *stats.InPayload:
		c.in += s.WireLength
	case *stats.OutPayload:
		c.out += s.WireLength
	case *stats.End:
		c.gauge.Dec()
		ds := g.h.doneSeries(c.rs, http.MethodPost, http.StatusOK, g.tls)
		ds.duration.Observe(time.Since(c.start).Seconds())
		ds.reqSize.Observe(float64(c.in))
		ds.respSize.Observe(float64(c.out))
	}
}

func (g *grpcStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (g *grpcStats) HandleConn(context.Context, stats.ConnStats) {}

// The servers of vexil_evaluation_connections_total.
const (
	ServerGRPC = "grpc-go"
	ServerHTTP = "net/http"
)

// Connection counts a connection to the evaluation port served by server
// (ServerGRPC or ServerHTTP).
func (m *Metrics) Connection(server string) {
	if m == nil {
		return
	}
	m.connections.WithLabelValues(server).Inc()
}
