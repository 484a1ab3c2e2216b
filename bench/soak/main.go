// Command soak runs vexil under steady load for a long time and checks
// that nothing drifts: it starts vexil with a file source and an HTTP
// source, measures the maximum request rate (a closed-loop burst), then
// sends half of it open-loop (OFREP and Connect JSON evaluations, half
// each) for the duration, with sync streams open, while it changes a flag
// in the file every -change-every and restarts the HTTP source (down for
// two seconds, then back) every -restart-every. Every 10 s it samples the
// daemon's resident memory, goroutines and open descriptors. At the end it
// prints the samples and a verdict: zero failed requests, every stream
// given the last change, and RSS, goroutines and descriptors flat (the
// last minute's mean within -drift of the first minute's after warm-up).
//
//	go build -o /tmp/vexil ./daemon/cmd/vexil
//	go run ./bench/soak -vexil /tmp/vexil -duration 10m
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vexilhq/vexil/conformance/gauntlet"
)

func main() {
	vexil := flag.String("vexil", "", "the vexil binary (required)")
	duration := flag.Duration("duration", 10*time.Minute, "how long to soak")
	rate := flag.Int("rate", 0, "requests per second (default: half the measured maximum)")
	changeEvery := flag.Duration("change-every", 10*time.Second, "how often a flag changes")
	restartEvery := flag.Duration("restart-every", time.Minute, "how often the HTTP source restarts")
	streams := flag.Int("streams", 100, "sync streams held open")
	drift := flag.Float64("drift", 0.25, "allowed growth of the last minute's mean over the first's (RSS, goroutines, fds)")
	flag.Parse()
	if *vexil == "" {
		fmt.Fprintln(os.Stderr, "soak: -vexil is required (go build -o /tmp/vexil ./daemon/cmd/vexil)")
		os.Exit(2)
	}
	if err := soak(*vexil, *duration, *rate, *changeEvery, *restartEvery, *streams, *drift); err != nil {
		fmt.Println("FAILED:", err)
		os.Exit(1)
	}
	fmt.Println("passed")
}

func doc(gen int64) []byte {
	return fmt.Appendf(nil, `{"flags":{"soak":{"state":"ENABLED","variants":{"v":"gen-%d"},"defaultVariant":"v"},`+
		`"rule":{"state":"ENABLED","variants":{"a":"a","b":"b"},"defaultVariant":"a","targeting":{"if":[{"ends_with":[{"var":"email"},"@example.com"]},"b","a"]}}}}`, gen)
}

