// Package kubesource is the flag source for a Kubernetes FeatureFlag custom
// resource (group core.openfeature.dev, version v1beta1, as the OpenFeature
// Operator defines it): URIs of the form core.openfeature.dev/NAMESPACE/NAME.
//
// A [Source] watches that one object with a client-go dynamic informer,
// restricted to its namespace and to a field selector on its name, and
// delivers its spec.flagSpec, encoded as JSON, as the flag document:
//
//   - the object added or its flagSpec changed: a snapshot at once. Only a
//     change of the encoded flagSpec counts; status updates, label changes
//     and resyncs send nothing;
//   - the object deleted: an update with Removed (a deliberate removal: the
//     source serves no flags until the object is created again);
//   - the object absent when the source starts: one update with Err saying
//     so, then a snapshot when it is created;
//   - an object without a usable flagSpec (missing, or not a JSON object):
//     one update with Err describing it; the flags last delivered keep
//     serving;
//   - the API server unreachable, or refusing the list or watch (an
//     outage): one update with Err; the informer keeps retrying with
//     backoff, and once it has listed the object again the source sends a
//     snapshot of it, even if unchanged (if it was deleted in the meantime,
//     Removed). An API server restart, or a watch that expires, is thus
//     survived without losing the last good flags.
//
// An outage is noticed when a list or watch request fails: at once when the
// API server goes away (its connections close and new ones are refused),
// but only after the HTTP/2 health check (about 45 s) when packets are
// silently dropped.
package kubesource

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
)

// URIPrefix starts the URIs of this kind of source.
const URIPrefix = "core.openfeature.dev/"

// Resource is the FeatureFlag resource the source watches.
var Resource = schema.GroupVersionResource{Group: "core.openfeature.dev", Version: "v1beta1", Resource: "featureflags"}

// Config configures a Source.
type Config struct {
	// Namespace and Name identify the FeatureFlag object. Required.
	Namespace, Name string
	// RESTConfig is how to reach the API server. Nil means the standard
	// client configuration: $KUBECONFIG or ~/.kube/config if there is one,
	// else the in-cluster service account.
	RESTConfig *rest.Config
	// ResyncPeriod makes the informer re-deliver the object this often; it
	// sends nothing when the flagSpec did not change. Zero means never.
	ResyncPeriod time.Duration
	// SourceName is the source's name in updates (Update.Source); empty
	// means the URI core.openfeature.dev/Namespace/Name. FromURI sets it to
	// Namespace/Name, as flagd names the source.
	SourceName string
	// Logger receives warnings the source cannot put in updates; nil
	// discards them. Outages are reported in updates, not here.
	Logger *slog.Logger
}

// FromURI makes a Config from a URI as flagd accepts it:
// "core.openfeature.dev/NAMESPACE/NAME". The prefix may be left out
// ("NAMESPACE/NAME"), as flagd allows in a source configured with provider
// "kubernetes". The Config's SourceName is NAMESPACE/NAME, as flagd names
// the source (and matches "source=" selectors); New checks the names.
func FromURI(uri string) (Config, error) {
	rest := uri
	if len(rest) >= len(URIPrefix) && strings.EqualFold(rest[:len(URIPrefix)], URIPrefix) {
		rest = rest[len(URIPrefix):]
	}
	ns, name, ok := strings.Cut(rest, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return Config{}, fmt.Errorf("kubesource: %q is not of the form %sNAMESPACE/NAME", uri, URIPrefix)
	}
	return Config{Namespace: ns, Name: name, SourceName: rest}, nil
}

// Source is a flag source watching one FeatureFlag object. Its Run may be
// called more than once, one after the other or at the same time; each run
// has its own informer.
type Source struct {
	namespace, name string
	sourceName      string
	restConfig      *rest.Config
	resync          time.Duration
	log             *slog.Logger
}

var _ syncsources.Source = (*Source)(nil)

