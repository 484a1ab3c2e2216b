package poll

import (
	"context"
	"crypto/sha256"

	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
)

// Sender delivers a polled source's results to its updates channel as the
// syncsources contract asks: a document only when its bytes differ from
// the last one delivered (or an outage came between), and a failure only
// when it differs (by OutageKey) from the failure last reported. The zero
// value is not usable: set Source and Updates.
type Sender struct {
	Source  string                    // stamped on every update
	Updates chan<- syncsources.Update // where updates go

	sent      bool // a document or a failure was sent
	outage    bool // the last thing sent was a failure
	outageKey string
	last      [sha256.Size]byte
}

// Data delivers a fetched document unless it is the one last delivered.
// It returns ctx's error if ctx ends before the update is taken.
func (s *Sender) Data(ctx context.Context, data []byte, format evaluator.Format) error {
	sum := sha256.Sum256(data)
	if s.sent && !s.outage && sum == s.last {
		return nil
	}
	s.sent, s.outage, s.last = true, false, sum
	return s.send(ctx, syncsources.Update{Source: s.Source, Data: data, Format: format})
}

// Failure reports a failed fetch unless the same failure was reported
// last. It returns err (for the poller's backoff), or ctx's error if ctx
// ends before the update is taken.
func (s *Sender) Failure(ctx context.Context, err error) error {
	key := OutageKey(err)
	if s.sent && s.outage && key == s.outageKey {
		return err // this failure was reported already
	}
	s.sent, s.outage, s.outageKey = true, true, key
	if sendErr := s.send(ctx, syncsources.Update{Source: s.Source, Err: err}); sendErr != nil {
		return sendErr
	}
	return err
}

func (s *Sender) send(ctx context.Context, u syncsources.Update) error {
	select {
	case s.Updates <- u:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
