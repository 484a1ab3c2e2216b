package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/vexilhq/vexil/daemon/internal/evalsvc"
	"github.com/vexilhq/vexil/daemon/internal/grpcsplit"
	"github.com/vexilhq/vexil/daemon/internal/http1fast"
	"github.com/vexilhq/vexil/daemon/internal/metrics"
	"github.com/vexilhq/vexil/daemon/internal/ofrep"
)

// endpoint is one port: what it serves, and once open, its listener and
// servers.
type endpoint struct {
	name    string
	port    int
	socket  string // a unix socket instead of the port
	policy  policy
	handler http.Handler
	h2c     bool // also serve HTTP/2 without TLS (gRPC clients)
	tls     bool // serve TLS when the daemon has a certificate
	// newGRPC, when set, returns a grpc-go server of the port's services,
	// for native gRPC clients' connections: split then routes the
	// listener's connections between srv and grpcSrv.
	newGRPC func(...grpc.ServerOption) *grpc.Server
	// fastPaths, when set, says which requests the HTTP/1.1 fast path
	// (http1fast) may answer on the port's connections without TLS; it
	// hands the others to srv.
	fastPaths func(method, path string) bool

	ln      net.Listener
	fast    *http1fast.Server
	srv     *http.Server
	split   *grpcsplit.Split
	grpcSrv *grpc.Server
}

// syncServices are the services and methods of the sync port: flagd
// serves them with grpc-go alone, so the port answers nothing else
// (grpcOnly).
var syncServices = map[string][]string{"flagd.sync.v1.FlagSyncService": {"SyncFlags", "FetchAllFlags", "GetMetadata"}}

// openEndpoints builds the services and opens the four ports, each with
// its policy.
func (d *Daemon) openEndpoints() error {
	cfg := d.cfg
	bodyTimeout := cfg.RequestBodyTimeout
	switch {
	case bodyTimeout == 0:
		bodyTimeout = DefaultRequestBodyTimeout
	case bodyTimeout < 0:
		bodyTimeout = 0
	}
	limits := policy{maxBodyBytes: cfg.MaxRequestBodyBytes, maxHeaderBytes: cfg.MaxRequestHeaderBytes, bodyTimeout: bodyTimeout, metrics: d.metrics}
	// "flagd" is the service name flagd's metrics carry on both the
	// evaluation and the OFREP port; the sync and management ports, which
	// flagd does not measure, have their own.
	public := limits
	public.service, public.cors, public.corsOrigins = "flagd", true, cfg.CORSOrigins
	syncPolicy, management := limits, limits
	syncPolicy.service, management.service = "vexil-sync", "vexil-management"

	svc := d.newServices(public.evaluationConnectOptions(), syncPolicy.connectOptions())
	d.shutdowns = svc.shutdowns
	d.endpoints = []*endpoint{
		{name: "evaluation", port: cfg.Port, socket: cfg.SocketPath, policy: public, handler: svc.evaluation, h2c: true, tls: true, newGRPC: svc.newEvaluationGRPC, fastPaths: evalsvc.IsUnary},
		{name: "management", port: cfg.ManagementPort, policy: management, handler: managementHandler(d.store, d.health, d.metrics.Handler(), explainHandler(d.explainResolver())), h2c: true},
		{name: "sync", port: cfg.SyncPort, socket: cfg.SyncSocketPath, policy: syncPolicy, handler: grpcOnly(syncServices, svc.sync), h2c: true, tls: true},
		{name: "ofrep", port: cfg.OFREPPort, policy: public, handler: svc.ofrep, tls: true, fastPaths: ofrep.IsEvaluation},
	}
	for i, e := range d.endpoints {
		if err := d.open(e); err != nil {
			for _, prev := range d.endpoints[:i] {
				prev.ln.Close()
			}
			return fmt.Errorf("daemon: %s port: %w", e.name, err)
		}
	}
	return nil
}

