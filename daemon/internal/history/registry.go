package history

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Opener opens a store from a URL of its scheme.
type Opener func(ctx context.Context, url string) (Store, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Opener{}
)

// Register makes Open use opener for URLs of scheme (without the colon). It
// panics if the scheme is registered twice; drivers call it from init.
func Register(scheme string, opener Opener) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[scheme]; dup {
		panic("history: scheme registered twice: " + scheme)
	}
	registry[scheme] = opener
}

// Schemes returns the registered schemes, sorted.
func Schemes() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	s := make([]string, 0, len(registry))
	for k := range registry {
		s = append(s, k)
	}
	slices.Sort(s)
	return s
}

// Open opens the store url names (see the package comment for the schemes).
// The SQL stores connect and migrate before Open returns, so an unreachable
// or unusable database is an error here.
func Open(ctx context.Context, url string) (Store, error) {
	scheme, _, ok := strings.Cut(url, ":")
	if !ok || scheme == "" {
		return nil, fmt.Errorf("history: store URL %q has no scheme; want one of %s", url, strings.Join(Schemes(), ", "))
	}
	registryMu.RLock()
	opener, ok := registry[strings.ToLower(scheme)]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("history: store URL %q: unknown scheme %q; want one of %s", url, scheme, strings.Join(Schemes(), ", "))
	}
	return opener(ctx, url)
}
