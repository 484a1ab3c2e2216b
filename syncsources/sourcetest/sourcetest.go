// Package sourcetest is the contract every kind of flag source passes: one
// shared test suite, run by each kind's own tests against a backend they
// control (a file in a temporary directory, a local HTTP server, a fake
// Kubernetes API), in the manner of go-cloud's drivertest.
//
// A kind's test provides a [Harness] whose New makes a source reading from a
// fresh [Backend], and calls [Run]:
//
//	func TestContract(t *testing.T) {
//		sourcetest.Run(t, sourcetest.Harness{
//			New: func(t *testing.T, doc []byte) sourcetest.Instance {
//				b := newBackend(t, doc) // serves doc
//				return sourcetest.Instance{Source: b.source(), Backend: b, Name: b.uri}
//			},
//		})
//	}
//
// Each check is a subtest on a new instance; see [Run] for the list. Checks
// wait for updates on the channel (failing after Harness.Timeout); the only
// timed waits are the quiet periods that check that nothing is sent, and
// those cannot fail a correct source, however slow the machine.
//
// Run checks for leaked goroutines with go.uber.org/goleak, so it must not
// be called from a parallel test (t.Parallel), nor alongside one.
package sourcetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vexilhq/vexil/syncsources"
)

// Backend is where a source reads its document from, under the test's
// control. Each method returns once its effect is visible to the source (the
// file written, the server answering differently); the source may notice it
// later.
type Backend interface {
	// Set replaces the document. During an outage it replaces the document
	// that Restore brings back, and does not end the outage.
	Set(t testing.TB, doc []byte)
	// Break starts an outage: the source can no longer get a document (the
	// file removed, the server answering 503 or gone). It is not a
	// deliberate removal of the flags.
	Break(t testing.TB)
	// Restore ends the outage: the backend serves the last document Set.
	Restore(t testing.TB)
}

// Instance is a source and the backend it reads.
type Instance struct {
	Source  syncsources.Source
	Backend Backend
	// Name is the Update.Source every update must carry; empty skips the
	// check.
	Name string
}

// Harness adapts the contract to one kind of source.
type Harness struct {
	// New makes a backend serving doc and a source reading it, not yet
	// running. It registers any cleanup with t.Cleanup. Required.
	New func(t *testing.T, doc []byte) Instance

	// Equal reports whether a delivered document is the one set; nil means
	// bytes.Equal. A kind that re-encodes documents supplies a semantic
	// comparison.
	Equal func(want, got []byte) bool
	// MayRepeat declares that the kind may deliver an update identical to
	// the one before it (the same document again, or another outage error
	// while an outage lasts), as a source that cannot compare contents
	// does. The contract then skips such repeats instead of failing, and
	// does not check quiet periods.
	MayRepeat bool
	// Quiet is how long the contract waits to check that nothing is sent
	// (after an identical rewrite, during an outage); it should cover a few
	// of the kind's reaction times (debounce, poll interval). Zero means
	// 100 ms.
	Quiet time.Duration
	// Timeout bounds every wait for an update or for Run to return; zero
	// means 5 s. It only limits how long a broken source takes to fail.
	Timeout time.Duration
	// LeakOptions are extra goleak options for the leak check after each
	// run, for goroutines that are the backend's and outlive a run (a
	// server's connection handlers).
	LeakOptions []goleak.Option
}

// Doc returns a small valid flagd flag document, different for each i.
func Doc(i int) []byte {
	return fmt.Appendf(nil, `{"flags":{"contract-%d":{"state":"ENABLED","variants":{"this":%d,"other":-1},"defaultVariant":"this"}}}`, i, i)
}

