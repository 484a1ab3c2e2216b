package daemon_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/vexilhq/vexil/daemon"
	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1/evaluationv1connect"
	evaluationv2 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2/evaluationv2connect"
	syncv1 "github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1/syncv1connect"
	schemav1 "github.com/vexilhq/vexil/schemas/gen/schema/v1"
	"github.com/vexilhq/vexil/schemas/gen/schema/v1/schemav1connect"
)

// Two sources in two flag sets; "shared" is in both, and b.json (listed
// later) wins a lookup without selector.
const (
	e2eDocA = `{"metadata":{"flagSetId":"set-a"},"flags":{
  "bool":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on"},
  "string":{"state":"ENABLED","variants":{"a":"alpha","b":"beta"},"defaultVariant":"a",
    "targeting":{"if":[{"==":[{"var":"user"},"bob"]},"b","a"]}},
  "int":{"state":"ENABLED","variants":{"small":3,"big":300},"defaultVariant":"small"},
  "float":{"state":"ENABLED","variants":{"half":0.5},"defaultVariant":"half"},
  "object":{"state":"ENABLED","variants":{"x":{"color":"red"}},"defaultVariant":"x"},
  "shared":{"state":"ENABLED","variants":{"a":"from-a"},"defaultVariant":"a"}
}}`
	e2eDocB = `{"metadata":{"flagSetId":"set-b"},"flags":{
  "shared":{"state":"ENABLED","variants":{"b":"from-b","b2":"from-b-edited"},"defaultVariant":"b"}
}}`
)

type e2eDaemon struct {
	*daemonUnderTest
	uriA, uriB   string
	pathA, pathB string
}

