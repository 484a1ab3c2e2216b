package syncsvc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/vexilhq/vexil/daemon/internal/resolve"
	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/daemon/internal/storetest"
	"github.com/vexilhq/vexil/daemon/internal/syncsvc"
	syncv1 "github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1/syncv1connect"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// The flag_configuration of the test store for three selectors, as flagd
// marshals it.
const (
	confSetA = `{"flags":{` +
		`"onlyA":{"state":"ENABLED","defaultVariant":"x","variants":{"x":"x","y":"y"},"source":"a.json","metadata":{"flagSetId":"set-a"}},` +
		`"shared":{"state":"ENABLED","defaultVariant":"on","variants":{"off":false,"on":true},"source":"a.json","metadata":{"flagSetId":"set-a"}}}}`
	confNoSet = `{"flags":{` +
		`"onlyB":{"state":"ENABLED","defaultVariant":"y","variants":{"x":1,"y":2},"source":"b.json"},` +
		`"shared":{"state":"ENABLED","defaultVariant":"off","variants":{"off":false,"on":true},"source":"b.json"}}}`
	// Without a selector, "shared" is set-a's, from a.json: flagd lists
	// every flag sorted by flag set id, the flags of no flag set first, and
	// keeps the last of each key (recorded from flagd bbb05d4 with these
	// two files, "--uri file:a.json --uri file:b.json").
	confAll = `{"flags":{` +
		`"onlyA":{"state":"ENABLED","defaultVariant":"x","variants":{"x":"x","y":"y"},"source":"a.json","metadata":{"flagSetId":"set-a"}},` +
		`"onlyB":{"state":"ENABLED","defaultVariant":"y","variants":{"x":1,"y":2},"source":"b.json"},` +
		`"shared":{"state":"ENABLED","defaultVariant":"on","variants":{"off":false,"on":true},"source":"a.json","metadata":{"flagSetId":"set-a"}}}}`
)

// TestGolden checks the flag_configuration of testdata/flags.json against
// testdata/flags.golden.json, which was checked against flagd's marshalling
// (see the package's report): sorted keys, escaped HTML characters,
// targeting with $refs replaced and present even as {}, null default
// variant as "", metadata merged with the document's.
func TestGolden(t *testing.T) {
	st := store.New(store.Config{Sources: []string{"flags.json"}})
	storetest.Apply(t, st, "flags.json", readFile(t, "flags.json"))
	got, err := syncsvc.FlagConfiguration(st.Current(), store.Selector{})
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "flags.golden.json")
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := bytes.TrimSuffix(readFile(t, "flags.golden.json"), []byte("\n"))
	if !bytes.Equal(got, want) {
		t.Errorf("flag_configuration:\n got %s\nwant %s", got, want)
	}

	// Served as is by FetchAllFlags.
	s := startServer(t, syncsvc.Config{Store: st})
	resp := new(syncv1.FetchAllFlagsResponse)
	if err := grpcConn(t, s).Invoke(testContext(t), syncv1connect.FlagSyncServiceFetchAllFlagsProcedure, &syncv1.FetchAllFlagsRequest{}, resp); err != nil {
		t.Fatal(err)
	}
	if resp.GetFlagConfiguration() != string(want) {
		t.Errorf("FetchAllFlags:\n got %s\nwant %s", resp.GetFlagConfiguration(), want)
	}
}

func TestFlagConfigurationSelectors(t *testing.T) {
	st := newStore(t)
	for expr, want := range map[string]string{
		"":                     confAll,
		"flagSetId=set-a":      confSetA,
		"flagSetId=":           confNoSet,
		"source=a.json":        confSetA,
		"a.json":               confSetA,
		"flagSetId=missing":    `{"flags":{}}`,
		"source=unknown.json":  `{"flags":{}}`,
		"source=":              `{"flags":{}}`,
		"flagSetId=set-a,more": `{"flags":{}}`,
	} {
		sel, err := store.ParseSelector(expr)
		if err != nil {
			t.Fatal(err)
		}
		got, err := syncsvc.FlagConfiguration(st.Current(), sel)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%q:\n got %s\nwant %s", expr, got, want)
		}
	}
}

// grpcSync opens a SyncFlags stream with grpc-go, with the Flagd-Selector
// header when header is not nil.
func grpcSync(t testing.TB, ctx context.Context, conn *grpc.ClientConn, req *syncv1.SyncFlagsRequest, header *string) grpc.ClientStream {
	t.Helper()
	if header != nil {
		ctx = metadata.AppendToOutgoingContext(ctx, "flagd-selector", *header)
	}
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, syncv1connect.FlagSyncServiceSyncFlagsProcedure)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.SendMsg(req); err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	return stream
}