func write(path string, data []byte) error {
	if err := os.WriteFile(path+".tmp", data, 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// load sends requests, closed-loop with workers (rate 0) or open-loop at
// rate, until ctx ends; it returns the requests sent and those that failed.
type load struct {
	sent, failed atomic.Int64
	skipped      atomic.Int64 // not sent: every slot busy (the open loop fell behind)
	firstErr     atomic.Value
}

func (l *load) run(ctx context.Context, d *gauntlet.Daemon, rate int) {
	// At most 64 connections per port: when the daemon (or this client,
	// on a shared machine) falls behind, requests wait for one instead of
	// opening more, so that the daemon's descriptors measure the daemon.
	tr := &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	one := func(i int64) {
		url, body := "http://"+d.Addrs.OFREP+"/ofrep/v1/evaluate/flags/rule", `{"context":{"targetingKey":"u","email":"ana@example.com"}}`
		if i%2 == 0 {
			url, body = "http://"+d.Addrs.Evaluation+"/flagd.evaluation.v1.Service/ResolveString", `{"flagKey":"rule","context":{"email":"ana@example.com"}}`
		}
		resp, err := hc.Post(url, "application/json", strings.NewReader(body))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("%s: %s", url, resp.Status)
			}
		}
		l.sent.Add(1)
		if err != nil && ctx.Err() == nil {
			l.failed.Add(1)
			l.firstErr.CompareAndSwap(nil, err.Error())
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	if rate <= 0 {
		var n atomic.Int64
		for range 32 {
			wg.Go(func() {
				for ctx.Err() == nil {
					one(n.Add(1))
				}
			})
		}
		return
	}
	// Open loop: every 10 ms, rate/100 requests start, each in its own
	// goroutine, at most 128 at a time (the connections' number): a
	// request that finds every slot busy is not sent and is counted as
	// skipped, so that a client starved of CPU on a shared machine does
	// not queue requests until they time out. A request that is sent and
	// takes more than 10 s fails.
	slots := make(chan struct{}, 128)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var i int64
	carry := 0.0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		carry += float64(rate) / 100
		for ; carry >= 1; carry-- {
			i++
			select {
			case slots <- struct{}{}:
				wg.Go(func() {
					defer func() { <-slots }()
					one(i)
				})
			default:
				l.skipped.Add(1)
			}
		}
	}
}

func soak(vexil string, duration time.Duration, rate int, changeEvery, restartEvery time.Duration, nStreams int, drift float64) error {
	dir, err := os.MkdirTemp("", "soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "flags.json")
	gen := int64(1)
	if err := write(path, doc(gen)); err != nil {
		return err
	}
	httpSrc, err := gauntlet.NewFlakyServer([]byte(`{"flags":{"from-http":{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on"}}}`))
	if err != nil {
		return err
	}
	defer httpSrc.Close()
	sources := fmt.Sprintf(`[{"uri":%q,"provider":"file"},{"uri":%q,"provider":"http","interval":1}]`, path, httpSrc.URL())
	d, err := gauntlet.StartDaemon(vexil, nil, "--sources", sources)
	if err != nil {
		return err
	}
	defer d.Kill()
	ctx := context.Background()

	if rate <= 0 {
		var burst load
		bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		start := time.Now()
		burst.run(bctx, d, 0)
		cancel()
		max := float64(burst.sent.Load()) / time.Since(start).Seconds()
		rate = int(max / 2)
		fmt.Printf("maximum: %.0f req/s (closed loop, 32 workers, 10 s, %d failed); soaking at %d req/s\n", max, burst.failed.Load(), rate)
	}
	marks := []string{}
	for g := int64(1); g <= int64(duration/changeEvery)+2; g++ {
		marks = append(marks, fmt.Sprintf(`"gen-%d"`, g))
	}
	streams, err := gauntlet.OpenSyncStreams(ctx, d.Addrs.Sync, nStreams, false, marks...)
	if err != nil {
		return err
	}
	defer streams.Close()

	type sample struct {
		at time.Duration
		gauntlet.Stats
		sent, failed int64
	}
	var samples []sample
	var l load
	lctx, stopLoad := context.WithTimeout(ctx, duration)
	defer stopLoad()
	start := time.Now()
	loadDone := make(chan struct{})
	go func() { l.run(lctx, d, rate); close(loadDone) }()
	change := time.NewTicker(changeEvery)
	restart := time.NewTicker(restartEvery)
	sampleT := time.NewTicker(10 * time.Second)
	defer change.Stop()
	defer restart.Stop()
	defer sampleT.Stop()
	restarts := 0
	fmt.Printf("%8s %8s %10s %5s %10s %7s %8s\n", "t", "RSS MiB", "goroutines", "fds", "requests", "failed", "skipped")
loop:
	for {
		select {
		case <-lctx.Done():
			break loop
		case <-change.C:
			gen++
			if err := write(path, doc(gen)); err != nil {
				return err
			}
		case <-restart.C:
			httpSrc.Down()
			time.Sleep(2 * time.Second) // the source is down for two polls
			if err := httpSrc.Up(); err != nil {
				return fmt.Errorf("restarting the HTTP source: %w", err)
			}
			restarts++
		case <-sampleT.C:
			st, err := d.Stats(ctx)
			if err != nil {
				return fmt.Errorf("daemon: %w", err)
			}
			s := sample{time.Since(start).Round(time.Second), st, l.sent.Load(), l.failed.Load()}
			samples = append(samples, s)
			fmt.Printf("%8v %8d %10d %5d %10d %7d %8d\n", s.at, s.RSS>>20, s.Goroutines, s.FDs, s.sent, s.failed, l.skipped.Load())
		}
	}
	<-loadDone
	elapsed := time.Since(start)
	var problems []string
	if err := d.Alive(); err != nil {
		problems = append(problems, err.Error())
	}
	if f := l.failed.Load(); f > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d requests failed; the first: %v", f, l.sent.Load(), l.firstErr.Load()))
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := streams.AwaitMark(wctx, fmt.Sprintf(`"gen-%d"`, gen)); err != nil {
		problems = append(problems, fmt.Sprintf("streams and the last change (gen-%d): %v", gen, err))
	}
	// Flat: the mean of the last minute against the first minute after a
	// minute of warm-up (or the first and last third of a short run).
	if len(samples) >= 3 {
		k := max(len(samples)/3, 1)
		first, last := samples[:k], samples[len(samples)-k:]
		if len(samples) >= 18 {
			first, last = samples[6:12], samples[len(samples)-6:]
		}
		mean := func(ss []sample, f func(sample) float64) float64 {
			t := 0.0
			for _, s := range ss {
				t += f(s)
			}
			return t / float64(len(ss))
		}
		for _, m := range []struct {
			name string
			f    func(sample) float64
			min  float64 // growth below this is noise whatever the ratio
		}{
			{"RSS", func(s sample) float64 { return float64(s.RSS) }, 16 << 20},
			{"goroutines", func(s sample) float64 { return float64(s.Goroutines) }, 50},
			{"fds", func(s sample) float64 { return float64(s.FDs) }, 10},
		} {
			a, b := mean(first, m.f), mean(last, m.f)
			fmt.Printf("%s: %.0f at first, %.0f at last\n", m.name, a, b)
			if b > a*(1+drift) && b-a > m.min {
				problems = append(problems, fmt.Sprintf("%s grew from %.0f to %.0f", m.name, a, b))
			}
		}
	}
	fmt.Printf("soaked %v at %d req/s: %d requests (%.0f req/s achieved, %d skipped with every slot busy), %d failed; %d flag changes, %d HTTP source restarts, %d sync streams; %d CPUs, %s\n",
		elapsed.Round(time.Second), rate, l.sent.Load(), float64(l.sent.Load())/elapsed.Seconds(), l.skipped.Load(), l.failed.Load(), gen-1, restarts, nStreams, runtime.NumCPU(), loadavg())
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "load unknown"
	}
	return "load average " + strings.Join(strings.Fields(string(b))[:3], " ")
}
