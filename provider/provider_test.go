package provider

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"

	"github.com/vexilhq/vexil/daemon"
	"github.com/vexilhq/vexil/internal/testcerts"
)

// modes returns a provider of each mode on the same flags.
func modes(t *testing.T, cfg daemon.Config) map[Resolver]func(t *testing.T, opts ...Option) *Provider {
	path := flagFile(t)
	d := fileDaemon(t, path, cfg)
	return map[Resolver]func(t *testing.T, opts ...Option) *Provider{
		ResolverRPC: func(t *testing.T, opts ...Option) *Provider {
			return newTestProvider(t, append(rpcOpts(t, d), opts...)...)
		},
		ResolverInProcess: func(t *testing.T, opts ...Option) *Provider {
			return newTestProvider(t, append(inProcessOpts(t, d), opts...)...)
		},
		ResolverFile: func(t *testing.T, opts ...Option) *Provider {
			return newTestProvider(t, append([]Option{WithResolver(ResolverFile), WithOfflineFlagSourcePath(path)}, opts...)...)
		},
	}
}

func code(d openfeature.ProviderResolutionDetail) openfeature.ErrorCode {
	return d.ResolutionDetail().ErrorCode
}

func TestEvaluate(t *testing.T) {
	ctx := context.Background()
	for mode, mk := range modes(t, daemon.Config{}) {
		t.Run(string(mode), func(t *testing.T) {
			p := mk(t, WithCache(CacheDisabled))
			if p.State() != openfeature.ReadyState {
				t.Fatalf("state %s after Init", p.State())
			}

			b := p.BooleanEvaluation(ctx, "bool-flag", false, nil)
			if !b.Value || b.Variant != "on" || b.Reason != openfeature.StaticReason || b.Error() != nil {
				t.Errorf("bool: %+v", b)
			}
			if b.FlagMetadata["owner"] != "ana" || b.FlagMetadata["team"] != "core" {
				t.Errorf("bool metadata: %v", b.FlagMetadata)
			}
			s := p.StringEvaluation(ctx, "string-flag", "x", nil)
			if s.Value != "hello" || s.Variant != "hi" || s.Reason != openfeature.StaticReason {
				t.Errorf("string: %+v", s)
			}
			i := p.IntEvaluation(ctx, "int-flag", 1, nil)
			if i.Value != 10 || i.Variant != "ten" {
				t.Errorf("int: %+v", i)
			}
			f := p.FloatEvaluation(ctx, "float-flag", 0.1, nil)
			if f.Value != 0.5 || f.Variant != "half" {
				t.Errorf("float: %+v", f)
			}
			o := p.ObjectEvaluation(ctx, "object-flag", nil, nil)
			if want := map[string]any{"title": "pics", "count": 3.0}; !reflect.DeepEqual(o.Value, want) || o.Variant != "tpl" {
				t.Errorf("object: %#v", o)
			}

			staff := p.StringEvaluation(ctx, "targeted-flag", "x", openfeature.FlattenedContext{"email": "ana@vexil.example"})
			if staff.Value != "staff" || staff.Reason != openfeature.TargetingMatchReason {
				t.Errorf("targeting match: %+v", staff)
			}
			public := p.StringEvaluation(ctx, "targeted-flag", "x", openfeature.FlattenedContext{"email": "bo@elsewhere.example"})
			if public.Value != "public" || public.Reason != openfeature.DefaultReason {
				t.Errorf("targeting default: %+v", public)
			}

			nf := p.BooleanEvaluation(ctx, "no-such-flag", true, nil)
			if !nf.Value || nf.Reason != openfeature.ErrorReason || code(nf.ProviderResolutionDetail) != openfeature.FlagNotFoundCode {
				t.Errorf("not found: %+v", nf)
			}
			var re openfeature.ResolutionError
			if !errors.As(nf.ResolutionError, &re) {
				t.Errorf("not a ResolutionError: %T", nf.ResolutionError)
			}
			tm := p.BooleanEvaluation(ctx, "string-flag", true, nil)
			if !tm.Value || code(tm.ProviderResolutionDetail) != openfeature.TypeMismatchCode {
				t.Errorf("type mismatch: %+v", tm)
			}
			tmi := p.IntEvaluation(ctx, "object-flag", 7, nil)
			if tmi.Value != 7 || code(tmi.ProviderResolutionDetail) != openfeature.TypeMismatchCode {
				t.Errorf("type mismatch int: %+v", tmi)
			}
			dis := p.BooleanEvaluation(ctx, "disabled-flag", false, nil)
			if dis.Value || dis.Reason != openfeature.DisabledReason || dis.Error() != nil || dis.Variant != "" {
				t.Errorf("disabled: %+v", dis)
			}
			nd := p.StringEvaluation(ctx, "no-default-flag", "mine", nil)
			if nd.Value != "mine" || nd.Reason != openfeature.DefaultReason || nd.Error() != nil {
				t.Errorf("no default variant: %+v", nd)
			}
		})
	}
}

