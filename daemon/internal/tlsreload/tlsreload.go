// Package tlsreload serves a TLS certificate and key pair from files and
// reloads it when the files change, so that a rotated certificate (a
// Kubernetes Secret update, cert-manager, a cron job) is served without a
// restart. flagd loads its pair once, at start.
//
// Both files are watched with the file source (syncsources/filesource),
// which already survives editors' atomic renames and Kubernetes' symlink
// swaps. Whenever either changes, the pair is loaded again; a pair that does
// not load (a certificate written before its key, a truncated file, a
// deleted file) keeps the previous pair serving, and is reported to
// Config.OnError. The next change that makes a valid pair replaces it.
package tlsreload

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
	"github.com/vexilhq/vexil/syncsources/filesource"
)

// Config configures a Reloader.
type Config struct {
	// CertPath and KeyPath are PEM files, as tls.LoadX509KeyPair reads
	// them. Both are required.
	CertPath string
	KeyPath  string
	// Debounce is the quiet time after a change before the files are read;
	// zero means filesource.DefaultDebounce.
	Debounce time.Duration
	// OnReload, when set, is called after a new pair was loaded.
	OnReload func(*tls.Certificate)
	// OnError, when set, is called when the files changed but do not make a
	// valid pair; the previous pair keeps serving.
	OnError func(error)
}

// Reloader holds the current pair. Its GetCertificate method is meant for
// tls.Config.GetCertificate. It is safe for concurrent use.
type Reloader struct {
	cfg  Config
	cur  atomic.Pointer[tls.Certificate]
	cert *filesource.Source
	key  *filesource.Source
}

// New loads the pair once; it fails if the pair does not load, so that a
// misconfigured daemon does not start.
func New(cfg Config) (*Reloader, error) {
	if cfg.CertPath == "" || cfg.KeyPath == "" {
		return nil, errors.New("tlsreload: both a certificate and a key path are required")
	}
	pair, err := tls.LoadX509KeyPair(cfg.CertPath, cfg.KeyPath)
	if err != nil {
		return nil, fmt.Errorf("tlsreload: loading %s and %s: %w", cfg.CertPath, cfg.KeyPath, err)
	}
	r := &Reloader{cfg: cfg}
	r.cur.Store(&pair)
	if r.cert, err = filesource.New(filesource.Config{Path: cfg.CertPath, Name: "cert", Debounce: cfg.Debounce, Format: evaluator.FormatJSON}); err != nil {
		return nil, fmt.Errorf("tlsreload: %w", err)
	}
	if r.key, err = filesource.New(filesource.Config{Path: cfg.KeyPath, Name: "key", Debounce: cfg.Debounce, Format: evaluator.FormatJSON}); err != nil {
		return nil, fmt.Errorf("tlsreload: %w", err)
	}
	return r, nil
}

// GetCertificate returns the current pair.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cur.Load(), nil
}

// Current returns the current pair.
func (r *Reloader) Current() *tls.Certificate { return r.cur.Load() }

// Run watches the files until ctx ends, and returns ctx's error then.
func (r *Reloader) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	updates := make(chan syncsources.Update)
	var wg sync.WaitGroup
	for _, src := range []*filesource.Source{r.cert, r.key} {
		wg.Go(func() { _ = src.Run(ctx, updates) })
	}
	defer wg.Wait()

	// The latest contents of each file; a pair is tried once both are known
	// and whenever one changes. The files' first snapshots are the pair
	// loaded in New, or newer.
	var certPEM, keyPEM []byte
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case u := <-updates:
			if u.Err != nil {
				r.fail(fmt.Errorf("tlsreload: %s: %w", r.path(u.Source), u.Err))
				continue
			}
			if u.Source == "cert" {
				certPEM = u.Data
			} else {
				keyPEM = u.Data
			}
			if certPEM == nil || keyPEM == nil {
				continue
			}
			pair, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				r.fail(fmt.Errorf("tlsreload: %s and %s do not make a valid pair; the previous one keeps serving: %w",
					r.cfg.CertPath, r.cfg.KeyPath, err))
				continue
			}
			if same(r.cur.Load(), &pair) {
				continue
			}
			r.cur.Store(&pair)
			if r.cfg.OnReload != nil {
				r.cfg.OnReload(&pair)
			}
		}
	}
}

func (r *Reloader) path(source string) string {
	if source == "cert" {
		return r.cfg.CertPath
	}
	return r.cfg.KeyPath
}

func (r *Reloader) fail(err error) {
	if r.cfg.OnError != nil {
		r.cfg.OnError(err)
	}
}

// same reports whether two pairs hold the same certificate chain.
func same(a, b *tls.Certificate) bool {
	if a == nil || b == nil || len(a.Certificate) != len(b.Certificate) {
		return false
	}
	for i := range a.Certificate {
		if string(a.Certificate[i]) != string(b.Certificate[i]) {
			return false
		}
	}
	return true
}
