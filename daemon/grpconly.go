package daemon

import (
	"fmt"
	"net"
	"net/http"
	"strings"
)

// grpcOnly serves, in front of the sync service's handler, only what a
// grpc-go server serves, and answers everything else as flagd's sync port
// (a grpc-go server) does:
//
//   - HTTP/1.x: the connection gets grpc-go's HTTP/2 SETTINGS frame, not
//     an HTTP/1.1 answer, and is reset;
//   - a Content-Type other than application/grpc[+sub|;params]: 415 with
//     gRPC status 3;
//   - a method other than POST: 405 with gRPC status 13;
//   - a path that names no method of services: 200 with gRPC status 12.
//
// services maps each service's full name to its method names.
func grpcOnly(services map[string][]string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor < 2 {
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				// grpc-go writes its SETTINGS frame first, finds no client
				// preface and resets the connection
				conn.Write(grpcServerSettings)
				if tcp, ok := conn.(*net.TCPConn); ok {
					tcp.SetLinger(0)
				}
				conn.Close()
				return
			}
			// not hijackable (a test recorder): no answer at all is the
			// closest
			panic(http.ErrAbortHandler)
		}
		ct := r.Header.Get("Content-Type")
		if !isGRPCContentType(ct) {
			grpcError(w, http.StatusUnsupportedMediaType, 3, fmt.Sprintf("invalid gRPC request content-type %q", ct))
			return
		}
		if r.Method != http.MethodPost {
			grpcError(w, http.StatusMethodNotAllowed, 13, fmt.Sprintf("Received a HEADERS frame with :method %q which should be POST", r.Method))
			return
		}
		// grpc-go routes by the raw :path
		name := strings.TrimPrefix(r.RequestURI, "/")
		pos := strings.LastIndex(name, "/")
		if pos < 0 {
			grpcError(w, http.StatusOK, 12, fmt.Sprintf("malformed method name: %q", r.RequestURI))
			return
		}
		service, method := name[:pos], name[pos+1:]
		methods, ok := services[service]
		if !ok {
			grpcError(w, http.StatusOK, 12, fmt.Sprintf("unknown service %s", service))
			return
		}
		for _, m := range methods {
			if m == method {
				next.ServeHTTP(w, r)
				return
			}
		}
		grpcError(w, http.StatusOK, 12, fmt.Sprintf("unknown method %s for service %s", method, service))
	})
}

// grpcServerSettings is the SETTINGS frame a grpc-go server (as flagd's
// sync port runs it) sends first on every connection: one setting,
// SETTINGS_MAX_FRAME_SIZE = 16384.
var grpcServerSettings = []byte{0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0x40, 0}

// isGRPCContentType reports whether ct is application/grpc, alone or with
// a subtype (+proto) or parameters (;charset=...), as grpc-go accepts it
// (case-sensitively).
func isGRPCContentType(ct string) bool {
	if !strings.HasPrefix(ct, "application/grpc") {
		return false
	}
	rest := ct[len("application/grpc"):]
	return rest == "" || rest[0] == '+' || rest[0] == ';'
}

// grpcError answers with a gRPC status in the headers, as grpc-go does
// before it has served a stream.
func grpcError(w http.ResponseWriter, httpStatus, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Grpc-Status", fmt.Sprint(code))
	h.Set("Grpc-Message", grpcPercentEncode(msg))
	w.WriteHeader(httpStatus)
}

// grpcPercentEncode encodes a grpc-message as the gRPC protocol asks:
// bytes outside printable ASCII, and '%', percent-encoded.
func grpcPercentEncode(msg string) string {
	var b strings.Builder
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c >= ' ' && c <= '~' && c != '%' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
