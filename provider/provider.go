// Package provider is an OpenFeature provider for Go
// (github.com/open-feature/go-sdk) that evaluates flags with a Vexil daemon,
// or any flagd, in one of flagd's three modes:
//
//   - rpc: every evaluation is a call to the daemon's
//     flagd.evaluation.v2 service (Connect protocol, protobuf, HTTP/1.1).
//     The daemon's event stream tells when it is ready and which flags
//     changed; results with reason STATIC are cached (reason CACHED) until
//     they change or the connection is lost.
//   - in-process: the daemon's flagd.sync.v1 service streams the flag
//     definitions, and flags are evaluated locally by Vexil's evaluator,
//     with no network on the evaluation path. The sync messages' context
//     (the daemon's static context) is merged under the caller's. This
//     mode is the daemon's own sync client, syncsources/grpcsource, with
//     the local evaluator.
//   - file: the definitions are read from a local file, watched for
//     changes, and evaluated locally: syncsources/filesource with the
//     local evaluator.
//
// [New] takes functional options; each also has flagd's FLAGD_*
// environment variable, and an option wins over its variable, which wins
// over the default (the table of flagd's config.feature).
//
// The provider reports its state with events: READY when the first flags
// arrive (Init waits for them, for at most the deadline), STALE at once
// when the connection is lost, ERROR after the retry grace period, READY
// again on reconnection, and CONFIGURATION_CHANGED with the changed flag
// keys. It reconnects forever, with exponential backoff and jitter, unless
// the server answers one of the fatal status codes before the first
// connection: then the provider is FATAL and stops.
//
// With TLS, the server's certificate is verified against the system's
// roots, or, with a certificate path, against that CA only, in every mode
// (as flagd's providers, and the daemon's own sources).
//
// When Init gives up, its error names the mode, the address and the last
// failure ("provider: rpc: localhost:8013: connect: connection refused (no
// flags within the deadline of 500ms)").
//
// The package logs nothing unless given a logger (WithLogger), and keeps
// no global state: Shutdown stops every goroutine it started.
package provider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/open-feature/go-sdk/openfeature"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vexilhq/vexil/evaluator"
)

// Name is the provider's name in its metadata.
const Name = "vexil-flagd"

// eventBuffer is the capacity of the event channel.
const eventBuffer = 64

// Provider is the OpenFeature provider. It is safe for concurrent use.
type Provider struct {
	cfg     config
	log     *slog.Logger
	fatal   map[codes.Code]bool
	events  chan openfeature.Event
	backend backend

	mu          sync.Mutex
	state       openfeature.State
	running     bool
	initWaiting bool          // Init is waiting for the first connection
	everReady   bool          // connected at least once in this run
	readyCh     chan struct{} // closed at the first connection of a run
	fatalCh     chan struct{} // closed when the run gives up
	fatalErr    error
	lastErr     error // the last outage of this run, for Init's error
	grace       *time.Timer
	runCtx      context.Context
	// stop ends the run; it is read without p.mu, which an event waiting
	// for a reader may hold.
	stop atomic.Pointer[context.CancelFunc]
	wg   sync.WaitGroup
}

// backend is one mode of operation.
type backend interface {
	// run connects and stays connected, reporting to the provider, until
	// ctx ends.
	run(ctx context.Context)
	// evaluate resolves a flag.
	evaluate(ctx context.Context, key string, kind evaluator.Kind, flat openfeature.FlattenedContext) result
	// lost is called when the provider turns ERROR.
	lost()
}

var (
	_ openfeature.FeatureProvider          = (*Provider)(nil)
	_ openfeature.ContextAwareStateHandler = (*Provider)(nil)
	_ openfeature.EventHandler             = (*Provider)(nil)
)

// New returns a provider configured by the options, over the FLAGD_*
// environment variables, over the defaults. It connects nothing: the
// OpenFeature SDK calls Init (InitWithContext) when the provider is set.
func New(opts ...Option) (*Provider, error) {
	var s settings
	for _, o := range opts {
		o(&s)
	}
	cfg, err := resolveConfig(s)
	if err != nil {
		return nil, fmt.Errorf("provider: %w", err)
	}
	return newProvider(cfg)
}

