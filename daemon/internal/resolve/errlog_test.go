package resolve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vexilhq/vexil/daemon/internal/resolve"
	"github.com/vexilhq/vexil/daemon/internal/storetest"
	"github.com/vexilhq/vexil/evaluator"
)

// clock is a test clock that moves only when told.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// TestErrorLog: a flag's failed evaluations are logged with their cause,
// the first at once and then at most one a minute per flag, with the
// number left out; successes and unknown flags are not logged.
func TestErrorLog(t *testing.T) {
	var buf bytes.Buffer
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	log := resolve.NewErrorLog(resolve.ErrorLogConfig{
		Logger:   slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: dropTime})),
		Interval: time.Minute,
		Now:      clk.now,
	})
	r := resolve.New(resolve.Config{Store: storetest.New(t, "failing.json"), Observers: []resolve.Observer{log}})
	eval := func(key string, kind evaluator.Kind, ctx map[string]any) {
		t.Helper()
		if _, err := r.Resolve(context.Background(), nil, ctx, false, key, kind); err != nil {
			t.Fatal(err)
		}
	}
	beta := map[string]any{"beta": true}
	eval("checkout", evaluator.KindBool, beta) // logged
	eval("checkout", evaluator.KindBool, beta) // suppressed
	eval("checkout", evaluator.KindBool, nil)  // no error
	eval("banner", evaluator.KindString, nil)  // logged: another flag
	eval("nope", evaluator.KindBool, nil)      // unknown: not logged
	clk.t = clk.t.Add(59 * time.Second)        //
	eval("checkout", evaluator.KindBool, beta) // suppressed
	clk.t = clk.t.Add(time.Second)             //
	eval("checkout", evaluator.KindBool, beta) // logged, 2 suppressed
	eval("checkout", evaluator.KindBool, beta) // suppressed
	var got []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got = append(got, m)
	}
	want := []string{
		`{"cause":"targeting chose variant \"enabled\", which the flag does not have","code":"GENERAL","flag":"checkout","level":"WARN","msg":"flag evaluation failed","type":"boolean"}`,
		`{"cause":"the value of variant \"off\" is a boolean, not string","code":"TYPE_MISMATCH","flag":"banner","level":"WARN","msg":"flag evaluation failed","type":"string"}`,
		`{"cause":"targeting chose variant \"enabled\", which the flag does not have","code":"GENERAL","flag":"checkout","interval":60000000000,"level":"WARN","msg":"flag evaluation failed","suppressed":2,"type":"boolean"}`,
	}
	if len(got) != len(want) {
		t.Fatalf("logged %d lines, want %d:\n%s", len(got), len(want), buf.String())
	}
	for i, m := range got {
		b, _ := json.Marshal(m)
		if string(b) != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, b, want[i])
		}
	}
}

func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// BenchmarkErrorLogSuccess: what the observer costs an evaluation that
// succeeds (the common case).
func BenchmarkErrorLogSuccess(b *testing.B) {
	log := resolve.NewErrorLog(resolve.ErrorLogConfig{Logger: slog.New(slog.DiscardHandler)})
	e := resolve.Evaluation{Result: evaluator.Result{FlagKey: "f", Variant: "on", Value: true}}
	ctx := context.Background()
	for b.Loop() {
		log.Evaluated(ctx, e)
	}
}
