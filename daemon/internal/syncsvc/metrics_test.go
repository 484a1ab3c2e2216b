package syncsvc_test

import (
	"context"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/vexilhq/vexil/daemon/internal/metrics"
	"github.com/vexilhq/vexil/daemon/internal/metrics/metricstest"
	"github.com/vexilhq/vexil/daemon/internal/syncsvc"
	syncv1 "github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1/syncv1connect"
)

// TestMetrics: feature_flag_flagd_sync_active_streams counts the open
// SyncFlags streams.
func TestMetrics(t *testing.T) {
	m := metrics.New()
	s := startServer(t, syncsvc.Config{Metrics: m})
	client := syncv1connect.NewFlagSyncServiceClient(h2cClient(t), s.URL)
	active := func() float64 {
		v, _ := metricstest.Of(t, m).Value("feature_flag_flagd_sync_active_streams", "otel_scope_name", "flagd")
		return v
	}
	waitFor := func(want float64) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); active() != want; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("active streams %v, want %v", active(), want)
			}
		}
	}

	var cancels []context.CancelFunc
	for range 2 {
		ctx, cancel := context.WithCancel(testContext(t))
		cancels = append(cancels, cancel)
		stream, err := client.SyncFlags(ctx, connect.NewRequest(&syncv1.SyncFlagsRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		defer stream.Close()
		if !stream.Receive() {
			t.Fatalf("no message: %v", stream.Err())
		}
	}
	// Both streams have sent their first message: both are counted.
	if got := active(); got != 2 {
		t.Errorf("active streams %v, want 2", got)
	}
	cancels[0]()
	waitFor(1)
	cancels[1]()
	waitFor(0)
}
