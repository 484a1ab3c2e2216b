package main

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/vexilhq/vexil/bench/internal/stats"
	evalv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
)

// TestResultLine: the BENCH line carries what bench/run.sh parses.
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
	// The rate mode adds the latencies from the time due.
	res.fromDue = stats.Summary{N: 4, P50: 3 * time.Millisecond, P99: 5 * time.Millisecond, Max: 5 * time.Millisecond}
	b.Reset()
	res.print(&b)
	line = "BENCH rps=2.5 p50_us=2000 p99_us=4000 max_us=4000 requests=5 errors=1 due_p50_us=3000 due_p99_us=5000\n"
	if !strings.HasSuffix(b.String(), line) {
		t.Errorf("output ends\n%s\nwant\n%s", b.String(), line)
	}
}

// TestGRPCBody: the body h2load sends is a gRPC frame of the request the
// grpc mode sends.
func TestGRPCBody(t *testing.T) {
	req, err := resolveRequest("static-bool", `{"targetingKey":"user-123"}`)
	if err != nil {
		t.Fatal(err)
	}
	body := grpcBody(req)
	if len(body) < 5 || body[0] != 0 || int(binary.BigEndian.Uint32(body[1:5])) != len(body)-5 {
		t.Fatalf("prefix of %x", body)
	}
	got := new(evalv1.ResolveBooleanRequest)
	if err := proto.Unmarshal(body[5:], got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, req) || got.GetContext().AsMap()["targetingKey"] != "user-123" {
		t.Fatalf("message %v, want %v", got, req)
	}
	if _, err := resolveRequest("x", `[1]`); err == nil {
		t.Fatal("a context that is not an object was accepted")
	}
}
