package kubesource_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/vexilhq/vexil/internal/k8stest"
	"github.com/vexilhq/vexil/syncsources"
	"github.com/vexilhq/vexil/syncsources/kubesource"
	"github.com/vexilhq/vexil/syncsources/sourcetest"
)

var cluster k8stest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	cluster.Close()
	os.Exit(code)
}

// leakOptions ignores goroutines that outlive a run but are not the
// source's: client-go's process-wide ones, started on first use, and the
// test proxy's connection handlers.
var leakOptions = []goleak.Option{
	// klog's flush daemon, started by klog's init or first use.
	goleak.IgnoreAnyFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
	// The test proxy's per-connection pipes, which end when the peer
	// closes.
	goleak.IgnoreAnyFunction("github.com/vexilhq/vexil/syncsources/kubesource_test.(*proxy).pipe"),
	goleak.IgnoreAnyFunction("github.com/vexilhq/vexil/syncsources/kubesource_test.(*proxy).pipe.func1"),
}

// flags is a FeatureFlag object in the test cluster.
type flags struct {
	cp        *k8stest.ControlPlane
	ns, name  string
	unreached *proxy // the source's way to the API server, for Break and Restore
}

func newFlags(t testing.TB, cp *k8stest.ControlPlane) *flags {
	return &flags{cp: cp, ns: cp.Namespace(t), name: "flags"}
}

func (f *flags) client() interfaceResource {
	return f.cp.Dynamic.Resource(k8stest.FeatureFlags).Namespace(f.ns)
}

type interfaceResource = interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions, sub ...string) (*unstructured.Unstructured, error)
	Create(ctx context.Context, obj *unstructured.Unstructured, opts metav1.CreateOptions, sub ...string) (*unstructured.Unstructured, error)
	Update(ctx context.Context, obj *unstructured.Unstructured, opts metav1.UpdateOptions, sub ...string) (*unstructured.Unstructured, error)
	UpdateStatus(ctx context.Context, obj *unstructured.Unstructured, opts metav1.UpdateOptions) (*unstructured.Unstructured, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions, sub ...string) error
}

// setSpec creates the object or replaces its spec.flagSpec with v (a JSON
// document, or any value to store as is).
func (f *flags) setSpec(t testing.TB, v any) {
	t.Helper()
	if doc, ok := v.([]byte); ok {
		var m any
		if err := json.Unmarshal(doc, &m); err != nil {
			t.Fatal(err)
		}
		v = m
	}
	ctx := context.Background()
	for range 10 {
		obj, err := f.client().Get(ctx, f.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			obj = &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "core.openfeature.dev/v1beta1",
				"kind":       "FeatureFlag",
				"metadata":   map[string]any{"name": f.name},
				"spec":       map[string]any{"flagSpec": v},
			}}
			if _, err = f.client().Create(ctx, obj, metav1.CreateOptions{}); err == nil {
				return
			}
		} else if err == nil {
			if v == nil {
				unstructured.RemoveNestedField(obj.Object, "spec", "flagSpec")
			} else if err := unstructured.SetNestedField(obj.Object, v, "spec", "flagSpec"); err != nil {
				t.Fatal(err)
			}
			if _, err = f.client().Update(ctx, obj, metav1.UpdateOptions{}); err == nil {
				return
			}
		}
		if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("setting the FeatureFlag: %v", err)
		}
	}
	t.Fatal("setting the FeatureFlag: too many conflicts")
}

