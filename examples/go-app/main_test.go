package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vexilhq/vexil/daemon"
)

// startDaemon runs a daemon on loopback, on free ports, until the test
// ends, and returns its addresses.
func startDaemon(t *testing.T, sources []daemon.SourceSpec) daemon.Addrs {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan daemon.Addrs, 1)
	errc := make(chan error, 1)
	cfg := daemon.Config{
		BindAddress: "127.0.0.1",
		Sources:     sources,
		Logger:      slog.New(slog.DiscardHandler),
	}
	go func() { errc <- daemon.Run(ctx, cfg, func(a daemon.Addrs) { ready <- a }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("daemon: %v", err)
		}
	})
	select {
	case a := <-ready:
		return a
	case err := <-errc:
		t.Fatalf("daemon: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("daemon not ready after 10s")
	}
	return daemon.Addrs{}
}

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := strconv.Atoi(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// output collects the program's output and tells when a line appears.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // signalled at each write
}

func newOutput() *output { return &output{changed: make(chan struct{}, 1)} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, err := o.buf.Write(p)
	select {
	case o.changed <- struct{}{}:
	default:
	}
	return n, err
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitFor waits until the output holds s.
func (o *output) waitFor(t *testing.T, s string, done <-chan error) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for !strings.Contains(o.String(), s) {
		select {
		case <-o.changed:
		case err := <-done:
			t.Fatalf("run returned (%v) before printing %q; output:\n%s", err, s, o.String())
		case <-timeout:
			t.Fatalf("no %q after 15s; output:\n%s", s, o.String())
		}
	}
}

// start runs the program until the test ends.
func start(t *testing.T, args ...string) (*output, <-chan error, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	out := newOutput()
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, out) }()
	t.Cleanup(cancel)
	return out, done, cancel
}

// stop interrupts the program and waits for it to return.
func stop(t *testing.T, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after 15s")
	}
}

// The evaluations the bundled example gives user-1, an employee in Norway
// on version 2.1.0.
var wantLines = []string{
	"new-checkout = true (variant on, reason TARGETING_MATCH)",
	"welcome-message = Welcome! (variant plain, reason STATIC)",
	"search-results-per-page = 50 (variant many, reason TARGETING_MATCH)",
	"discount-rate = ", // bucketed: checked below
	"theme = map[background:#111111 text:#eeeeee] (variant dark, reason TARGETING_MATCH)",
	"legacy-banner = false (reason DISABLED)",
}

func TestRun(t *testing.T) {
	addrs := startDaemon(t, nil) // the bundled example
	for _, mode := range []struct{ name, addr string }{
		{"rpc", addrs.Evaluation},
		{"in-process", addrs.Sync},
	} {
		t.Run(mode.name, func(t *testing.T) {
			out, done, cancel := start(t, "-mode", mode.name, "-host", "127.0.0.1", "-port", port(t, mode.addr))
			out.waitFor(t, "listening for configuration changes", done)
			stop(t, cancel, done)
			got := out.String()
			for _, w := range wantLines {
				if !strings.Contains(got, "\n"+w) {
					t.Errorf("no line %q in the output:\n%s", w, got)
				}
			}
			if !strings.Contains(got, "evaluating as user-1 <ana@vexil.example> ("+mode.name+" mode)") {
				t.Errorf("no header in the output:\n%s", got)
			}
			var rate float64
			var variant string
			for line := range strings.Lines(got) {
				if strings.HasPrefix(line, "discount-rate = ") {
					if _, err := fmt.Sscanf(line, "discount-rate = %g (variant %s", &rate, &variant); err != nil {
						t.Errorf("discount-rate line %q: %v", line, err)
					}
				}
			}
			if want := map[string]float64{"none": 0, "small": 0.05, "big": 0.15}; want[variant] != rate {
				t.Errorf("discount-rate %g, variant %q", rate, variant)
			}
		})
	}

	t.Run("guest", func(t *testing.T) {
		out, done, cancel := start(t, "-host", "127.0.0.1", "-port", port(t, addrs.Evaluation), "-email", "bo@example.com")
		out.waitFor(t, "listening for configuration changes", done)
		stop(t, cancel, done)
		if got := out.String(); !strings.Contains(got, "\nnew-checkout = false (variant off, reason TARGETING_MATCH)") {
			t.Errorf("guest's new-checkout, output:\n%s", got)
		}
	})
}

// TestConfigurationChanged: the program prints the keys of the flags that
// change in the daemon's source.
func TestConfigurationChanged(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "flags", "demo.flags.json"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "flags.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	addrs := startDaemon(t, []daemon.SourceSpec{{URI: path, Provider: "file"}})
	for _, mode := range []struct{ name, addr string }{
		{"rpc", addrs.Evaluation},
		{"in-process", addrs.Sync},
	} {
		t.Run(mode.name, func(t *testing.T) {
			out, done, cancel := start(t, "-mode", mode.name, "-host", "127.0.0.1", "-port", port(t, mode.addr))
			out.waitFor(t, "listening for configuration changes", done)
			// Flip welcome-message's default variant (rpc), then back
			// (in-process).
			changed := strings.Replace(string(data), `"defaultVariant": "plain"`, `"defaultVariant": "friendly"`, 1)
			if mode.name == "in-process" {
				changed = string(data)
			}
			tmp := path + ".tmp"
			if err := os.WriteFile(tmp, []byte(changed), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
			out.waitFor(t, "configuration changed: [welcome-message]", done)
			stop(t, cancel, done)
		})
	}
}