func TestContextEnrichment(t *testing.T) {
	ctx := context.Background()
	for mode, mk := range modes(t, daemon.Config{StaticContext: map[string]any{"zone": "internal"}}) {
		if mode == ResolverFile {
			continue // no sync context
		}
		t.Run(string(mode), func(t *testing.T) {
			p := mk(t)
			r := p.StringEvaluation(ctx, "context-flag", "not", nil)
			if r.Value != "INTERNAL" {
				t.Errorf("enriched: %+v", r)
			}
			if mode == ResolverInProcess {
				// The caller's context wins over the sync context.
				r := p.StringEvaluation(ctx, "context-flag", "not", openfeature.FlattenedContext{"zone": "outside"})
				if r.Value != "EXTERNAL" {
					t.Errorf("caller's context: %+v", r)
				}
			}
		})
	}
	t.Run("custom enricher", func(t *testing.T) {
		p := modes(t, daemon.Config{StaticContext: map[string]any{"area": "internal"}})[ResolverInProcess](t,
			WithContextEnricher(func(sc map[string]any) *openfeature.EvaluationContext {
				ec := openfeature.NewEvaluationContext("key", map[string]any{"zone": sc["area"]})
				return &ec
			}))
		if r := p.StringEvaluation(ctx, "context-flag", "not", nil); r.Value != "INTERNAL" {
			t.Errorf("custom enricher: %+v", r)
		}
	})
}

func TestRPCCache(t *testing.T) {
	ctx := context.Background()
	path := flagFile(t)
	d := fileDaemon(t, path, daemon.Config{})
	p := newTestProvider(t, rpcOpts(t, d)...)

	for _, want := range []openfeature.Reason{openfeature.StaticReason, openfeature.CachedReason, openfeature.CachedReason} {
		r := p.StringEvaluation(ctx, "changing-flag", "x", nil)
		if r.Value != "foo" || r.Reason != want || r.Variant != "foo" {
			t.Fatalf("got %+v, want reason %s", r, want)
		}
	}
	// Targeting results are not cached.
	for range 2 {
		r := p.StringEvaluation(ctx, "targeted-flag", "x", openfeature.FlattenedContext{"email": "a@vexil.example"})
		if r.Reason != openfeature.TargetingMatchReason {
			t.Fatalf("targeting: %+v", r)
		}
	}
	b := p.BooleanEvaluation(ctx, "bool-flag", false, nil)
	if b.Reason != openfeature.StaticReason {
		t.Fatalf("bool-flag: %+v", b)
	}

	writeFile(t, path, changedFlagsDoc("bar"))
	e := waitEvent(t, p, openfeature.ProviderConfigChange)
	if !slices.Contains(e.FlagChanges, "changing-flag") {
		t.Errorf("changed flags %v, want changing-flag", e.FlagChanges)
	}
	for _, want := range []openfeature.Reason{openfeature.StaticReason, openfeature.CachedReason} {
		r := p.StringEvaluation(ctx, "changing-flag", "x", nil)
		if r.Value != "bar" || r.Reason != want {
			t.Fatalf("after the change: got %+v, want bar with reason %s", r, want)
		}
	}
	// bool-flag did not change: still cached.
	if b := p.BooleanEvaluation(ctx, "bool-flag", false, nil); b.Reason != openfeature.CachedReason {
		t.Errorf("unchanged flag: %+v", b)
	}
}

