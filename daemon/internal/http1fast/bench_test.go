package http1fast

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// BenchmarkServe measures a keep-alive request's round trip over loopback
// TCP, served by the fast path and by net/http with the same handler (a
// small JSON answer): ns/op is the cost of both ends per request.
func BenchmarkServe(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"value":true,"reason":"STATIC","variant":"on","metadata":{}}`))
	})
	allow := func(method, path string) bool { return true }
	req := []byte("POST /flagd.evaluation.v1.Service/ResolveBoolean HTTP/1.1\r\nHost: 127.0.0.1:8013\r\nContent-Type: application/json\r\nContent-Length: 38\r\n\r\n{\"flagKey\":\"static-bool\",\"context\":{}}")
	for _, name := range []string{"fast", "net-http"} {
		b.Run(name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
			done := make(chan struct{})
			if name == "fast" {
				fs := New(Config{Handler: h, Allow: allow, ReadHeaderTimeout: 5 * time.Second})
				go func() { _ = fs.Serve(ln); close(done) }()
				go func() { _ = srv.Serve(fs.Fallback()) }()
				defer func() { fs.Close(); <-done; srv.Close() }()
			} else {
				go func() { _ = srv.Serve(ln); close(done) }()
				defer func() { srv.Close(); <-done }()
			}
			b.SetParallelism(8)
			cpu0 := cpuTime()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				br := bufio.NewReader(c)
				for pb.Next() {
					if _, err := c.Write(req); err != nil {
						b.Error(err)
						return
					}
					if err := readResponse(br); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the process's CPU time (user and system) so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// readResponse reads one response with a Content-Length.
func readResponse(br *bufio.Reader) error {
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > 16 && string(line[:16]) == "Content-Length: " {
			n, _ = strconv.Atoi(string(line[16 : len(line)-2]))
		}
	}
	_, err := br.Discard(n)
	return err
}
