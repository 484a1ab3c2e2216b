package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestStartServes runs `vexil start` in-process until its context ends:
// options from the flags and the environment reach the daemon, which
// serves on the ports it logs, and ending the context stops it with exit
// code 0.
func TestStartServes(t *testing.T) {
	flags := filepath.Join(t.TempDir(), "flags.json")
	doc := `{"flags":{"regional":{"state":"ENABLED","variants":{"eu":"EU","other":"other"},"defaultVariant":"other",
		"targeting":{"if":[{"==":[{"var":"region"},"eu"]},"eu","other"]}}}}`
	if err := os.WriteFile(flags, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	env := envOf(map[string]string{"FLAGD_LOG_FORMAT": "json", "FLAGD_URI": "file:" + flags})
	args := []string{"start", "--bind-address", "127.0.0.1", "-p", "0", "-m", "0", "-g", "0", "-r", "0", "-X", "region=eu"}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		code := execute(ctx, args, env, strings.NewReader(""), io.Discard, pw)
		pw.Close()
		done <- code
	}()
	lines := make(chan map[string]any)
	defer func() {
		// On failure too: the daemon stops, and its log is read to the end.
		cancel()
		for range lines {
		}
	}()
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var rec map[string]any
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				rec = map[string]any{"msg": "not JSON: " + sc.Text()}
			}
			lines <- rec
		}
	}()
	// waitFor reads the log until it has seen a record with each of the
	// messages, in any order (the first document may load before the ports
	// listen), and returns them by message.
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	waitFor := func(msgs ...string) map[string]map[string]any {
		t.Helper()
		seen := map[string]map[string]any{}
		for len(seen) < len(msgs) {
			select {
			case rec, ok := <-lines:
				if !ok {
					t.Fatalf("vexil start ended (exit %d) before logging %q", <-done, msgs)
				}
				if msg, _ := rec["msg"].(string); slices.Contains(msgs, msg) {
					seen[msg] = rec
				}
			case <-timeout.C:
				t.Fatalf("not all of %q in time", msgs)
			}
		}
		return seen
	}
	listening := waitFor("listening", "flags loaded")["listening"]

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	ofrep, _ := listening["ofrep"].(string)
	resp, err := client.Post("http://"+ofrep+"/ofrep/v1/evaluate/flags/regional", "application/json", strings.NewReader(`{"context":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Value any }
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || got.Value != "EU" {
		t.Errorf("OFREP: status %d, value %v, err %v; want 200 and EU (region from -X)", resp.StatusCode, got.Value, err)
	}

	cancel()
	waitFor("stopped")
	for range lines {
	}
	if code := <-done; code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}