func startE2E(t *testing.T, opts ...func(*daemon.Config)) *e2eDaemon {
	t.Helper()
	dir := t.TempDir()
	e := &e2eDaemon{pathA: filepath.Join(dir, "a.json"), pathB: filepath.Join(dir, "b.json")}
	for path, doc := range map[string]string{e.pathA: e2eDocA, e.pathB: e2eDocB} {
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e.uriA, e.uriB = "file:"+e.pathA, "file:"+e.pathB
	cfg := daemon.Config{Sources: []daemon.SourceSpec{{URI: e.uriA}, {URI: e.uriB}}}
	for _, o := range opts {
		o(&cfg)
	}
	e.daemonUnderTest = startDaemon(t, cfg)
	e.waitReady(t)
	return e
}

// clientProtocols are the three protocols of the evaluation port, Connect
// in both of its codecs.
func clientProtocols(t *testing.T) map[string]struct {
	client *http.Client
	opts   []connect.ClientOption
} {
	h1 := &http.Client{Transport: &http.Transport{}, Timeout: timeout}
	t.Cleanup(h1.CloseIdleConnections)
	h2 := h2cClient(t)
	return map[string]struct {
		client *http.Client
		opts   []connect.ClientOption
	}{
		"connect-json":  {h1, []connect.ClientOption{connect.WithProtoJSON()}},
		"connect-proto": {h1, nil},
		"grpc":          {h2, []connect.ClientOption{connect.WithGRPC()}},
		"grpc-web":      {h1, []connect.ClientOption{connect.WithGRPCWeb()}},
	}
}

// TestEveryRPCOverEveryProtocol drives every evaluation RPC of the three
// services through the real daemon in each protocol.
func TestEveryRPCOverEveryProtocol(t *testing.T) {
	e := startE2E(t)
	ctx := context.Background()
	for name, p := range clientProtocols(t) {
		t.Run(name, func(t *testing.T) {
			base := "http://" + e.addrs.Evaluation
			v1 := evaluationv1connect.NewServiceClient(p.client, base, p.opts...)
			userBob := mustStruct(t, map[string]any{"user": "bob"})

			b, err := v1.ResolveBoolean(ctx, connect.NewRequest(&evaluationv1.ResolveBooleanRequest{FlagKey: "bool"}))
			check(t, "v1 bool", err, b.Msg.GetValue() == true && b.Msg.GetReason() == "STATIC" && b.Msg.GetVariant() == "on")
			s, err := v1.ResolveString(ctx, connect.NewRequest(&evaluationv1.ResolveStringRequest{FlagKey: "string", Context: userBob}))
			check(t, "v1 string", err, s.Msg.GetValue() == "beta" && s.Msg.GetReason() == "TARGETING_MATCH")
			i, err := v1.ResolveInt(ctx, connect.NewRequest(&evaluationv1.ResolveIntRequest{FlagKey: "int"}))
			check(t, "v1 int", err, i.Msg.GetValue() == 3)
			f, err := v1.ResolveFloat(ctx, connect.NewRequest(&evaluationv1.ResolveFloatRequest{FlagKey: "float"}))
			check(t, "v1 float", err, f.Msg.GetValue() == 0.5)
			o, err := v1.ResolveObject(ctx, connect.NewRequest(&evaluationv1.ResolveObjectRequest{FlagKey: "object"}))
			check(t, "v1 object", err, o.Msg.GetValue().AsMap()["color"] == "red")
			all, err := v1.ResolveAll(ctx, connect.NewRequest(&evaluationv1.ResolveAllRequest{}))
			check(t, "v1 all", err, len(all.Msg.GetFlags()) == 6)
			_, err = v1.ResolveBoolean(ctx, connect.NewRequest(&evaluationv1.ResolveBooleanRequest{FlagKey: "nope"}))
			check(t, "v1 not found", nil, connect.CodeOf(err) == connect.CodeNotFound)
			_, err = v1.ResolveBoolean(ctx, connect.NewRequest(&evaluationv1.ResolveBooleanRequest{FlagKey: "string"}))
			check(t, "v1 type mismatch", nil, connect.CodeOf(err) == connect.CodeInvalidArgument)
			stream, err := v1.EventStream(ctx, connect.NewRequest(&evaluationv1.EventStreamRequest{}))
			check(t, "v1 stream", err, stream.Receive() && stream.Msg().GetType() == "provider_ready")
			stream.Close()

			v2 := evaluationv2connect.NewServiceClient(p.client, base, p.opts...)
			b2, err := v2.ResolveBoolean(ctx, connect.NewRequest(&evaluationv2.ResolveBooleanRequest{FlagKey: "bool"}))
			check(t, "v2 bool", err, b2.Msg.GetValue() == true && b2.Msg.GetVariant() == "on")
			s2, err := v2.ResolveString(ctx, connect.NewRequest(&evaluationv2.ResolveStringRequest{FlagKey: "string", Context: userBob}))
			check(t, "v2 string", err, s2.Msg.GetValue() == "beta")
			i2, err := v2.ResolveInt(ctx, connect.NewRequest(&evaluationv2.ResolveIntRequest{FlagKey: "int"}))
			check(t, "v2 int", err, i2.Msg.GetValue() == 3)
			f2, err := v2.ResolveFloat(ctx, connect.NewRequest(&evaluationv2.ResolveFloatRequest{FlagKey: "float"}))
			check(t, "v2 float", err, f2.Msg.GetValue() == 0.5)
			o2, err := v2.ResolveObject(ctx, connect.NewRequest(&evaluationv2.ResolveObjectRequest{FlagKey: "object"}))
			check(t, "v2 object", err, o2.Msg.GetValue().AsMap()["color"] == "red")
			stream2, err := v2.EventStream(ctx, connect.NewRequest(&evaluationv2.EventStreamRequest{}))
			check(t, "v2 stream", err, stream2.Receive() && stream2.Msg().GetType() == "provider_ready")
			stream2.Close()

			old := schemav1connect.NewServiceClient(p.client, base, p.opts...)
			b0, err := old.ResolveBoolean(ctx, connect.NewRequest(&schemav1.ResolveBooleanRequest{FlagKey: "bool"}))
			check(t, "schema.v1 bool", err, b0.Msg.GetValue() == true)
			a0, err := old.ResolveAll(ctx, connect.NewRequest(&schemav1.ResolveAllRequest{}))
			check(t, "schema.v1 all", err, len(a0.Msg.GetFlags()) == 6)
		})
	}
}

func check(t *testing.T, what string, err error, ok bool) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !ok {
		t.Errorf("%s: unexpected answer", what)
	}
}

