package evalsvc_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/vexilhq/vexil/daemon/internal/evalsvc"
	"github.com/vexilhq/vexil/daemon/internal/storetest"
	"github.com/vexilhq/vexil/evaluator"
	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1/evaluationv1connect"
	evaluationv2 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2"
	schemav1 "github.com/vexilhq/vexil/schemas/gen/schema/v1"
	"github.com/vexilhq/vexil/schemas/gen/schema/v1/schemav1connect"
)

// serveGRPC serves svc with a grpc-go server on a loopback port and returns
// a grpc-go client connection to it. Cleanup closes both.
func serveGRPC(t testing.TB, svc *evalsvc.Service) *grpc.ClientConn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := svc.NewGRPCServer()
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		<-served
	})
	return conn
}

// grpcMessages are the request and response messages of one version's
// Resolve<kind>.
func grpcMessages(service string, kind evaluator.Kind, key string, ec *structpb.Struct) (req, resp proto.Message) {
	switch service {
	case "flagd.evaluation.v1.Service":
		switch kind {
		case evaluator.KindBool:
			return &evaluationv1.ResolveBooleanRequest{FlagKey: key, Context: ec}, &evaluationv1.ResolveBooleanResponse{}
		case evaluator.KindString:
			return &evaluationv1.ResolveStringRequest{FlagKey: key, Context: ec}, &evaluationv1.ResolveStringResponse{}
		case evaluator.KindInt:
			return &evaluationv1.ResolveIntRequest{FlagKey: key, Context: ec}, &evaluationv1.ResolveIntResponse{}
		case evaluator.KindFloat:
			return &evaluationv1.ResolveFloatRequest{FlagKey: key, Context: ec}, &evaluationv1.ResolveFloatResponse{}
		case evaluator.KindObject:
			return &evaluationv1.ResolveObjectRequest{FlagKey: key, Context: ec}, &evaluationv1.ResolveObjectResponse{}
		}
	case "flagd.evaluation.v2.Service":
		switch kind {
		case evaluator.KindBool:
			return &evaluationv2.ResolveBooleanRequest{FlagKey: key, Context: ec}, &evaluationv2.ResolveBooleanResponse{}
		case evaluator.KindString:
			return &evaluationv2.ResolveStringRequest{FlagKey: key, Context: ec}, &evaluationv2.ResolveStringResponse{}
		case evaluator.KindInt:
			return &evaluationv2.ResolveIntRequest{FlagKey: key, Context: ec}, &evaluationv2.ResolveIntResponse{}
		case evaluator.KindFloat:
			return &evaluationv2.ResolveFloatRequest{FlagKey: key, Context: ec}, &evaluationv2.ResolveFloatResponse{}
		case evaluator.KindObject:
			return &evaluationv2.ResolveObjectRequest{FlagKey: key, Context: ec}, &evaluationv2.ResolveObjectResponse{}
		}
	case "schema.v1.Service":
		switch kind {
		case evaluator.KindBool:
			return &schemav1.ResolveBooleanRequest{FlagKey: key, Context: ec}, &schemav1.ResolveBooleanResponse{}
		case evaluator.KindString:
			return &schemav1.ResolveStringRequest{FlagKey: key, Context: ec}, &schemav1.ResolveStringResponse{}
		case evaluator.KindInt:
			return &schemav1.ResolveIntRequest{FlagKey: key, Context: ec}, &schemav1.ResolveIntResponse{}
		case evaluator.KindFloat:
			return &schemav1.ResolveFloatRequest{FlagKey: key, Context: ec}, &schemav1.ResolveFloatResponse{}
		case evaluator.KindObject:
			return &schemav1.ResolveObjectRequest{FlagKey: key, Context: ec}, &schemav1.ResolveObjectResponse{}
		}
	}
	panic(service + " " + kind.String())
}

// asConnectError turns a gRPC status into the Connect error with the same
// code and message, so that answer renders both alike.
func asConnectError(err error) error {
	if err == nil {
		return nil
	}
	st := status.Convert(err)
	return connect.NewError(connect.Code(st.Code()), errors.New(st.Message()))
}

// outgoing returns ctx with h as the call's metadata.
func outgoing(ctx context.Context, h http.Header) context.Context {
	md := metadata.MD{}
	for k, vs := range h {
		md[strings.ToLower(k)] = vs
	}
	return metadata.NewOutgoingContext(ctx, md)
}

