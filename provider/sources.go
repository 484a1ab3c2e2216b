package provider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/vexilhq/vexil/syncsources"
	"github.com/vexilhq/vexil/syncsources/filesource"
	"github.com/vexilhq/vexil/syncsources/grpcsource"
)

// selectorHeader carries the selector, as flagd's providers send it.
const selectorHeader = "flagd-selector"

// endpoint is where to connect: a TCP address or a unix socket, and the
// authority to name.
type endpoint struct {
	addr      string // host:port
	socket    string // unix socket path
	authority string // "" for addr's host
}

// endpoint returns where the configuration says to connect.
func (c config) endpoint() (endpoint, error) {
	if c.SocketPath != "" {
		return endpoint{socket: c.SocketPath}, nil
	}
	if c.TargetURI == "" {
		return endpoint{addr: net.JoinHostPort(c.Host, strconv.Itoa(c.Port))}, nil
	}
	t := c.TargetURI
	if !strings.Contains(t, "://") {
		return endpoint{addr: t}, nil
	}
	u, err := url.Parse(t)
	if err != nil {
		return endpoint{}, fmt.Errorf("target URI %q: %w", t, err)
	}
	switch u.Scheme {
	case "envoy":
		// envoy://host:port/authority: connect to host:port, and name the
		// service as the authority for the proxy to route by.
		return endpoint{addr: u.Host, authority: strings.TrimPrefix(u.Path, "/")}, nil
	case "dns", "passthrough":
		// dns:///host:port (or dns://resolver/host:port).
		return endpoint{addr: strings.TrimPrefix(u.Path, "/")}, nil
	case "unix":
		return endpoint{socket: u.Path}, nil
	}
	return endpoint{}, fmt.Errorf("target URI %q: unsupported scheme %q (want envoy, dns, passthrough or unix)", t, u.Scheme)
}

// address names where the provider connects, as configured, for error
// messages: the socket path, the target URI, or host:port.
func (c config) address() string {
	switch {
	case c.Resolver == ResolverFile:
		return c.OfflinePath
	case c.SocketPath != "":
		return c.SocketPath
	case c.TargetURI != "":
		return c.TargetURI
	}
	return net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
}

// sourceBackend evaluates locally the flags a source delivers: in-process
// mode is a grpcsource and the local evaluator, file mode a filesource and
// the local evaluator.
type sourceBackend struct {
	*local
	src  syncsources.Source
	name string // the documents' name in parse errors
}

// newInProcess receives the flags from a flagd.sync.v1 server with a
// grpcsource, sending the selector as the request's and as the
// flagd-selector header, as flagd's providers do. With a certificate path,
// the server is verified against that CA only (see WithCertPath).
func newInProcess(p *Provider) (*sourceBackend, error) {
	ep, err := p.cfg.endpoint()
	if err != nil {
		return nil, err
	}
	cfg := grpcsource.Config{
		Target:         "passthrough:///" + ep.addr,
		Authority:      ep.authority,
		TLS:            p.cfg.TLS || p.cfg.CertPath != "",
		CAFile:         p.cfg.CertPath,
		Selector:       p.cfg.Selector,
		ProviderID:     p.cfg.ProviderID,
		MinBackoff:     p.cfg.RetryBackoff,
		MaxBackoff:     p.cfg.RetryBackoffMax,
		KeepaliveTime:  p.cfg.KeepAlive,
		ConnectTimeout: p.cfg.Deadline,
		StreamDeadline: p.cfg.StreamDeadline,
	}
	if sel := p.cfg.Selector; sel != "" {
		cfg.Headers = map[string]string{selectorHeader: sel}
	}
	if ep.socket != "" {
		cfg.Target = "unix://" + ep.socket
		if !strings.HasPrefix(ep.socket, "/") {
			cfg.Target = "unix:" + ep.socket
		}
		if cfg.Authority == "" {
			cfg.Authority = "localhost"
		}
	}
	src, err := grpcsource.New(cfg)
	if err != nil {
		return nil, err
	}
	return newSourceBackend(p, src, "sync")
}

// newFile reads the flags from a watched local file with a filesource.
func newFile(p *Provider) (*sourceBackend, error) {
	src, err := filesource.New(filesource.Config{Path: p.cfg.OfflinePath, Logger: p.log})
	if err != nil {
		return nil, err
	}
	return newSourceBackend(p, src, p.cfg.OfflinePath)
}

func newSourceBackend(p *Provider, src syncsources.Source, name string) (*sourceBackend, error) {
	l, err := newLocal(p)
	if err != nil {
		return nil, err
	}
	return &sourceBackend{local: l, src: src, name: name}, nil
}

// run applies the source's updates until ctx ends, or until an outage
// with a fatal status code before the first connection.
func (b *sourceBackend) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	updates := make(chan syncsources.Update)
	done := make(chan error, 1)
	go func() { done <- b.src.Run(ctx, updates) }()
	for {
		select {
		case err := <-done:
			if ctx.Err() == nil {
				// The source cannot run at all: say so, and wait for the end.
				b.p.disconnected(ctx, err)
				<-ctx.Done()
			}
			return
		case u := <-updates:
			switch {
			case u.Err != nil && b.p.isFatal(u.Err):
				b.p.giveUp(ctx, u.Err)
				cancel()
				<-done
				return
			case u.Err != nil:
				b.p.disconnected(ctx, u.Err)
			case u.Removed:
				b.p.disconnected(ctx, errors.New("flag file removed"))
			default:
				changed, err := b.apply(b.name, u.Data, u.Format, u.SyncContext)
				if err != nil {
					b.p.log.Warn("flag provider kept its flags", "error", err)
					continue
				}
				b.p.connected(ctx, changed)
			}
		}
	}
}
