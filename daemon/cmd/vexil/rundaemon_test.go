package main

import (
	"context"
	"log/slog"
	"testing"

	"github.com/vexilhq/vexil/daemon"
)

// startDaemon runs a daemon in the test's process on free ports of
// 127.0.0.1, serving the flag files (later ones winning), until the test
// ends, and returns its addresses once every source has loaded (/readyz).
func startDaemon(t *testing.T, files ...string) daemon.Addrs {
	t.Helper()
	var specs []daemon.SourceSpec
	for _, f := range files {
		specs = append(specs, daemon.SourceSpec{URI: "file:" + f})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan daemon.Addrs, 1)
	cfg := daemon.Config{BindAddress: "127.0.0.1", Sources: specs, Logger: slog.New(slog.DiscardHandler)}
	go func() { done <- daemon.Run(ctx, cfg, func(a daemon.Addrs) { ready <- a }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the daemon: %v", err)
		}
	})
	var addrs daemon.Addrs
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("the daemon did not start: %v", err)
	}
	// Listening comes before the first documents.
	awaitReady(t, addrs.Management)
	return addrs
}