// grpcInvoke makes one unary call with grpc-go.
func grpcInvoke(ctx context.Context, conn *grpc.ClientConn, method string, req, resp proto.Message, h http.Header) (proto.Message, error) {
	if err := conn.Invoke(outgoing(ctx, h), method, req, resp); err != nil {
		return nil, asConnectError(err)
	}
	return resp, nil
}

// grpcResolver calls a service's Resolve<kind> with grpc-go.
func grpcResolver(conn *grpc.ClientConn, service string) resolver {
	return func(ctx context.Context, kind evaluator.Kind, key string, ec *structpb.Struct, h http.Header) (proto.Message, error) {
		req, resp := grpcMessages(service, kind, key, ec)
		name := map[evaluator.Kind]string{
			evaluator.KindBool: "ResolveBoolean", evaluator.KindString: "ResolveString", evaluator.KindInt: "ResolveInt",
			evaluator.KindFloat: "ResolveFloat", evaluator.KindObject: "ResolveObject",
		}[kind]
		return grpcInvoke(ctx, conn, "/"+service+"/"+name, req, resp, h)
	}
}

// TestGRPCResolve: every case of TestResolve, through the grpc-go
// registration, gives the answer the Connect handlers give.
func TestGRPCResolve(t *testing.T) {
	srv := startServer(t, evalsvc.Config{})
	conn := serveGRPC(t, srv.Svc)
	ctx := testContext(t)
	versions := []struct {
		service string
		want    func(resolveCase) string
	}{
		{"flagd.evaluation.v1.Service", func(c resolveCase) string { return c.v1 }},
		{"flagd.evaluation.v2.Service", func(c resolveCase) string { return c.v2 }},
		{"schema.v1.Service", func(c resolveCase) string {
			if c.schema1 != "" {
				return c.schema1
			}
			return c.v1
		}},
	}
	for _, v := range versions {
		r := grpcResolver(conn, v.service)
		for _, c := range resolveCases {
			t.Run(v.service+"/"+c.name, func(t *testing.T) {
				h := http.Header{}
				if c.sel != "" {
					h.Set("Flagd-Selector", c.sel)
				}
				msg, err := r(ctx, c.kind, c.key, mustStruct(t, c.ctx), h)
				if got, want := answer(t, msg, err), v.want(c); got != want {
					t.Errorf("%s %s:\ngot  %s\nwant %s", c.kind, c.key, got, want)
				}
			})
		}
	}
}

// TestGRPCResolveAll: ResolveAll of flagd.evaluation.v1 and schema.v1
// through grpc-go equals the Connect handlers' gRPC answer.
func TestGRPCResolveAll(t *testing.T) {
	srv := startServer(t, evalsvc.Config{})
	conn := serveGRPC(t, srv.Svc)
	ctx := testContext(t)
	hc := h2cClient(t)
	v1 := evaluationv1connect.NewServiceClient(hc, srv.URL, connect.WithGRPC())
	s1 := schemav1connect.NewServiceClient(hc, srv.URL, connect.WithGRPC())
	pick := mustStruct(t, map[string]any{"pick": true})
	for _, sel := range []string{"", "flagSetId=set-a", "source=b.json", "nope=1"} {
		h := http.Header{}
		if sel != "" {
			h.Set("Flagd-Selector", sel)
		}
		cmsg, cerr := call(ctx, v1.ResolveAll, &evaluationv1.ResolveAllRequest{Context: pick}, h)
		gmsg, gerr := grpcInvoke(ctx, conn, "/flagd.evaluation.v1.Service/ResolveAll", &evaluationv1.ResolveAllRequest{Context: pick}, &evaluationv1.ResolveAllResponse{}, h)
		if want, got := answer(t, cmsg, cerr), answer(t, gmsg, gerr); got != want || want == "" {
			t.Errorf("v1 %q:\ngrpc-go %s\nconnect %s", sel, got, want)
		}
		cmsg, cerr = call(ctx, s1.ResolveAll, &schemav1.ResolveAllRequest{Context: pick}, h)
		gmsg, gerr = grpcInvoke(ctx, conn, "/schema.v1.Service/ResolveAll", &schemav1.ResolveAllRequest{Context: pick}, &schemav1.ResolveAllResponse{}, h)
		if want, got := answer(t, cmsg, cerr), answer(t, gmsg, gerr); got != want || want == "" {
			t.Errorf("schema.v1 %q:\ngrpc-go %s\nconnect %s", sel, got, want)
		}
	}
}

