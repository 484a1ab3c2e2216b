// Command loadgen is the benchmarks' load generator for what wrk cannot do:
//
//   - -mode grpc: closed-loop gRPC load, -c callers each calling
//     flagd.evaluation.v1.Service/ResolveBoolean back to back over -conns
//     shared connections (as ghz does), for -d;
//   - -mode grpc-body: no load; writes the gRPC request body of the
//     ResolveBoolean call that -mode grpc makes (the 5-byte prefix and the
//     message) to stdout, for h2load (bench/h2load-grpc.sh);
//   - -mode rate: open-loop HTTP load at a constant -rate of POST requests
//     (HTTP/JSON, such as Connect's ResolveBoolean), for -d, from up to
//     -workers requests in flight, so that a slow answer does not delay
//     the requests due after it (coordinated omission). Each request is
//     measured from when it was sent, and also from when it was due (the
//     due_* figures), which adds the generator's own lateness: on an
//     idle core, mostly its timer's wake-up, up to a millisecond.
//
// Both print a human summary and one machine-readable line,
//
//	BENCH rps=… p50_us=… p99_us=… max_us=… requests=… errors=…
//
// which bench/run.sh parses.
//
//	loadgen -mode grpc -addr 127.0.0.1:8013 -flag static-bool -c 50 -d 20s
//	loadgen -mode rate -url http://127.0.0.1:8013/flagd.evaluation.v1.Service/ResolveBoolean \
//	    -body '{"flagKey":"static-bool","context":{}}' -rate 2000 -d 20s
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/vexilhq/vexil/bench/internal/stats"
	evalv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
)

// resolveBooleanMethod is the full gRPC method name of ResolveBoolean. The
// schemas package generates Connect clients only, so the gRPC client invokes
// the method by name with the generated message types.
const resolveBooleanMethod = "/flagd.evaluation.v1.Service/ResolveBoolean"

func main() {
	var (
		mode     = flag.String("mode", "grpc", "grpc (closed-loop gRPC ResolveBoolean), grpc-body (print its request body) or rate (open-loop HTTP POST at -rate)")
		duration = flag.Duration("d", 20*time.Second, "how long to apply load")
		callers  = flag.Int("c", 50, "grpc: concurrent callers")
		conns    = flag.Int("conns", 1, "grpc: connections shared by the callers")
		addr     = flag.String("addr", "127.0.0.1:8013", "grpc: the evaluation port")
		flagKey  = flag.String("flag", "static-bool", "grpc: the flag to resolve")
		evalCtx  = flag.String("context", `{"targetingKey":"user-123","email":"ana@example.com"}`, "grpc: evaluation context, a JSON object")
		url      = flag.String("url", "", "rate: the URL to POST to")
		body     = flag.String("body", "", "rate: the request body (JSON)")
		rate     = flag.Float64("rate", 2000, "rate: requests per second")
		workers  = flag.Int("workers", 256, "rate: most requests in flight at once")
	)
	flag.Parse()

	var (
		res result
		err error
	)
	switch *mode {
	case "grpc-body":
		req, err := resolveRequest(*flagKey, *evalCtx)
		if err == nil {
			_, err = os.Stdout.Write(grpcBody(req))
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(1)
		}
		return
	case "grpc":
		res, err = runGRPC(*addr, *flagKey, *evalCtx, *callers, *conns, *duration)
	case "rate":
		if *url == "" {
			err = errors.New("-mode rate needs -url")
			break
		}
		res, err = runRate(*url, []byte(*body), *rate, *workers, *duration)
	default:
		err = fmt.Errorf("unknown -mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	res.print(os.Stdout)
	if res.requests == 0 || res.errors > 0 {
		os.Exit(1)
	}
}

// result is one run's outcome.
type result struct {
	requests, errors int
	elapsed          time.Duration
	latency          stats.Summary
	// fromDue (rate mode) measures each request from the time it was due
	// rather than sent: it adds the generator's own lateness, which on an
	// idle core is mostly the wake-up of its timer.
	fromDue  stats.Summary
	firstErr error
}

func (r result) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}

func (r result) print(w io.Writer) {
	fmt.Fprintf(w, "%d requests in %v, %.1f req/s, %d errors\n", r.requests, r.elapsed.Round(time.Millisecond), r.rps(), r.errors)
	fmt.Fprintf(w, "latency p50 %v p99 %v max %v\n", r.latency.P50, r.latency.P99, r.latency.Max)
	if r.firstErr != nil {
		fmt.Fprintf(w, "first error: %v\n", r.firstErr)
	}
	due := ""
	if r.fromDue.N > 0 {
		fmt.Fprintf(w, "from the time due: p50 %v p99 %v max %v\n", r.fromDue.P50, r.fromDue.P99, r.fromDue.Max)
		due = fmt.Sprintf(" due_p50_us=%d due_p99_us=%d", r.fromDue.P50.Microseconds(), r.fromDue.P99.Microseconds())
	}
	fmt.Fprintf(w, "BENCH rps=%.1f p50_us=%d p99_us=%d max_us=%d requests=%d errors=%d%s\n",
		r.rps(), r.latency.P50.Microseconds(), r.latency.P99.Microseconds(), r.latency.Max.Microseconds(), r.requests, r.errors, due)
}

// recorder collects latencies and errors from many goroutines.
type recorder struct {
	mu       sync.Mutex
	samples  []time.Duration
	errors   int
	firstErr error
}

// add merges one goroutine's samples and errors.
func (r *recorder) add(samples []time.Duration, errs int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples = append(r.samples, samples...)
	r.errors += errs
	if r.firstErr == nil {
		r.firstErr = err
	}
}

func (r *recorder) result(elapsed time.Duration) result {
	return result{
		requests: len(r.samples) + r.errors,
		errors:   r.errors,
		elapsed:  elapsed,
		latency:  stats.Summarize(r.samples),
		firstErr: r.firstErr,
	}
}

// resolveRequest is the ResolveBoolean request of -flag and -context.
func resolveRequest(flagKey, evalCtx string) (*evalv1.ResolveBooleanRequest, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(evalCtx), &m); err != nil {
		return nil, fmt.Errorf("-context: %w", err)
	}
	sctx, err := structpb.NewStruct(m)
	if err != nil {
		return nil, fmt.Errorf("-context: %w", err)
	}
	return &evalv1.ResolveBooleanRequest{FlagKey: flagKey, Context: sctx}, nil
}