func recv(t testing.TB, stream grpc.ClientStream) *syncv1.SyncFlagsResponse {
	t.Helper()
	m := new(syncv1.SyncFlagsResponse)
	if err := stream.RecvMsg(m); err != nil {
		t.Fatalf("RecvMsg: %v", err)
	}
	return m
}

func recvErr(t testing.TB, stream grpc.ClientStream) error {
	t.Helper()
	m := new(syncv1.SyncFlagsResponse)
	err := stream.RecvMsg(m)
	if err == nil {
		t.Fatalf("RecvMsg: a message (%s), not an error", m.GetFlagConfiguration())
	}
	return err
}

func ptr(s string) *string { return &s }

func TestSyncFlagsGRPC(t *testing.T) {
	static := map[string]any{"env": "prod", "replicas": 3.0, "nested": map[string]any{"ok": true}}
	s := startServer(t, syncsvc.Config{StaticContext: static})
	conn := grpcConn(t, s)
	ctx := testContext(t)
	wantCtx, err := structpb.NewStruct(static)
	if err != nil {
		t.Fatal(err)
	}

	all := grpcSync(t, ctx, conn, &syncv1.SyncFlagsRequest{ProviderId: "test-provider"}, nil)
	setA := grpcSync(t, ctx, conn, &syncv1.SyncFlagsRequest{Selector: "flagSetId=set-a"}, nil)
	for _, tc := range []struct {
		name   string
		stream grpc.ClientStream
		want   string
	}{{"all", all, confAll}, {"set-a", setA, confSetA}} {
		m := recv(t, tc.stream)
		if m.GetFlagConfiguration() != tc.want {
			t.Errorf("%s: first message:\n got %s\nwant %s", tc.name, m.GetFlagConfiguration(), tc.want)
		}
		if !proto.Equal(m.GetSyncContext(), wantCtx) {
			t.Errorf("%s: sync_context %v, want %v", tc.name, m.GetSyncContext(), wantCtx)
		}
	}

	// A change the set-a stream does not see: only the other stream gets
	// a message. The set-a stream's next message is the later change's.
	storetest.Apply(t, s.Store, sourceB, []byte(strings.Replace(string(readFile(t, "b.json")), `"defaultVariant": "y"`, `"defaultVariant": "x"`, 1)))
	m := recv(t, all)
	if want := strings.Replace(confAll, `"defaultVariant":"y"`, `"defaultVariant":"x"`, 1); m.GetFlagConfiguration() != want {
		t.Errorf("all: after the change of onlyB:\n got %s\nwant %s", m.GetFlagConfiguration(), want)
	}
	if !proto.Equal(m.GetSyncContext(), wantCtx) {
		t.Errorf("sync_context %v, want %v", m.GetSyncContext(), wantCtx)
	}
	// An update that changes nothing sends nothing.
	storetest.Apply(t, s.Store, sourceA, readFile(t, "a.json"))
	storetest.Apply(t, s.Store, sourceA, []byte(strings.Replace(string(readFile(t, "a.json")), `"defaultVariant": "x"`, `"defaultVariant": "y"`, 1)))
	wantA := strings.Replace(confSetA, `"defaultVariant":"x"`, `"defaultVariant":"y"`, 1)
	if m := recv(t, setA); m.GetFlagConfiguration() != wantA {
		t.Errorf("set-a: after the change of onlyA:\n got %s\nwant %s", m.GetFlagConfiguration(), wantA)
	}
	if m := recv(t, all); !strings.Contains(m.GetFlagConfiguration(), `"onlyA":{"state":"ENABLED","defaultVariant":"y"`) {
		t.Errorf("all: after the change of onlyA: %s", m.GetFlagConfiguration())
	}
}

func TestSelectorHeader(t *testing.T) {
	s := startServer(t, syncsvc.Config{})
	conn := grpcConn(t, s)
	ctx := testContext(t)
	for _, tc := range []struct {
		name   string
		header *string
		body   string
		want   string
	}{
		{"body only", nil, "flagSetId=set-a", confSetA},
		{"header over body", ptr("flagSetId="), "flagSetId=set-a", confNoSet},
		{"empty header over body", ptr(""), "flagSetId=set-a", confAll},
		{"header only", ptr("source=a.json"), "", confSetA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			if m := recv(t, grpcSync(t, ctx, conn, &syncv1.SyncFlagsRequest{Selector: tc.body}, tc.header)); m.GetFlagConfiguration() != tc.want {
				t.Errorf("SyncFlags:\n got %s\nwant %s", m.GetFlagConfiguration(), tc.want)
			}
			if tc.header != nil {
				ctx = metadata.AppendToOutgoingContext(ctx, "flagd-selector", *tc.header)
			}
			resp := new(syncv1.FetchAllFlagsResponse)
			if err := conn.Invoke(ctx, syncv1connect.FlagSyncServiceFetchAllFlagsProcedure, &syncv1.FetchAllFlagsRequest{Selector: tc.body}, resp); err != nil {
				t.Fatal(err)
			}
			if resp.GetFlagConfiguration() != tc.want {
				t.Errorf("FetchAllFlags:\n got %s\nwant %s", resp.GetFlagConfiguration(), tc.want)
			}
		})
	}
}

