package poll_test

import (
	"context"
	"errors"
	"testing"

	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
	"github.com/vexilhq/vexil/syncsources/poll"
)

// TestSender: a document is delivered when its bytes change or after a
// failure; a failure when it changes (the local port of a connection does
// not count) or after a document.
func TestSender(t *testing.T) {
	updates := make(chan syncsources.Update, 16)
	s := poll.Sender{Source: "src", Updates: updates}
	ctx := context.Background()
	refused := func(port string) error {
		return errors.New("dial tcp 127.0.0.1:" + port + "->127.0.0.1:80: connection refused")
	}
	steps := []struct {
		data string // a document when err is nil
		err  error
		sent bool
	}{
		{data: "a", sent: true},
		{data: "a", sent: false},
		{data: "b", sent: true},
		{err: refused("5001"), sent: true},
		{err: refused("5002"), sent: false},
		{err: errors.New("500 Internal Server Error"), sent: true},
		{data: "b", sent: true},
		{err: errors.New("500 Internal Server Error"), sent: true},
	}
	for i, st := range steps {
		if st.err != nil {
			if got := s.Failure(ctx, st.err); got != st.err {
				t.Fatalf("step %d: Failure returned %v, want the failure", i, got)
			}
		} else if err := s.Data(ctx, []byte(st.data), evaluator.FormatJSON); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		select {
		case u := <-updates:
			if !st.sent {
				t.Fatalf("step %d: sent %+v, want nothing", i, u)
			}
			if u.Source != "src" || (u.Err == nil) != (st.err == nil) || (st.err == nil && string(u.Data) != st.data) {
				t.Fatalf("step %d: sent %+v", i, u)
			}
		default:
			if st.sent {
				t.Fatalf("step %d: nothing sent", i)
			}
		}
	}
}

// TestSenderCanceled: a send that nobody takes ends with the context.
func TestSenderCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := poll.Sender{Source: "src", Updates: make(chan syncsources.Update)}
	if err := s.Data(ctx, []byte("a"), evaluator.FormatJSON); !errors.Is(err, context.Canceled) {
		t.Errorf("Data = %v, want context.Canceled", err)
	}
	if err := s.Failure(ctx, errors.New("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Failure = %v, want context.Canceled", err)
	}
}
