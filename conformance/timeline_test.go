package conformance

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cucumber/godog"
)

// timelines records when each scenario of a run started and how long each
// of its steps took, so that a failure or a slow run says where the time
// went (a report, never a test of timing).
type timelines struct {
	all []*scenarioTimeline
}

// scenarioTimeline is one scenario's steps, in order.
type scenarioTimeline struct {
	name  string
	start time.Time
	total time.Duration
	steps []stepTime
}

type stepTime struct {
	text    string
	took    time.Duration
	outcome string
}

// scenario hooks a timeline into a scenario's context; godog runs the
// scenarios of a suite one at a time (Concurrency 1), so no lock is needed.
func (ts *timelines) scenario(sc *godog.ScenarioContext) *scenarioTimeline {
	tl := &scenarioTimeline{}
	ts.all = append(ts.all, tl)
	var stepStart time.Time
	sc.Before(func(ctx context.Context, p *godog.Scenario) (context.Context, error) {
		tl.name = p.Uri + ": " + p.Name
		tl.start = time.Now()
		return ctx, nil
	})
	sc.StepContext().Before(func(ctx context.Context, st *godog.Step) (context.Context, error) {
		stepStart = time.Now()
		return ctx, nil
	})
	sc.StepContext().After(func(ctx context.Context, st *godog.Step, status godog.StepResultStatus, err error) (context.Context, error) {
		outcome := status.String()
		if err != nil {
			outcome += ": " + err.Error()
		}
		tl.steps = append(tl.steps, stepTime{st.Text, time.Since(stepStart), outcome})
		return ctx, nil
	})
	sc.After(func(ctx context.Context, _ *godog.Scenario, _ error) (context.Context, error) {
		tl.total = time.Since(tl.start)
		return ctx, nil
	})
	return tl
}

// slowest returns the n longest scenarios, longest first.
func (ts *timelines) slowest(n int) []*scenarioTimeline {
	all := slices.Clone(ts.all)
	slices.SortFunc(all, func(a, b *scenarioTimeline) int { return int(b.total - a.total) })
	return all[:min(n, len(all))]
}

// String is the scenario's name, its duration, and each step's.
func (tl *scenarioTimeline) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (started %s, %v; teardown included)", tl.name, tl.start.Format("15:04:05.000"), tl.total.Round(time.Millisecond))
	for _, s := range tl.steps {
		fmt.Fprintf(&b, "\n    %8v  %s [%s]", s.took.Round(time.Millisecond), s.text, s.outcome)
	}
	return b.String()
}