func TestInvalidSelector(t *testing.T) {
	s := startServer(t, syncsvc.Config{})
	conn := grpcConn(t, s)
	ctx := testContext(t)
	// flagd's message, recorded from flagd.
	const wantMsg = `invalid selector key "bogus", valid keys: "flagSetId", "source"`
	err := recvErr(t, grpcSync(t, ctx, conn, &syncv1.SyncFlagsRequest{Selector: "bogus=1"}, nil))
	if status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() != wantMsg {
		t.Errorf("SyncFlags: %v, want InvalidArgument: %s", err, wantMsg)
	}
	hctx := metadata.AppendToOutgoingContext(ctx, "flagd-selector", "bogus=1")
	err = conn.Invoke(hctx, syncv1connect.FlagSyncServiceFetchAllFlagsProcedure, &syncv1.FetchAllFlagsRequest{}, new(syncv1.FetchAllFlagsResponse))
	if status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() != wantMsg {
		t.Errorf("FetchAllFlags: %v, want InvalidArgument: %s", err, wantMsg)
	}
}

func TestGetMetadata(t *testing.T) {
	static := map[string]any{"env": "prod", "n": 1.5}
	for _, tc := range []struct {
		name string
		cfg  syncsvc.Config
		want map[string]any
		code codes.Code
	}{
		{"static context", syncsvc.Config{StaticContext: static}, static, codes.OK},
		{"none", syncsvc.Config{}, map[string]any{}, codes.OK},
		{"disabled", syncsvc.Config{StaticContext: static, DisableSyncMetadata: true}, nil, codes.Unimplemented},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, tc.cfg)
			resp := new(syncv1.GetMetadataResponse)
			err := grpcConn(t, s).Invoke(testContext(t), syncv1connect.FlagSyncServiceGetMetadataProcedure, &syncv1.GetMetadataRequest{}, resp)
			if status.Code(err) != tc.code {
				t.Fatalf("GetMetadata: %v, want %v", err, tc.code)
			}
			if err != nil {
				if msg := status.Convert(err).Message(); msg != "metadata endpoint disabled" {
					t.Errorf("message %q", msg)
				}
				return
			}
			want, _ := structpb.NewStruct(tc.want)
			if !proto.Equal(resp.GetMetadata(), want) {
				t.Errorf("metadata %v, want %v", resp.GetMetadata(), want)
			}
		})
	}
}

// TestConnectClients checks the service over each protocol connect-go
// speaks.
func TestConnectClients(t *testing.T) {
	s := startServer(t, syncsvc.Config{StaticContext: map[string]any{"k": "v"}})
	for _, p := range []struct {
		name string
		hc   connect.HTTPClient
		opts []connect.ClientOption
	}{
		{"connect-json-http1", http1Client(t), []connect.ClientOption{connect.WithProtoJSON()}},
		{"connect-proto-h2c", h2cClient(t), nil},
		{"grpc-h2c", h2cClient(t), []connect.ClientOption{connect.WithGRPC()}},
		{"grpc-web-http1", http1Client(t), []connect.ClientOption{connect.WithGRPCWeb()}},
	} {
		t.Run(p.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(testContext(t))
			defer cancel()
			client := syncv1connect.NewFlagSyncServiceClient(p.hc, s.URL, p.opts...)
			req := connect.NewRequest(&syncv1.SyncFlagsRequest{})
			req.Header().Set(resolve.SelectorHeader, "flagSetId=set-a")
			stream, err := client.SyncFlags(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			if !stream.Receive() {
				t.Fatalf("no message: %v", stream.Err())
			}
			if got := stream.Msg().GetFlagConfiguration(); got != confSetA {
				t.Errorf("SyncFlags:\n got %s\nwant %s", got, confSetA)
			}
			if got := stream.Msg().GetSyncContext().AsMap()["k"]; got != "v" {
				t.Errorf("sync_context %v", stream.Msg().GetSyncContext())
			}
			resp, err := client.FetchAllFlags(ctx, connect.NewRequest(&syncv1.FetchAllFlagsRequest{Selector: "flagSetId="}))
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Msg.GetFlagConfiguration(); got != confNoSet {
				t.Errorf("FetchAllFlags:\n got %s\nwant %s", got, confNoSet)
			}
			_, err = client.FetchAllFlags(ctx, connect.NewRequest(&syncv1.FetchAllFlagsRequest{Selector: "nope=1"}))
			if connect.CodeOf(err) != connect.CodeInvalidArgument {
				t.Errorf("invalid selector: %v", err)
			}
		})
	}
}

