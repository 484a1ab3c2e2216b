package daemon_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vexilhq/vexil/daemon"
)

// fdExhaustionChildEnv makes TestDescriptorExhaustion run its child's part:
// the child lowers its own limit of open files, which the test process
// must keep.
const fdExhaustionChildEnv = "VEXIL_TEST_FD_EXHAUSTION_CHILD"

// TestDescriptorExhaustion: a daemon out of file descriptors does not exit:
// the evaluation port waits (and says so), then serves the connection that
// waited once descriptors are free again. It runs in a child process
// (this test binary again) whose limit of open files is lowered.
func TestDescriptorExhaustion(t *testing.T) {
	if os.Getenv(fdExhaustionChildEnv) == "1" {
		exhaustDescriptors(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDescriptorExhaustion$", "-test.v", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), fdExhaustionChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the child: %v\n%s", err, out)
	}
}

// signalWriter signals the first write that contains marker.
type signalWriter struct {
	marker []byte
	seen   chan struct{}
	once   sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, w.marker) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

// exhaustDescriptors is the child's part of TestDescriptorExhaustion.
func exhaustDescriptors(t *testing.T) {
	retrying := &signalWriter{marker: []byte("accepting a connection failed"), seen: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	ready := make(chan daemon.Addrs, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{BindAddress: "127.0.0.1", Logger: slog.New(slog.NewTextHandler(retrying, nil))},
			func(a daemon.Addrs) { ready <- a })
	}()
	var addrs daemon.Addrs
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("Run returned before listening: %v", err)
	}

	// The limit: a few descriptors above the highest open one; files
	// opened here take every free one below it.
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	highest := 0
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil {
			highest = max(highest, fd)
		}
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = uint64(highest) + 16
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	var fillers []*os.File
	closeFillers := func() {
		for _, f := range fillers {
			f.Close()
		}
		fillers = nil
	}
	defer closeFillers()
	for range lim.Cur {
		f, err := os.Open(os.DevNull)
		if errors.Is(err, syscall.EMFILE) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		fillers = append(fillers, f)
	}
	if len(fillers) == 0 || uint64(len(fillers)) == lim.Cur {
		t.Fatalf("%d files opened under a limit of %d", len(fillers), lim.Cur)
	}

	// One descriptor free: the client's connection takes it, and the
	// daemon has none left to accept the connection with.
	fillers[len(fillers)-1].Close()
	fillers = fillers[:len(fillers)-1]
	c, err := net.Dial("tcp", addrs.Evaluation)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case <-retrying.seen:
	case err := <-done:
		t.Fatalf("the daemon exited out of descriptors: %v", err)
	case <-time.After(timeout):
		t.Fatal("the daemon did not say that it could not accept")
	}

	// Descriptors free again: the connection that waited is served.
	closeFillers()
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		t.Fatal(err)
	}
	// The evaluation service answers (the daemon has no flags).
	const request = "POST /flagd.evaluation.v1.Service/ResolveBoolean HTTP/1.1\r\nHost: vexil\r\n" +
		"Content-Type: application/json\r\nContent-Length: 21\r\nConnection: close\r\n\r\n" + `{"flagKey":"my-flag"}`
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	checkNotFound(t, "the request that waited", c)
	// And a connection after.
	c2, err := net.DialTimeout("tcp", addrs.Evaluation, timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.SetDeadline(time.Now().Add(timeout)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c2, request); err != nil {
		t.Fatal(err)
	}
	checkNotFound(t, "a request after", c2)

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// checkNotFound reads the response on c and checks that it is the
// evaluation service's answer for a flag it does not have.
func checkNotFound(t *testing.T, what string, c net.Conn) {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusNotFound || !strings.Contains(string(answer), `"code":"not_found"`) {
		t.Fatalf("%s: %d %q %v", what, resp.StatusCode, answer, err)
	}
}
