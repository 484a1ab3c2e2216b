// Package gauntlet attacks a running vexil binary the way issue 17's
// probe did, as a permanent suite: hostile requests on every port, hostile
// flag documents, source faults, a rollback that must reach every stream,
// and SIGTERM with many streams open. Each check says what it expects (a
// clear 4xx or a closed connection, the last good flags serving, healthy
// clients still served, no exit) and returns an error when that does not
// hold.
//
// TestGauntlet runs the checks in short mode inside go test (a few hundred
// connections and streams); the command gauntlet (cmd/gauntlet) runs them
// in long mode (thousands) and also reports each hostile document's load
// time and the daemon's peak resident memory against the budgets stated in
// the README. Neither asserts timing in a test: waits are bounded, and a
// wait that runs out fails with what was last seen.
package gauntlet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Scale is how hard the checks push.
type Scale struct {
	Conns   int // idle, slow-header and slow-body connections per kind
	Flood   int // requests of a flood, per port
	Streams int // sync and event streams held open
	// WaitSlow makes the slow-header and slow-body checks wait until the
	// daemon closes the attackers' connections (5 s and 10 s); without
	// it they check that healthy clients are served meanwhile.
	WaitSlow bool
	// Docs sizes the large hostile documents: flags of "many flags",
	// elements of "huge array" (ten times that), variants (twice that).
	Docs int
}

// Short is the scale of go test; Long the command's default.
var (
	Short = Scale{Conns: 200, Flood: 2000, Streams: 200, Docs: 10000}
	Long  = Scale{Conns: 1000, Flood: 50000, Streams: 1000, WaitSlow: true, Docs: 100000}
)

// Config configures a gauntlet run.
type Config struct {
	Binary  string // the vexil binary
	Dir     string // a directory for the flag files
	Scale   Scale
	Logf    func(format string, args ...any) // progress; nil: none
	Timeout time.Duration                    // bound on each check; 0: 2 min
}

// Env is what the checks work with: the daemon, its file source, and an
// HTTP source the gauntlet serves and can take down.
type Env struct {
	cfg      Config
	Daemon   *Daemon
	FlagFile string // the file source's path (JSON)
	YAMLFile string // a second file source, YAML
	HTTP     *FlakyServer
	healthy  http.Client
	gen      atomic.Int64 // the generation of the good document now written

	docResults []DocResult
}

// Check is one attack and what it expects.
type Check struct {
	Name string
	Run  func(ctx context.Context, e *Env) error
}

// Checks are every check, in the order they run; SIGTERM, which ends the
// daemon, is last.
func Checks() []Check {
	return []Check{
		{"oversized bodies", checkOversized},
		{"compression bombs", checkCompressionBombs},
		{"deep nesting", checkDeepNesting},
		{"malformed requests", checkMalformed},
		{"idle connections", checkIdleConns},
		{"slow headers", checkSlowHeaders},
		{"slow bodies", checkSlowBodies},
		{"request floods", checkFloods},
		{"HTTP/2 ping and reset floods", checkHTTP2Floods},
		{"hostile documents", checkHostileDocuments},
		{"file source faults", checkFileFaults},
		{"HTTP source faults", checkHTTPFaults},
		{"rollback A->B->A reaches every stream", checkRollback},
		{"SIGTERM with open streams", checkSIGTERM},
	}
}

// Result is one check's outcome.
type Result struct {
	Name  string
	Err   error
	Took  time.Duration
	After Stats // the daemon's figures after the check
	Notes []string
}

// Start starts the daemon on a good document with a JSON file source, a
// YAML file source and an HTTP source.
func Start(cfg Config) (*Env, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	e := &Env{cfg: cfg, FlagFile: filepath.Join(cfg.Dir, "flags.json"), YAMLFile: filepath.Join(cfg.Dir, "more.yaml")}
	var err error
	e.healthy.Timeout = 10 * time.Second
	e.healthy.Transport = &http.Transport{MaxIdleConnsPerHost: 16}
	if err = e.WriteGood(1); err != nil {
		return nil, err
	}
	if err = writeAtomic(e.YAMLFile, []byte("flags:\n  yaml-flag:\n    state: ENABLED\n    variants: {on: true, off: false}\n    defaultVariant: on\n")); err != nil {
		return nil, err
	}
	e.HTTP, err = NewFlakyServer(httpDoc("from-http"))
	if err != nil {
		return nil, err
	}
	sources := fmt.Sprintf(`[{"uri":%q,"provider":"file"},{"uri":%q,"provider":"file"},{"uri":%q,"provider":"http","interval":1,"timeoutS":2}]`,
		e.FlagFile, e.YAMLFile, e.HTTP.URL())
	d, err := StartDaemon(cfg.Binary, nil, "--sources", sources)
	if err != nil {
		e.HTTP.Close()
		return nil, err
	}
	e.Daemon = d
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.AwaitServed(ctx, 1); err != nil {
		e.Close()
		return nil, fmt.Errorf("the first document: %w", err)
	}
	return e, nil
}

