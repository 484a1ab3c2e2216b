package daemon_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"

	"go.uber.org/goleak"

	"github.com/vexilhq/vexil/daemon"
)

// TestDaemonLifecycle: New opens the ports (Addrs tells them), Run serves
// them until its context ends, and nothing of the daemon outlives Run or
// Close.
func TestDaemonLifecycle(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(), goleak.IgnoreAnyFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"))
	cfg := daemon.Config{BindAddress: "127.0.0.1", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}

	d, err := daemon.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := d.Addrs()
	for _, addr := range []string{a.Evaluation, a.Management, a.Sync, a.OFREP} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		conn.Close()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	client := &http.Client{Transport: &http.Transport{}, Timeout: timeout}
	(&daemonUnderTest{addrs: a, client: client}).waitReady(t)
	client.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	// A daemon that is not run releases its ports on Close.
	d, err = daemon.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}
