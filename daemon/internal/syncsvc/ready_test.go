package syncsvc_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/vexilhq/vexil/daemon/internal/metrics"
	"github.com/vexilhq/vexil/daemon/internal/metrics/metricstest"
	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/daemon/internal/storetest"
	"github.com/vexilhq/vexil/daemon/internal/syncsvc"
	syncv1 "github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1/syncv1connect"
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
