package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1/evaluationv1connect"
)

// runMainEnv makes the test binary run the command line instead of the
// tests, so that tests can start vexil as a real process.
const runMainEnv = "VEXIL_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	code := m.Run()
	cluster.Close()
	os.Exit(code)
}

// startProcess starts `vexil args...` as a process and returns it with
// the addresses its "listening" log line names.
func startProcess(t *testing.T, args ...string) (*exec.Cmd, map[string]string, <-chan string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	var seen []string
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("vexil ended before listening:\n%s", strings.Join(seen, "\n"))
			}
			seen = append(seen, line)
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "listening" {
				addrs := map[string]string{}
				for _, k := range []string{"evaluation", "management", "sync", "ofrep"} {
					addrs[k], _ = rec[k].(string)
				}
				return cmd, addrs, lines
			}
		case <-timer.C:
			t.Fatal("vexil did not listen in time")
		}
	}
}

// TestSignals: SIGTERM and SIGINT shut the daemon down gracefully: open
// event streams get provider_shutdown, the process logs that it stopped
// and exits 0.
func TestSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			flags := filepath.Join(t.TempDir(), "flags.json")
			if err := os.WriteFile(flags, []byte(`{"flags":{"f":{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on"}}}`), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd, addrs, lines := startProcess(t, "start", "-f", "file:"+flags, "--bind-address", "127.0.0.1",
				"-p", "0", "-m", "0", "-g", "0", "-r", "0", "-z", "json")

			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			client := evaluationv1connect.NewServiceClient(&http.Client{Transport: tr}, "http://"+addrs["evaluation"])
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			stream, err := client.EventStream(ctx, connect.NewRequest(&evaluationv1.EventStreamRequest{}))
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			if !stream.Receive() || stream.Msg().GetType() != "provider_ready" {
				t.Fatalf("first event: %v %v", stream.Msg(), stream.Err())
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			var last string
			for stream.Receive() {
				last = stream.Msg().GetType()
			}
			if last != "provider_shutdown" {
				t.Errorf("last event %q, want provider_shutdown", last)
			}
			var logged []string
			for line := range lines {
				logged = append(logged, line)
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("exit: %v, want 0", err)
			}
			all := strings.Join(logged, "\n")
			if !strings.Contains(all, `"msg":"stopped"`) {
				t.Errorf("no \"stopped\" log line in:\n%s", all)
			}
		})
	}
}
