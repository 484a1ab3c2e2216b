package oracle_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vexilhq/vexil/conformance/oracle"
)

// replayParallel is how many scenarios replay at once.
var replayParallel = max(6, runtime.NumCPU())

// TestReplay replays the corpus in testdata against vexil and fails on
// any answer that differs from flagd's (see the package comment for the
// rules). One subtest per scenario: go test ./conformance/oracle -run
// 'TestReplay/007-'. The summary at the end counts mismatches by request
// category and shows the first examples of each.
func TestReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("replays the whole corpus; skipped with -short")
	}
	root, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := oracle.ScenarioDirs(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no recorded scenarios in testdata")
	}
	bin := buildVexil(t)
	sum := &summary{byCat: map[string]*catStats{}}
	start := time.Now()
	t.Run("scenarios", func(t *testing.T) {
		sem := make(chan struct{}, replayParallel)
		for _, name := range dirs {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				sem <- struct{}{}
				defer func() { <-sem }()
				replayScenario(t, bin, filepath.Join(root, name), sum)
			})
		}
	})
	t.Logf("replayed %d requests of %d scenarios in %s", sum.total, len(dirs), time.Since(start).Round(time.Millisecond))
	if sum.failed > 0 {
		t.Errorf("%d of %d requests differ from flagd's answers\n%s", sum.failed, sum.total, sum.String())
	}
}

// TestMain raises go test's -parallel (GOMAXPROCS by default) to
// replayParallel unless it is given: a scenario mostly waits on its daemon,
// so more of them than cores replay at once.
func TestMain(m *testing.M) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		_ = flag.Set("test.parallel", strconv.Itoa(replayParallel))
	}
	os.Exit(m.Run())
}

func buildVexil(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("VEXIL_BIN"); bin != "" {
		return bin
	}
	out := filepath.Join(t.TempDir(), "vexil")
	cmd := exec.Command("go", "build", "-o", out, "github.com/vexilhq/vexil/daemon/cmd/vexil")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build vexil: %v\n%s", err, b)
	}
	return out
}