// open opens the port of e and sets up its servers.
func (d *Daemon) open(e *endpoint) error {
	var err error
	if e.ln, err = e.listen(d.cfg.BindAddress); err != nil {
		return err
	}
	e.srv = e.policy.server(e.handler, d.log)
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	useTLS := e.tls && d.certs != nil
	if useTLS {
		protocols.SetHTTP2(true)
		e.srv.TLSConfig = &tls.Config{GetCertificate: d.certs.GetCertificate, MinVersion: tls.VersionTLS12}
	} else if e.h2c {
		protocols.SetUnencryptedHTTP2(true)
	}
	e.srv.Protocols = &protocols
	if e.fastPaths != nil && !useTLS && !d.cfg.DisableHTTP1FastPath {
		e.fast = e.policy.fastServer(e.srv, e.fastPaths)
	}
	if e.newGRPC == nil {
		return nil
	}

	// Native gRPC: the split routes each connection to the gRPC server or
	// the HTTP server.
	var tlsConf *tls.Config
	if useTLS {
		tlsConf = e.srv.TLSConfig.Clone()
		tlsConf.NextProtos = []string{"h2", "http/1.1"}
		// The split decrypts: the HTTP server sees HTTP/2 over TLS as
		// unencrypted HTTP/2, and learns the TLS state from the split.
		e.srv.TLSConfig = nil
		e.srv.Protocols.SetUnencryptedHTTP2(true)
		grpcsplit.RestoreTLS(e.srv)
	}
	m, log := d.metrics, d.log
	e.split = grpcsplit.New(e.ln, grpcsplit.Config{
		TLS: tlsConf, HandshakeTimeout: readHeaderTimeout,
		Routed: func(native bool) {
			if native {
				m.Connection(metrics.ServerGRPC)
			} else {
				m.Connection(metrics.ServerHTTP)
			}
		},
		// As net/http's servers of the other ports say it.
		AcceptRetry: func(err error, wait time.Duration) {
			log.Warn("accepting a connection failed; retrying", "port", e.name, "err", err, "retry_in", wait)
		},
	})
	e.grpcSrv = e.newGRPC(e.policy.grpcOptions(useTLS)...)
	return nil
}

// serve serves the endpoint until its HTTP server shuts down, or until its
// listener fails: it returns the listener's error then.
func (e *endpoint) serve() error {
	switch {
	case e.split != nil:
		var wg sync.WaitGroup
		splitErr := make(chan error, 1)
		wg.Go(func() { splitErr <- e.split.Run() })
		wg.Go(func() { _ = e.grpcSrv.Serve(e.split.GRPC()) })
		var err error
		if e.fast != nil {
			wg.Go(func() { _ = e.fast.Serve(e.split.HTTP()) })
			err = e.srv.Serve(e.fast.Fallback())
		} else {
			err = e.srv.Serve(e.split.HTTP())
		}
		e.split.Close()
		wg.Wait()
		// A split that failed closed the HTTP server's listener: its
		// error, not the server's "use of closed network connection", is
		// the cause. (After Close, Run returns nil.)
		if serr := <-splitErr; serr != nil {
			err = serr
		}
		return err
	case e.srv.TLSConfig != nil:
		return e.srv.ServeTLS(e.ln, "", "")
	case e.fast != nil:
		fastErr := make(chan error, 1)
		go func() { fastErr <- e.fast.Serve(e.ln) }()
		err := e.srv.Serve(e.fast.Fallback())
		// The fast path stops accepting; a failed listener, which ended
		// it and closed the fallback, is the cause.
		e.ln.Close()
		if ferr := <-fastErr; ferr != nil && !errors.Is(ferr, http.ErrServerClosed) && !errors.Is(ferr, net.ErrClosed) {
			err = ferr
		}
		return err
	default:
		return e.srv.Serve(e.ln)
	}
}

// shutdown stops the endpoint's servers gracefully, or at once when ctx
// ends first.
func (e *endpoint) shutdown(ctx context.Context, log *slog.Logger) {
	var wg sync.WaitGroup
	if e.grpcSrv != nil {
		wg.Go(func() {
			done := make(chan struct{})
			go func() {
				e.grpcSrv.GracefulStop()
				close(done)
			}()
			select {
			case <-done:
			case <-ctx.Done():
				log.Warn("gRPC server did not stop in time; closing it", "port", e.name, "err", ctx.Err())
				e.grpcSrv.Stop()
				<-done
			}
		})
	}
	if e.fast != nil {
		wg.Go(func() {
			if err := e.fast.Shutdown(ctx); err != nil {
				log.Warn("HTTP/1.1 fast path did not shut down in time; closing it", "port", e.name, "err", err)
				e.fast.Close()
			}
		})
	}
	if err := e.srv.Shutdown(ctx); err != nil {
		log.Warn("server did not shut down in time; closing it", "port", e.name, "err", err)
		e.srv.Close()
	}
	wg.Wait()
}

// listen opens the endpoint's listener: its unix socket when it has one,
// else its TCP port on bindAddress.
func (e *endpoint) listen(bindAddress string) (net.Listener, error) {
	if e.socket == "" {
		return net.Listen("tcp", net.JoinHostPort(bindAddress, strconv.Itoa(e.port)))
	}
	removeStaleSocket(e.socket)
	return net.Listen("unix", e.socket)
}

// removeStaleSocket removes a unix socket file that nothing listens on any
// more (left by a daemon that was killed), so that the socket can be
// opened again. A socket in use, or a file that is not a socket, is left
// for net.Listen to refuse.
func removeStaleSocket(path string) {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Type() != os.ModeSocket {
		return
	}
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		conn.Close()
		return
	}
	_ = os.Remove(path)
}
