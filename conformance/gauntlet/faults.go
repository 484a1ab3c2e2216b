package gauntlet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// awaitHTTPFlag waits until flag "http-flag" answers want, polling.
func (e *Env) awaitHTTPFlag(ctx context.Context, want string) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last string
	var lastErr error
	for {
		if last, lastErr = e.Evaluate(ctx, "http-flag"); lastErr == nil && last == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("http-flag: want %q, last %q (%v): %w", want, last, lastErr, ctx.Err())
		case <-tick.C:
		}
	}
}

// expectState waits until source name reports state after its last
// update, with lastError containing errPart, and checks that the last good
// flags still serve.
func (e *Env) expectState(ctx context.Context, name, state, errPart string, since time.Time) error {
	st, err := e.Daemon.AwaitSource(ctx, name, func(s SourceState) bool {
		return s.State == state && strings.Contains(s.LastError, errPart) && !s.Updated.Before(since)
	})
	if err != nil {
		return fmt.Errorf("want %s (%q): %w", state, errPart, err)
	}
	_ = st
	return e.Healthy(ctx)
}

func checkFileFaults(ctx context.Context, e *Env) error {
	name := e.FlagFile
	now := func() time.Time { return time.Now().Add(-time.Second) } // /readyz times have second precision at worst
	// Deleted: an outage; the last good flags serve.
	if err := os.Remove(name); err != nil {
		return err
	}
	if err := e.expectState(ctx, name, "outage", "", now()); err != nil {
		return fmt.Errorf("file deleted: %w", err)
	}
	// Garbage: rejected.
	if err := writeAtomic(name, []byte("\x00{{{ garbage")); err != nil {
		return err
	}
	if err := e.expectState(ctx, name, "rejected", "", now()); err != nil {
		return fmt.Errorf("garbage written: %w", err)
	}
	// A directory in its place: an outage.
	if err := os.Remove(name); err != nil {
		return err
	}
	if err := os.Mkdir(name, 0o755); err != nil {
		return err
	}
	if err := e.expectState(ctx, name, "outage", "", now()); err != nil {
		return fmt.Errorf("a directory in the file's place: %w", err)
	}
	if err := os.Remove(name); err != nil {
		return err
	}
	// Flapping: good, garbage, deleted, in quick succession, ending good.
	for i := range 30 {
		switch i % 3 {
		case 0:
			_ = e.WriteGood(e.Gen() + 1)
		case 1:
			_ = writeAtomic(name, []byte(`{"flags":`))
		case 2:
			_ = os.Remove(name)
		}
	}
	// Recovery.
	if err := e.WriteGood(e.Gen() + 1); err != nil {
		return err
	}
	if err := e.AwaitServed(ctx, e.Gen()); err != nil {
		return fmt.Errorf("recovering: %w", err)
	}
	if _, err := e.Daemon.AwaitSource(ctx, name, func(s SourceState) bool { return s.State == "loaded" }); err != nil {
		return fmt.Errorf("recovering: %w", err)
	}
	return nil
}

func checkHTTPFaults(ctx context.Context, e *Env) error {
	name := e.HTTP.URL()
	since := func() time.Time { return time.Now().Add(-time.Second) }
	steps := []struct {
		what          string
		fault         func() error
		state, errMsg string
	}{
		{"server down", func() error { e.HTTP.Down(); return nil }, "outage", "refused"},
		{"server back", e.HTTP.Up, "loaded", ""},
		{"500", func() error { e.HTTP.Set("500"); return nil }, "outage", "500"},
		{"garbage", func() error { e.HTTP.Set("garbage"); return nil }, "rejected", ""},
		{"slow (no answer within the source's 2 s timeout)", func() error { e.HTTP.Set("slow"); return nil }, "outage", ""},
		{"recovered", func() error { e.HTTP.Set(""); return nil }, "loaded", ""},
	}
	for _, s := range steps {
		t := since()
		if err := s.fault(); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
		if err := e.expectState(ctx, name, s.state, s.errMsg, t); err != nil {
			return fmt.Errorf("HTTP source %s: %w", s.what, err)
		}
		if err := e.awaitHTTPFlag(ctx, "from-http"); err != nil {
			return fmt.Errorf("HTTP source %s: the last good flags: %w", s.what, err)
		}
	}
	// Flapping: down and up a few times, then a new document.
	for range 3 {
		e.HTTP.Down()
		if err := e.HTTP.Up(); err != nil {
			return err
		}
	}
	e.HTTP.SetDoc(httpDoc("from-http-2"))
	if err := e.awaitHTTPFlag(ctx, "from-http-2"); err != nil {
		return fmt.Errorf("after flapping: %w", err)
	}
	e.HTTP.SetDoc(httpDoc("from-http"))
	return e.awaitHTTPFlag(ctx, "from-http")
}

