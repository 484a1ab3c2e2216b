package daemon

import (
	"errors"
	"net"
	"net/http"
	"testing"

	"google.golang.org/grpc"

	"github.com/vexilhq/vexil/daemon/internal/grpcsplit"
)

// brokenListener is a listener whose Accept fails with err.
type brokenListener struct {
	net.Listener
	err error
}

func (l brokenListener) Accept() (net.Conn, error) { return nil, l.err }

// TestSplitPortReportsTheListenersError: when the listener of a port with
// native gRPC fails, serve returns its error, not the "use of closed
// network connection" of the HTTP server whose listener the split closed.
func TestSplitPortReportsTheListenersError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	broken := errors.New("the listener broke")
	failing := brokenListener{Listener: ln, err: &net.OpError{Op: "accept", Net: "tcp", Addr: ln.Addr(), Err: broken}}
	e := &endpoint{name: "evaluation", ln: failing, srv: &http.Server{}, grpcSrv: grpc.NewServer()}
	defer e.grpcSrv.Stop()
	e.split = grpcsplit.New(failing, grpcsplit.Config{})
	err = e.serve()
	if !errors.Is(err, broken) || errors.Is(err, net.ErrClosed) {
		t.Fatalf("serve: %v, want the listener's error", err)
	}
}