// grpcBody is the body of a gRPC call sending msg: a 5-byte prefix (not
// compressed, the length) and the message.
func grpcBody(msg proto.Message) []byte {
	b, err := proto.Marshal(msg)
	if err != nil {
		panic(err) // a ResolveBooleanRequest always marshals
	}
	return append(binary.BigEndian.AppendUint32([]byte{0}, uint32(len(b))), b...)
}

func runGRPC(addr, flagKey, evalCtx string, callers, conns int, d time.Duration) (result, error) {
	req, err := resolveRequest(flagKey, evalCtx)
	if err != nil {
		return result{}, err
	}

	clients := make([]*grpc.ClientConn, max(conns, 1))
	for i := range clients {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return result{}, err
		}
		defer cc.Close()
		clients[i] = cc
	}
	// One call before the clock starts: it connects, and it fails fast if
	// the server is not there.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, cc := range clients {
		if err := cc.Invoke(ctx, resolveBooleanMethod, req, new(evalv1.ResolveBooleanResponse)); err != nil {
			return result{}, fmt.Errorf("first call: %w", err)
		}
	}

	var rec recorder
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for i := range callers {
		cc := clients[i%len(clients)]
		wg.Go(func() {
			samples := make([]time.Duration, 0, 1<<14)
			errs := 0
			var firstErr error
			resp := new(evalv1.ResolveBooleanResponse)
			for {
				t0 := time.Now()
				if !t0.Before(deadline) {
					break
				}
				err := cc.Invoke(context.Background(), resolveBooleanMethod, req, resp)
				if err != nil {
					errs++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				samples = append(samples, time.Since(t0))
			}
			rec.add(samples, errs, firstErr)
		})
	}
	wg.Wait()
	return rec.result(time.Since(start)), nil
}

func runRate(url string, body []byte, rate float64, workers int, d time.Duration) (result, error) {
	if rate <= 0 {
		return result{}, errors.New("-rate must be positive")
	}
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        workers,
			MaxIdleConnsPerHost: workers,
			DisableCompression:  true,
		},
	}
	post := func() error {
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	}
	if err := post(); err != nil {
		return result{}, fmt.Errorf("first request: %w", err)
	}

	interval := time.Duration(float64(time.Second) / rate)
	n := int(d / interval)
	due := make(chan time.Time, n)
	var rec, fromDue recorder
	var late atomic.Int64 // requests sent more than 1 ms after their time
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var samples, dueSamples []time.Duration
			errs := 0
			var firstErr error
			for t := range due {
				sent := time.Now()
				if sent.Sub(t) > time.Millisecond {
					late.Add(1)
				}
				if err := post(); err != nil {
					errs++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				done := time.Now()
				samples = append(samples, done.Sub(sent))
				dueSamples = append(dueSamples, done.Sub(t))
			}
			rec.add(samples, errs, firstErr)
			fromDue.add(dueSamples, 0, nil)
		})
	}
	// The schedule: request i is due at start + i*interval. The loop sleeps
	// until the next is due and then hands out every request that is due,
	// so a late wake-up is caught up at once rather than lowering the rate.
	start := time.Now()
	for i := 0; i < n; {
		next := start.Add(time.Duration(i) * interval)
		if wait := time.Until(next); wait > 0 {
			time.Sleep(wait)
		}
		now := time.Now()
		for ; i < n; i++ {
			t := start.Add(time.Duration(i) * interval)
			if t.After(now) {
				break
			}
			due <- t
		}
	}
	close(due)
	wg.Wait()
	res := rec.result(time.Since(start))
	res.fromDue = stats.Summarize(fromDue.samples)
	if l := late.Load(); l > 0 {
		fmt.Printf("note: %d of %d requests were sent more than 1 ms after their time (waiting for a free worker, or for the generator's own timer)\n", l, n)
	}
	return res, nil
}