func checkRollback(ctx context.Context, e *Env) error {
	a := e.Gen()
	b := a + 1000
	markA, markB := fmt.Sprintf(`"gen-%d"`, a), fmt.Sprintf(`"gen-%d"`, b)
	syncs, err := openSyncStreams(ctx, e.Daemon.Addrs.Sync, e.cfg.Scale.Streams, markA, markB)
	if err != nil {
		return err
	}
	defer syncs.close()
	events, err := openEventStreams(ctx, e.Daemon.Addrs.Evaluation, max(e.cfg.Scale.Streams/4, 1))
	if err != nil {
		return err
	}
	defer events.close()
	has := func(s *streamSet, i int, m string) bool { return strings.Contains(s.last[i], m) && !s.ended[i] }
	if err := syncs.await(ctx, "at A", func(i int) bool { return has(syncs, i, markA) }); err != nil {
		return err
	}
	if err := e.WriteGood(b); err != nil {
		return err
	}
	if err := syncs.await(ctx, "at B", func(i int) bool { return has(syncs, i, markB) }); err != nil {
		return fmt.Errorf("A->B: %w", err)
	}
	if err := events.await(ctx, "told of B", func(i int) bool { return events.has(i, "configuration_change") }); err != nil {
		return fmt.Errorf("A->B: %w", err)
	}
	events.mu.Lock()
	for i := range events.seen {
		delete(events.seen[i], "configuration_change")
	}
	events.mu.Unlock()
	if err := e.WriteGood(a); err != nil {
		return err
	}
	if err := syncs.await(ctx, "back at A", func(i int) bool { return has(syncs, i, markA) && syncs.has(i, markB) }); err != nil {
		return fmt.Errorf("B->A: %w", err)
	}
	if err := events.await(ctx, "told of A", func(i int) bool { return events.has(i, "configuration_change") }); err != nil {
		return fmt.Errorf("B->A: %w", err)
	}
	return e.AwaitServed(ctx, a)
}

func checkSIGTERM(ctx context.Context, e *Env) error {
	syncs, err := openSyncStreams(ctx, e.Daemon.Addrs.Sync, e.cfg.Scale.Streams)
	if err != nil {
		return err
	}
	defer syncs.close()
	events, err := openEventStreams(ctx, e.Daemon.Addrs.Evaluation, e.cfg.Scale.Streams)
	if err != nil {
		return err
	}
	defer events.close()
	if err := e.Daemon.Signal(syscall.SIGTERM, 60*time.Second); err != nil {
		return fmt.Errorf("exit after SIGTERM: %w\n%s", err, tail(e.Daemon.Logs(), 10))
	}
	var errs []error
	if !strings.Contains(e.Daemon.Logs(), `"msg":"stopped"`) {
		errs = append(errs, errors.New(`no "stopped" log line`))
	}
	if err := syncs.await(ctx, "ended", func(i int) bool { return syncs.ended[i] }); err != nil {
		errs = append(errs, fmt.Errorf("sync streams: %w", err))
	}
	if err := events.await(ctx, "ended with provider_shutdown", func(i int) bool {
		return events.ended[i] && events.has(i, "provider_shutdown")
	}); err != nil {
		errs = append(errs, fmt.Errorf("event streams: %w", err))
	}
	return errors.Join(errs...)
}