func TestShutdown(t *testing.T) {
	s := startServer(t, syncsvc.Config{})
	conn := grpcConn(t, s)
	ctx := testContext(t)
	stream := grpcSync(t, ctx, conn, &syncv1.SyncFlagsRequest{}, nil)
	recv(t, stream)
	if err := s.Svc.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := recvErr(t, stream); status.Code(err) != codes.Unavailable {
		t.Errorf("open stream ended with %v, want Unavailable", err)
	}
	if err := recvErr(t, grpcSync(t, ctx, conn, &syncv1.SyncFlagsRequest{}, nil)); status.Code(err) != codes.Unavailable {
		t.Errorf("later stream: %v, want Unavailable", err)
	}
	// Unary RPCs are still served.
	if err := conn.Invoke(ctx, syncv1connect.FlagSyncServiceFetchAllFlagsProcedure, &syncv1.FetchAllFlagsRequest{}, new(syncv1.FetchAllFlagsResponse)); err != nil {
		t.Errorf("FetchAllFlags after Shutdown: %v", err)
	}
}

// TestShutdownNoStreams checks that Shutdown with no open stream returns
// at once, even with an expired context.
func TestShutdownNoStreams(t *testing.T) {
	svc := syncsvc.New(syncsvc.Config{Store: newStore(t)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := svc.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestStreamDeadline(t *testing.T) {
	s := startServer(t, syncsvc.Config{StreamDeadline: 200 * time.Millisecond})
	conn := grpcConn(t, s)
	ctx := testContext(t)
	stream := grpcSync(t, ctx, conn, &syncv1.SyncFlagsRequest{}, nil)
	recv(t, stream)
	start := time.Now()
	err := recvErr(t, stream)
	if status.Code(err) != codes.DeadlineExceeded || status.Convert(err).Message() != "stream closed due to server-side timeout" {
		t.Errorf("stream ended with %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stream ended after %v", d)
	}
}

// TestClientCancel checks that a stream the client cancels ends on the
// server (goleak and Shutdown in the cleanup would see it otherwise).
func TestClientCancel(t *testing.T) {
	s := startServer(t, syncsvc.Config{})
	conn := grpcConn(t, s)
	ctx, cancel := context.WithCancel(testContext(t))
	stream := grpcSync(t, ctx, conn, &syncv1.SyncFlagsRequest{}, nil)
	recv(t, stream)
	cancel()
	if err := recvErr(t, stream); status.Code(err) != codes.Canceled {
		t.Errorf("stream ended with %v", err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := s.Svc.Shutdown(sctx); err != nil {
		t.Errorf("the cancelled stream is still open: %v", err)
	}
}

// TestFlagConfigurationFlagSets: flag_configuration as flagd bbb05d4
// answered it (recorded) for documents whose flags share keys across flag
// sets and sources, with null metadata entries and flagSetIds that are
// null or "": the last flag of each key in flag set order, with its own
// source; metadata as flagd's store merges it, nulls included; no flag
// whose flagSetId or key is "".
func TestFlagConfigurationFlagSets(t *testing.T) {
	st := store.New(store.Config{Sources: []string{"a.json", "./sub/b.json", "one.json", "n.json"}})
	storetest.Apply(t, st, "a.json", []byte(`{"metadata":{"flagSetId":"setA","team":"a","n":1.5},"flags":{
	  "f":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on","metadata":{"team":"fa"}},
	  "g":{"state":"ENABLED","variants":{"x":"gx"},"defaultVariant":"x","metadata":{"flagSetId":"other","b":true}}}}`))
	storetest.Apply(t, st, "./sub/b.json", []byte(`{"flags":{
	  "f":{"state":"ENABLED","variants":{"s":"str"},"defaultVariant":"s"},
	  "k":{"state":"ENABLED","variants":{"x":3},"defaultVariant":"x","metadata":{"flagSetId":7}},
	  "e":{"state":"ENABLED","variants":{"x":3},"defaultVariant":"x","metadata":{"flagSetId":""}}}}`))
	storetest.Apply(t, st, "one.json", []byte(`{"flags":[
	  {"key":"color","metadata":{"flagSetId":"web"},"state":"ENABLED","variants":{"red":"red"},"defaultVariant":"red"},
	  {"key":"color","metadata":{"flagSetId":"mobile"},"state":"ENABLED","variants":{"r":1,"b":2},"defaultVariant":"b"},
	  {"key":"color","metadata":{"flagSetId":"zz"},"state":"ENABLED","variants":{"t":true},"defaultVariant":"t"}]}`))
	storetest.Apply(t, st, "n.json", []byte(`{"metadata":{"flagSetId":"x","s":null,"t":1},"flags":{
	  "n":{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on","metadata":{"flagSetId":null,"a":null,"t":null}}}}`))
	for expr, want := range map[string]string{
		"": `{"flags":{
		  "color":{"defaultVariant":"t","metadata":{"flagSetId":"zz"},"source":"one.json","state":"ENABLED","variants":{"t":true}},
		  "f":{"defaultVariant":"on","metadata":{"flagSetId":"setA","n":1.5,"team":"fa"},"source":"a.json","state":"ENABLED","variants":{"off":false,"on":true}},
		  "g":{"defaultVariant":"x","metadata":{"b":true,"flagSetId":"other","n":1.5,"team":"a"},"source":"a.json","state":"ENABLED","variants":{"x":"gx"}},
		  "k":{"defaultVariant":"x","metadata":{"flagSetId":7},"source":"./sub/b.json","state":"ENABLED","variants":{"x":3}},
		  "n":{"defaultVariant":"on","metadata":{"a":null,"flagSetId":null,"s":null,"t":null},"source":"n.json","state":"ENABLED","variants":{"on":true}}}}`,
		"source=./sub/b.json": `{"flags":{
		  "f":{"defaultVariant":"s","source":"./sub/b.json","state":"ENABLED","variants":{"s":"str"}},
		  "k":{"defaultVariant":"x","metadata":{"flagSetId":7},"source":"./sub/b.json","state":"ENABLED","variants":{"x":3}}}}`,
		"source=one.json": `{"flags":{
		  "color":{"defaultVariant":"t","metadata":{"flagSetId":"zz"},"source":"one.json","state":"ENABLED","variants":{"t":true}}}}`,
		"flagSetId=x":    `{"flags":{}}`,
		"source=n.json":  `{"flags":{"n":{"defaultVariant":"on","metadata":{"a":null,"flagSetId":null,"s":null,"t":null},"source":"n.json","state":"ENABLED","variants":{"on":true}}}}`,
		"sub/b.json":     `{"flags":{}}`,
		"source=b.json":  `{"flags":{}}`,
		"flagSetId=setA": `{"flags":{"f":{"defaultVariant":"on","metadata":{"flagSetId":"setA","n":1.5,"team":"fa"},"source":"a.json","state":"ENABLED","variants":{"off":false,"on":true}}}}`,
	} {
		sel, err := store.ParseSelector(expr)
		if err != nil {
			t.Fatal(err)
		}
		got, err := syncsvc.FlagConfiguration(st.Current(), sel)
		if err != nil {
			t.Fatal(err)
		}
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(want), &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%q:\n got %s\nwant %s", expr, got, want)
		}
	}
}

// TestFlagConfigurationNullMetadata: null metadata entries stay in the
// flag_configuration, a flag's replacing its document's. want is what
// flagd (bbb05d4) sent in FetchAllFlags for the same document.
func TestFlagConfigurationNullMetadata(t *testing.T) {
	doc := `{"flags":{"a":{"state":"ENABLED","defaultVariant":"on","variants":{"on":true},"metadata":{"m":null,"flagSetId":null}},
"b":{"state":"ENABLED","defaultVariant":"on","variants":{"on":true},"metadata":{"n":null}}},"metadata":{"m":1,"n":null,"flagSetId":"s"}}`
	st := store.New(store.Config{Sources: []string{"metanull.json"}})
	storetest.Apply(t, st, "metanull.json", []byte(doc))
	got, err := syncsvc.FlagConfiguration(st.Current(), store.Selector{})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"flags":{"a":{"defaultVariant":"on","metadata":{"flagSetId":null,"m":null,"n":null},"source":"metanull.json","state":"ENABLED","variants":{"on":true}},` +
		`"b":{"defaultVariant":"on","metadata":{"flagSetId":"s","m":1,"n":null},"source":"metanull.json","state":"ENABLED","variants":{"on":true}}}}`
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
