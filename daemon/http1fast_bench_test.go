package daemon_test

import (
	"bufio"
	"net"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/vexilhq/vexil/daemon"
)

// BenchmarkHTTP1FastPath measures the daemon's HTTP/1.1 requests of
// bench/run.sh's scenarios (the same bodies as its Lua scripts) over
// loopback keep-alive connections, answered by the fast path
// (daemon/internal/http1fast) and by net/http alone
// (Config.DisableHTTP1FastPath). cpu-ns/op is the process's CPU time (the
// clients' too, the same in both) per request: on a loaded machine it
// moves less than ns/op.
//
//	go test ./daemon -run XXX -bench HTTP1FastPath -benchtime 20000x -count 5
func BenchmarkHTTP1FastPath(b *testing.B) {
	path, err := filepath.Abs("../bench/testdata/bench.flags.json")
	if err != nil {
		b.Fatal(err)
	}
	const ctx = `{"targetingKey":"user-123","email":"ana@example.com","country":"NO","appVersion":"2.1.0","tier":"gold"}`
	scenarios := []struct {
		name, port, path, body string
	}{
		{"static", "evaluation", "/flagd.evaluation.v1.Service/ResolveBoolean", `{"flagKey":"static-bool","context":` + ctx + `}`},
		{"targeting", "evaluation", "/flagd.evaluation.v1.Service/ResolveBoolean", `{"flagKey":"targeting-bool","context":` + ctx + `}`},
		{"resolve-all", "evaluation", "/flagd.evaluation.v1.Service/ResolveAll", `{"context":` + ctx + `}`},
		{"ofrep-single", "ofrep", "/ofrep/v1/evaluate/flags/static-bool", `{"context":` + ctx + `}`},
		{"ofrep-bulk13", "ofrep", "/ofrep/v1/evaluate/flags", `{"context":` + ctx + `}`},
	}
	for _, server := range []string{"fast", "net-http"} {
		d := startDaemon(b, daemon.Config{
			Sources:              []daemon.SourceSpec{{URI: "file:" + path}},
			DisableHTTP1FastPath: server == "net-http",
		})
		d.waitReadyz(b, "ready", func(code int, _ readyz) bool { return code == 200 })
		for _, sc := range scenarios {
			addr := d.addrs.Evaluation
			if sc.port == "ofrep" {
				addr = d.addrs.OFREP
			}
			req := []byte("POST " + sc.path + " HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\nContent-Length: " +
				strconv.Itoa(len(sc.body)) + "\r\n\r\n" + sc.body)
			b.Run(sc.name+"/"+server, func(b *testing.B) {
				b.SetParallelism(8)
				cpu0 := processCPU(b)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					c, err := net.Dial("tcp", addr)
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
						if err := readAnswer(br); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
			})
		}
		d.stop(b)
	}
}

// readAnswer reads one answer with a Content-Length, and fails on any
// status but 200.
func readAnswer(br *bufio.Reader) error {
	status, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if len(status) < 12 || string(status[9:12]) != "200" {
		return &net.AddrError{Err: "answer " + string(status)}
	}
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
	_, err = br.Discard(n)
	return err
}
