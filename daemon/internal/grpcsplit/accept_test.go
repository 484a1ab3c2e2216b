package grpcsplit_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vexilhq/vexil/daemon/internal/grpcsplit"
)

// scriptedListener is a listener whose Accept answers with script first,
// one entry a call: an error, or nil for a connection of the listener.
// Once the script is played, it accepts connections.
type scriptedListener struct {
	net.Listener
	mu     sync.Mutex
	script []error
	played chan struct{} // closed when the script is played
	once   sync.Once
}

func newScriptedListener(t *testing.T, script ...error) *scriptedListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &scriptedListener{Listener: ln, script: script, played: make(chan struct{})}
}

func (l *scriptedListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if len(l.script) == 0 {
		l.mu.Unlock()
		l.once.Do(func() { close(l.played) })
		return l.Listener.Accept()
	}
	err := l.script[0]
	l.script = l.script[1:]
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return l.Listener.Accept()
}

// acceptError is the error net.TCPListener's Accept returns when accept4
// fails with errno.
func acceptError(ln net.Listener, errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Addr: ln.Addr(), Err: os.NewSyscallError("accept4", errno)}
}

// runSplit runs a Split of ln with an HTTP server that answers "ok", and
// returns the channel of Run's result; the Split and the server are
// closed at cleanup.
func runSplit(t *testing.T, ln net.Listener, cfg grpcsplit.Config) (*grpcsplit.Split, <-chan error) {
	t.Helper()
	sp := grpcsplit.New(ln, cfg)
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	})}
	runErr := make(chan error, 1)
	served := make(chan struct{})
	go func() { runErr <- sp.Run() }()
	go func() {
		defer close(served)
		_ = hs.Serve(sp.HTTP())
	}()
	t.Cleanup(func() {
		sp.Close()
		hs.Close()
		<-served
	})
	return sp, runErr
}

// get sends a GET request over c and checks that it is answered "ok".
func get(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: split\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("the request: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Fatalf("the request: %d %q %v", resp.StatusCode, body, err)
	}
}

func dial(t *testing.T, ln net.Listener) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestTemporaryAcceptErrors: out of file descriptors (EMFILE, ENFILE),
// Run waits and accepts again, as net/http does, the wait doubling from
// 5 ms and starting over after a connection is accepted; the connections
// that waited are served.
func TestTemporaryAcceptErrors(t *testing.T) {
	ln := newScriptedListener(t)
	ln.script = []error{
		acceptError(ln, syscall.EMFILE), acceptError(ln, syscall.EMFILE), acceptError(ln, syscall.ENFILE),
		nil,
		acceptError(ln, syscall.EMFILE),
	}
	// Two clients wait in the listener's backlog while Accept fails.
	first, second := dial(t, ln), dial(t, ln)
	var mu sync.Mutex
	var waits []time.Duration
	_, runErr := runSplit(t, ln, grpcsplit.Config{AcceptRetry: func(err error, wait time.Duration) {
		if !errors.Is(err, syscall.EMFILE) && !errors.Is(err, syscall.ENFILE) {
			t.Errorf("AcceptRetry with %v", err)
		}
		mu.Lock()
		waits = append(waits, wait)
		mu.Unlock()
	}})
	select {
	case <-ln.played:
	case err := <-runErr:
		t.Fatalf("Run returned on a temporary error: %v", err)
	}
	get(t, first)
	get(t, second)
	// A connection after the errors, too.
	get(t, dial(t, ln))

	mu.Lock()
	defer mu.Unlock()
	want := []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 5 * time.Millisecond}
	if !slices.Equal(waits, want) {
		t.Errorf("waits %v, want %v", waits, want)
	}
}

// TestPermanentAcceptError: an error of Accept that is not temporary ends
// Run, which returns that error (after temporary ones, too), and the
// servers' listeners close.
func TestPermanentAcceptError(t *testing.T) {
	broken := errors.New("the listener broke")
	ln := newScriptedListener(t)
	ln.script = []error{
		acceptError(ln, syscall.EMFILE),
		&net.OpError{Op: "accept", Net: "tcp", Addr: ln.Addr(), Err: broken},
	}
	sp, runErr := runSplit(t, ln, grpcsplit.Config{})
	if err := <-runErr; !errors.Is(err, broken) {
		t.Fatalf("Run: %v, want the listener's error", err)
	}
	for _, l := range []net.Listener{sp.HTTP(), sp.GRPC()} {
		if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Run: %v", err)
		}
	}
}

// TestCloseWhileWaiting: Close ends Run while it waits to accept again, and
// Run returns nil.
func TestCloseWhileWaiting(t *testing.T) {
	ln := newScriptedListener(t)
	ln.script = []error{acceptError(ln, syscall.EMFILE)}
	waiting := make(chan struct{})
	sp, runErr := runSplit(t, ln, grpcsplit.Config{AcceptRetry: func(error, time.Duration) { close(waiting) }})
	select {
	case <-waiting:
	case err := <-runErr:
		t.Fatalf("Run returned on a temporary error: %v", err)
	}
	sp.Close()
	if err := <-runErr; err != nil {
		t.Fatalf("Run after Close: %v", err)
	}
}
