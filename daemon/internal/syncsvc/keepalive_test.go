package syncsvc_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/protobuf/proto"

	"github.com/vexilhq/vexil/daemon/internal/storetest"
	"github.com/vexilhq/vexil/daemon/internal/syncsvc"
	syncv1 "github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1/syncv1connect"
)

// countingConn counts the bytes a client connection writes and reads.
type countingConn struct {
	net.Conn
	written, read *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	return n, err
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// TestGRPCKeepalive opens a SyncFlags stream with a grpc-go client that
// pings every 10 seconds (the least grpc-go allows; it raises smaller
// values) and waits long enough for a ping to be sent and answered: the
// stream and the connection must survive it (flagd's grpc-go server needs
// a keepalive enforcement policy for that; net/http's HTTP/2 server
// answers every ping). It takes about 12 seconds and is skipped with
// -short; TestPingFlood checks many pings quickly.
func TestGRPCKeepalive(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a keepalive ping (12s)")
	}
	t.Parallel()
	s := startServer(t, syncsvc.Config{})
	var written, read atomic.Int64
	conn := grpcConn(t, s, grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return countingConn{c, &written, &read}, nil
	}))
	ctx := testContext(t)
	stream := grpcSync(t, ctx, conn, &syncv1.SyncFlagsRequest{}, nil)
	recv(t, stream)
	time.Sleep(500 * time.Millisecond) // let window updates settle
	w0, r0 := written.Load(), read.Load()
	time.Sleep(12 * time.Second)
	// A PING frame is 17 bytes; nothing else is exchanged on an idle
	// stream.
	if w, r := written.Load()-w0, read.Load()-r0; w < 17 || r < 17 {
		t.Errorf("no keepalive ping exchanged: %d bytes written, %d read", w, r)
	}
	if st := conn.GetState(); st != connectivity.Ready {
		t.Errorf("connection %v after the ping", st)
	}
	storetest.Apply(t, s.Store, sourceB, []byte(strings.Replace(string(readFile(t, "b.json")), `"defaultVariant": "y"`, `"defaultVariant": "x"`, 1)))
	if m := recv(t, stream); !strings.Contains(m.GetFlagConfiguration(), `"onlyB":{"state":"ENABLED","defaultVariant":"x"`) {
		t.Errorf("after the ping: %s", m.GetFlagConfiguration())
	}
}

// TestPingFlood opens a gRPC SyncFlags stream over a raw HTTP/2
// connection and sends it 1000 pings, far more often than any keepalive
// policy allows: every one is answered, nothing is closed (no GOAWAY, as
// a grpc-go server without a permissive enforcement policy would send),
// and the stream still delivers the next change.
func TestPingFlood(t *testing.T) {
	s := startServer(t, syncsvc.Config{})
	c, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	var wmu sync.Mutex
	write := func(f func() error) {
		wmu.Lock()
		defer wmu.Unlock()
		if err := f(); err != nil {
			t.Error(err)
		}
	}
	write(func() error { return fr.WriteSettings() })

	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":path", syncv1connect.FlagSyncServiceSyncFlagsProcedure},
		{":authority", s.Addr}, {"content-type", "application/grpc"}, {"te", "trailers"},
	} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	write(func() error {
		return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true})
	})
	body, _ := proto.Marshal(&syncv1.SyncFlagsRequest{})
	msg := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(body)))
	write(func() error { return fr.WriteData(1, true, append(msg, body...)) })

	const pings = 1000
	type event struct {
		acks     int
		messages int // gRPC DATA frames on stream 1
		closed   string
	}
	events := make(chan event, 64)
	go func() {
		defer close(events)
		var ev event
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				ev.closed = err.Error()
				events <- ev
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					write(func() error { return fr.WriteSettingsAck() })
				}
			case *http2.PingFrame:
				if f.IsAck() {
					ev.acks++
				}
			case *http2.DataFrame:
				if f.StreamID == 1 && len(f.Data()) > 0 {
					ev.messages++
				}
			case *http2.GoAwayFrame:
				ev.closed = "GOAWAY " + f.ErrCode.String()
			case *http2.RSTStreamFrame:
				ev.closed = "RST_STREAM " + f.ErrCode.String()
			case *http2.HeadersFrame:
				if f.StreamEnded() {
					ev.closed = "stream ended"
				}
			}
			events <- ev
		}
	}()
	wait := func(ok func(event) bool, what string) event {
		t.Helper()
		for ev := range events {
			if ev.closed != "" {
				t.Fatalf("waiting for %s: %s (%d pings answered)", what, ev.closed, ev.acks)
			}
			if ok(ev) {
				return ev
			}
		}
		t.Fatalf("waiting for %s: connection closed", what)
		return event{}
	}
	wait(func(ev event) bool { return ev.messages >= 1 }, "the first message")
	for i := range pings {
		var data [8]byte
		binary.BigEndian.PutUint64(data[:], uint64(i))
		write(func() error { return fr.WritePing(false, data) })
	}
	wait(func(ev event) bool { return ev.acks == pings }, "the ping acks")
	storetest.Apply(t, s.Store, sourceB, []byte(strings.Replace(string(readFile(t, "b.json")), `"defaultVariant": "y"`, `"defaultVariant": "x"`, 1)))
	wait(func(ev event) bool { return ev.messages >= 2 }, "the message after the pings")
	c.Close()
	for range events { // the reader ends
	}
}
