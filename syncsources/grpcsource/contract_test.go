package grpcsource_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/vexilhq/vexil/daemon"
	syncv1 "github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1"
	"github.com/vexilhq/vexil/syncsources/grpcsource"
	"github.com/vexilhq/vexil/syncsources/sourcetest"
)

// daemonEnv makes the test binary run a Vexil daemon instead of the tests:
// its value is the flag file, and daemonPortEnv the sync port.
const (
	daemonEnv     = "GRPCSOURCE_TEST_DAEMON_FLAGS"
	daemonPortEnv = "GRPCSOURCE_TEST_DAEMON_SYNC_PORT"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(daemonEnv); path != "" {
		os.Exit(runDaemon(path, os.Getenv(daemonPortEnv)))
	}
	os.Exit(m.Run())
}

// runDaemon runs daemon.Run serving path until SIGTERM or until stdin
// closes (the test died), and prints the sync address once it listens.
func runDaemon(path, port string) int {
	var syncPort int
	if _, err := fmt.Sscan(port, &syncPort); err != nil {
		fmt.Fprintln(os.Stderr, "bad port:", err)
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// SIGTERM stays caught until the process exits: the parent signals and
	// closes stdin at once, and a SIGTERM arriving after the handler was
	// stopped (as signal.NotifyContext's stop does) would kill the child.
	sigterm := make(chan os.Signal, 1)
	signal.Notify(sigterm, syscall.SIGTERM)
	go func() {
		<-sigterm
		cancel()
	}()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	err := daemon.Run(ctx, daemon.Config{
		Sources:        []daemon.SourceSpec{{URI: "file:" + path}},
		BindAddress:    "127.0.0.1",
		Port:           0,
		ManagementPort: 0,
		SyncPort:       syncPort,
		OFREPPort:      0,
		Logger:         slog.New(slog.DiscardHandler),
	}, func(a daemon.Addrs) {
		fmt.Printf("sync=%s\n", a.Sync)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "daemon:", err)
		return 1
	}
	return 0
}

// daemonBackend is a Vexil daemon serving a flag file, in a child process
// (so that its goroutines are not the test's). Break stops it; Restore
// starts it again on the same sync port.
type daemonBackend struct {
	doc   []byte // the document set
	path  string
	port  int
	addr  string // the sync address, host:port
	cmd   *exec.Cmd
	stdin *os.File // the child's stdin; closing it stops the child
}

func newDaemonBackend(t *testing.T, doc []byte) *daemonBackend {
	b := &daemonBackend{path: filepath.Join(t.TempDir(), "flags.json"), doc: bytes.Clone(doc)}
	writeAtomic(t, b.path, doc)
	b.start(t)
	t.Cleanup(func() { b.stop(t) })
	return b
}

func (b *daemonBackend) start(t testing.TB) {
	t.Helper()
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if err = b.tryStart(); err == nil {
			b.awaitServing(t)
			return
		}
		time.Sleep(20 * time.Millisecond) // the port not yet free
	}
	t.Fatalf("starting the daemon: %v", err)
}

func (b *daemonBackend) tryStart() error {
	inR, inW, err := os.Pipe()
	if err != nil {
		return err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), daemonEnv+"="+b.path, fmt.Sprintf("%s=%d", daemonPortEnv, b.port))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, os.Stderr
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return err
	}
	line, err := bufio.NewReader(outR).ReadString('\n')
	outR.Close()
	if err != nil {
		inW.Close()
		_ = cmd.Wait()
		return fmt.Errorf("the daemon did not start: %w", err)
	}
	b.cmd, b.stdin = cmd, inW
	b.addr = strings.TrimSpace(strings.TrimPrefix(line, "sync="))
	if b.port == 0 {
		_, err = fmt.Sscanf(b.addr[strings.LastIndexByte(b.addr, ':')+1:], "%d", &b.port)
	}
	return err
}

func (b *daemonBackend) stop(t testing.TB) {
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	b.stdin.Close()
	if err := b.cmd.Wait(); err != nil {
		t.Errorf("daemon: %v", err)
	}
	b.cmd = nil
}

func (b *daemonBackend) Set(t testing.TB, doc []byte) {
	b.doc = bytes.Clone(doc)
	writeAtomic(t, b.path, doc)
	if b.cmd != nil {
		b.awaitServing(t)
	}
}

// awaitServing waits until the daemon serves the document set.
func (b *daemonBackend) awaitServing(t testing.TB) {
	t.Helper()
	conn, err := grpc.NewClient(b.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var resp syncv1.FetchAllFlagsResponse
		err := conn.Invoke(context.Background(), "/flagd.sync.v1.FlagSyncService/FetchAllFlags", &syncv1.FetchAllFlagsRequest{}, &resp)
		if err == nil && sameFlags(b.doc, []byte(resp.GetFlagConfiguration())) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon does not serve the document: %v %s", err, resp.GetFlagConfiguration())
		}
		time.Sleep(5 * time.Millisecond) // polling the daemon, not synchronizing with the source
	}
}
func (b *daemonBackend) Break(t testing.TB)   { b.stop(t) }
func (b *daemonBackend) Restore(t testing.TB) { b.start(t) }

func writeAtomic(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// sameFlags compares a document with the daemon's flag_configuration of
// it, which adds each flag's "source".
func sameFlags(want, got []byte) bool {
	var w, g struct {
		Flags map[string]map[string]any `json:"flags"`
	}
	if json.Unmarshal(want, &w) != nil || json.Unmarshal(got, &g) != nil {
		return bytes.Equal(want, got)
	}
	for _, f := range g.Flags {
		delete(f, "source")
	}
	return reflect.DeepEqual(w.Flags, g.Flags)
}

func TestContract(t *testing.T) {
	if testing.Short() {
		t.Skip("starts daemons")
	}
	sourcetest.Run(t, sourcetest.Harness{
		New: func(t *testing.T, doc []byte) sourcetest.Instance {
			b := newDaemonBackend(t, doc)
			uri := "grpc://" + b.addr
			cfg, err := grpcsource.FromURI(uri)
			if err != nil {
				t.Fatal(err)
			}
			cfg.MinBackoff, cfg.MaxBackoff = 5*time.Millisecond, 50*time.Millisecond
			src, err := grpcsource.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			return sourcetest.Instance{Source: src, Backend: b, Name: cfg.Name}
		},
		Equal:   sameFlags,
		Timeout: 10 * time.Second,
	})
}