// New checks cfg and returns a source. It loads the client configuration
// when cfg.RESTConfig is nil, but does not contact the API server: an
// unreachable server or a missing object is reported by Run in updates.
func New(cfg Config) (*Source, error) {
	if errs := validation.IsDNS1123Label(cfg.Namespace); len(errs) > 0 {
		return nil, fmt.Errorf("kubesource: invalid namespace %q: %s", cfg.Namespace, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(cfg.Name); len(errs) > 0 {
		return nil, fmt.Errorf("kubesource: invalid FeatureFlag name %q: %s", cfg.Name, strings.Join(errs, "; "))
	}
	if cfg.ResyncPeriod < 0 {
		return nil, fmt.Errorf("kubesource: negative resync period %v", cfg.ResyncPeriod)
	}
	s := &Source{
		namespace:  cfg.Namespace,
		name:       cfg.Name,
		sourceName: cfg.SourceName,
		restConfig: cfg.RESTConfig,
		resync:     cfg.ResyncPeriod,
		log:        cfg.Logger,
	}
	if s.sourceName == "" {
		s.sourceName = URIPrefix + cfg.Namespace + "/" + cfg.Name
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.restConfig == nil {
		rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			clientcmd.NewDefaultClientConfigLoadingRules(), &clientcmd.ConfigOverrides{}).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("kubesource: no Kubernetes client configuration (not in a cluster, no usable $KUBECONFIG or ~/.kube/config): %w", err)
		}
		s.restConfig = rc
	} else {
		s.restConfig = rest.CopyConfig(s.restConfig)
	}
	return s, nil
}

// Name is the source's name in updates.
func (s *Source) Name() string { return s.sourceName }

// Run watches the object and sends what it holds (or an outage) as soon as
// the informer has listed it, then an update on every change, until ctx
// ends. It returns ctx's error, or an error if it cannot make a client; it
// does not send after returning, and stops every goroutine it started. The
// Data it sends is never modified afterwards.
func (s *Source) Run(ctx context.Context, updates chan<- syncsources.Update) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	st := &state{changed: make(chan struct{}, 1)}
	rc := rest.CopyConfig(s.restConfig)
	// Its own connections, closed when Run returns: a custom dialer also
	// keeps client-go from sharing a cached transport between runs.
	conns := &connTracker{dial: rc.Dial, conns: map[net.Conn]struct{}{}}
	rc.Dial = conns.DialContext
	defer conns.closeAll()
	rc.Wrap(func(rt http.RoundTripper) http.RoundTripper { return observedTransport{rt, st} })
	httpClient, err := rest.HTTPClientFor(rc)
	if err != nil {
		return fmt.Errorf("kubesource: %w", err)
	}
	defer utilnet.CloseIdleConnectionsFor(httpClient.Transport)
	client, err := dynamic.NewForConfigAndClient(rc, httpClient)
	if err != nil {
		return fmt.Errorf("kubesource: %w", err)
	}

	// The informer dynamicinformer.NewFilteredDynamicInformer would build,
	// without that package: it imports client-go's typed informers, and
	// with them every built-in API group, whose init functions cost the
	// daemon about 15 MiB of resident memory (measured: vexil idle, 37 MiB
	// RSS before).
	observedClient := observed{Interface: client, st: st}
	byName := func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", s.name).String()
	}
	resource := observedClient.Resource(Resource).Namespace(s.namespace)
	informer := cache.NewSharedIndexInformerWithOptions(
		cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				byName(&o)
				return resource.List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				byName(&o)
				return resource.Watch(ctx, o)
			},
		}, observedClient),
		&unstructured.Unstructured{},
		cache.SharedIndexInformerOptions{ResyncPeriod: s.resync, Indexers: cache.Indexers{}, ObjectDescription: Resource.String()},
	)
	if err := informer.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		st.watchError(err)
	}); err != nil {
		return fmt.Errorf("kubesource: %w", err)
	}
	key := s.namespace + "/" + s.name
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { st.seen(key, obj) },
		UpdateFunc: func(_, obj any) { st.seen(key, obj) },
		DeleteFunc: func(obj any) { st.gone(key, obj) },
	}); err != nil {
		return fmt.Errorf("kubesource: %w", err)
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The informer and the client log through the context's logger.
		informer.RunWithContext(klog.NewContext(runCtx, logr.FromSlogHandler(s.log.Handler())))
	}()
	defer func() {
		stop()
		<-done
	}()

	r := &run{Source: s, updates: updates}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-st.changed:
		}
		if !r.publish(ctx, st.snapshot()) {
			return ctx.Err()
		}
	}
}

// view is what the source knows at one moment.
type view struct {
	known  bool           // the informer has listed at least once
	obj    map[string]any // the object; nil if absent
	outage error          // non-nil while the API server cannot be used
}

// state is what the informer's goroutines tell the Run loop. Handlers only
// record and signal: they never block on the updates channel.
type state struct {
	changed chan struct{} // capacity 1: a pending signal

	mu     sync.Mutex
	v      view
	target *listed // after an outage: the list that ends it
}

// listed is what a successful list returned.
type listed struct {
	present         bool
	resourceVersion string
}