func TestConfigurationChanged(t *testing.T) {
	ctx := context.Background()
	for mode, mk := range map[Resolver]func(*testing.T) (*Provider, string){
		ResolverInProcess: func(t *testing.T) (*Provider, string) {
			path := flagFile(t)
			d := fileDaemon(t, path, daemon.Config{})
			return newTestProvider(t, inProcessOpts(t, d)...), path
		},
		ResolverFile: func(t *testing.T) (*Provider, string) {
			path := flagFile(t)
			return newTestProvider(t, WithResolver(ResolverFile), WithOfflineFlagSourcePath(path)), path
		},
	} {
		t.Run(string(mode), func(t *testing.T) {
			p, path := mk(t)
			writeFile(t, path, changedFlagsDoc("bar"))
			e := waitEvent(t, p, openfeature.ProviderConfigChange)
			if !slices.Contains(e.FlagChanges, "changing-flag") || slices.Contains(e.FlagChanges, "bool-flag") {
				t.Errorf("changed flags %v, want changing-flag and not bool-flag", e.FlagChanges)
			}
			if r := p.StringEvaluation(ctx, "changing-flag", "x", nil); r.Value != "bar" {
				t.Errorf("after the change: %+v", r)
			}
			// A document that does not parse keeps the flags.
			writeFile(t, path, `{"flags": {`)
			writeFile(t, path, changedFlagsDoc("foo"))
			e = waitEvent(t, p, openfeature.ProviderConfigChange)
			if !slices.Equal(e.FlagChanges, []string{"changing-flag"}) {
				t.Errorf("changed flags %v, want [changing-flag]", e.FlagChanges)
			}
			if r := p.StringEvaluation(ctx, "changing-flag", "x", nil); r.Value != "foo" {
				t.Errorf("after the second change: %+v", r)
			}
		})
	}
}

// TestReconnect stops the daemon and starts it again on the same ports.
func TestReconnect(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []Resolver{ResolverRPC, ResolverInProcess} {
		t.Run(string(mode), func(t *testing.T) {
			path := flagFile(t)
			d := fileDaemon(t, path, daemon.Config{})
			opts := rpcOpts(t, d)
			if mode == ResolverInProcess {
				opts = inProcessOpts(t, d)
			}
			p := newTestProvider(t, opts...)
			if r := p.StringEvaluation(ctx, "changing-flag", "x", nil); r.Value != "foo" {
				t.Fatalf("before: %+v", r)
			}
			if mode == ResolverRPC {
				if r := p.StringEvaluation(ctx, "changing-flag", "x", nil); r.Reason != openfeature.CachedReason {
					t.Fatalf("not cached: %+v", r)
				}
			}

			d.stop()
			if e := nextEvent(t, p); e.EventType != openfeature.ProviderStale {
				t.Fatalf("first event after the stop: %s, want STALE", e.EventType)
			}
			if mode == ResolverRPC {
				// STALE still answers from the cache.
				if r := p.StringEvaluation(ctx, "changing-flag", "x", nil); r.Reason != openfeature.CachedReason {
					t.Errorf("stale: %+v", r)
				}
			} else if r := p.StringEvaluation(ctx, "changing-flag", "x", nil); r.Value != "foo" {
				t.Errorf("stale in-process: %+v", r)
			}
			if e := nextEvent(t, p); e.EventType != openfeature.ProviderError || e.ErrorCode == openfeature.ProviderFatalCode {
				t.Fatalf("second event after the stop: %s (%s), want ERROR", e.EventType, e.ErrorCode)
			}
			if p.State() != openfeature.ErrorState {
				t.Errorf("state %s", p.State())
			}

			writeFile(t, path, changedFlagsDoc("bar"))
			fileDaemon(t, path, daemon.Config{
				Port: port(t, d.addrs.Evaluation), SyncPort: port(t, d.addrs.Sync),
			})
			if e := nextEvent(t, p); e.EventType != openfeature.ProviderReady {
				t.Fatalf("event after the restart: %s, want READY", e.EventType)
			}
			if mode == ResolverInProcess {
				e := nextEvent(t, p)
				if e.EventType != openfeature.ProviderConfigChange || !slices.Contains(e.FlagChanges, "changing-flag") {
					t.Fatalf("event after READY: %s %v, want CONFIGURATION_CHANGED", e.EventType, e.FlagChanges)
				}
			}
			r := p.StringEvaluation(ctx, "changing-flag", "x", nil)
			if r.Value != "bar" || r.Reason != openfeature.StaticReason {
				t.Errorf("after the restart: %+v", r)
			}
		})
	}
}

func TestStaleToReady(t *testing.T) {
	path := flagFile(t)
	d := fileDaemon(t, path, daemon.Config{})
	p := newTestProvider(t, append(inProcessOpts(t, d), WithRetryGracePeriod(60e9))...)
	d.stop()
	if e := nextEvent(t, p); e.EventType != openfeature.ProviderStale {
		t.Fatalf("got %s, want STALE", e.EventType)
	}
	fileDaemon(t, path, daemon.Config{SyncPort: port(t, d.addrs.Sync)})
	if e := nextEvent(t, p); e.EventType != openfeature.ProviderReady {
		t.Fatalf("got %s, want READY", e.EventType)
	}
}