// Run runs the contract as subtests of t. Every check starts a new instance
// and ends by cancelling Run's context without receiving, then checks that
// Run returns the context's error within the timeout, that nothing is sent
// after it returns, and that no goroutine started since the instance was
// made is left running. The checks:
//
//   - FirstSnapshot: the document is delivered without any change.
//   - Changes: each change is delivered as a new full snapshot, including a
//     return to an earlier document.
//   - IdenticalRewrite: setting the same document again sends nothing (unless
//     MayRepeat); the next change is delivered.
//   - Outage: an outage is delivered as one Update with Err (not Removed);
//     the source keeps running, and on recovery delivers a snapshot although
//     the document did not change. While an outage lasts, a source may
//     report a changed failure (an Update whose Err has another message,
//     see syncsources.Update.Err): the contract skips those, but not the
//     same failure again (unless MayRepeat).
//   - ChangeDuringOutage: recovery delivers the document set during the
//     outage.
//   - StartDuringOutage: a source started during an outage reports it first,
//     then delivers the document on recovery.
//   - Rerun: Run can be called again after it returned, and starts with a
//     snapshot of the current document.
//   - CancelBeforeFirstReceive: Run returns on cancel while its first update
//     is not received.
//   - CancelDuringChanges: Run returns on cancel while changes it has not
//     delivered are pending.
//   - CancelledContext: Run called with a context already ended returns its
//     error.
func Run(t *testing.T, h Harness) {
	if h.New == nil {
		t.Fatal("sourcetest: Harness.New is nil")
	}
	if h.Equal == nil {
		h.Equal = bytes.Equal
	}
	if h.Quiet <= 0 {
		h.Quiet = 100 * time.Millisecond
	}
	if h.Timeout <= 0 {
		h.Timeout = 5 * time.Second
	}
	c := &contract{h: h}
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"FirstSnapshot", c.firstSnapshot},
		{"Changes", c.changes},
		{"IdenticalRewrite", c.identicalRewrite},
		{"Outage", c.outage},
		{"ChangeDuringOutage", c.changeDuringOutage},
		{"StartDuringOutage", c.startDuringOutage},
		{"Rerun", c.rerun},
		{"CancelBeforeFirstReceive", c.cancelBeforeFirstReceive},
		{"CancelDuringChanges", c.cancelDuringChanges},
		{"CancelledContext", c.cancelledContext},
	} {
		t.Run(tc.name, tc.fn)
	}
}

type contract struct{ h Harness }

func (c *contract) firstSnapshot(t *testing.T) {
	in := c.h.New(t, Doc(0))
	s := c.start(t, in)
	s.expectDoc(Doc(0))
	s.stop()
}

func (c *contract) changes(t *testing.T) {
	in := c.h.New(t, Doc(0))
	s := c.start(t, in)
	s.expectDoc(Doc(0))
	for _, i := range []int{1, 2, 0} {
		in.Backend.Set(t, Doc(i))
		s.expectDoc(Doc(i))
	}
	s.stop()
}

func (c *contract) identicalRewrite(t *testing.T) {
	in := c.h.New(t, Doc(0))
	s := c.start(t, in)
	s.expectDoc(Doc(0))
	in.Backend.Set(t, Doc(0))
	s.expectQuiet("after the same document was set again")
	in.Backend.Set(t, Doc(1))
	s.expectDoc(Doc(1))
	s.stop()
}

func (c *contract) outage(t *testing.T) {
	in := c.h.New(t, Doc(0))
	s := c.start(t, in)
	s.expectDoc(Doc(0))
	in.Backend.Break(t)
	s.expectErr()
	s.expectQuiet("during an outage already reported")
	in.Backend.Restore(t)
	s.expectDoc(Doc(0))
	// Still running normally.
	in.Backend.Set(t, Doc(1))
	s.expectDoc(Doc(1))
	s.stop()
}

func (c *contract) changeDuringOutage(t *testing.T) {
	in := c.h.New(t, Doc(0))
	s := c.start(t, in)
	s.expectDoc(Doc(0))
	in.Backend.Break(t)
	s.expectErr()
	in.Backend.Set(t, Doc(1))
	in.Backend.Restore(t)
	s.expectDoc(Doc(1))
	s.stop()
}

func (c *contract) startDuringOutage(t *testing.T) {
	in := c.h.New(t, Doc(0))
	in.Backend.Break(t)
	s := c.start(t, in)
	s.expectErr()
	in.Backend.Restore(t)
	s.expectDoc(Doc(0))
	s.stop()
}

func (c *contract) rerun(t *testing.T) {
	in := c.h.New(t, Doc(0))
	s := c.start(t, in)
	s.expectDoc(Doc(0))
	s.stop()
	in.Backend.Set(t, Doc(1))
	s = c.start(t, in)
	s.expectDoc(Doc(1))
	s.stop()
}

func (c *contract) cancelBeforeFirstReceive(t *testing.T) {
	in := c.h.New(t, Doc(0))
	s := c.start(t, in)
	s.stop()
}

func (c *contract) cancelDuringChanges(t *testing.T) {
	in := c.h.New(t, Doc(0))
	s := c.start(t, in)
	s.expectDoc(Doc(0))
	for i := 1; i <= 3; i++ {
		in.Backend.Set(t, Doc(i))
	}
	s.stop()
}

func (c *contract) cancelledContext(t *testing.T) {
	in := c.h.New(t, Doc(0))
	s := c.startWith(t, in, true)
	s.stop()
}

// session is one running Run.
type session struct {
	t       *testing.T
	h       *Harness
	name    string
	cancel  context.CancelFunc
	updates chan syncsources.Update
	done    chan error
	leaks   []goleak.Option
	stopped bool
	prev    *syncsources.Update // the last update received
}

func (c *contract) start(t *testing.T, in Instance) *session {
	return c.startWith(t, in, false)
}

