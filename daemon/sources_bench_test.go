package daemon_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vexilhq/vexil/daemon"
	"github.com/vexilhq/vexil/internal/k8stest"
	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1/evaluationv1connect"
)

// The benchmarks below time a change at a source until the daemon serves
// it: from the change to the daemon's configuration_change event, after
// which a ResolveBoolean must answer the new value. They report the
// median, p99 and maximum of b.N changes; syncsources/BENCHMARKS.md records
// them.

// measureChanges makes b.N changes with change(v) (alternating values of
// my-flag) and times each until d serves it.
func measureChanges(b *testing.B, d *daemonUnderTest, change func(v bool)) {
	b.Helper()
	// A client without the test client's overall timeout: the stream
	// lasts as long as the benchmark.
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := evaluationv1connect.NewServiceClient(&http.Client{Transport: tr}, "http://"+d.addrs.Evaluation)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := client.EventStream(ctx, connect.NewRequest(&evaluationv1.EventStreamRequest{}))
	if err != nil {
		b.Fatal(err)
	}
	defer stream.Close()
	changes := make(chan struct{}, 16)
	go func() {
		for stream.Receive() {
			if stream.Msg().GetType() == "configuration_change" {
				changes <- struct{}{}
			}
		}
		close(changes)
	}()
	times := make([]time.Duration, 0, b.N)
	value := d.resolveBoolean(b, "my-flag", "{}").Value
	b.ResetTimer()
	for range b.N {
		value = !value
		start := time.Now()
		change(value)
		for {
			select {
			case _, ok := <-changes:
				if !ok {
					b.Fatalf("the event stream ended: %v", stream.Err())
				}
			case <-time.After(timeout):
				b.Fatal("no configuration_change in time")
			}
			if d.resolveBoolean(b, "my-flag", "{}").Value == value {
				break
			}
		}
		times = append(times, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(times)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(times[len(times)/2]), "p50-ms")
	b.ReportMetric(ms(times[(len(times)*99)/100]), "p99-ms")
	b.ReportMetric(ms(times[len(times)-1]), "max-ms")
}

// BenchmarkKubernetesUpdateToServed: a FeatureFlag update through a real
// API server.
func BenchmarkKubernetesUpdateToServed(b *testing.B) {
	cp := cluster.Get(b)
	ns := cp.Namespace(b)
	writeKubeconfig(b, cp)
	res := cp.Dynamic.Resource(k8stest.FeatureFlags).Namespace(ns)
	ctx := context.Background()
	obj, err := res.Create(ctx, featureFlag(b, ns, flagsDoc(true)), metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	d := startDaemon(b, daemon.Config{Sources: []daemon.SourceSpec{{URI: "core.openfeature.dev/" + ns + "/flags"}}})
	d.waitValue(b, true)
	measureChanges(b, d, func(v bool) {
		obj.Object["spec"] = featureFlag(b, ns, flagsDoc(v)).Object["spec"]
		if obj, err = res.Update(ctx, obj, metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
	})
	d.stop(b)
	cp.CloseIdleConnections()
}

// BenchmarkHTTPChangeToServed: an HTTP source polled every 100 ms; the
// expected time is up to one interval plus the work.
func BenchmarkHTTPChangeToServed(b *testing.B) {
	var doc atomic.Value
	doc.Store(flagsDoc(true))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(doc.Load().(string)))
	}))
	defer srv.Close()
	d := startDaemon(b, daemon.Config{Sources: []daemon.SourceSpec{{URI: srv.URL + "/flags.json", Interval: 100 * time.Millisecond}}})
	d.waitValue(b, true)
	measureChanges(b, d, func(v bool) { doc.Store(flagsDoc(v)) })
	d.stop(b)
	srv.CloseClientConnections()
}

// BenchmarkChainedDaemonsEditToServed: daemon B syncs from daemon A over
// gRPC; an edit of A's file until B serves it.
func BenchmarkChainedDaemonsEditToServed(b *testing.B) {
	path := filepath.Join(b.TempDir(), "flags.json")
	writeAtomic(b, path, flagsDoc(true))
	a := startDaemon(b, daemon.Config{Sources: []daemon.SourceSpec{{URI: "file:" + path}}})
	bd := startDaemon(b, daemon.Config{Sources: []daemon.SourceSpec{{URI: "grpc://" + a.addrs.Sync}}})
	bd.waitValue(b, true)
	measureChanges(b, bd, func(v bool) { writeAtomic(b, path, flagsDoc(v)) })
}
