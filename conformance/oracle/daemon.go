package oracle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/vexilhq/vexil/internal/testenv"
)

// Ports are a daemon's four ports on 127.0.0.1.
type Ports struct {
	Eval, Management, Sync, OFREP int
}

// A Daemon is a running flagd or vexil.
type Daemon struct {
	Ports Ports
	Ready bool // /readyz answered 200
	cmd   *exec.Cmd
	out   *tailBuffer
	done  chan struct{}
}

// StartDaemon runs "bin start --uri U... --port --management-port
// --sync-port --ofrep-port" in dir on free ports, with no FLAGD_ variables
// in its environment, and waits until its management port answers /readyz
// with 200 (Ready) or readyWait passes (not Ready) and its other ports
// accept connections.
func StartDaemon(ctx context.Context, bin, dir string, uris []string, readyWait time.Duration) (*Daemon, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		d, err := startOnce(ctx, bin, dir, uris, readyWait)
		if err == nil {
			return d, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func startOnce(ctx context.Context, bin, dir string, uris []string, readyWait time.Duration) (*Daemon, error) {
	ports, err := testenv.FreePorts(4)
	if err != nil {
		return nil, err
	}
	p := Ports{Eval: ports[0], Management: ports[1], Sync: ports[2], OFREP: ports[3]}
	cmd := exec.Command(bin, startArgs(uris, p)...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FLAGD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out := &tailBuffer{max: 16 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &Daemon{Ports: p, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(d.done) }()
	if err := d.await(ctx, readyWait); err != nil {
		d.Stop()
		return nil, fmt.Errorf("%s start %s: %w\n%s", bin, strings.Join(uris, " "), err, out.String())
	}
	return d, nil
}

func (d *Daemon) await(ctx context.Context, readyWait time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(readyWait)
	for {
		select {
		case <-d.done:
			return errors.New("exited")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", d.Ports.Management))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				d.Ready = true
				break
			}
		}
		if time.Now().After(deadline) {
			if err != nil {
				return err
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, port := range []int{d.Ports.Eval, d.Ports.Sync, d.Ports.OFREP} {
		for {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline.Add(5 * time.Second)) {
				return err
			}
			select {
			case <-d.done:
				return errors.New("exited")
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

// Output is the tail of the daemon's stdout and stderr.
func (d *Daemon) Output() string { return d.out.String() }

// Stop kills the daemon and waits for it.
func (d *Daemon) Stop() {
	_ = d.cmd.Process.Kill()
	<-d.done
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if t.buf.Len() > 2*t.max {
		b := append([]byte(nil), t.buf.Bytes()[t.buf.Len()-t.max:]...)
		t.buf.Reset()
		t.buf.Write(b)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf.Bytes()
	if len(b) > t.max {
		b = b[len(b)-t.max:]
	}
	return string(b)
}

// ReadyWait is how long StartDaemon waits for /readyz.
const ReadyWait = 2 * time.Second
