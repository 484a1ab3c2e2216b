// Command nullserver is the benchmarks' baseline: an HTTP server whose
// handler does nothing but drain the request and answer a constant, so that
// the load generators' and the loopback's own cost can be measured the same
// way as the daemon's, and the daemon's figures given as a ratio to it.
//
// It serves HTTP/1.1 and unencrypted HTTP/2 on one port. A request with a
// gRPC content type is answered with an empty gRPC message and status OK,
// which decodes as any empty response message, so the gRPC load generator
// can be pointed at it too.
//
//	nullserver -addr 127.0.0.1:8099
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8099", "address to listen on")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: http.HandlerFunc(handle), Protocols: &protocols}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	fmt.Fprintf(os.Stderr, "nullserver listening on %s\n", ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// emptyGRPCMessage is one gRPC length-prefixed message: uncompressed, zero
// bytes long.
var emptyGRPCMessage = []byte{0, 0, 0, 0, 0}

var jsonBody = []byte("{}")

func handle(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set(http.TrailerPrefix+"Grpc-Status", "0")
		_, _ = w.Write(emptyGRPCMessage)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(jsonBody)
}
