package resolve

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/vexilhq/vexil/evaluator"
)

// ErrorLog is an [Observer] that logs the evaluations that failed for a
// reason in the flag or the request (the targeting rule chose a variant
// the flag does not have, failed, or the flag's value is not of the type
// asked for) with their cause, at most once per flag per interval: the
// first failure of a flag is logged at once, the next ones of the interval
// are counted, and the first after it is logged with that count
// ("suppressed"). Unknown flags are not logged: any client can ask for
// any key, and a log line per key would let it fill the log.
type ErrorLog struct {
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time

	mu    sync.Mutex
	flags map[errorLogKey]*errorLogState
}

type errorLogKey struct{ set, key string }

type errorLogState struct {
	last       time.Time // when a line was last logged
	suppressed int       // failures since, not logged
}

// ErrorLogConfig configures an ErrorLog.
type ErrorLogConfig struct {
	// Logger receives the lines, at level Warn. Required.
	Logger *slog.Logger
	// Interval is the least time between two lines about one flag; 0
	// means DefaultErrorLogInterval.
	Interval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultErrorLogInterval is ErrorLog's default interval per flag.
const DefaultErrorLogInterval = time.Minute

// maxErrorLogFlags bounds the flags an ErrorLog remembers; beyond it, the
// states older than the interval are forgotten.
const maxErrorLogFlags = 10000

// NewErrorLog returns an ErrorLog. It panics if cfg.Logger is nil.
func NewErrorLog(cfg ErrorLogConfig) *ErrorLog {
	if cfg.Logger == nil {
		panic("resolve: ErrorLogConfig.Logger is nil")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultErrorLogInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &ErrorLog{log: cfg.Logger, interval: cfg.Interval, now: cfg.Now, flags: map[errorLogKey]*errorLogState{}}
}

// Evaluated logs e if it failed, within the rate limit.
func (l *ErrorLog) Evaluated(ctx context.Context, e Evaluation) {
	err := e.Result.Err
	if err == nil || err.Code == evaluator.CodeFlagNotFound {
		return
	}
	set, _ := e.Result.Metadata["flagSetId"].(string)
	id := errorLogKey{set: set, key: e.Result.FlagKey}
	now := l.now()
	l.mu.Lock()
	st := l.flags[id]
	if st != nil && now.Sub(st.last) < l.interval {
		st.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := 0
	if st == nil {
		if len(l.flags) >= maxErrorLogFlags {
			l.forget(now)
		}
		st = &errorLogState{}
		l.flags[id] = st
	} else {
		suppressed = st.suppressed
	}
	st.last, st.suppressed = now, 0
	l.mu.Unlock()

	attrs := []slog.Attr{
		slog.String("flag", e.Result.FlagKey),
		slog.String("code", err.Code.String()),
		slog.String("cause", err.Message),
		slog.String("type", e.Kind.String()),
	}
	if set != "" {
		attrs = append(attrs, slog.String("flagSetId", set))
	}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int("suppressed", suppressed), slog.Duration("interval", l.interval))
	}
	l.log.LogAttrs(ctx, slog.LevelWarn, "flag evaluation failed", attrs...)
}

// forget drops the states of flags last logged an interval ago or more,
// whose next failure is logged anyway (its suppressed count is lost).
// l.mu is held.
func (l *ErrorLog) forget(now time.Time) {
	for id, st := range l.flags {
		if now.Sub(st.last) >= l.interval {
			delete(l.flags, id)
		}
	}
}
