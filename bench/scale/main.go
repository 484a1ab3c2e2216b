// Command scale measures how the vexil daemon copes with large flag files
// and how quickly it serves an edited one:
//
//   - startup: it writes a -flags flag file (by default 100,000 flags, a mix
//     of static and targeting flags), starts the vexil binary on it and
//     times, from the process start, /readyz answering 200 and the first
//     successful ResolveBoolean of the file's last flag; it then applies
//     -load of steady ResolveBoolean requests and reads the process's VmRSS
//     and VmHWM from /proc;
//   - edit latency: for each of -edit-sizes, it starts vexil on a file of
//     that many flags, opens an EventStream, and -edits times rewrites the
//     file atomically (temporary file and rename) with one flag's default
//     variant flipped, timing from the rename to the configuration_change
//     event and to the first HTTP/JSON resolve that returns the new value.
//
// It prints markdown tables. bench/run.sh runs it with
// SCENARIOS=scale; on its own:
//
//	go build -o /tmp/vexil ./daemon/cmd/vexil
//	go run ./bench/scale -vexil /tmp/vexil
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/vexilhq/vexil/bench/internal/stats"
	"github.com/vexilhq/vexil/internal/testenv"
	evalv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1/evaluationv1connect"
)

func main() {
	var (
		vexil     = flag.String("vexil", "", "path to the vexil binary (required)")
		nflags    = flag.Int("flags", 100_000, "flags in the startup file")
		load      = flag.Duration("load", 10*time.Second, "how long to apply load before reading the RSS")
		workers   = flag.Int("workers", 16, "concurrent requests during the load")
		edits     = flag.Int("edits", 20, "edits per file size")
		editSizes = flag.String("edit-sizes", "10000,13", "comma-separated flag counts for the edit test")
		cpus      = flag.String("cpu", "", "run vexil under taskset -c CPUS (empty: not pinned)")
		skipStart = flag.Bool("skip-startup", false, "skip the startup and memory measurement")
		skipEdits = flag.Bool("skip-edits", false, "skip the edit latency measurement")
	)
	flag.Parse()
	if *vexil == "" {
		fmt.Fprintln(os.Stderr, "scale: -vexil is required")
		os.Exit(2)
	}
	dir, err := os.MkdirTemp("", "vexil-scale-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(dir)

	r := runner{vexil: *vexil, cpus: *cpus, dir: dir}
	if !*skipStart {
		res, err := r.startup(*nflags, *load, *workers)
		if err != nil {
			fatal(err)
		}
		res.print(os.Stdout)
	}
	if !*skipEdits {
		var results []editResult
		for _, s := range strings.Split(*editSizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 1 {
				fatal(fmt.Errorf("-edit-sizes: bad size %q", s))
			}
			res, err := r.editLatency(n, *edits)
			if err != nil {
				fatal(err)
			}
			results = append(results, res)
		}
		printEdits(os.Stdout, results)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "scale:", err)
	os.Exit(1)
}

// flagDoc writes a flag document of n flags. Flag i is, by i mod 4, a
// static boolean, an if/in targeting boolean, a static string or a
// fractional string; the last flag is always a targeting boolean, so that
// ResolveBoolean of it exercises targeting. Flag 0 is the one edits flip:
// its default variant is "on", or "off" when flipped.
func flagDoc(n int, flipped bool) []byte {
	var b bytes.Buffer
	b.Grow(n * 200)
	b.WriteString(`{"$schema":"https://flagd.dev/schema/v0/flags.json","flags":{`)
	for i := range n {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, "%q:", flagKey(i))
		kind := i % 4
		if i == n-1 {
			kind = 1
		}
		switch {
		case i == 0:
			def := "on"
			if flipped {
				def = "off"
			}
			fmt.Fprintf(&b, `{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":%q}`, def)
		case kind == 0:
			b.WriteString(`{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on"}`)
		case kind == 1:
			b.WriteString(`{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off",` +
				`"targeting":{"if":[{"in":["@example.com",{"var":"email"}]},"on","off"]}}`)
		case kind == 2:
			b.WriteString(`{"state":"ENABLED","variants":{"plain":"Welcome!","friendly":"Hey there!"},"defaultVariant":"plain"}`)
		default:
			b.WriteString(`{"state":"ENABLED","variants":{"a":"variant-a","b":"variant-b"},"defaultVariant":"a",` +
				`"targeting":{"fractional":[{"var":"targetingKey"},["a",50],["b",50]]}}`)
		}
	}
	b.WriteString("}}\n")
	return b.Bytes()
}

