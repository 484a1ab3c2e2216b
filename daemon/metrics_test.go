package daemon_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"connectrpc.com/connect"

	"github.com/vexilhq/vexil/daemon"
	"github.com/vexilhq/vexil/daemon/internal/metrics/metricstest"
	syncv1 "github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1/syncv1connect"
)

func (d *daemonUnderTest) scrape(t *testing.T) *metricstest.Scrape {
	t.Helper()
	resp, err := d.client.Get("http://" + d.addrs.Management + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	s, err := metricstest.Parse(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestMetrics: the management port serves flagd's metrics for evaluations
// and requests, and Vexil's for sources, including a rejected update.
func TestMetrics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	writeAtomic(t, path, flagsDoc(true))
	uri := "file:" + path
	d := startDaemon(t, daemon.Config{Sources: []daemon.SourceSpec{{URI: uri}}})
	d.waitReady(t)
	for range 3 {
		d.resolveBoolean(t, "my-flag", "{}")
	}
	s := d.scrape(t)
	if v := s.Sum("feature_flag_flagd_impression_total", "feature_flag_key", "my-flag", "feature_flag_result_variant", "on", "feature_flag_reason", "STATIC"); v != 3 {
		t.Errorf("impressions of my-flag: %v, want 3", v)
	}
	if v := s.Sum("http_server_request_duration_seconds_count", "http_route", "/flagd.evaluation.v1.Service/ResolveBoolean", "http_response_status_code", "200"); v != 3 {
		t.Errorf("ResolveBoolean requests measured: %v, want 3", v)
	}
	if v, _ := s.Value("vexil_source_up", "source", path); v != 1 {
		t.Errorf("vexil_source_up: %v, want 1", v)
	}
	if v, _ := s.Value("vexil_source_flags", "source", path); v != 1 {
		t.Errorf("vexil_source_flags: %v, want 1", v)
	}

	writeAtomic(t, path, `{"flags":`)
	d.waitReadyz(t, "the rejection", func(_ int, r readyz) bool { return len(r.Sources) == 1 && r.Sources[0].Rejected > 0 })
	s = d.scrape(t)
	if v := s.Sum("vexil_source_updates_total", "source", path, "result", "rejected"); v != 1 {
		t.Errorf("rejected updates: %v, want 1", v)
	}
	if v, _ := s.Value("vexil_source_up", "source", path); v != 0 {
		t.Errorf("vexil_source_up after a rejection: %v, want 0", v)
	}
}

// TestMetricsOfEveryPort: the sync and management ports are measured too,
// under service names of their own, apart from flagd's series.
func TestMetricsOfEveryPort(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	d.waitReady(t)
	client := syncv1connect.NewFlagSyncServiceClient(h2cClient(t), "http://"+d.addrs.Sync, connect.WithGRPC())
	if _, err := client.FetchAllFlags(context.Background(), connect.NewRequest(&syncv1.FetchAllFlagsRequest{})); err != nil {
		t.Fatal(err)
	}
	s := d.scrape(t)
	for _, tc := range []struct {
		service, route string
		min            float64
	}{
		{"vexil-sync", "/flagd.sync.v1.FlagSyncService/FetchAllFlags", 1},
		{"vexil-management", "", 1}, // /readyz
	} {
		if v := s.Sum("http_server_request_duration_seconds_count", "service_name", tc.service, "http_route", tc.route); v < tc.min {
			t.Errorf("%s %q requests measured: %v, want at least %v", tc.service, tc.route, v, tc.min)
		}
	}
	if v := s.Sum("http_server_request_duration_seconds_count", "service_name", "flagd"); v != 0 {
		t.Errorf("flagd's series count %v requests, want 0 (none was sent to the evaluation or OFREP port)", v)
	}
}