func (st *state) signal() {
	select {
	case st.changed <- struct{}{}:
	default:
	}
}

func (st *state) snapshot() view {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.v
}

// watchError is the informer's watch error handler: a list or watch failed.
func (st *state) watchError(err error) {
	switch {
	case apierrors.IsResourceExpired(err) || apierrors.IsGone(err) || err == io.EOF || err == io.ErrUnexpectedEOF:
		// A watch that expired or ended: the informer lists again. Not an
		// outage.
		return
	case errors.Is(err, errRelist):
		return // the outage is already recorded
	}
	st.failed(err)
}

// failed records an outage.
func (st *state) failed(err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.v.outage == nil {
		st.v.outage = err
		st.target = nil
		st.signal()
	}
}

func (st *state) inOutage() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.v.outage != nil
}

// listSucceeded records what a list returned. After an outage, the source
// waits until the informer has delivered that list (its Replace reaches the
// handlers in order, after any older event), so that recovery sends the
// object as it is now, not as it was before the outage.
func (st *state) listSucceeded(l listed) {
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case !st.v.known && !l.present:
		// The first list, and no object: the informer will call no handler.
		st.v.known, st.v.outage, st.target = true, nil, nil
		st.signal()
	case st.v.outage != nil && !l.present && st.v.obj == nil:
		// Absent before and now: no handler will be called either.
		st.v.outage, st.target = nil, nil
		st.signal()
	case st.v.outage != nil:
		st.target = &l
	}
}

func (st *state) seen(key string, obj any) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok || u.GetNamespace()+"/"+u.GetName() != key {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.v.known, st.v.obj = true, u.Object
	if st.target != nil && st.target.present && st.target.resourceVersion == u.GetResourceVersion() {
		st.v.outage, st.target = nil, nil
	}
	st.signal()
}

func (st *state) gone(key string, obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		if d.Key != key {
			return
		}
	} else if u, ok := obj.(*unstructured.Unstructured); !ok || u.GetNamespace()+"/"+u.GetName() != key {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.v.known, st.v.obj = true, nil
	if st.target != nil && !st.target.present {
		st.v.outage, st.target = nil, nil
	}
	st.signal()
}

// observed is the dynamic client the informer uses. It makes sure that the
// informer lists again after an outage: the informer would otherwise resume
// its watch where it left off, and the source could not tell when it has
// caught up. client-go hides most failures to reach the API server from the
// informer: the REST client retries a watch whose connection fails for ten
// seconds, then returns an empty watch without error; a refused connection
// makes the informer retry the watch silently. So failures are noticed by
// observedTransport, and while an outage lasts observed refuses every watch
// the informer starts; the informer reports that to its watch error handler
// and lists, and the list gives recovery a consistent snapshot.
type observed struct {
	dynamic.Interface
	st *state
}

func (c observed) Resource(r schema.GroupVersionResource) dynamic.NamespaceableResourceInterface {
	return observedResource{c.Interface.Resource(r), c.st}
}

// IsWatchListSemanticsUnSupported makes the informer list, then watch,
// instead of streaming its initial list through a watch: the list's result
// is what recovery waits for.
func (observed) IsWatchListSemanticsUnSupported() bool { return true }

type observedResource struct {
	dynamic.NamespaceableResourceInterface
	st *state
}

func (r observedResource) Namespace(ns string) dynamic.ResourceInterface {
	return observedNamespace{r.NamespaceableResourceInterface.Namespace(ns), r.st}
}

type observedNamespace struct {
	dynamic.ResourceInterface
	st *state
}

func (n observedNamespace) List(ctx context.Context, opts metav1.ListOptions) (*unstructured.UnstructuredList, error) {
	l, err := n.ResourceInterface.List(ctx, opts)
	if err == nil {
		var got listed
		if len(l.Items) > 0 {
			got = listed{present: true, resourceVersion: l.Items[0].GetResourceVersion()}
		}
		n.st.listSucceeded(got)
	}
	return l, err
}

func (n observedNamespace) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	w, err := n.ResourceInterface.Watch(ctx, opts)
	switch {
	case err != nil && utilnet.IsConnectionRefused(err):
		// Hidden from the informer's retry logic (it looks for
		// syscall.ECONNREFUSED in the chain), keeping the text.
		return nil, errors.New(err.Error())
	case err == nil && n.st.inOutage():
		w.Stop()
		return nil, errRelist
	}
	return w, err
}

// errRelist makes the informer list again after an outage.
var errRelist = errors.New("kubesource: listing again after an outage")