func (f *flags) remove(t testing.TB) {
	t.Helper()
	if err := f.client().Delete(context.Background(), f.name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (f *flags) Set(t testing.TB, doc []byte) { f.setSpec(t, doc) }
func (f *flags) Break(t testing.TB)           { f.unreached.Break(t) }
func (f *flags) Restore(t testing.TB)         { f.unreached.Restore(t) }

func (f *flags) source(t testing.TB, rc *rest.Config) *kubesource.Source {
	t.Helper()
	cfg, err := kubesource.FromURI(kubesource.URIPrefix + f.ns + "/" + f.name)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RESTConfig = rc
	s, err := kubesource.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sameJSON compares documents semantically: the source re-encodes them
// (sorted keys).
func sameJSON(want, got []byte) bool {
	var a, b any
	if json.Unmarshal(want, &a) != nil || json.Unmarshal(got, &b) != nil {
		return false
	}
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// The contract, with an outage being a network partition between the source
// and the API server (see proxy): stopping the shared API server for every
// check would cost seconds each, and would look the same to the source as
// connections cut and refused. TestAPIServerRestart covers a real restart.
// During a partition the document can still change (Set talks to the API
// server directly), which is what ChangeDuringOutage needs.
func TestContract(t *testing.T) {
	cp := cluster.Get(t)
	sourcetest.Run(t, sourcetest.Harness{
		New: func(t *testing.T, doc []byte) sourcetest.Instance {
			f := newFlags(t, cp)
			f.setSpec(t, doc)
			f.unreached = newProxy(t, strings.TrimPrefix(cp.APIServerURL(), "https://"))
			rc := rest.CopyConfig(cp.Config)
			rc.Host = "https://" + f.unreached.addr()
			s := f.source(t, rc)
			return sourcetest.Instance{Source: s, Backend: f, Name: s.Name()}
		},
		Equal: sameJSON,
		Quiet: 300 * time.Millisecond,
		// Recovery waits for the informer's retry backoff (0.8 s doubling,
		// with jitter).
		Timeout:     20 * time.Second,
		LeakOptions: leakOptions,
	})
}

// collector runs a source and records its updates.
type collector struct {
	t       *testing.T
	updates chan syncsources.Update
	cancel  context.CancelFunc
	done    chan error
}

func start(t *testing.T, cp *k8stest.ControlPlane, s *kubesource.Source) *collector {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{t: t, updates: make(chan syncsources.Update), cancel: cancel, done: make(chan error, 1)}
	leaks := append([]goleak.Option{goleak.IgnoreCurrent()}, leakOptions...)
	go func() { c.done <- s.Run(ctx, c.updates) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-c.done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
		cp.CloseIdleConnections() // the test's own client's
		goleak.VerifyNone(t, leaks...)
	})
	return c
}

func (c *collector) next(what string) syncsources.Update {
	c.t.Helper()
	select {
	case u := <-c.updates:
		return u
	case <-time.After(30 * time.Second):
		c.t.Fatalf("no update while waiting for %s", what)
	}
	panic("unreachable")
}

func (c *collector) expectDoc(doc []byte) time.Time {
	c.t.Helper()
	u := c.next("document " + string(doc))
	if u.Err != nil || u.Removed || !sameJSON(doc, u.Data) {
		c.t.Fatalf("got %+v (data %s), want document %s", u, u.Data, doc)
	}
	return time.Now()
}

func (c *collector) expectErr(contains string) {
	c.t.Helper()
	u := c.next("an error: " + contains)
	if u.Err == nil || u.Removed || !strings.Contains(u.Err.Error(), contains) {
		c.t.Fatalf("got %+v (data %s), want an error containing %q", u, u.Data, contains)
	}
	c.t.Logf("error update: %v", u.Err)
}

func (c *collector) expectRemoved() {
	c.t.Helper()
	u := c.next("a removal")
	if !u.Removed || u.Err != nil {
		c.t.Fatalf("got %+v (data %s), want a removal", u, u.Data)
	}
}

func (c *collector) expectQuiet(d time.Duration, when string) {
	c.t.Helper()
	select {
	case u := <-c.updates:
		c.t.Fatalf("got %+v (data %s) %s, want nothing", u, u.Data, when)
	case <-time.After(d):
	}
}

// The object's life: absent at start, created, changed (with the latency
// from the API server's answer to the update), touched without a flagSpec
// change, made unusable, deleted and created again.
func TestLifecycle(t *testing.T) {
	cp := cluster.Get(t)
	f := newFlags(t, cp)
	c := start(t, cp, f.source(t, cp.Config))

	c.expectErr("does not exist")
	f.setSpec(t, sourcetest.Doc(0))
	c.expectDoc(sourcetest.Doc(0))

	// Latency of an update: from the test's update request (after its
	// read of the object) to the source's snapshot, and from the API
	// server's answer to it (often negative: the watch event overtakes
	// the answer).
	var fromReq, fromResp []time.Duration
	for i := 1; i <= 30; i++ {
		obj, err := f.client().Get(context.Background(), f.name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal(sourcetest.Doc(i), &m)
		_ = unstructured.SetNestedField(obj.Object, m, "spec", "flagSpec")
		t0 := time.Now()
		if _, err := f.client().Update(context.Background(), obj, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		got := c.expectDoc(sourcetest.Doc(i))
		fromReq, fromResp = append(fromReq, got.Sub(t0)), append(fromResp, got.Sub(t1))
	}
	for _, l := range []struct {
		what string
		d    []time.Duration
	}{{"update request", fromReq}, {"update answer", fromResp}} {
		slices.Sort(l.d)
		t.Logf("latency from the %s to the snapshot, %d updates: min %v, median %v, p90 %v, max %v",
			l.what, len(l.d), l.d[0], l.d[len(l.d)/2], l.d[len(l.d)*9/10], l.d[len(l.d)-1])
	}

	// Metadata and status changes re-deliver the object: nothing is sent.
	obj, err := f.client().Get(context.Background(), f.name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	obj.SetLabels(map[string]string{"touched": "yes"})
	if obj, err = f.client().Update(context.Background(), obj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	_ = unstructured.SetNestedField(obj.Object, "synced", "status", "phase")
	if _, err = f.client().UpdateStatus(context.Background(), obj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.expectQuiet(300*time.Millisecond, "after label and status changes")

	// Unusable flagSpecs are errors; the next good one is delivered.
	f.setSpec(t, "not a document")
	c.expectErr("spec.flagSpec is a string, not an object")
	f.setSpec(t, []any{"a", "b"})
	c.expectErr("spec.flagSpec is an array, not an object")
	f.setSpec(t, nil)
	c.expectErr("no spec.flagSpec")
	f.setSpec(t, sourcetest.Doc(30))
	c.expectDoc(sourcetest.Doc(30))

	f.remove(t)
	c.expectRemoved()
	f.setSpec(t, sourcetest.Doc(31))
	c.expectDoc(sourcetest.Doc(31))
	f.remove(t)
	c.expectRemoved()
	f.setSpec(t, sourcetest.Doc(32))
	c.expectDoc(sourcetest.Doc(32))
}

// A real API server restart: the source reports the outage, keeps the last
// good flags (no removal), sends a snapshot when the API server is back and
// follows changes after it.
func TestAPIServerRestart(t *testing.T) {
	cp := cluster.Get(t)
	f := newFlags(t, cp)
	f.setSpec(t, sourcetest.Doc(0))
	c := start(t, cp, f.source(t, cp.Config))
	c.expectDoc(sourcetest.Doc(0))

	restarted := make(chan error, 1)
	t0 := time.Now()
	go func() { restarted <- cp.RestartAPIServer() }()
	c.expectErr("cannot watch FeatureFlag")
	outage := time.Since(t0)
	c.expectDoc(sourcetest.Doc(0))
	recovered := time.Since(t0)
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	t.Logf("API server restart: outage reported after %v, snapshot again after %v", outage, recovered)
	f.setSpec(t, sourcetest.Doc(1))
	c.expectDoc(sourcetest.Doc(1))
}

// A partition while the object is deleted: recovery delivers the removal,
// not the flags from before.
func TestDeletedDuringOutage(t *testing.T) {
	cp := cluster.Get(t)
	f := newFlags(t, cp)
	f.setSpec(t, sourcetest.Doc(0))
	p := newProxy(t, strings.TrimPrefix(cp.APIServerURL(), "https://"))
	rc := rest.CopyConfig(cp.Config)
	rc.Host = "https://" + p.addr()
	c := start(t, cp, f.source(t, rc))
	c.expectDoc(sourcetest.Doc(0))
	p.Break(t)
	c.expectErr("cannot watch")
	f.remove(t)
	p.Restore(t)
	c.expectRemoved()
	f.setSpec(t, sourcetest.Doc(1))
	c.expectDoc(sourcetest.Doc(1))
}