// TestGRPCContextMerge: metadata mapped by ContextFromHeaders is set over
// the static and the request's context, except for schema.v1.
func TestGRPCContextMerge(t *testing.T) {
	srv := startServer(t, evalsvc.Config{Resolver: newResolver(newStore(t),
		map[string]any{"pick": "static"},
		map[string]string{"x-pick": "pick"}, nil)})
	conn := serveGRPC(t, srv.Svc)
	ctx := testContext(t)
	req := mustStruct(t, map[string]any{"pick": "req"})
	h := http.Header{"X-Pick": {"header"}}
	for _, c := range []struct {
		service string
		h       http.Header
		want    string
	}{
		{"flagd.evaluation.v1.Service", nil, "static"},
		{"flagd.evaluation.v1.Service", h, "header"},
		{"flagd.evaluation.v2.Service", h, "header"},
		{"schema.v1.Service", h, "static"},
	} {
		msg, err := grpcResolver(conn, c.service)(ctx, evaluator.KindString, "ctx-flag", req, c.h)
		if err != nil {
			t.Fatalf("%s: %v", c.service, err)
		}
		got := msg.ProtoReflect().Get(msg.ProtoReflect().Descriptor().Fields().ByName("value")).String()
		if got != c.want {
			t.Errorf("%s with %v: %q, want %q", c.service, c.h, got, c.want)
		}
	}
}