func TestUnavailable(t *testing.T) {
	for _, mode := range []Resolver{ResolverRPC, ResolverInProcess} {
		t.Run(string(mode), func(t *testing.T) {
			path := flagFile(t)
			port := freePort(t)
			p := newUninitialized(t, WithResolver(mode), WithHost("127.0.0.1"), WithPort(port), WithDeadline(time.Second))
			err := p.InitWithContext(context.Background(), openfeature.EvaluationContext{})
			var ie *openfeature.ProviderInitError
			if err == nil || errors.As(err, &ie) {
				t.Fatalf("Init: %v, want a plain error", err)
			}
			if p.State() != openfeature.ErrorState {
				t.Errorf("state %s", p.State())
			}
			r := p.BooleanEvaluation(context.Background(), "bool-flag", true, nil)
			if r.Reason != openfeature.ErrorReason || !r.Value {
				t.Errorf("evaluation while unavailable: %+v", r)
			}
			// It keeps trying, and is READY when the daemon starts.
			cfg := daemon.Config{Port: port}
			if mode == ResolverInProcess {
				cfg = daemon.Config{SyncPort: port}
			}
			fileDaemon(t, path, cfg)
			waitEvent(t, p, openfeature.ProviderReady)
			if r := p.BooleanEvaluation(context.Background(), "bool-flag", false, nil); !r.Value {
				t.Errorf("after READY: %+v", r)
			}
		})
	}
}

func TestSelector(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	writeFile(t, a, `{"flags": {"only-a": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on"}}}`)
	writeFile(t, b, `{"flags": {"only-b": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on"}}}`)
	d := startDaemon(t, daemon.Config{Sources: []daemon.SourceSpec{{URI: "file:" + a}, {URI: "file:" + b}}})
	ctx := context.Background()
	for _, mode := range []Resolver{ResolverInProcess, ResolverRPC} {
		t.Run(string(mode), func(t *testing.T) {
			opts := inProcessOpts(t, d)
			if mode == ResolverRPC {
				opts = rpcOpts(t, d)
			}
			// flagd names a file source by its path, without "file:".
			p := newTestProvider(t, append(opts, WithSelector(b), WithProviderID("test"))...)
			if r := p.BooleanEvaluation(ctx, "only-b", false, nil); !r.Value {
				t.Errorf("only-b: %+v", r)
			}
			if r := p.BooleanEvaluation(ctx, "only-a", false, nil); code(r.ProviderResolutionDetail) != openfeature.FlagNotFoundCode {
				t.Errorf("only-a: %+v", r)
			}
		})
	}
}

func TestSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "vexil-sock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	eval, sync := filepath.Join(dir, "eval.sock"), filepath.Join(dir, "sync.sock")
	fileDaemon(t, flagFile(t), daemon.Config{SocketPath: eval, SyncSocketPath: sync})
	for mode, sock := range map[Resolver]string{ResolverRPC: eval, ResolverInProcess: sync} {
		t.Run(string(mode), func(t *testing.T) {
			p := newTestProvider(t, WithResolver(mode), WithSocketPath(sock))
			if r := p.BooleanEvaluation(context.Background(), "bool-flag", false, nil); !r.Value {
				t.Errorf("over the socket: %+v", r)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	certPath, keyPath := testcerts.New(t, "provider").Write(t, t.TempDir())
	d := fileDaemon(t, flagFile(t), daemon.Config{TLSCertPath: certPath, TLSKeyPath: keyPath})
	for _, mode := range []Resolver{ResolverRPC, ResolverInProcess} {
		t.Run(string(mode), func(t *testing.T) {
			opts := rpcOpts(t, d)
			if mode == ResolverInProcess {
				opts = inProcessOpts(t, d)
			}
			p := newTestProvider(t, append(opts, WithTLS(true), WithCertPath(certPath))...)
			if r := p.BooleanEvaluation(context.Background(), "bool-flag", false, nil); !r.Value {
				t.Errorf("over TLS: %+v", r)
			}
		})
	}
	t.Run("untrusted", func(t *testing.T) {
		p := newUninitialized(t, append(rpcOpts(t, d), WithTLS(true), WithDeadline(300e6))...)
		if err := p.InitWithContext(context.Background(), openfeature.EvaluationContext{}); err == nil {
			t.Error("Init trusted a certificate it should not")
		}
	})
}

func TestTargetURI(t *testing.T) {
	d := fileDaemon(t, flagFile(t), daemon.Config{})
	for mode, addr := range map[Resolver]string{ResolverRPC: d.addrs.Evaluation, ResolverInProcess: d.addrs.Sync} {
		t.Run(string(mode), func(t *testing.T) {
			p := newTestProvider(t, WithResolver(mode), WithTargetURI("envoy://"+addr+"/flags.service"))
			if r := p.BooleanEvaluation(context.Background(), "bool-flag", false, nil); !r.Value {
				t.Errorf("via the target URI: %+v", r)
			}
		})
	}
}

func TestShutdownAndReinit(t *testing.T) {
	d := fileDaemon(t, flagFile(t), daemon.Config{})
	p := newTestProvider(t, inProcessOpts(t, d)...)
	if err := p.ShutdownWithContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.InitWithContext(context.Background(), openfeature.EvaluationContext{}); err != nil {
		t.Fatalf("Init again: %v", err)
	}
	if r := p.BooleanEvaluation(context.Background(), "bool-flag", false, nil); !r.Value {
		t.Errorf("after Init again: %+v", r)
	}
}

func TestFileMissing(t *testing.T) {
	p := newUninitialized(t, WithResolver(ResolverFile),
		WithOfflineFlagSourcePath(filepath.Join(t.TempDir(), "absent.json")), WithDeadline(200e6))
	if err := p.InitWithContext(context.Background(), openfeature.EvaluationContext{}); err == nil {
		t.Fatal("Init succeeded without a file")
	}
}

func TestFileOutage(t *testing.T) {
	path := flagFile(t)
	p := newTestProvider(t, WithResolver(ResolverFile), WithOfflineFlagSourcePath(path))
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if e := nextEvent(t, p); e.EventType != openfeature.ProviderStale {
		t.Fatalf("got %s, want STALE", e.EventType)
	}
	// The last flags keep serving.
	if r := p.BooleanEvaluation(context.Background(), "bool-flag", false, nil); !r.Value {
		t.Errorf("stale: %+v", r)
	}
	if e := nextEvent(t, p); e.EventType != openfeature.ProviderError {
		t.Fatalf("got %s, want ERROR", e.EventType)
	}
	writeFile(t, path, changedFlagsDoc("bar"))
	if e := nextEvent(t, p); e.EventType != openfeature.ProviderReady {
		t.Fatalf("got %s, want READY", e.EventType)
	}
	if e := nextEvent(t, p); e.EventType != openfeature.ProviderConfigChange || !slices.Contains(e.FlagChanges, "changing-flag") {
		t.Fatalf("got %s %v, want CONFIGURATION_CHANGED", e.EventType, e.FlagChanges)
	}
}

func TestCacheLRU(t *testing.T) {
	c := newCache(2)
	a, b, d := cacheKey{key: "a"}, cacheKey{key: "b"}, cacheKey{key: "d"}
	c.put(a, result{value: 1})
	c.put(b, result{value: 2})
	c.get(a) // a is now the most recent
	c.put(d, result{value: 3})
	if _, ok := c.get(b); ok {
		t.Error("b not evicted")
	}
	if _, ok := c.get(a); !ok || c.len() != 2 {
		t.Errorf("a evicted, or %d entries", c.len())
	}
	c.evict([]string{"a"})
	if _, ok := c.get(a); ok || c.len() != 1 {
		t.Error("a not evicted by key")
	}
	c.purge()
	if c.len() != 0 {
		t.Error("not purged")
	}
	var disabled *cache
	disabled.put(a, result{})
	if _, ok := disabled.get(a); ok || disabled.len() != 0 {
		t.Error("the nil cache cached")
	}
}

// TestShutdownWithUnreadEvents: events nobody reads do not block
// Shutdown.
func TestShutdownWithUnreadEvents(t *testing.T) {
	p := newTestProvider(t, WithResolver(ResolverFile), WithOfflineFlagSourcePath(flagFile(t)))
	p.mu.Lock()
	ctx := p.runCtx
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 2 * eventBuffer {
			p.connected(ctx, []string{"bool-flag"})
		}
	}()
	if err := p.ShutdownWithContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-done
}
