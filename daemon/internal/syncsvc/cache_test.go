package syncsvc

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"unsafe"
	"weak"

	"connectrpc.com/connect"

	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/daemon/internal/storetest"
	syncv1 "github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1"
)

// document returns a flag document of n flags spread over sets flag sets
// ("set-0", ...), each flag's variants padded to about pad bytes.
func document(t testing.TB, n, sets, pad int) []byte {
	t.Helper()
	flags := make(map[string]any, n)
	for i := range n {
		flags[fmt.Sprintf("flag-%d", i)] = map[string]any{
			"state":          "ENABLED",
			"defaultVariant": "on",
			"variants":       map[string]any{"on": strings.Repeat("x", pad), "off": fmt.Sprint(i)},
			"metadata":       map[string]any{"flagSetId": fmt.Sprintf("set-%d", i%sets)},
		}
	}
	b, err := json.Marshal(map[string]any{"flags": flags})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fetch calls FetchAllFlags with the selector, as a client would.
func fetch(t testing.TB, s *Service, selector string) string {
	t.Helper()
	resp, err := (&handler{s}).FetchAllFlags(context.Background(), connect.NewRequest(&syncv1.FetchAllFlagsRequest{Selector: selector}))
	if err != nil {
		t.Fatalf("FetchAllFlags %q: %v", selector, err)
	}
	return resp.Msg.GetFlagConfiguration()
}

// payloadRef is a weak reference to a payload's bytes: it says whether
// anything still holds them.
func payloadRef(conf string) weak.Pointer[byte] { return weak.Make(unsafe.StringData(conf)) }

// The selectors the tests ask about: some select flags of the large
// document, some nothing at all.
var testSelectors = []string{
	"", "flagSetId=set-0", "flagSetId=set-1", "source=big.json", "big.json",
	"flagSetId=no-such-set", "source=no-such-source", "source=", "junk",
}

// TestCacheLetsOldSnapshotsGo checks that once the store has moved on the
// cache keeps neither the old snapshot nor the payloads built from it,
// whichever selectors were asked about: a FetchAllFlags on a large
// document with several selectors, then a small document and one more
// FetchAllFlags, leave both collectable. It also checks that the streams
// and requests of one selector still share one payload.
func TestCacheLetsOldSnapshotsGo(t *testing.T) {
	st := store.New(store.Config{Sources: []string{"big.json"}})
	storetest.Apply(t, st, "big.json", document(t, 2000, 4, 2000)) // about 4 MB
	s := New(Config{Store: st})

	oldSnap := weak.Make(st.Current())
	var oldPayloads []weak.Pointer[byte]
	for _, sel := range testSelectors {
		conf, again := fetch(t, s, sel), fetch(t, s, sel)
		if conf != again {
			t.Fatalf("%q: two answers", sel)
		}
		if strings.HasPrefix(sel, "flagSetId=set-") || sel == "" {
			if unsafe.StringData(conf) != unsafe.StringData(again) {
				t.Errorf("%q: the payload is built for every request, not shared", sel)
			}
			oldPayloads = append(oldPayloads, payloadRef(conf))
		}
	}

	small := `{"flags": {` +
		`"a": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},` +
		`"b": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},` +
		`"c": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},` +
		`"d": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}}}`
	storetest.Apply(t, st, "big.json", []byte(small))
	if got := fetch(t, s, ""); !strings.Contains(got, `"d":`) || len(got) > 1000 {
		t.Fatalf("after the small document: %.200s", got)
	}

	runtime.GC()
	if oldSnap.Value() != nil {
		t.Error("the old snapshot is still reachable")
	}
	for i, p := range oldPayloads {
		if p.Value() != nil {
			t.Errorf("payload %d of the old snapshot is still reachable", i)
		}
	}
	runtime.KeepAlive(s) // the service, and its cache, are still in use
}

// TestCacheLetsOldSnapshotsGoWithoutRequests checks that the payloads of a
// snapshot go with it even when no request comes after the store moves on.
func TestCacheLetsOldSnapshotsGoWithoutRequests(t *testing.T) {
	st := store.New(store.Config{Sources: []string{"big.json"}})
	storetest.Apply(t, st, "big.json", document(t, 200, 2, 2000))
	s := New(Config{Store: st})
	oldSnap := weak.Make(st.Current())
	payload := payloadRef(fetch(t, s, ""))

	storetest.Apply(t, st, "big.json", document(t, 4, 1, 10))
	runtime.GC()
	if oldSnap.Value() != nil {
		t.Fatal("the old snapshot is still reachable")
	}
	// The cache lets the payload go in the snapshot's cleanup, which runs
	// on a goroutine of its own after the collection; nothing signals it.
	for i := 0; payload.Value() != nil && i < 1000; i++ {
		runtime.Gosched()
		runtime.GC()
	}
	if payload.Value() != nil {
		t.Error("the payload of the old snapshot is still reachable")
	}
	runtime.KeepAlive(s)
}

// TestCacheJunkSelectorsAcrossVersions checks that selectors that select
// nothing, asked about across many versions of the document, pin no
// snapshot.
func TestCacheJunkSelectorsAcrossVersions(t *testing.T) {
	st := store.New(store.Config{Sources: []string{"big.json"}})
	s := New(Config{Store: st})
	var old []weak.Pointer[store.Snapshot]
	for v := range 20 {
		storetest.Apply(t, st, "big.json", document(t, 50+v, 2, 1000))
		old = append(old, weak.Make(st.Current()))
		for i := range 2 {
			fetch(t, s, fmt.Sprintf("flagSetId=junk-%d-%d", v, i))
			fetch(t, s, fmt.Sprintf("junk-%d-%d.json", v, i))
		}
	}
	storetest.Apply(t, st, "big.json", document(t, 4, 1, 10))
	runtime.GC()
	for v, p := range old {
		if p.Value() != nil {
			t.Errorf("the snapshot of version %d is still reachable", v)
		}
	}
	runtime.KeepAlive(s)
}

// TestCacheBounds checks the cache's bounds: junk selectors are not
// cached; no more than maxEntries payloads nor, unless one payload alone,
// more than maxBytes are; and what is not cached is still answered.
func TestCacheBounds(t *testing.T) {
	st := store.New(store.Config{Sources: []string{"big.json"}})
	storetest.Apply(t, st, "big.json", document(t, 300, 300, 100)) // one flag per set
	s := New(Config{Store: st})
	c := &s.cache
	check := func(what string) {
		t.Helper()
		c.mu.Lock()
		defer c.mu.Unlock()
		total := 0
		for sel, e := range c.entries {
			if len(st.Current().Flags(sel)) == 0 {
				t.Errorf("%s: %q, which selects nothing, is cached", what, sel)
			}
			total += len(e.conf)
		}
		if len(c.entries) > c.maxEntries {
			t.Errorf("%s: %d entries cached, more than %d", what, len(c.entries), c.maxEntries)
		}
		if total != c.bytes {
			t.Errorf("%s: %d bytes cached, %d counted", what, total, c.bytes)
		}
		if c.bytes > c.maxBytes && len(c.entries) > 1 {
			t.Errorf("%s: %d bytes cached in %d entries, more than %d", what, c.bytes, len(c.entries), c.maxBytes)
		}
	}

	for i := range 1000 {
		if got := fetch(t, s, fmt.Sprintf("flagSetId=junk-%d", i)); got != `{"flags":{}}` {
			t.Fatalf("junk selector: %s", got)
		}
	}
	check("junk selectors")
	if len(c.entries) != 0 {
		t.Errorf("%d entries cached for junk selectors", len(c.entries))
	}

	for i := range 300 {
		if got := fetch(t, s, fmt.Sprintf("flagSetId=set-%d", i)); !strings.Contains(got, fmt.Sprintf(`"flag-%d":`, i)) {
			t.Fatalf("set-%d: %.200s", i, got)
		}
	}
	check("many flag sets")
	if len(c.entries) != c.maxEntries {
		t.Errorf("%d entries cached, want %d", len(c.entries), c.maxEntries)
	}

	// A small byte budget, in a new generation.
	c.mu.Lock()
	c.maxBytes = 1000
	c.mu.Unlock()
	storetest.Apply(t, st, "big.json", document(t, 300, 300, 100))
	for i := range 300 {
		fetch(t, s, fmt.Sprintf("flagSetId=set-%d", i))
	}
	check("small byte budget")
	if len(c.entries) == 0 || len(c.entries) >= 300 {
		t.Errorf("%d entries cached within %d bytes", len(c.entries), c.maxBytes)
	}

	// A payload longer than the budget is cached when it is alone.
	storetest.Apply(t, st, "big.json", document(t, 300, 300, 100))
	all := fetch(t, s, "")
	if len(all) <= c.maxBytes {
		t.Fatalf("payload of %d bytes", len(all))
	}
	if unsafe.StringData(fetch(t, s, "")) != unsafe.StringData(all) {
		t.Error("a payload longer than the budget is not cached alone")
	}
	fetch(t, s, "flagSetId=set-0")
	check("one long payload")
	if len(c.entries) != 1 {
		t.Errorf("%d entries cached with a long payload", len(c.entries))
	}
}

// TestCacheSharesConcurrentRequests checks that requests for the same
// selector made at once get one payload, built once: those that come while
// it is being built wait for it.
func TestCacheSharesConcurrentRequests(t *testing.T) {
	st := store.New(store.Config{Sources: []string{"big.json"}})
	storetest.Apply(t, st, "big.json", document(t, 500, 2, 1000))
	s := New(Config{Store: st})
	const n = 16
	confs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, err := (&handler{s}).FetchAllFlags(context.Background(), connect.NewRequest(&syncv1.FetchAllFlagsRequest{Selector: "flagSetId=set-1"}))
			if err != nil {
				t.Error(err)
				return
			}
			confs[i] = resp.Msg.GetFlagConfiguration()
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i, conf := range confs {
		if unsafe.StringData(conf) != unsafe.StringData(confs[0]) {
			t.Fatalf("request %d got a payload of its own", i)
		}
	}
}

// TestCacheDoesNotKeepTheService checks that the cache's hook on the
// snapshot it holds payloads of does not keep a service that is no longer
// used alive for as long as its store's snapshot lives.
func TestCacheDoesNotKeepTheService(t *testing.T) {
	st := store.New(store.Config{Sources: []string{"big.json"}})
	storetest.Apply(t, st, "big.json", document(t, 10, 1, 10))
	s := New(Config{Store: st})
	fetch(t, s, "")
	svc := weak.Make(s)
	s = nil
	runtime.GC()
	if svc.Value() != nil {
		t.Error("the service is still reachable")
	}
	runtime.KeepAlive(st)
}