// observedTransport reports requests that get no response to the state as
// an outage.
type observedTransport struct {
	rt http.RoundTripper
	st *state
}

func (t observedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	if err != nil && req.Context().Err() == nil {
		t.st.failed(err)
	}
	return resp, err
}

// WrappedRoundTripper lets client-go see through the wrapper (to close
// idle connections).
func (t observedTransport) WrappedRoundTripper() http.RoundTripper { return t.rt }

// connTracker dials the API server and closes every connection it made
// when a run ends, so that no connection's goroutines outlive it.
type connTracker struct {
	dial func(ctx context.Context, network, address string) (net.Conn, error)

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func (c *connTracker) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	dial := c.dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	conn, err := dial(ctx, network, address)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		_ = conn.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: conn, c: c}
	c.conns[tc] = struct{}{}
	return tc, nil
}

func (c *connTracker) closeAll() {
	c.mu.Lock()
	c.closed = true
	conns := c.conns
	c.conns = map[net.Conn]struct{}{}
	c.mu.Unlock()
	for conn := range conns {
		_ = conn.Close()
	}
}

type trackedConn struct {
	net.Conn
	c *connTracker
}

func (tc *trackedConn) Close() error {
	tc.c.mu.Lock()
	delete(tc.c.conns, tc)
	tc.c.mu.Unlock()
	return tc.Conn.Close()
}

// run is the state of one Run's sending.
type run struct {
	*Source
	updates chan<- syncsources.Update

	sent     kind
	lastData []byte // the last document sent
	lastBad  []byte // the last unusable flagSpec reported
	everSeen bool   // the object existed during this run
}

type kind int

const (
	sentNothing kind = iota
	sentDoc
	sentOutage
	sentAbsent
	sentBad
	sentRemoved
)

// publish sends what v calls for, if it differs from what was sent last. It
// returns false if ctx ended while sending.
func (r *run) publish(ctx context.Context, v view) bool {
	ref := r.namespace + "/" + r.name
	switch {
	case v.outage != nil:
		if r.sent == sentOutage {
			return true
		}
		r.sent = sentOutage
		return r.send(ctx, syncsources.Update{Err: fmt.Errorf("kubesource: cannot watch FeatureFlag %s: %w", ref, v.outage)})
	case !v.known:
		return true
	case v.obj == nil && r.everSeen:
		if r.sent == sentRemoved {
			return true
		}
		r.sent, r.lastData = sentRemoved, nil
		return r.send(ctx, syncsources.Update{Removed: true})
	case v.obj == nil:
		if r.sent == sentAbsent {
			return true
		}
		r.sent = sentAbsent
		return r.send(ctx, syncsources.Update{Err: fmt.Errorf("kubesource: FeatureFlag %s does not exist (yet)", ref)})
	}
	r.everSeen = true
	data, problem := flagSpec(v.obj)
	if problem != nil {
		if r.sent == sentBad && bytes.Equal(data, r.lastBad) {
			return true
		}
		r.sent, r.lastBad = sentBad, data
		return r.send(ctx, syncsources.Update{Err: fmt.Errorf("kubesource: FeatureFlag %s: %w; keeping the flags last delivered", ref, problem)})
	}
	if r.sent == sentDoc && bytes.Equal(data, r.lastData) {
		return true
	}
	r.sent, r.lastData = sentDoc, data
	return r.send(ctx, syncsources.Update{Data: data, Format: evaluator.FormatJSON})
}

func (r *run) send(ctx context.Context, u syncsources.Update) bool {
	u.Source = r.sourceName
	select {
	case r.updates <- u:
		return true
	case <-ctx.Done():
		return false
	}
}

// flagSpec returns the object's spec.flagSpec as JSON, and a problem if it
// is not a usable flag document (then the bytes identify what was seen).
func flagSpec(obj map[string]any) ([]byte, error) {
	spec, found, err := unstructured.NestedFieldNoCopy(obj, "spec", "flagSpec")
	if err != nil || !found {
		return nil, errors.New("no spec.flagSpec")
	}
	data, err := json.Marshal(spec) // map keys sorted: the same object gives the same bytes
	if err != nil {
		return nil, fmt.Errorf("spec.flagSpec cannot be encoded: %w", err)
	}
	if _, ok := spec.(map[string]any); !ok {
		return data, fmt.Errorf("spec.flagSpec is %s, not an object", describe(spec))
	}
	return data, nil
}

func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	default:
		return "a number"
	}
}