func replayScenario(t *testing.T, bin, dir string, sum *summary) {
	h, ex, err := oracle.ReadGolden(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, c, stop, err := oracle.Open(ctx, bin, dir, h.URIs)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	// flagd's readiness (/readyz 200 within ReadyWait) is part of the record.
	ready := oracle.Exchange{Req: oracle.Request{Cat: "management/readiness", Port: oracle.PortMgmt, Method: "GET", Path: "/readyz"},
		Ans: oracle.Answer{Status: readyStatus(h.Ready)}}
	sum.add(h.Scenario, 1, ready, oracle.Answer{Status: readyStatus(d.Ready)}, oracle.Compare(ready.Ans, oracle.Answer{Status: readyStatus(d.Ready)}))
	// The documents do not change during a scenario, so requests are
	// independent: send them requestsAtOnce at a time (streams that never
	// answer then cost StreamWait once, not each).
	var failed atomic.Int64
	work := make(chan int)
	var wg sync.WaitGroup
	for range requestsAtOnce {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				e := ex[i]
				got := c.Do(ctx, e.Req)
				ms := oracle.Compare(e.Ans, got)
				sum.add(h.Scenario, i+2, e, got, ms)
				if len(ms) > 0 {
					failed.Add(1)
				}
			}
		}()
	}
	for i := range ex {
		work <- i
	}
	close(work)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		if testing.Verbose() {
			t.Errorf("%d of %d requests differ (vexil's log tail:\n%s)", n, len(ex), tail(d.Output(), 1500))
		} else {
			t.Errorf("%d of %d requests differ (-v shows vexil's log)", n, len(ex))
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// summary gathers mismatches by request category.
type summary struct {
	mu            sync.Mutex
	total, failed int
	byCat         map[string]*catStats
}

type catStats struct {
	total, failed int
	aspects       map[string]int
	examples      []string
}

// examplesPerCategory is how many mismatches of each category the summary
// shows: go test ./conformance/oracle -args -examples 5
var examplesPerCategory = flag.Int("examples", 1, "mismatch examples shown per category")

// requestsAtOnce is how many requests of a scenario are in flight at once.
const requestsAtOnce = 16

func (s *summary) add(scenario string, line int, e oracle.Exchange, got oracle.Answer, ms []oracle.Mismatch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.byCat[e.Req.Cat]
	if cs == nil {
		cs = &catStats{aspects: map[string]int{}}
		s.byCat[e.Req.Cat] = cs
	}
	s.total++
	cs.total++
	if len(ms) == 0 {
		return
	}
	s.failed++
	cs.failed++
	for _, m := range ms {
		cs.aspects[m.Aspect]++
	}
	if len(cs.examples) < *examplesPerCategory {
		var b strings.Builder
		fmt.Fprintf(&b, "    %s/golden.jsonl:%d\n", scenario, line)
		fmt.Fprintf(&b, "      request: %s\n", clip(describeRequest(e.Req), 400))
		for _, m := range ms {
			fmt.Fprintf(&b, "      - %s: %s\n", m.Aspect, m.Detail)
		}
		fmt.Fprintf(&b, "      flagd:   %s\n", clip(describeAnswer(e.Ans), 300))
		fmt.Fprintf(&b, "      vexil:   %s\n", clip(describeAnswer(got), 300))
		cs.examples = append(cs.examples, b.String())
	}
}

func (s *summary) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cats []string
	for c, cs := range s.byCat {
		if cs.failed > 0 {
			cats = append(cats, c)
		}
	}
	sort.Slice(cats, func(i, j int) bool {
		a, b := s.byCat[cats[i]], s.byCat[cats[j]]
		if a.failed != b.failed {
			return a.failed > b.failed
		}
		return cats[i] < cats[j]
	})
	var b strings.Builder
	areas := map[string][2]int{}
	for c, cs := range s.byCat {
		a := strings.SplitN(c, "/", 2)[0]
		v := areas[a]
		areas[a] = [2]int{v[0] + cs.failed, v[1] + cs.total}
	}
	var names []string
	for a := range areas {
		names = append(names, a)
	}
	sort.Strings(names)
	b.WriteString("by area (failed/total): ")
	for i, a := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d/%d", a, areas[a][0], areas[a][1])
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "mismatches by category (failed/total [aspects]):\n")
	for _, c := range cats {
		cs := s.byCat[c]
		fmt.Fprintf(&b, "  %-44s %5d/%-5d %s\n", c, cs.failed, cs.total, aspects(cs.aspects))
	}
	b.WriteString("\nexamples:\n")
	for _, c := range cats {
		fmt.Fprintf(&b, "  %s:\n", c)
		for _, e := range s.byCat[c].examples {
			b.WriteString(e)
		}
	}
	return b.String()
}

func aspects(m map[string]int) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s:%d", k, m[k]))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func describeRequest(r oracle.Request) string {
	if r.Port == oracle.PortSync {
		s := "grpc sync " + r.Method
		if r.Selector != "" {
			s += fmt.Sprintf(" selector=%q", r.Selector)
		}
		return s
	}
	if r.Port == oracle.PortEvalGRPC {
		return fmt.Sprintf("grpc eval %s %v %s", r.Method, r.Header, r.Body)
	}
	s := fmt.Sprintf("%s %s:%s", r.Method, r.Port, r.Path)
	var hs []string
	for k, v := range r.Header {
		hs = append(hs, fmt.Sprintf("%s: %s", k, v))
	}
	sort.Strings(hs)
	if len(hs) > 0 {
		s += " [" + strings.Join(hs, "; ") + "]"
	}
	if r.Stream {
		s += " (stream)"
	}
	if r.Body != "" {
		s += " " + r.Body
	}
	return s
}

func describeAnswer(a oracle.Answer) string {
	b, _ := json.Marshal(a)
	return string(b)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// readyStatus stands for readiness as a status: 200 ready, 503 not.
func readyStatus(ready bool) int {
	if ready {
		return 200
	}
	return 503
}
