package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/open-feature/go-sdk/openfeature"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/vexilhq/vexil/evaluator"
	evaluationv2 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2/evaluationv2connect"
	"github.com/vexilhq/vexil/syncsources/poll"
)

// The event types of flagd.evaluation's EventStream.
const (
	eventProviderReady = "provider_ready"
	eventConfigChange  = "configuration_change"
)

// rpc evaluates every flag with the daemon's flagd.evaluation.v2 service.
type rpc struct {
	p         *Provider
	transport *http.Transport
	client    evaluationv2connect.ServiceClient
	cache     *cache // nil when disabled
	online    atomic.Bool
}

// hostRoundTripper names the authority of a target URI in every request.
type hostRoundTripper struct {
	host string
	next http.RoundTripper
}

func (h hostRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Host = h.host
	return h.next.RoundTrip(r)
}

func newRPC(p *Provider) (*rpc, error) {
	ep, err := p.cfg.endpoint()
	if err != nil {
		return nil, err
	}
	tlsCfg, err := p.cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: p.cfg.Deadline, KeepAlive: p.cfg.KeepAlive}
	if p.cfg.KeepAlive == 0 {
		dialer.KeepAlive = -1
	}
	tr := &http.Transport{
		DialContext:         dialer.DialContext,
		TLSClientConfig:     tlsCfg,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		// The daemon, as flagd, compresses every answer of a client that
		// accepts gzip, small ones too: on the provider's connection
		// (loopback or a local network, in general) that costs both
		// sides more than it saves. So neither the transport nor
		// connect-go asks for it (see the client's options below).
		DisableCompression: true,
	}
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	base := scheme + "://" + ep.addr
	if ep.socket != "" {
		socket := ep.socket
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", socket)
		}
		base = scheme + "://localhost"
	}
	var rt http.RoundTripper = tr
	if ep.authority != "" {
		rt = hostRoundTripper{host: ep.authority, next: tr}
	}
	b := &rpc{
		p:         p,
		transport: tr,
		// No compressor: connect-go then sends no Accept-Encoding (nor
		// Connect-Accept-Encoding) and the daemon answers uncompressed.
		client: evaluationv2connect.NewServiceClient(&http.Client{Transport: rt}, base,
			connect.WithAcceptCompression("gzip", nil, nil)),
	}
	switch p.cfg.Cache {
	case CacheLRU:
		b.cache = newCache(p.cfg.MaxCacheSize)
	case CacheMem:
		b.cache = newCache(0)
	}
	return b, nil
}

func (b *rpc) run(ctx context.Context) {
	defer b.transport.CloseIdleConnections()
	defer b.online.Store(false)
	b.p.reconnect(ctx, b.session)
}

// session opens one event stream and follows it until it ends; it reports
// whether the daemon said it was ready.
func (b *rpc) session(ctx context.Context) (bool, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if d := b.p.cfg.StreamDeadline; d > 0 {
		sctx, cancel = context.WithTimeout(sctx, d)
		defer cancel()
	}
	req := connect.NewRequest(&evaluationv2.EventStreamRequest{})
	b.header(req.Header())
	st, err := b.client.EventStream(sctx, req)
	if err != nil {
		return false, err
	}
	defer st.Close()
	defer b.online.Store(false)
	connected := false
	for st.Receive() {
		m := st.Msg()
		switch m.GetType() {
		case eventProviderReady:
			// Whatever was cached may have changed while disconnected.
			b.cache.purge()
			b.online.Store(true)
			connected = true
			b.p.connected(ctx, nil)
		case eventConfigChange:
			keys := changedFlags(m.GetData())
			b.cache.evict(keys)
			b.p.connected(ctx, keys)
		}
	}
	err = st.Err()
	if ctx.Err() == nil && errors.Is(sctx.Err(), context.DeadlineExceeded) {
		err = errStreamDeadline
	}
	if err == nil {
		err = errors.New("event stream ended")
	}
	return connected, err
}

// changedFlags returns the keys of a configuration_change event's
// {"flags": {key: {...}}}.
func changedFlags(data *structpb.Struct) []string {
	flags := data.GetFields()["flags"].GetStructValue().GetFields()
	keys := make([]string, 0, len(flags))
	for k := range flags {
		keys = append(keys, k)
	}
	return keys
}

// lost purges the cache when the provider turns ERROR.
func (b *rpc) lost() { b.cache.purge() }

func (b *rpc) header(h http.Header) {
	if sel := b.p.cfg.Selector; sel != "" {
		h.Set(selectorHeader, sel)
	}
}

// evaluate calls Resolve<Type>, or answers from the cache.
func (b *rpc) evaluate(ctx context.Context, key string, kind evaluator.Kind, flat openfeature.FlattenedContext) result {
	ck := cacheKey{key: key, kind: kind}
	if r, ok := b.cache.get(ck); ok {
		r.reason = openfeature.CachedReason
		return r
	}
	evalCtx, err := contextStruct(flat)
	if err != nil {
		return failed(openfeature.NewInvalidContextResolutionError(err.Error()))
	}
	ctx, cancel := context.WithTimeout(ctx, b.p.cfg.Deadline)
	defer cancel()
	r, err := b.call(ctx, key, kind, evalCtx)
	if err != nil {
		return failed(rpcError(err))
	}
	if r.reason == openfeature.StaticReason && b.online.Load() {
		b.cache.put(ck, r)
	}
	return r
}