// TestSelectors: the Flagd-Selector header narrows evaluation to a flag set
// or a source, on the evaluation port and on OFREP.
func TestSelectors(t *testing.T) {
	e := startE2E(t)
	v1 := evaluationv1connect.NewServiceClient(e.client, "http://"+e.addrs.Evaluation)
	resolve := func(sel string) (string, error) {
		req := connect.NewRequest(&evaluationv1.ResolveStringRequest{FlagKey: "shared"})
		if sel != "" {
			req.Header().Set("Flagd-Selector", sel)
		}
		resp, err := v1.ResolveString(context.Background(), req)
		if err != nil {
			return "", err
		}
		return resp.Msg.GetValue(), nil
	}
	for sel, want := range map[string]string{
		"":                "from-b",
		"flagSetId=set-a": "from-a",
		"flagSetId=set-b": "from-b",
		// flagd names a file source by its path, without "file:".
		"source=" + e.pathA: "from-a", // another flag set: not shadowed by b.json
		e.pathB:             "from-b",
	} {
		got, err := resolve(sel)
		if err != nil || got != want {
			t.Errorf("selector %q: %q, %v; want %q", sel, got, err, want)
		}
	}
	if _, err := resolve("flagSetId=set-c"); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("an empty flag set: %v, want NotFound", err)
	}
	req := connect.NewRequest(&evaluationv1.ResolveAllRequest{})
	req.Header().Set("Flagd-Selector", "flagSetId=set-b")
	all, err := v1.ResolveAll(context.Background(), req)
	if err != nil || len(all.Msg.GetFlags()) != 1 || all.Msg.GetFlags()["shared"] == nil {
		t.Fatalf("ResolveAll of set-b: %v, %v", all, err)
	}

	// OFREP.
	hreq, _ := http.NewRequest(http.MethodPost, "http://"+e.addrs.OFREP+"/ofrep/v1/evaluate/flags/shared", strings.NewReader(`{}`))
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Flagd-Selector", "flagSetId=set-a")
	resp, err := e.client.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Value string }
	_ = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if got.Value != "from-a" {
		t.Errorf("OFREP with flagSetId=set-a: %q", got.Value)
	}
}

// TestSyncStreamAndETag: a grpc-go SyncFlags stream gets a snapshot on
// connect and after a file change; with OFREPETags, OFREP bulk answers 304
// to a matching If-None-Match until the flags change.
func TestSyncStreamAndETag(t *testing.T) {
	e := startE2E(t, func(c *daemon.Config) { c.OFREPETags = true })

	bulk := func(etag string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+e.addrs.OFREP+"/ofrep/v1/evaluate/flags", strings.NewReader(`{"context":{}}`))
		req.Header.Set("Content-Type", "application/json")
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("ETag")
	}
	code, etag := bulk("")
	if code != http.StatusOK || etag == "" {
		t.Fatalf("bulk: %d, ETag %q", code, etag)
	}
	if code, _ := bulk(etag); code != http.StatusNotModified {
		t.Fatalf("bulk with If-None-Match: %d, want 304", code)
	}

	conn, err := grpc.NewClient(e.addrs.Sync, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "flagd-selector", "flagSetId=set-b")
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, syncv1connect.FlagSyncServiceSyncFlagsProcedure)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.SendMsg(&syncv1.SyncFlagsRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	first := new(syncv1.SyncFlagsResponse)
	if err := stream.RecvMsg(first); err != nil {
		t.Fatal(err)
	}
	if c := first.GetFlagConfiguration(); !strings.Contains(c, `"from-b"`) || strings.Contains(c, `"bool"`) {
		t.Fatalf("first snapshot of set-b: %s", c)
	}

	writeAtomic(t, e.pathB, strings.Replace(e2eDocB, `"defaultVariant":"b"`, `"defaultVariant":"b2"`, 1))
	next := new(syncv1.SyncFlagsResponse)
	if err := stream.RecvMsg(next); err != nil {
		t.Fatal(err)
	}
	if c := next.GetFlagConfiguration(); !strings.Contains(c, `"defaultVariant":"b2"`) {
		t.Fatalf("snapshot after the edit: %s", c)
	}
	if code, etag2 := bulk(etag); code != http.StatusOK || etag2 == etag {
		t.Fatalf("bulk after the edit with the old ETag: %d, ETag %q (old %q)", code, etag2, etag)
	}
}

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