func flagKey(i int) string { return fmt.Sprintf("flag-%06d", i) }

// isBool reports whether flagDoc's flag i of n is a boolean flag.
func isBool(i, n int) bool { return i == 0 || i == n-1 || i%4 < 2 }

// writeAtomic replaces path with data as editors and tools do: a temporary
// file in the same directory, renamed over path. It returns the time of the
// rename, the moment the new content became visible.
func writeAtomic(path string, data []byte) (time.Time, error) {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return time.Time{}, err
	}
	t := time.Now()
	return t, os.Rename(tmp, path)
}

type runner struct {
	vexil, cpus, dir string
}

// daemon is one vexil process.
type daemon struct {
	cmd              *exec.Cmd
	started          time.Time
	evalURL, mgmtURL string
	stopped          chan struct{}
	logPath          string
	exitErr          error
}

func (r runner) start(path, name string) (*daemon, error) {
	ports, err := testenv.FreePorts(4)
	if err != nil {
		return nil, err
	}
	args := []string{"start", "--uri", "file:" + path, "--bind-address", "127.0.0.1",
		"-p", strconv.Itoa(ports[0]), "-m", strconv.Itoa(ports[1]),
		"-g", strconv.Itoa(ports[2]), "-r", strconv.Itoa(ports[3])}
	bin := r.vexil
	if r.cpus != "" {
		args = append([]string{"-c", r.cpus, bin}, args...)
		bin = "taskset" // taskset execs vexil: the PID stays vexil's
	}
	logPath := filepath.Join(r.dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	d := &daemon{
		cmd:     cmd,
		evalURL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		mgmtURL: fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		stopped: make(chan struct{}),
		logPath: logPath,
	}
	d.started = time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() {
		d.exitErr = cmd.Wait()
		logf.Close()
		close(d.stopped)
	}()
	return d, nil
}

func (d *daemon) stop() {
	_ = d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.stopped:
	case <-time.After(5 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.stopped
	}
}

func (d *daemon) alive() error {
	select {
	case <-d.stopped:
		log, _ := os.ReadFile(d.logPath)
		return fmt.Errorf("vexil exited (%v):\n%s", d.exitErr, log)
	default:
		return nil
	}
}

// pollUntil calls ok every interval until it returns true, the daemon
// exits or timeout passes, and returns when ok first returned true.
func (d *daemon) pollUntil(timeout, interval time.Duration, ok func() bool) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		if ok() {
			return time.Now(), nil
		}
		if err := d.alive(); err != nil {
			return time.Time{}, err
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("timed out after %v", timeout)
		}
		if interval > 0 {
			time.Sleep(interval)
		}
	}
}

var client = &http.Client{
	Timeout:   5 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
}