func newProvider(cfg config) (*Provider, error) {
	p := &Provider{
		cfg:    cfg,
		log:    cfg.Logger,
		fatal:  map[codes.Code]bool{},
		events: make(chan openfeature.Event, eventBuffer),
		state:  openfeature.NotReadyState,
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	for _, name := range cfg.FatalStatusCodes {
		c, ok := grpcCodeByName(name)
		if !ok {
			return nil, fmt.Errorf("provider: unknown gRPC status code %q in the fatal status codes", name)
		}
		p.fatal[c] = true
	}
	var err error
	switch cfg.Resolver {
	case ResolverRPC:
		p.backend, err = newRPC(p)
	case ResolverInProcess:
		p.backend, err = newInProcess(p)
	case ResolverFile:
		p.backend, err = newFile(p)
	default:
		err = fmt.Errorf("unknown resolver %q", cfg.Resolver)
	}
	if err != nil {
		return nil, fmt.Errorf("provider: %w", err)
	}
	return p, nil
}

// grpcCodeByName reads a gRPC status code by its name ("UNAVAILABLE"), in
// any case.
func grpcCodeByName(name string) (codes.Code, bool) {
	var c codes.Code
	if err := c.UnmarshalJSON([]byte(strconv.Quote(strings.ToUpper(strings.TrimSpace(name))))); err != nil {
		return 0, false
	}
	return c, true
}

// Metadata returns the provider's name.
func (p *Provider) Metadata() openfeature.Metadata { return openfeature.Metadata{Name: Name} }

// Hooks returns none.
func (p *Provider) Hooks() []openfeature.Hook { return nil }

// EventChannel returns the provider's events.
func (p *Provider) EventChannel() <-chan openfeature.Event { return p.events }

// State returns the provider's state as it last reported it.
func (p *Provider) State() openfeature.State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// Init is InitWithContext without a context.
func (p *Provider) Init(evalCtx openfeature.EvaluationContext) error {
	return p.InitWithContext(context.Background(), evalCtx)
}

// InitWithContext starts the provider and waits until its first flags
// arrive, for at most the deadline (WithDeadline) or until ctx ends. After
// a timeout it returns an error but keeps trying, and reports READY when it
// connects. A fatal status code answered before then makes it return a
// *openfeature.ProviderInitError with code PROVIDER_FATAL.
func (p *Provider) InitWithContext(ctx context.Context, _ openfeature.EvaluationContext) error {
	p.mu.Lock()
	if p.running {
		ready := p.state == openfeature.ReadyState
		p.mu.Unlock()
		if ready {
			return nil
		}
		return errors.New("provider: already initialized and not ready")
	}
	p.running = true
	p.initWaiting = true
	p.everReady = false
	p.fatalErr, p.lastErr = nil, nil
	p.state = openfeature.NotReadyState
	p.readyCh = make(chan struct{})
	p.fatalCh = make(chan struct{})
	var cancel context.CancelFunc
	p.runCtx, cancel = context.WithCancel(context.Background())
	p.stop.Store(&cancel)
	runCtx, readyCh, fatalCh := p.runCtx, p.readyCh, p.fatalCh
	p.wg.Go(func() { p.backend.run(runCtx) })
	p.mu.Unlock()

	timer := time.NewTimer(p.cfg.Deadline)
	defer timer.Stop()
	var timeout error
	select {
	case <-readyCh:
	case <-fatalCh:
	case <-timer.C:
		timeout = fmt.Errorf("no flags within the deadline of %v", p.cfg.Deadline)
	case <-ctx.Done():
		timeout = ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.initWaiting = false
	if timeout != nil {
		// Say where the provider tried to connect, and what went wrong.
		where := fmt.Sprintf("%s: %s", p.cfg.Resolver, p.cfg.address())
		if p.lastErr != nil {
			where += ": " + cause(p.lastErr)
		}
		timeout = fmt.Errorf("provider: %s (%w)", where, timeout)
	}
	switch {
	case p.fatalErr != nil:
		p.state = openfeature.FatalState
		return &openfeature.ProviderInitError{ErrorCode: openfeature.ProviderFatalCode, Message: p.fatalErr.Error()}
	case p.state == openfeature.ReadyState:
		return nil
	}
	p.state = openfeature.ErrorState
	if timeout == nil {
		timeout = errors.New("provider: connection lost during initialization")
	}
	return timeout
}

// Shutdown is ShutdownWithContext without a context.
func (p *Provider) Shutdown() { _ = p.ShutdownWithContext(context.Background()) }

// ShutdownWithContext stops the provider and waits for its goroutines to
// end, or for ctx to end. The provider can be initialized again.
func (p *Provider) ShutdownWithContext(ctx context.Context) error {
	if cancel := p.stop.Swap(nil); cancel != nil {
		(*cancel)()
	}
	p.mu.Lock()
	p.running = false
	p.state = openfeature.NotReadyState
	if p.grace != nil {
		p.grace.Stop()
		p.grace = nil
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// emit sends an event; p.mu is held, so that events keep their order. It
// gives up when the run ends.
func (p *Provider) emit(typ openfeature.EventType, details openfeature.ProviderEventDetails) {
	select {
	case p.events <- openfeature.Event{ProviderName: Name, EventType: typ, ProviderEventDetails: details}:
	case <-p.runCtx.Done():
	}
}

// connected reports flags from the server: the first of a connection, or
// a change (changed are the keys that changed, if known).
func (p *Provider) connected(ctx context.Context, changed []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ctx.Err() != nil || !p.running || p.fatalErr != nil {
		return
	}
	if p.grace != nil {
		p.grace.Stop()
		p.grace = nil
	}
	p.everReady = true
	if p.initWaiting {
		if p.state != openfeature.ReadyState {
			p.state = openfeature.ReadyState
			close(p.readyCh)
		}
		return
	}
	if p.state != openfeature.ReadyState {
		p.state = openfeature.ReadyState
		p.log.Info("flag provider ready")
		p.emit(openfeature.ProviderReady, openfeature.ProviderEventDetails{Message: "connected"})
	}
	if len(changed) > 0 {
		p.emit(openfeature.ProviderConfigChange, openfeature.ProviderEventDetails{
			Message: "flags changed", FlagChanges: changed,
		})
	}
}

// disconnected reports the loss of the connection (or of the file): STALE
// at once, ERROR after the grace period.
func (p *Provider) disconnected(ctx context.Context, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ctx.Err() != nil || !p.running {
		return
	}
	p.lastErr = err
	if p.state != openfeature.ReadyState {
		return
	}
	p.log.Warn("flag provider lost its connection", "error", err)
	msg := "connection lost"
	if err != nil {
		msg += ": " + err.Error()
	}
	if p.initWaiting {
		p.state = openfeature.NotReadyState
		return
	}
	p.state = openfeature.StaleState
	p.emit(openfeature.ProviderStale, openfeature.ProviderEventDetails{Message: msg})
	var t *time.Timer
	t = time.AfterFunc(p.cfg.RetryGracePeriod, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.grace != t || p.state != openfeature.StaleState || ctx.Err() != nil {
			return
		}
		p.grace = nil
		p.state = openfeature.ErrorState
		p.backend.lost()
		p.emit(openfeature.ProviderError, openfeature.ProviderEventDetails{
			Message: msg, ErrorCode: openfeature.GeneralCode,
		})
	})
	p.grace = t
}

// isFatal reports whether err ends the run: one of the fatal status codes,
// before the first connection.
func (p *Provider) isFatal(err error) bool {
	if err == nil || len(p.fatal) == 0 {
		return false
	}
	p.mu.Lock()
	ever := p.everReady
	p.mu.Unlock()
	return !ever && p.fatal[statusCode(err)]
}

// giveUp makes the provider FATAL.
func (p *Provider) giveUp(ctx context.Context, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ctx.Err() != nil || !p.running || p.fatalErr != nil {
		return
	}
	p.log.Error("flag provider gave up", "error", err)
	p.fatalErr = fmt.Errorf("fatal status: %w", err)
	close(p.fatalCh)
	if p.initWaiting {
		return
	}
	p.state = openfeature.FatalState
	p.emit(openfeature.ProviderError, openfeature.ProviderEventDetails{
		Message: p.fatalErr.Error(), ErrorCode: openfeature.ProviderFatalCode,
	})
}

// cause describes an outage briefly: the failed system call of a dial
// ("connect: connection refused"), the message of a gRPC status, or else
// the error.
func cause(err error) string {
	var sys *os.SyscallError
	if errors.As(err, &sys) {
		return sys.Error()
	}
	if s, ok := status.FromError(err); ok {
		return s.Message()
	}
	return err.Error()
}

// statusCode returns the gRPC status code of a gRPC or Connect error
// (Connect's codes are gRPC's).
func statusCode(err error) codes.Code {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return codes.Code(ce.Code())
	}
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	return codes.Unknown
}

// tlsConfig returns the TLS configuration of the rpc mode, nil for none.
// A certificate path replaces the system's roots: the server is verified
// against that CA only, as flagd's providers do, and as the in-process
// mode's grpcsource does with the same file.
func (c config) tlsConfig() (*tls.Config, error) {
	if !c.TLS && c.CertPath == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CertPath != "" {
		pem, err := os.ReadFile(c.CertPath)
		if err != nil {
			return nil, fmt.Errorf("reading the certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", c.CertPath)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}