// startWith runs in.Source in a goroutine, with its context cancelled
// beforehand if cancelled is set.
func (c *contract) startWith(t *testing.T, in Instance, cancelled bool) *session {
	t.Helper()
	if in.Source == nil || in.Backend == nil {
		t.Fatal("sourcetest: Harness.New returned no Source or no Backend")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{
		t:       t,
		h:       &c.h,
		name:    in.Name,
		cancel:  cancel,
		updates: make(chan syncsources.Update), // unbuffered: a send blocks until received
		done:    make(chan error, 1),
		leaks:   append([]goleak.Option{goleak.IgnoreCurrent()}, c.h.LeakOptions...),
	}
	if cancelled {
		cancel()
	}
	go func() { s.done <- in.Source.Run(ctx, s.updates) }()
	t.Cleanup(func() {
		// After a failed check: do not leave Run behind for the next one.
		if !s.stopped {
			cancel()
			select {
			case <-s.done:
			case <-time.After(c.h.Timeout):
			}
		}
	})
	return s
}

// next receives the next update, skipping repeats if the kind may repeat.
func (s *session) next(what string) syncsources.Update {
	s.t.Helper()
	deadline := time.After(s.h.Timeout)
	for {
		select {
		case u := <-s.updates:
			if s.name != "" && u.Source != s.name {
				s.t.Errorf("update from source %q, want %q", u.Source, s.name)
			}
			if s.h.MayRepeat && s.prev != nil && s.repeats(*s.prev, u) {
				continue
			}
			if s.changedFailure(u) {
				s.prev = &u
				continue
			}
			s.prev = &u
			return u
		case err := <-s.done:
			s.stopped = true
			s.t.Fatalf("Run returned %v while waiting for %s", err, what)
		case <-deadline:
			s.t.Fatalf("no update within %v while waiting for %s", s.h.Timeout, what)
		}
	}
}

// changedFailure reports whether u is an outage that follows an outage
// with another error message: a changed failure, which a source may report.
func (s *session) changedFailure(u syncsources.Update) bool {
	return s.prev != nil && s.prev.Err != nil && u.Err != nil && u.Err.Error() != s.prev.Err.Error()
}

func (s *session) repeats(prev, u syncsources.Update) bool {
	switch {
	case prev.Err != nil || u.Err != nil:
		return prev.Err != nil && u.Err != nil
	case prev.Removed || u.Removed:
		return prev.Removed && u.Removed
	}
	return s.h.Equal(prev.Data, u.Data)
}

func (s *session) expectDoc(doc []byte) {
	s.t.Helper()
	u := s.next(fmt.Sprintf("document %s", doc))
	switch {
	case u.Err != nil:
		s.t.Fatalf("got outage %v, want document %s", u.Err, doc)
	case u.Removed:
		s.t.Fatalf("got removal, want document %s", doc)
	case !s.h.Equal(doc, u.Data):
		s.t.Fatalf("got document %s, want %s", u.Data, doc)
	}
}

func (s *session) expectErr() {
	s.t.Helper()
	u := s.next("an outage")
	switch {
	case u.Removed:
		s.t.Fatalf("got a removal, want an outage (Err)")
	case u.Err == nil:
		s.t.Fatalf("got document %s, want an outage (Err)", u.Data)
	}
}

// expectQuiet checks that nothing is sent for a while. It is not a
// synchronisation: a correct source passes however long it takes to react.
func (s *session) expectQuiet(when string) {
	s.t.Helper()
	if s.h.MayRepeat {
		return
	}
	quiet := time.After(s.h.Quiet)
	for {
		select {
		case u := <-s.updates:
			switch {
			case s.changedFailure(u):
				s.prev = &u
				continue
			case u.Err != nil:
				s.t.Fatalf("got outage %v %s, want nothing", u.Err, when)
			default:
				s.t.Fatalf("got update (removed=%v) %s %s, want nothing", u.Removed, u.Data, when)
			}
		case err := <-s.done:
			s.stopped = true
			s.t.Fatalf("Run returned %v %s", err, when)
		case <-quiet:
		}
		return
	}
}

// stop cancels Run's context without receiving and checks that Run returns
// its error, sends nothing more and leaves no goroutine behind.
func (s *session) stop() {
	s.t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		s.stopped = true
		if !errors.Is(err, context.Canceled) {
			s.t.Errorf("Run returned %v after cancel, want context.Canceled", err)
		}
	case <-time.After(s.h.Timeout):
		s.t.Fatalf("Run did not return within %v of cancel", s.h.Timeout)
	}
	select {
	case u := <-s.updates:
		s.t.Errorf("update sent after Run returned: %+v", u)
	default:
	}
	goleak.VerifyNone(s.t, s.leaks...)
}
