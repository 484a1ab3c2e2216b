package syncsvc_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"

	"github.com/vexilhq/vexil/daemon/internal/metrics"
	"github.com/vexilhq/vexil/daemon/internal/metrics/metricstest"
	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/daemon/internal/storetest"
	"github.com/vexilhq/vexil/daemon/internal/syncsvc"
	syncv1 "github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1/syncv1connect"
	"github.com/vexilhq/vexil/syncsources"
)

// TestSyncFlagsWaitsForTheStore: the first snapshot is sent once every
// source has delivered, so an in-process provider never takes an empty or
// partial store for the flags.
func TestSyncFlagsWaitsForTheStore(t *testing.T) {
	st := store.New(store.Config{Sources: []string{"a", "b"}})
	storetest.Apply(t, st, "a", []byte(`{"flags":{"from-a":{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on"}}}`))
	m := metrics.New()
	s := startServer(t, syncsvc.Config{Store: st, Metrics: m})
	stream, err := grpcConn(t, s).NewStream(testContext(t), &grpc.StreamDesc{ServerStreams: true}, syncv1connect.FlagSyncServiceSyncFlagsProcedure)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.SendMsg(&syncv1.SyncFlagsRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	first := make(chan string, 1)
	go func() {
		msg := new(syncv1.SyncFlagsResponse)
		if stream.RecvMsg(msg) == nil {
			first <- msg.GetFlagConfiguration()
		}
		close(first)
	}()
	// Once the server has the stream (its gauge says so), b delivers: only
	// now may the first snapshot go, with both sources'
	// flags. (A snapshot sent before would hold from-a alone.)
	for metricstest.Of(t, m).Sum("feature_flag_flagd_sync_active_streams") != 1 {
		<-time.After(time.Millisecond) // polling the server's own gauge
	}
	storetest.Apply(t, st, "b", []byte(`{"flags":{"from-b":{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on"}}}`))
	conf := <-first
	if !strings.Contains(conf, `"from-a"`) || !strings.Contains(conf, `"from-b"`) {
		t.Fatalf("first snapshot %s, want both sources' flags", conf)
	}
}

// TestServesOnceTheStartupWaitIsOver: a source whose document is rejected
// never loads; flagd's sync service then serves the flags at hand once its
// startup wait is over, and so does the service (the recorded answers of
// conformance/oracle/testdata/014-docs, both documents rejected, and
// 031-refs, one rejected). Every RPC waits until then.
func TestServesOnceTheStartupWaitIsOver(t *testing.T) {
	const loaded = `{"flags":{"from-a":{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on"}}}`
	for _, tc := range []struct {
		name string
		docs map[string]string // source -> document; "" never delivers
		want string            // flagd's flag_configuration
	}{
		{"every document rejected", map[string]string{"a": `{"flags":`, "b": `{"flags": 1}`}, `{"flags":{}}`},
		{"one rejected", map[string]string{"a": loaded, "b": `{"flags":`}, `{"flags":{"from-a":{"state":"ENABLED","defaultVariant":"on","variants":{"on":true},"source":"a"}}}`},
		{"one silent", map[string]string{"a": loaded, "b": ""}, `{"flags":{"from-a":{"state":"ENABLED","defaultVariant":"on","variants":{"on":true},"source":"a"}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := store.New(store.Config{Sources: []string{"a", "b"}})
			for src, doc := range tc.docs {
				if doc != "" {
					_, _ = st.Apply(syncsources.Update{Source: src, Data: []byte(doc)}) // rejected ones fail
				}
			}
			s := startServer(t, syncsvc.Config{Store: st, StartupWait: 200 * time.Millisecond})
			ctx, cancel := context.WithTimeout(testContext(t), 5*time.Second)
			defer cancel()
			client := syncv1connect.NewFlagSyncServiceClient(h2cClient(t), s.URL, connect.WithGRPC())
			stream, err := client.SyncFlags(ctx, connect.NewRequest(&syncv1.SyncFlagsRequest{}))
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			if !stream.Receive() {
				t.Fatalf("SyncFlags: no message: %v", stream.Err())
			}
			assertJSON(t, "SyncFlags", stream.Msg().GetFlagConfiguration(), tc.want)
			if got := stream.Msg().GetSyncContext().AsMap(); len(got) != 0 {
				t.Errorf("sync_context %v, want {}", got)
			}
			fetched, err := client.FetchAllFlags(ctx, connect.NewRequest(&syncv1.FetchAllFlagsRequest{}))
			if err != nil {
				t.Fatal(err)
			}
			assertJSON(t, "FetchAllFlags", fetched.Msg.GetFlagConfiguration(), tc.want)
		})
	}
}

// TestFetchAllFlagsWaitsForTheStartup: before every source has loaded and
// before the startup wait is over, flagd's sync port serves nothing, so a
// call waits (and fails when its own deadline comes first).
func TestFetchAllFlagsWaitsForTheStartup(t *testing.T) {
	st := store.New(store.Config{Sources: []string{"a", "b"}})
	storetest.Apply(t, st, "a", []byte(`{"flags":{}}`))
	s := startServer(t, syncsvc.Config{Store: st, StartupWait: time.Hour})
	client := syncv1connect.NewFlagSyncServiceClient(h2cClient(t), s.URL, connect.WithGRPC())
	ctx, cancel := context.WithTimeout(testContext(t), 100*time.Millisecond)
	defer cancel()
	if _, err := client.FetchAllFlags(ctx, connect.NewRequest(&syncv1.FetchAllFlagsRequest{})); connect.CodeOf(err) != connect.CodeDeadlineExceeded {
		t.Fatalf("FetchAllFlags before the startup: %v, want DeadlineExceeded", err)
	}
	storetest.Apply(t, st, "b", []byte(`{"flags":{}}`))
	if _, err := client.FetchAllFlags(testContext(t), connect.NewRequest(&syncv1.FetchAllFlagsRequest{})); err != nil {
		t.Fatalf("FetchAllFlags once every source has loaded: %v", err)
	}
}

func assertJSON(t *testing.T, what, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("%s: %v in %s", what, err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s: %s, want %s", what, got, want)
	}
}
