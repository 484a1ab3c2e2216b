package main

import (
	"strings"
	"testing"
	"time"

	"github.com/vexilhq/vexil/daemon/bench/internal/stats"
)

// TestResultLine: the BENCH line carries what daemon/bench/run.sh parses.
func TestResultLine(t *testing.T) {
	var rec recorder
	rec.add([]time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond}, 1, nil)
	rec.add([]time.Duration{4 * time.Millisecond}, 0, nil)
	res := rec.result(2 * time.Second)
	if res.requests != 5 || res.errors != 1 {
		t.Errorf("requests %d errors %d, want 5 and 1", res.requests, res.errors)
	}
	want := stats.Summary{N: 4, P50: 2 * time.Millisecond, P99: 4 * time.Millisecond, Max: 4 * time.Millisecond}
	if res.latency != want {
		t.Errorf("latency %+v, want %+v", res.latency, want)
	}
	var b strings.Builder
	res.print(&b)
	line := "BENCH rps=2.5 p50_us=2000 p99_us=4000 max_us=4000 requests=5 errors=1\n"
	if !strings.HasSuffix(b.String(), line) {
		t.Errorf("output ends\n%s\nwant\n%s", b.String(), line)
	}
}
