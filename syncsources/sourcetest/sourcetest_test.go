package sourcetest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
	"github.com/vexilhq/vexil/syncsources/sourcetest"
)

// memory is a backend held in memory, and memSource a minimal correct
// source reading it: the contract's reference implementation.
type memory struct {
	mu      sync.Mutex
	doc     []byte
	broken  bool
	changed chan struct{} // closed on every change
}

func (m *memory) update(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f()
	close(m.changed)
	m.changed = make(chan struct{})
}

func (m *memory) Set(_ testing.TB, doc []byte) {
	m.update(func() { m.doc = bytes.Clone(doc) })
}
func (m *memory) Break(testing.TB)   { m.update(func() { m.broken = true }) }
func (m *memory) Restore(testing.TB) { m.update(func() { m.broken = false }) }

type memSource struct {
	m    *memory
	name string
	bug  string // a mutant's bug; see TestMutants
}

func (s *memSource) Run(ctx context.Context, updates chan<- syncsources.Update) error {
	var (
		sent, outage bool
		last         []byte
	)
	for {
		s.m.mu.Lock()
		doc, broken, changed := s.m.doc, s.m.broken, s.m.changed
		s.m.mu.Unlock()

		var u *syncsources.Update
		switch {
		case s.bug == "no-first-snapshot" && !sent:
			sent = true
		case broken && !(sent && outage):
			u = &syncsources.Update{Source: s.name, Err: errors.New("memory: broken")}
			sent, outage, last = true, true, nil
		case !broken && s.bug == "silent-recovery" && outage:
			sent, outage, last = true, false, doc
		case !broken && (!sent || outage || !bytes.Equal(doc, last) || s.bug == "resend"):
			u = &syncsources.Update{Source: s.name, Data: doc, Format: evaluator.FormatJSON}
			if s.bug == "wrong-name" {
				u.Source = "other"
			}
			sent, outage, last = true, false, doc
		}
		if u != nil && s.bug == "blocking-send" {
			updates <- *u
		} else if u != nil {
			select {
			case updates <- *u:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			switch s.bug {
			case "leak":
				go func() { <-make(chan struct{}) }()
			case "send-after-return":
				go func() { updates <- syncsources.Update{Source: s.name, Data: doc} }()
			case "nil-on-cancel":
				return nil
			}
			return ctx.Err()
		}
	}
}

func TestContract(t *testing.T) {
	sourcetest.Run(t, sourcetest.Harness{
		New: func(t *testing.T, doc []byte) sourcetest.Instance {
			m := &memory{doc: bytes.Clone(doc), changed: make(chan struct{})}
			return sourcetest.Instance{Source: &memSource{m: m, name: "mem:test"}, Backend: m, Name: "mem:test"}
		},
	})
}

// A kind that compares documents semantically and repeats itself passes
// too: here every Set notifies, even of the same document, and documents
// are re-encoded.
func TestContractRepeating(t *testing.T) {
	sourcetest.Run(t, sourcetest.Harness{
		New: func(t *testing.T, doc []byte) sourcetest.Instance {
			m := &memory{doc: bytes.Clone(doc), changed: make(chan struct{})}
			return sourcetest.Instance{Source: &repeating{m: m}, Backend: m}
		},
		MayRepeat: true,
		Equal: func(want, got []byte) bool {
			var a, b any
			return json.Unmarshal(want, &a) == nil && json.Unmarshal(got, &b) == nil &&
				bytes.Equal(must(json.Marshal(a)), must(json.Marshal(b)))
		},
	})
}

// repeating sends on every notification, re-indenting the document.
type repeating struct{ m *memory }

func (s *repeating) Run(ctx context.Context, updates chan<- syncsources.Update) error {
	for {
		s.m.mu.Lock()
		doc, broken, changed := s.m.doc, s.m.broken, s.m.changed
		s.m.mu.Unlock()
		u := syncsources.Update{Source: "repeating"}
		if broken {
			u.Err = errors.New("broken")
		} else {
			var buf bytes.Buffer
			if err := json.Indent(&buf, doc, "", "  "); err != nil {
				return err
			}
			u.Data = buf.Bytes()
		}
		select {
		case updates <- u:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// The contract's documents are valid flag documents, and distinct.
func TestDoc(t *testing.T) {
	p, err := evaluator.NewParser(evaluator.Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := range 5 {
		d := sourcetest.Doc(i)
		if seen[string(d)] {
			t.Errorf("Doc(%d) repeats an earlier document", i)
		}
		seen[string(d)] = true
		if _, problems, err := p.Parse("doc", d, evaluator.FormatJSON); err != nil || len(problems) > 0 {
			t.Errorf("Doc(%d) = %s: %v %v", i, d, err, problems)
		}
	}
}

// TestMutants checks that the contract fails sources with typical bugs: each
// mutant runs the contract in a child process, which must fail the expected
// check.
func TestMutants(t *testing.T) {
	if os.Getenv("SOURCETEST_MUTANT") != "" {
		t.Skip("in a mutant's child process")
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for bug, check := range map[string]string{
		"no-first-snapshot": "FirstSnapshot",
		"resend":            "IdenticalRewrite",
		"silent-recovery":   "Outage",
		"wrong-name":        "FirstSnapshot",
		"blocking-send":     "CancelBeforeFirstReceive",
		"leak":              "FirstSnapshot",
		"send-after-return": "FirstSnapshot",
		"nil-on-cancel":     "FirstSnapshot",
	} {
		t.Run(bug, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestMutantChild$/^"+check+"$", "-test.v")
			cmd.Env = append(os.Environ(), "SOURCETEST_MUTANT="+bug)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the contract passed a source with bug %q:\n%s", bug, out)
			}
			if want := "--- FAIL: TestMutantChild/" + check + " "; !strings.Contains(string(out), want) {
				t.Errorf("bug %q: want check %s to fail; output:\n%s", bug, check, out)
			}
		})
	}
}

func TestMutantChild(t *testing.T) {
	bug := os.Getenv("SOURCETEST_MUTANT")
	if bug == "" {
		t.Skip("run by TestMutants")
	}
	sourcetest.Run(t, sourcetest.Harness{
		New: func(t *testing.T, doc []byte) sourcetest.Instance {
			m := &memory{doc: bytes.Clone(doc), changed: make(chan struct{})}
			return sourcetest.Instance{Source: &memSource{m: m, name: "mem:test", bug: bug}, Backend: m, Name: "mem:test"}
		},
		Timeout: time.Second,
	})
}
