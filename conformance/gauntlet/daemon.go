package gauntlet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Daemon is a running vexil process.
type Daemon struct {
	cmd    *exec.Cmd
	Addrs  Addrs
	exited chan struct{} // closed when the process has exited
	err    error         // its exit status, once exited

	mu   sync.Mutex
	logs bytes.Buffer // stderr, the JSON log lines
}

// Addrs are the daemon's ports, as its "listening" log line names them.
type Addrs struct {
	Evaluation, Management, Sync, OFREP string
}

// StartDaemon runs `binary start --bind-address 127.0.0.1 -p 0 -m 0 -g 0
// -r 0 -z json args...` and waits for its "listening" log line (at most
// 30 s).
func StartDaemon(binary string, env []string, args ...string) (*Daemon, error) {
	all := append([]string{"start", "--bind-address", "127.0.0.1", "-p", "0", "-m", "0", "-g", "0", "-r", "0", "-z", "json"}, args...)
	cmd := exec.Command(binary, all...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	d := &Daemon{cmd: cmd, exited: make(chan struct{})}
	listening := make(chan Addrs, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			line := sc.Bytes()
			d.mu.Lock()
			d.logs.Write(line)
			d.logs.WriteByte('\n')
			d.mu.Unlock()
			var rec map[string]any
			if json.Unmarshal(line, &rec) == nil && rec["msg"] == "listening" {
				s := func(k string) string { v, _ := rec[k].(string); return v }
				select {
				case listening <- Addrs{s("evaluation"), s("management"), s("sync"), s("ofrep")}:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		d.err = cmd.Wait()
		close(d.exited)
	}()
	select {
	case d.Addrs = <-listening:
		return d, nil
	case <-d.exited:
		return nil, fmt.Errorf("vexil exited before listening (%v):\n%s", d.err, d.Logs())
	case <-time.After(30 * time.Second):
		d.Kill()
		return nil, fmt.Errorf("vexil did not listen within 30 s:\n%s", d.Logs())
	}
}

// Logs returns what the daemon logged so far.
func (d *Daemon) Logs() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.logs.String()
}

// PID is the process's id.
func (d *Daemon) PID() int { return d.cmd.Process.Pid }

// Alive reports an error if the process has exited.
func (d *Daemon) Alive() error {
	select {
	case <-d.exited:
		return fmt.Errorf("vexil exited (%v); its last log lines:\n%s", d.err, tail(d.Logs(), 20))
	default:
		return nil
	}
}

// Signal sends sig and waits for the exit, at most wait; it returns the
// exit status (nil for 0).
func (d *Daemon) Signal(sig syscall.Signal, wait time.Duration) error {
	if err := d.cmd.Process.Signal(sig); err != nil {
		return err
	}
	select {
	case <-d.exited:
		return d.err
	case <-time.After(wait):
		d.Kill()
		return fmt.Errorf("vexil did not exit within %v of %v", wait, sig)
	}
}

// Kill ends the process at once and waits for it.
func (d *Daemon) Kill() {
	_ = d.cmd.Process.Kill()
	<-d.exited
}

// Stats are the process's figures, from /metrics.
type Stats struct {
	RSS        int64 // resident memory, bytes
	Goroutines int
	FDs        int
}

// Stats reads the daemon's resident memory, goroutines and open file
// descriptors from its Prometheus metrics.
func (d *Daemon) Stats(ctx context.Context) (Stats, error) {
	body, err := get(ctx, "http://"+d.Addrs.Management+"/metrics", nil)
	if err != nil {
		return Stats{}, err
	}
	var s Stats
	for line := range strings.SplitSeq(string(body), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		switch name {
		case "process_resident_memory_bytes":
			s.RSS = int64(f)
		case "go_goroutines":
			s.Goroutines = int(f)
		case "process_open_fds":
			s.FDs = int(f)
		}
	}
	if s.RSS == 0 {
		return s, errors.New("no process_resident_memory_bytes in /metrics")
	}
	return s, nil
}

// SourceState is one source in /readyz's JSON body.
type SourceState struct {
	Name      string    `json:"name"`
	State     string    `json:"state"`
	Flags     int       `json:"flags"`
	LastError string    `json:"lastError"`
	Updated   time.Time `json:"updated"`
}

// Sources reads /readyz as JSON.
func (d *Daemon) Sources(ctx context.Context) ([]SourceState, error) {
	body, err := get(ctx, "http://"+d.Addrs.Management+"/readyz", http.Header{"Accept": {"application/json"}})
	if err != nil {
		return nil, err
	}
	var r struct {
		Sources []SourceState `json:"sources"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("/readyz: %w", err)
	}
	return r.Sources, nil
}

// AwaitSource polls /readyz every 20 ms until the source named name
// satisfies ok, or ctx ends; the error then says what it last was.
func (d *Daemon) AwaitSource(ctx context.Context, name string, ok func(SourceState) bool) (SourceState, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last SourceState
	for {
		srcs, err := d.Sources(ctx)
		if err == nil {
			for _, s := range srcs {
				if s.Name == name {
					last = s
					if ok(s) {
						return s, nil
					}
				}
			}
		}
		if err := d.Alive(); err != nil {
			return last, err
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("source %s: last state %+v: %w", name, last, ctx.Err())
		case <-tick.C:
		}
	}
}

// get GETs url with a 10 s bound and returns the body of a 2xx answer.
func get(ctx context.Context, url string, h http.Header) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusPreconditionFailed {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
