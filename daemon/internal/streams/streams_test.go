package streams

import (
	"context"
	"errors"
	"testing"
)

func TestShutdownWaitsForOpenStreams(t *testing.T) {
	tr := New()
	if !tr.Open() {
		t.Fatal("Open refused before Shutdown")
	}
	ended := make(chan error, 1)
	go func() { ended <- tr.Shutdown(context.Background()) }()
	<-tr.Done() // the stream is told to end
	select {
	case err := <-ended:
		t.Fatalf("Shutdown returned (%v) with a stream open", err)
	default:
	}
	tr.Close()
	if err := <-ended; err != nil {
		t.Fatal(err)
	}
	if tr.Open() {
		t.Error("Open accepted a stream after Shutdown")
	}
}

func TestShutdownGivesUpWithContext(t *testing.T) {
	tr := New()
	tr.Open()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tr.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
	tr.Close()
	// With nothing open, an already cancelled context still succeeds.
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown = %v", err)
	}
}