// Close stops the daemon (if it still runs) and the HTTP source.
func (e *Env) Close() {
	if e.Daemon != nil && e.Daemon.Alive() == nil {
		e.Daemon.Kill()
	}
	e.HTTP.Close()
	e.healthy.CloseIdleConnections()
}

// Run runs one check, bounded by the configured timeout, then checks that
// the daemon is alive and serves healthy clients, and reads its figures.
func (e *Env) Run(c Check) Result {
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.Timeout)
	defer cancel()
	start := time.Now()
	r := Result{Name: c.Name}
	r.Err = c.Run(ctx, e)
	r.Took = time.Since(start)
	if r.Err == nil && c.Name != "SIGTERM with open streams" {
		if err := e.Healthy(ctx); err != nil {
			r.Err = fmt.Errorf("after the check: %w", err)
		}
		r.After, _ = e.Daemon.Stats(ctx)
	}
	return r
}

// RunAll starts the daemon and runs every check (or those named in
// only), one after the other.
func RunAll(cfg Config, only func(name string) bool) ([]Result, error) {
	e, err := Start(cfg)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	var results []Result
	for _, c := range Checks() {
		if only != nil && !only(c.Name) {
			continue
		}
		e.cfg.Logf("check: %s", c.Name)
		r := e.Run(c)
		results = append(results, r)
		e.cfg.Logf("check: %s: %v in %v (after: %+v)", c.Name, errOrOK(r.Err), r.Took.Round(time.Millisecond), r.After)
	}
	return results, nil
}

func errOrOK(err error) string {
	if err == nil {
		return "ok"
	}
	return "FAILED: " + err.Error()
}

// writeAtomic replaces a file atomically.
func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// FlakyServer serves a flag document over HTTP and can be made to fail:
// down (its listener closed), erroring (500), returning garbage, or slow
// (never answering within the source's timeout).
type FlakyServer struct {
	mu    sync.Mutex
	doc   []byte
	mode  string // "", "500", "garbage", "slow"
	srv   *http.Server
	addr  string
	block chan struct{} // closed at Close, ends slow answers
}

// NewFlakyServer serves doc on a loopback port.
func NewFlakyServer(doc []byte) (*FlakyServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &FlakyServer{doc: doc, block: make(chan struct{}), addr: ln.Addr().String()}
	f.serveOn(ln)
	return f, nil
}

func (f *FlakyServer) serveOn(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(f.serve), ReadHeaderTimeout: 5 * time.Second}
	f.mu.Lock()
	f.srv = srv
	f.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// URL is the document's URL.
func (f *FlakyServer) URL() string { return "http://" + f.addr + "/flags.json" }

func (f *FlakyServer) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	mode, doc := f.mode, f.doc
	f.mu.Unlock()
	switch mode {
	case "500":
		http.Error(w, "the gauntlet says 500", http.StatusInternalServerError)
	case "garbage":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("\x00\xff{{{ not a flag document"))
	case "slow":
		select {
		case <-r.Context().Done():
		case <-f.block:
		}
	default:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	}
}

// Set makes the server answer in mode ("" for the document).
func (f *FlakyServer) Set(mode string) {
	f.mu.Lock()
	f.mode = mode
	f.mu.Unlock()
}

// SetDoc changes the document served.
func (f *FlakyServer) SetDoc(doc []byte) {
	f.mu.Lock()
	f.doc = doc
	f.mu.Unlock()
}

// Down closes the listener and every connection.
func (f *FlakyServer) Down() {
	f.mu.Lock()
	srv := f.srv
	f.mu.Unlock()
	_ = srv.Close()
}

// Up serves again on the same address after Down.
func (f *FlakyServer) Up() error {
	var ln net.Listener
	var err error
	for range 100 { // the port may linger a moment
		if ln, err = net.Listen("tcp", f.addr); err == nil {
			f.serveOn(ln)
			return nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// Close stops the server.
func (f *FlakyServer) Close() {
	select {
	case <-f.block:
	default:
		close(f.block)
	}
	f.Down()
}
