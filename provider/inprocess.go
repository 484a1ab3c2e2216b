package provider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"

	"github.com/vexilhq/vexil/evaluator"
	syncv1 "github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1/syncv1connect"
	"github.com/vexilhq/vexil/syncsources"
	"github.com/vexilhq/vexil/syncsources/filesource"
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

// inProcess receives flags from a flagd.sync.v1 server.
type inProcess struct {
	*local
	target string
	opts   []grpc.DialOption
}

func newInProcess(p *Provider) (*inProcess, error) {
	l, err := newLocal(p)
	if err != nil {
		return nil, err
	}
	ep, err := p.cfg.endpoint()
	if err != nil {
		return nil, err
	}
	tlsCfg, err := p.cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if tlsCfg != nil {
		creds = credentials.NewTLS(tlsCfg)
	}
	bc := backoff.DefaultConfig
	bc.BaseDelay, bc.MaxDelay = p.cfg.RetryBackoff, p.cfg.RetryBackoffMax
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: bc, MinConnectTimeout: p.cfg.Deadline}),
	}
	if p.cfg.KeepAlive > 0 {
		opts = append(opts, grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time: p.cfg.KeepAlive, Timeout: max(p.cfg.KeepAlive, p.cfg.Deadline), PermitWithoutStream: true,
		}))
	}
	target := "passthrough:///" + ep.addr
	if ep.socket != "" {
		target = "unix://" + ep.socket
		if !strings.HasPrefix(ep.socket, "/") {
			target = "unix:" + ep.socket
		}
		if ep.authority == "" {
			ep.authority = "localhost"
		}
	}
	if ep.authority != "" {
		opts = append(opts, grpc.WithAuthority(ep.authority))
	}
	return &inProcess{local: l, target: target, opts: opts}, nil
}

func (b *inProcess) run(ctx context.Context) {
	conn, err := grpc.NewClient(b.target, b.opts...)
	if err != nil {
		b.p.giveUp(ctx, fmt.Errorf("sync connection: %w", err))
		return
	}
	defer conn.Close()
	b.p.reconnect(ctx, func(ctx context.Context) (bool, error) { return b.session(ctx, conn) })
}

// session opens one SyncFlags stream and applies its messages until it
// ends; it reports whether a snapshot was applied.
func (b *inProcess) session(ctx context.Context, conn *grpc.ClientConn) (bool, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if d := b.p.cfg.StreamDeadline; d > 0 {
		sctx, cancel = context.WithTimeout(sctx, d)
		defer cancel()
	}
	if sel := b.p.cfg.Selector; sel != "" {
		sctx = metadata.AppendToOutgoingContext(sctx, selectorHeader, sel)
	}
	st, err := conn.NewStream(sctx, &grpc.StreamDesc{StreamName: "SyncFlags", ServerStreams: true}, syncv1connect.FlagSyncServiceSyncFlagsProcedure)
	if err != nil {
		return false, err
	}
	req := &syncv1.SyncFlagsRequest{ProviderId: b.p.cfg.ProviderID, Selector: b.p.cfg.Selector}
	if err := st.SendMsg(req); err != nil {
		return false, recvErr(st, err)
	}
	if err := st.CloseSend(); err != nil {
		return false, err
	}
	connected := false
	for {
		var m syncv1.SyncFlagsResponse
		if err := st.RecvMsg(&m); err != nil {
			if ctx.Err() == nil && errors.Is(sctx.Err(), context.DeadlineExceeded) {
				err = errStreamDeadline
			}
			return connected, err
		}
		var syncCtx map[string]any
		if m.GetSyncContext() != nil {
			syncCtx = m.GetSyncContext().AsMap()
		}
		changed, err := b.apply("sync", []byte(m.GetFlagConfiguration()), evaluator.FormatJSON, syncCtx)
		if err != nil {
			b.p.log.Warn("flag provider kept its flags", "error", err)
			continue
		}
		connected = true
		b.p.connected(ctx, changed)
	}
}

// recvErr returns the stream's status when sending failed because it
// ended.
func recvErr(st grpc.ClientStream, err error) error {
	var m syncv1.SyncFlagsResponse
	if rerr := st.RecvMsg(&m); rerr != nil {
		return rerr
	}
	return err
}

// fileBackend reads flags from a watched local file.
type fileBackend struct {
	*local
	src *filesource.Source
}

func newFile(p *Provider) (*fileBackend, error) {
	l, err := newLocal(p)
	if err != nil {
		return nil, err
	}
	src, err := filesource.New(filesource.Config{Path: p.cfg.OfflinePath, Logger: p.log})
	if err != nil {
		return nil, err
	}
	return &fileBackend{local: l, src: src}, nil
}

func (b *fileBackend) run(ctx context.Context) {
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
			case u.Err != nil:
				b.p.disconnected(ctx, u.Err)
			case u.Removed:
				b.p.disconnected(ctx, errors.New("flag file removed"))
			default:
				changed, err := b.apply(b.p.cfg.OfflinePath, u.Data, u.Format, nil)
				if err != nil {
					b.p.log.Warn("flag provider kept its flags", "error", err)
					continue
				}
				b.p.connected(ctx, changed)
			}
		}
	}
}
