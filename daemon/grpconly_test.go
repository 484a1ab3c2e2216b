package daemon_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vexilhq/vexil/daemon"
)

// TestSyncPortIsGRPCOnly: the sync port answers as flagd's (a grpc-go
// server) does to what is not gRPC over HTTP/2. The expected answers are
// flagd's (bbb05d4), recorded with the same requests.
func TestSyncPortIsGRPCOnly(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	d.waitReady(t)

	// HTTP/1.1 (Connect JSON, or anything): grpc-go's SETTINGS frame and
	// a reset, no HTTP/1.1 answer
	for _, req := range []string{
		"POST /flagd.sync.v1.FlagSyncService/FetchAllFlags HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		conn, err := net.Dial("tcp", d.addrs.Sync)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(timeout))
		if _, err := io.WriteString(conn, req); err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(conn) // ends with the reset
		conn.Close()
		want := []byte{0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0x40, 0}
		if !bytes.Equal(got, want) {
			t.Errorf("%q: got %q, want %q", strings.SplitN(req, "\r\n", 2)[0], got, want)
		}
	}

	h2 := h2cClient(t)
	for _, tc := range []struct {
		method, path, contentType string
		status                    int
		grpcStatus, grpcMessage   string
	}{
		{"POST", "/flagd.sync.v1.FlagSyncService/FetchAllFlags", "application/json", 415, "3", `invalid gRPC request content-type "application/json"`},
		{"POST", "/flagd.sync.v1.FlagSyncService/FetchAllFlags", "application/grpc-web", 415, "3", `invalid gRPC request content-type "application/grpc-web"`},
		{"POST", "/flagd.sync.v1.FlagSyncService/FetchAllFlags", "Application/grpc", 415, "3", `invalid gRPC request content-type "Application/grpc"`},
		{"GET", "/flagd.sync.v1.FlagSyncService/FetchAllFlags", "application/grpc", 405, "13", `Received a HEADERS frame with :method "GET" which should be POST`},
		{"POST", "/flagd.sync.v1.FlagSyncService/Nope", "application/grpc", 200, "12", "unknown method Nope for service flagd.sync.v1.FlagSyncService"},
		{"POST", "/x", "application/grpc", 200, "12", `malformed method name: "/x"`},
		{"POST", "/a/b/c", "application/grpc", 200, "12", "unknown service a/b"},
	} {
		req, err := http.NewRequestWithContext(context.Background(), tc.method, "http://"+d.addrs.Sync+tc.path, strings.NewReader(""))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", tc.contentType)
		resp, err := h2.Do(req)
		if err != nil {
			t.Fatalf("%s %s %s: %v", tc.method, tc.path, tc.contentType, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/grpc" ||
			resp.Header.Get("Grpc-Status") != tc.grpcStatus || resp.Header.Get("Grpc-Message") != tc.grpcMessage {
			t.Errorf("%s %s %s: %d %q grpc-status %q grpc-message %q, want %d application/grpc %q %q", tc.method, tc.path, tc.contentType,
				resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Grpc-Status"), resp.Header.Get("Grpc-Message"),
				tc.status, tc.grpcStatus, tc.grpcMessage)
		}
	}
}
