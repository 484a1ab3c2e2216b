// Package pgtest starts a real PostgreSQL server for a test: initdb into a
// temporary directory, postgres listening on 127.0.0.1 on a free port (and
// on a Unix socket in that directory), stopped when the test ends.
//
// The binaries are found in VEXIL_PG_BIN_DIR, then on PATH, then in
// Debian's /usr/lib/postgresql/*/bin (apt-get install postgresql). When
// they are missing the test is skipped, or fails under CI=true. initdb and
// postgres refuse to run as root: when the test runs as root they run as
// the user nobody.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vexilhq/vexil/internal/testenv"
)

// BinDir returns the directory holding initdb and postgres, or "" when
// there is none.
func BinDir() string {
	if d := os.Getenv("VEXIL_PG_BIN_DIR"); d != "" {
		return d
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { // the newest version first
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

// Start starts a new PostgreSQL server for t and returns the URL of its
// database "postgres" (user postgres, no password, sslmode=disable). The
// server is stopped and its files removed when t ends.
func Start(t testing.TB) string {
	t.Helper()
	bin := BinDir()
	if bin == "" {
		const how = "PostgreSQL is not installed: apt-get install postgresql, or set VEXIL_PG_BIN_DIR to the directory of initdb and postgres"
		if os.Getenv("CI") == "true" {
			t.Fatal(how)
		}
		t.Skip(how)
	}
	// A directory of our own rather than t.TempDir, whose parents the user
	// nobody could not enter.
	dir, err := os.MkdirTemp("", "vexil-pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	data := filepath.Join(dir, "data")
	for _, d := range []string{data} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	var cred *syscall.Credential
	if os.Getuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			t.Fatalf("running as root and there is no user nobody to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(data, uid, gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, uid, gid); err != nil { // the socket and log files
			t.Fatal(err)
		}
	}
	command := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
		if cred != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		return cmd
	}

	initdb := command("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}

	ports, err := testenv.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ports[0])
	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	server := command("postgres", "-D", data, "-h", "127.0.0.1", "-p", port, "-k", dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=50")
	server.Stdout, server.Stderr = logFile, logFile
	if err := server.Start(); err != nil {
		t.Fatalf("starting postgres: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- server.Wait() }()
	serverLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	t.Cleanup(func() {
		// SIGINT is PostgreSQL's fast shutdown: clients disconnected, no
		// waiting for them.
		_ = server.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = server.Process.Kill()
			<-exited
			t.Errorf("postgres did not stop within 30 s after SIGINT; killed\n%s", serverLog())
		}
	})

	url := "postgres://postgres@127.0.0.1:" + port + "/postgres?sslmode=disable"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			_ = conn.Close(ctx)
			return url
		}
		select {
		case werr := <-exited:
			exited <- werr // for the cleanup
			t.Fatalf("postgres exited before accepting connections: %v\n%s", werr, serverLog())
		case <-ctx.Done():
			t.Fatalf("postgres did not accept connections within a minute: %v\n%s", errors.Join(err, ctx.Err()), serverLog())
		case <-tick.C:
		}
	}
}

// Unreachable returns the URL of a PostgreSQL server that is not there (a
// port that was free a moment ago), for tests of connection errors.
func Unreachable(t testing.TB) string {
	ports, err := testenv.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=10", ports[0])
}