func (d *daemon) ready() bool {
	resp, err := client.Get(d.mgmtURL + "/readyz")
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// resolve calls ResolveBoolean over HTTP/JSON.
func (d *daemon) resolve(key string) (bool, error) {
	body := fmt.Sprintf(`{"flagKey":%q,"context":{"targetingKey":"user-123","email":"ana@example.com"}}`, key)
	resp, err := client.Post(d.evalURL+"/flagd.evaluation.v1.Service/ResolveBoolean", "application/json", strings.NewReader(body))
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, err
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("%s: %s", resp.Status, data)
	}
	var out struct {
		Value *bool `json:"value"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return false, err
	}
	if out.Value == nil {
		return false, fmt.Errorf("no value in %s", data)
	}
	return *out.Value, nil
}

// procStatus returns a field of /proc/PID/status in MiB (VmRSS, VmHWM).
func procStatus(pid int, field string) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q: %w", field, line, err)
		}
		return kb / 1024, nil
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

type startupResult struct {
	flags                      int
	fileMiB                    float64
	ready, served              time.Duration
	rssReady                   float64
	loadRPS                    float64
	loadErrors                 int64
	load                       time.Duration
	rssAfterLoad, hwmAfterLoad float64
}

func (r runner) startup(n int, load time.Duration, workers int) (startupResult, error) {
	res := startupResult{flags: n, load: load}
	path := filepath.Join(r.dir, "scale.flags.json")
	doc := flagDoc(n, false)
	res.fileMiB = float64(len(doc)) / (1 << 20)
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		return res, err
	}
	fmt.Fprintf(os.Stderr, "startup: %d flags (%.1f MiB)\n", n, res.fileMiB)
	d, err := r.start(path, "startup")
	if err != nil {
		return res, err
	}
	defer d.stop()

	// Both polled from the process start, side by side, each every
	// millisecond.
	last := flagKey(n - 1)
	var wg sync.WaitGroup
	var readyErr, servedErr error
	var readyAt, servedAt time.Time
	wg.Go(func() {
		readyAt, readyErr = d.pollUntil(60*time.Second, time.Millisecond, d.ready)
	})
	wg.Go(func() {
		servedAt, servedErr = d.pollUntil(60*time.Second, time.Millisecond, func() bool {
			v, err := d.resolve(last)
			return err == nil && v // the last flag is targeting: on for @example.com
		})
	})
	wg.Wait()
	if err := errors.Join(readyErr, servedErr); err != nil {
		return res, fmt.Errorf("startup: %w", err)
	}
	res.ready, res.served = readyAt.Sub(d.started), servedAt.Sub(d.started)
	pid := d.cmd.Process.Pid
	if res.rssReady, err = procStatus(pid, "VmRSS"); err != nil {
		return res, err
	}

	fmt.Fprintf(os.Stderr, "startup: servable after %v; %v of load\n", res.served.Round(time.Millisecond), load)
	var requests, errs atomic.Int64
	deadline := time.Now().Add(load)
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for time.Now().Before(deadline) {
				i := rng.IntN(n)
				for !isBool(i, n) {
					i = rng.IntN(n)
				}
				if _, err := d.resolve(flagKey(i)); err != nil {
					errs.Add(1)
				}
				requests.Add(1)
			}
		})
	}
	wg.Wait()
	res.loadRPS = float64(requests.Load()) / time.Since(start).Seconds()
	res.loadErrors = errs.Load()
	if err := d.alive(); err != nil {
		return res, err
	}
	if res.rssAfterLoad, err = procStatus(pid, "VmRSS"); err != nil {
		return res, err
	}
	if res.hwmAfterLoad, err = procStatus(pid, "VmHWM"); err != nil {
		return res, err
	}
	return res, nil
}

func (s startupResult) print(w io.Writer) {
	fmt.Fprintf(w, "\n### Startup and memory: %d flags (%.1f MiB file)\n\n", s.flags, s.fileMiB)
	fmt.Fprintln(w, "| measurement | vexil | target | flagd |")
	fmt.Fprintln(w, "|---|---:|---:|---:|")
	fmt.Fprintf(w, "| process start → /readyz 200 | %s | | |\n", fmtDur(s.ready))
	fmt.Fprintf(w, "| process start → ResolveBoolean of the last flag | %s | ≤ 1.5 s | 19 s |\n", fmtDur(s.served))
	fmt.Fprintf(w, "| VmRSS when servable | %.0f MiB | | |\n", s.rssReady)
	fmt.Fprintf(w, "| VmRSS after %v of load (%.0f req/s, %d errors) | %.0f MiB | ≤ 200 MiB | 1,400 MiB |\n",
		s.load, s.loadRPS, s.loadErrors, s.rssAfterLoad)
	fmt.Fprintf(w, "| VmHWM (peak RSS) | %.0f MiB | | |\n", s.hwmAfterLoad)
}

type editResult struct {
	flags         int
	event, served stats.Summary
	timeouts      int
}

// editLatency times n edits of a file of size flags.
func (r runner) editLatency(size, n int) (editResult, error) {
	res := editResult{flags: size}
	path := filepath.Join(r.dir, fmt.Sprintf("edit-%d.flags.json", size))
	docs := [2][]byte{flagDoc(size, false), flagDoc(size, true)}
	if err := os.WriteFile(path, docs[0], 0o644); err != nil {
		return res, err
	}
	fmt.Fprintf(os.Stderr, "edits: %d flags, %d edits\n", size, n)
	d, err := r.start(path, fmt.Sprintf("edit-%d", size))
	if err != nil {
		return res, err
	}
	defer d.stop()
	if _, err := d.pollUntil(60*time.Second, time.Millisecond, d.ready); err != nil {
		return res, err
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc := evaluationv1connect.NewServiceClient(&http.Client{}, d.evalURL)
	stream, err := svc.EventStream(ctx, connect.NewRequest(&evalv1.EventStreamRequest{}))
	if err != nil {
		return res, err
	}
	defer stream.Close()
	events := make(chan string, 64)
	go func() {
		defer close(events)
		for stream.Receive() {
			events <- stream.Msg().GetType()
		}
	}()
	if err := waitEvent(events, "provider_ready", 10*time.Second); err != nil {
		return res, err
	}

	key := flagKey(0)
	var eventLat, servedLat []time.Duration
	for i := range n {
		// Flag 0 is "on" in docs[0]; the first edit writes docs[1], "off".
		want := i%2 == 1
		time.Sleep(250 * time.Millisecond) // past the previous edit's debounce
		drain(events)
		t0, err := writeAtomic(path, docs[(i+1)%2])
		if err != nil {
			return res, err
		}
		if err := waitEvent(events, "configuration_change", 10*time.Second); err != nil {
			res.timeouts++
			fmt.Fprintf(os.Stderr, "edit %d: %v\n", i, err)
		} else {
			eventLat = append(eventLat, time.Since(t0))
		}
		at, err := d.pollUntil(10*time.Second, 0, func() bool {
			v, err := d.resolve(key)
			return err == nil && v == want
		})
		if err != nil {
			return res, fmt.Errorf("edit %d: resolve never returned %v: %w", i, want, err)
		}
		servedLat = append(servedLat, at.Sub(t0))
	}
	res.event, res.served = stats.Summarize(eventLat), stats.Summarize(servedLat)
	return res, nil
}

func waitEvent(events <-chan string, want string, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return errors.New("event stream ended")
			}
			if ev == want {
				return nil
			}
		case <-timer.C:
			return fmt.Errorf("no %s within %v", want, timeout)
		}
	}
}

func drain(events <-chan string) {
	for {
		select {
		case <-events:
		default:
			return
		}
	}
}

func printEdits(w io.Writer, results []editResult) {
	fmt.Fprintln(w, "\n### Edit latency: atomic rewrite (temporary file + rename) → new value served")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| file | edits | → configuration_change p50 / p99 / max | → resolve returns new value p50 / p99 / max | target | flagd |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
	for _, r := range results {
		target, flagd := "≤ 20 ms", ""
		if r.flags >= 1000 {
			target = "≤ 100 ms"
		}
		if r.flags == 10000 {
			flagd = "≈ 2 s"
		}
		missed := ""
		if r.timeouts > 0 {
			missed = fmt.Sprintf(" (%d events missed)", r.timeouts)
		}
		fmt.Fprintf(w, "| %d flags | %d | %s / %s / %s%s | %s / %s / %s | %s | %s |\n",
			r.flags, r.served.N,
			fmtDur(r.event.P50), fmtDur(r.event.P99), fmtDur(r.event.Max), missed,
			fmtDur(r.served.P50), fmtDur(r.served.P99), fmtDur(r.served.Max), target, flagd)
	}
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	default:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
}