// TestGRPCCompression: a gzip-compressed call is answered, as connect-go
// answers it. The call is made by hand over HTTP/2 (grpc-go's client would
// register the compressor in this process itself).
func TestGRPCCompression(t *testing.T) {
	srv := startServer(t, evalsvc.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := srv.Svc.NewGRPCServer()
	go func() { _ = gs.Serve(ln) }()
	defer gs.Stop()

	msg, err := proto.Marshal(&evaluationv1.ResolveBooleanRequest{FlagKey: "bool-flag"})
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, _ = zw.Write(msg)
	_ = zw.Close()
	body := append(binary.BigEndian.AppendUint32([]byte{1}, uint32(z.Len())), z.Bytes()...)
	req, err := http.NewRequestWithContext(testContext(t), http.MethodPost, "http://"+ln.Addr().String()+"/flagd.evaluation.v1.Service/ResolveBoolean", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Grpc-Encoding", "gzip")
	req.Header.Set("Te", "trailers")
	resp, err := h2cClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if st := resp.Trailer.Get("Grpc-Status"); st != "0" {
		t.Fatalf("grpc-status %q (%s)", st, resp.Trailer.Get("Grpc-Message"))
	}
	if len(out) < 5 {
		t.Fatalf("answer %x", out)
	}
	payload := out[5:]
	if out[0] == 1 {
		zr, err := gzip.NewReader(bytes.NewReader(payload))
		if err != nil {
			t.Fatal(err)
		}
		if payload, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	got := new(evaluationv1.ResolveBooleanResponse)
	if err := proto.Unmarshal(payload, got); err != nil || !got.GetValue() {
		t.Fatalf("answer %v, %v", got, err)
	}
}

// TestGRPCMalformedRequest: a message that does not unmarshal is
// InvalidArgument, as connect-go answers it (in flagd: "unmarshal message:
// unmarshal into *evaluationv1.ResolveBooleanRequest: proto: ...", see
// TestGRPCContextDepth).
func TestGRPCMalformedRequest(t *testing.T) {
	srv := startServer(t, evalsvc.Config{})
	conn := serveGRPC(t, srv.Svc)
	// Field 1 (flagKey) as a string whose length runs past the end.
	garbage := &rawMessage{b: []byte{0x0a, 0x7f, 'x'}}
	err := conn.Invoke(testContext(t), "/flagd.evaluation.v1.Service/ResolveBoolean", garbage, &rawMessage{}, grpc.ForceCodecV2(rawCodec{}))
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), "unmarshal message: unmarshal into *evaluationv1.ResolveBooleanRequest: ") {
		t.Fatalf("got %v, want InvalidArgument: unmarshal message: unmarshal into *evaluationv1.ResolveBooleanRequest: ...", err)
	}
}

// TestGRPCEventStream follows the EventStream of each version through
// grpc-go: provider_ready, a change, provider_shutdown on Shutdown, then
// the end; and an invalid selector is InvalidArgument.
func TestGRPCEventStream(t *testing.T) {
	st := newStore(t)
	srv := startServer(t, evalsvc.Config{Resolver: newResolver(st, nil, nil, nil)})
	conn := serveGRPC(t, srv.Svc)
	ctx := testContext(t)
	desc := &grpc.StreamDesc{StreamName: "EventStream", ServerStreams: true}
	type stream struct {
		name string
		cs   grpc.ClientStream
		resp func() proto.Message
	}
	open := func(service string, req proto.Message, resp func() proto.Message, sel string) stream {
		t.Helper()
		sctx := ctx
		if sel != "" {
			sctx = metadata.AppendToOutgoingContext(ctx, "flagd-selector", sel)
		}
		cs, err := conn.NewStream(sctx, desc, "/"+service+"/EventStream")
		if err != nil {
			t.Fatal(err)
		}
		if err := cs.SendMsg(req); err != nil {
			t.Fatal(err)
		}
		if err := cs.CloseSend(); err != nil {
			t.Fatal(err)
		}
		return stream{service, cs, resp}
	}
	next := func(s stream) (string, error) {
		m := s.resp()
		if err := s.cs.RecvMsg(m); err != nil {
			return "", err
		}
		return jsonOf(t, m), nil
	}
	streams := []stream{
		open("flagd.evaluation.v1.Service", &evaluationv1.EventStreamRequest{}, func() proto.Message { return &evaluationv1.EventStreamResponse{} }, ""),
		open("flagd.evaluation.v2.Service", &evaluationv2.EventStreamRequest{}, func() proto.Message { return &evaluationv2.EventStreamResponse{} }, "source=b.json"),
		open("schema.v1.Service", &schemav1.EventStreamRequest{}, func() proto.Message { return &schemav1.EventStreamResponse{} }, ""),
	}
	expect := func(want string) {
		t.Helper()
		for _, s := range streams {
			got, err := next(s)
			for got == keepAlive {
				got, err = next(s)
			}
			if got != want {
				t.Errorf("%s: got %s (%v), want %s", s.name, got, err, want)
			}
		}
	}
	expect(ready)
	storetest.ApplyFile(t, st, sourceB, "b2.json")
	expect(`{"type":"configuration_change","data":{"flags":{"b-new":{"type":"write"},"b-only":{"type":"update"}}}}`)

	bad := open("flagd.evaluation.v1.Service", &evaluationv1.EventStreamRequest{}, func() proto.Message { return &evaluationv1.EventStreamResponse{} }, "color=blue")
	if _, err := next(bad); status.Code(err) != codes.InvalidArgument {
		t.Errorf("invalid selector: %v, want InvalidArgument", err)
	}

	done := make(chan error, 1)
	go func() { done <- srv.Svc.Shutdown(ctx) }()
	expect(shutdown)
	for _, s := range streams {
		if got, err := next(s); err != io.EOF {
			t.Errorf("%s after provider_shutdown: %s, %v; want the end", s.name, got, err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// rawMessage and rawCodec send bytes as they are.
type rawMessage struct{ b []byte }

type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.(*rawMessage).b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	v.(*rawMessage).b = data.Materialize()
	return nil
}

// TestGRPCCompressesWhenAccepted: an uncompressed call whose
// grpc-accept-encoding names gzip is answered gzip-compressed, as flagd
// (connect-go) answers it (recorded from flagd at commit bbb05d4:
// "grpc-encoding: gzip" and a compressed message for ResolveBoolean); one
// that does not name it is answered uncompressed.
func TestGRPCCompressesWhenAccepted(t *testing.T) {
	srv := startServer(t, evalsvc.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := srv.Svc.NewGRPCServer()
	go func() { _ = gs.Serve(ln) }()
	defer gs.Stop()
	msg, err := proto.Marshal(&evaluationv1.ResolveBooleanRequest{FlagKey: "bool-flag"})
	if err != nil {
		t.Fatal(err)
	}
	body := append(binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg))), msg...)
	for _, tc := range []struct {
		accept   string
		encoding string
		flag     byte
	}{{"gzip", "gzip", 1}, {"", "", 0}} {
		req, err := http.NewRequestWithContext(testContext(t), http.MethodPost, "http://"+ln.Addr().String()+"/flagd.evaluation.v1.Service/ResolveBoolean", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("Te", "trailers")
		if tc.accept != "" {
			req.Header.Set("Grpc-Accept-Encoding", tc.accept)
		}
		resp, err := h2cClient(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get("Grpc-Encoding"); got != tc.encoding || len(out) < 5 || out[0] != tc.flag {
			t.Errorf("grpc-accept-encoding %q: grpc-encoding %q, answer %x; want %q, flag %d", tc.accept, got, out, tc.encoding, tc.flag)
		}
	}
}