func (b *rpc) call(ctx context.Context, key string, kind evaluator.Kind, evalCtx *structpb.Struct) (result, error) {
	var (
		r   result
		err error
	)
	switch kind {
	case evaluator.KindBool:
		r, err = resolve(ctx, b, b.client.ResolveBoolean, &evaluationv2.ResolveBooleanRequest{FlagKey: key, Context: evalCtx},
			func(m *evaluationv2.ResolveBooleanResponse) (result, any, bool) {
				return rpcResult(m.Reason, m.Variant, m.Metadata), m.GetValue(), m.Value != nil
			})
	case evaluator.KindString:
		r, err = resolve(ctx, b, b.client.ResolveString, &evaluationv2.ResolveStringRequest{FlagKey: key, Context: evalCtx},
			func(m *evaluationv2.ResolveStringResponse) (result, any, bool) {
				return rpcResult(m.Reason, m.Variant, m.Metadata), m.GetValue(), m.Value != nil
			})
	case evaluator.KindInt:
		r, err = resolve(ctx, b, b.client.ResolveInt, &evaluationv2.ResolveIntRequest{FlagKey: key, Context: evalCtx},
			func(m *evaluationv2.ResolveIntResponse) (result, any, bool) {
				return rpcResult(m.Reason, m.Variant, m.Metadata), m.GetValue(), m.Value != nil
			})
	case evaluator.KindFloat:
		r, err = resolve(ctx, b, b.client.ResolveFloat, &evaluationv2.ResolveFloatRequest{FlagKey: key, Context: evalCtx},
			func(m *evaluationv2.ResolveFloatResponse) (result, any, bool) {
				return rpcResult(m.Reason, m.Variant, m.Metadata), m.GetValue(), m.Value != nil
			})
	case evaluator.KindObject:
		r, err = resolve(ctx, b, b.client.ResolveObject, &evaluationv2.ResolveObjectRequest{FlagKey: key, Context: evalCtx},
			func(m *evaluationv2.ResolveObjectResponse) (result, any, bool) {
				return rpcResult(m.Reason, m.Variant, m.Metadata), m.GetValue().AsMap(), m.Value != nil
			})
	default:
		return r, fmt.Errorf("no rpc for kind %s", kind)
	}
	if err != nil {
		return r, err
	}
	if !r.hasValue {
		r.variant = ""
	}
	return r, nil
}

// resolve makes one Resolve call with the provider's headers and reads its
// answer with read: the result, the value, and whether there is one.
func resolve[Req, Resp any](ctx context.Context, b *rpc,
	call func(context.Context, *connect.Request[Req]) (*connect.Response[Resp], error),
	msg *Req, read func(*Resp) (result, any, bool)) (result, error) {
	req := connect.NewRequest(msg)
	b.header(req.Header())
	resp, err := call(ctx, req)
	if err != nil {
		return result{}, err
	}
	r, v, ok := read(resp.Msg)
	if ok {
		r.value, r.hasValue = v, true
	}
	return r, nil
}

func rpcResult(reason string, variant *string, meta *structpb.Struct) result {
	r := result{reason: openfeature.Reason(reason)}
	if variant != nil {
		r.variant = *variant
	}
	if meta != nil && len(meta.Fields) > 0 {
		r.metadata = openfeature.FlagMetadata(meta.AsMap())
	}
	return r
}

// rpcError maps a Resolve call's error to an OpenFeature error, as flagd
// sends them: the Connect code, and for InvalidArgument the message.
func rpcError(err error) openfeature.ResolutionError {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return openfeature.NewGeneralResolutionError(err.Error())
	}
	msg := ce.Message()
	switch ce.Code() {
	case connect.CodeNotFound:
		return openfeature.NewFlagNotFoundResolutionError(msg)
	case connect.CodeInvalidArgument:
		switch msg {
		case "Invalid context provided":
			return openfeature.NewInvalidContextResolutionError(msg)
		case "Targeting key missing":
			return openfeature.NewTargetingKeyMissingResolutionError(msg)
		}
		return openfeature.NewTypeMismatchResolutionError(msg)
	case connect.CodeDataLoss:
		return openfeature.NewParseErrorResolutionError(msg)
	}
	return openfeature.NewGeneralResolutionError(err.Error())
}

// contextStruct converts an evaluation context to a protobuf Struct;
// values structpb does not take (time.Time, structs, typed slices) are
// converted as their JSON encoding.
func contextStruct(flat openfeature.FlattenedContext) (*structpb.Struct, error) {
	if len(flat) == 0 {
		return nil, nil
	}
	s, err := structpb.NewStruct(flat)
	if err == nil {
		return s, nil
	}
	data, err := json.Marshal(flat)
	if err != nil {
		return nil, fmt.Errorf("evaluation context: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("evaluation context: %w", err)
	}
	return structpb.NewStruct(m)
}

// errStreamDeadline ends an event stream at the stream deadline: it is
// reopened at once, and is not a loss of connection unless that fails.
var errStreamDeadline = errors.New("stream deadline reached")

// reconnect runs session until ctx ends: after a session that was connected
// it reconnects at once, otherwise after an exponential backoff with
// jitter (poll.Backoff, as the in-process mode's grpcsource). session
// reports whether it connected; a fatal error before the first connection
// ends the loop.
func (p *Provider) reconnect(ctx context.Context, session func(context.Context) (bool, error)) {
	b := poll.Backoff{Min: p.cfg.RetryBackoff, Max: p.cfg.RetryBackoffMax}
	for ctx.Err() == nil {
		ok, err := session(ctx)
		if ctx.Err() != nil {
			return
		}
		if p.isFatal(err) {
			p.giveUp(ctx, err)
			return
		}
		if ok {
			b.Reset()
			if errors.Is(err, errStreamDeadline) {
				continue
			}
			p.disconnected(ctx, err)
			continue // at once: the server may only have ended the stream
		}
		p.disconnected(ctx, err)
		t := time.NewTimer(b.Next())
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
