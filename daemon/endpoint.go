package daemon

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/vexilhq/vexil/daemon/internal/grpcsplit"
	"github.com/vexilhq/vexil/daemon/internal/metrics"
)

// endpoint is one open port and its servers.
type endpoint struct {
	name string
	ln   net.Listener
	srv  *http.Server
	// With native gRPC (the evaluation port), split routes the listener's
	// connections between srv and grpcSrv.
	split   *grpcsplit.Split
	grpcSrv *grpc.Server
}

// portSpec is what openEndpoints makes an endpoint of.
type portSpec struct {
	name    string
	port    int
	socket  string // a unix socket instead of the port
	policy  policy
	handler http.Handler
	h2c     bool // also serve HTTP/2 without TLS (gRPC clients)
	tls     bool // serve TLS when the daemon has a certificate
	// newGRPC, when set, returns a grpc-go server of the port's services,
	// for native gRPC clients' connections (grpcsplit).
	newGRPC func(...grpc.ServerOption) *grpc.Server
}

// openEndpoints builds the services and opens the four ports, each with
// its policy.
func (d *Daemon) openEndpoints() error {
	cfg := d.cfg
	limits := policy{maxBodyBytes: cfg.MaxRequestBodyBytes, maxHeaderBytes: cfg.MaxRequestHeaderBytes, metrics: d.metrics}
	// "flagd" is the service name flagd's metrics carry on both the
	// evaluation and the OFREP port; the sync and management ports, which
	// flagd does not measure, have their own.
	public := limits
	public.service, public.corsOrigins = "flagd", cfg.CORSOrigins
	syncPolicy, management := limits, limits
	syncPolicy.service, management.service = "vexil-sync", "vexil-management"

	svc := d.newServices(public.connectOptions(), syncPolicy.connectOptions())
	d.shutdowns = svc.shutdowns
	ports := []portSpec{
		{name: "evaluation", port: cfg.Port, socket: cfg.SocketPath, policy: public, handler: svc.evaluation, h2c: true, tls: true, newGRPC: svc.newEvaluationGRPC},
		{name: "management", port: cfg.ManagementPort, policy: management, handler: managementHandler(d.store, d.health, d.metrics.Handler()), h2c: true},
		{name: "sync", port: cfg.SyncPort, socket: cfg.SyncSocketPath, policy: syncPolicy, handler: svc.sync, h2c: true, tls: true},
		{name: "ofrep", port: cfg.OFREPPort, policy: public, handler: svc.ofrep, tls: true},
	}
	for _, p := range ports {
		e, err := d.openEndpoint(p)
		if err != nil {
			d.Close()
			return fmt.Errorf("daemon: %s port: %w", p.name, err)
		}
		d.endpoints = append(d.endpoints, e)
	}
	return nil
}

// openEndpoint opens the port of p and sets up its servers.
func (d *Daemon) openEndpoint(p portSpec) (*endpoint, error) {
	ln, err := listen(p, d.cfg.BindAddress)
	if err != nil {
		return nil, err
	}
	e := &endpoint{name: p.name, ln: ln, srv: p.policy.server(p.handler, d.log)}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	useTLS := p.tls && d.certs != nil
	if useTLS {
		protocols.SetHTTP2(true)
		e.srv.TLSConfig = &tls.Config{GetCertificate: d.certs.GetCertificate, MinVersion: tls.VersionTLS12}
	} else if p.h2c {
		protocols.SetUnencryptedHTTP2(true)
	}
	e.srv.Protocols = &protocols
	if p.newGRPC == nil {
		return e, nil
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
	m := d.metrics
	e.split = grpcsplit.New(ln, grpcsplit.Config{TLS: tlsConf, HandshakeTimeout: readHeaderTimeout, Routed: func(native bool) {
		if native {
			m.Connection(metrics.ServerGRPC)
		} else {
			m.Connection(metrics.ServerHTTP)
		}
	}})
	e.grpcSrv = p.newGRPC(p.policy.grpcOptions(useTLS)...)
	return e, nil
}

// serve serves the endpoint until its HTTP server shuts down.
func (e *endpoint) serve() error {
	switch {
	case e.split != nil:
		var wg sync.WaitGroup
		splitErr := make(chan error, 1)
		wg.Go(func() { splitErr <- e.split.Run() })
		wg.Go(func() { _ = e.grpcSrv.Serve(e.split.GRPC()) })
		err := e.srv.Serve(e.split.HTTP())
		e.split.Close()
		wg.Wait()
		if serr := <-splitErr; serr != nil && err == nil {
			err = serr
		}
		return err
	case e.srv.TLSConfig != nil:
		return e.srv.ServeTLS(e.ln, "", "")
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
	if err := e.srv.Shutdown(ctx); err != nil {
		log.Warn("server did not shut down in time; closing it", "port", e.name, "err", err)
		e.srv.Close()
	}
	wg.Wait()
}

// listen opens the listener of p: its unix socket when it has one, else
// its TCP port on bindAddress.
func listen(p portSpec, bindAddress string) (net.Listener, error) {
	if p.socket == "" {
		return net.Listen("tcp", net.JoinHostPort(bindAddress, strconv.Itoa(p.port)))
	}
	removeStaleSocket(p.socket)
	return net.Listen("unix", p.socket)
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
