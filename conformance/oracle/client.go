package oracle

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	syncv1 "github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1"
)

// RecordedHeaders are the response headers recorded and compared (in
// canonical form); the others (Date, Content-Length, Vary...) are dropped.
var RecordedHeaders = []string{
	"Content-Type",
	"Content-Encoding",
	"Allow",
	"Location",
	"Accept-Post",
	"Grpc-Status",
	"Grpc-Message",
	"Access-Control-Allow-Origin",
	"Access-Control-Allow-Methods",
	"Access-Control-Allow-Headers",
	"Access-Control-Expose-Headers",
	"Access-Control-Allow-Credentials",
	"Access-Control-Max-Age",
}

// StreamWait is how long a stream's first message is awaited.
const StreamWait = 3 * time.Second

// A Client asks one daemon.
type Client struct {
	ports    Ports
	http     *http.Client
	conn     *grpc.ClientConn // sync port
	mu       sync.Mutex
	evalConn *grpc.ClientConn // evaluation port, made on first use
}

// NewClient returns a client for a daemon on ports; Close it.
func NewClient(p Ports) (*Client, error) {
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", p.Sync),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}
	return &Client{
		ports: p,
		conn:  conn,
		http: &http.Client{
			Transport:     tr,
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// Close closes the client's connections.
func (c *Client) Close() {
	c.conn.Close()
	if c.evalConn != nil {
		c.evalConn.Close()
	}
	c.http.CloseIdleConnections()
}

// uuidString matches a JSON string that is a UUID: flagd gives a document
// without a flagSetId a random one.
var uuidString = regexp.MustCompile(`"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"`)

// UUIDPlaceholder replaces every UUID string in answers.
const UUIDPlaceholder = `"<uuid>"`

// protoPrefix matches the prefix of protobuf-go's error messages, which
// that library writes with a space or a no-break space depending on the
// binary (so that nobody depends on its messages).
var protoPrefix = regexp.MustCompile(`proto:(\x{00a0}|\\u00a0)`)

// normalise replaces what varies between runs and binaries: UUID strings
// and the space after protobuf-go's "proto:".
func normalise(a Answer) Answer {
	fix := func(b []byte) []byte {
		b = uuidString.ReplaceAll(b, []byte(UUIDPlaceholder))
		return protoPrefix.ReplaceAll(b, []byte("proto: "))
	}
	if a.JSON != nil {
		a.JSON = fix(a.JSON)
	}
	for i := range a.Msgs {
		a.Msgs[i] = fix(a.Msgs[i])
	}
	if a.Text != nil {
		t := string(fix([]byte(*a.Text)))
		a.Text = &t
	}
	return a
}

// Do sends r and returns the normalised answer.
func (c *Client) Do(ctx context.Context, r Request) Answer {
	return normalise(c.do(ctx, r))
}

func (c *Client) do(ctx context.Context, r Request) Answer {
	switch r.Port {
	case PortSync:
		return c.doSync(ctx, r)
	case PortEvalGRPC:
		return c.doEvalGRPC(ctx, r)
	}
	port := map[string]int{PortEval: c.ports.Eval, PortOFREP: c.ports.OFREP, PortMgmt: c.ports.Management, PortSyncHTTP: c.ports.Sync}[r.Port]
	u, err := requestURL(port, r.Path)
	if err != nil {
		return Answer{Error: err.Error()}
	}
	body := []byte(r.Body)
	if r.Stream {
		body = envelope(0, body)
	}
	timeout := 10 * time.Second
	if r.Stream {
		timeout = StreamWait
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, "http://127.0.0.1/", bytes.NewReader(body))
	if err != nil {
		return Answer{Error: err.Error()}
	}
	req.URL = u
	req.Host = u.Host
	if len(body) == 0 {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for k, v := range r.Header {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header[http.CanonicalHeaderKey(k)] = []string{v}
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header["User-Agent"] = []string{"vexil-oracle"}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if r.Stream && errors.Is(err, context.DeadlineExceeded) {
			return Answer{Error: "no response"}
		}
		return Answer{Error: transportError(err)}
	}
	defer resp.Body.Close()
	a := Answer{Status: resp.StatusCode, Header: recordedHeaders(resp.Header)}
	if r.Stream && resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/connect+") {
		a.Msgs = readFirstMessage(resp.Body, cancel)
		return a
	}
	var rd io.Reader = resp.Body
	if strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(resp.Body)
		if err == nil {
			rd = zr
		}
	}
	b, err := io.ReadAll(io.LimitReader(rd, 8<<20))
	if err != nil {
		a.Error = transportError(err)
	}
	for k, vs := range resp.Trailer {
		if a.Header == nil {
			a.Header = map[string]string{}
		}
		a.Header["Trailer-"+k] = strings.Join(vs, ", ")
	}
	setBody(&a, resp.Header.Get("Content-Type"), b)
	return a
}

// setBody records b as JSON when it is JSON and the content type says so
// (or is absent), else as text.
func setBody(a *Answer, contentType string, b []byte) {
	if len(b) == 0 {
		return
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	if (mt == "" || strings.Contains(mt, "json")) && json.Valid(b) {
		var buf bytes.Buffer
		_ = json.Compact(&buf, b)
		a.JSON = buf.Bytes()
		return
	}
	s := string(b)
	a.Text = &s
}

func requestURL(port int, path string) (*url.URL, error) {
	u, err := url.Parse(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		return nil, err
	}
	if got := u.RequestURI(); got != path {
		return nil, fmt.Errorf("path %q would be sent as %q", path, got)
	}
	return u, nil
}

func transportError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	}
	if strings.Contains(err.Error(), "connection reset") {
		return "connection reset"
	}
	return "transport error"
}

func envelope(flags byte, msg []byte) []byte {
	b := make([]byte, 5+len(msg))
	b[0] = flags
	binary.BigEndian.PutUint32(b[1:5], uint32(len(msg)))
	copy(b[5:], msg)
	return b
}

// readFirstMessage reads a Connect stream's first enveloped message (an
// end-of-stream message is recorded as {"end": MESSAGE}), waiting at most
// StreamWait, then ends the stream.
func readFirstMessage(body io.Reader, cancel func()) []json.RawMessage {
	type result struct{ msg json.RawMessage }
	ch := make(chan result, 1)
	go func() {
		var hdr [5]byte
		if _, err := io.ReadFull(body, hdr[:]); err != nil {
			ch <- result{}
			return
		}
		n := binary.BigEndian.Uint32(hdr[1:])
		if n > 8<<20 {
			ch <- result{}
			return
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(body, msg); err != nil {
			ch <- result{}
			return
		}
		var buf bytes.Buffer
		if json.Compact(&buf, msg) != nil {
			buf.Reset()
			s, _ := json.Marshal(string(msg))
			buf.Write(s)
		}
		m := json.RawMessage(buf.Bytes())
		if hdr[0]&2 != 0 {
			m = json.RawMessage(`{"end":` + string(m) + `}`)
		}
		ch <- result{m}
	}()
	var msgs []json.RawMessage
	select {
	case r := <-ch:
		if r.msg != nil {
			msgs = append(msgs, r.msg)
		} else {
			msgs = append(msgs, json.RawMessage(`"closed"`))
		}
	case <-time.After(StreamWait):
		msgs = append(msgs, json.RawMessage(`"no message"`))
	}
	cancel()
	return msgs
}

func recordedHeaders(h http.Header) map[string]string {
	var m map[string]string
	for _, k := range RecordedHeaders {
		if vs, ok := h[k]; ok {
			if m == nil {
				m = map[string]string{}
			}
			m[k] = strings.Join(vs, ", ")
		}
	}
	return m
}

// doSync calls the sync service over gRPC.
func (c *Client) doSync(ctx context.Context, r Request) Answer {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if len(r.Header) > 0 {
		md := metadata.MD{}
		for k, v := range r.Header {
			md.Append(strings.ToLower(k), v)
		}
		ctx = metadata.NewOutgoingContext(ctx, md)
	}
	const svc = "/flagd.sync.v1.FlagSyncService/"
	var a Answer
	var out map[string]any
	var err error
	switch r.Method {
	case "FetchAllFlags":
		resp := &syncv1.FetchAllFlagsResponse{}
		err = c.conn.Invoke(ctx, svc+r.Method, &syncv1.FetchAllFlagsRequest{ProviderId: r.ProviderID, Selector: r.Selector}, resp)
		if err == nil {
			out = map[string]any{"flagConfiguration": configJSON(resp.GetFlagConfiguration())}
		}
	case "GetMetadata":
		resp := &syncv1.GetMetadataResponse{}
		err = c.conn.Invoke(ctx, svc+r.Method, &syncv1.GetMetadataRequest{}, resp)
		if err == nil {
			out = map[string]any{"metadata": structJSON(resp.GetMetadata())}
		}
	case "SyncFlags":
		sctx, scancel := context.WithTimeout(ctx, StreamWait)
		defer scancel()
		var st grpc.ClientStream
		st, err = c.conn.NewStream(sctx, &grpc.StreamDesc{ServerStreams: true}, svc+r.Method)
		if err == nil {
			err = st.SendMsg(&syncv1.SyncFlagsRequest{ProviderId: r.ProviderID, Selector: r.Selector})
		}
		if err == nil {
			err = st.CloseSend()
		}
		if err == nil {
			resp := &syncv1.SyncFlagsResponse{}
			err = st.RecvMsg(resp)
			if err == nil {
				out = map[string]any{"flagConfiguration": configJSON(resp.GetFlagConfiguration())}
				if resp.SyncContext != nil {
					out["syncContext"] = structJSON(resp.GetSyncContext())
				}
			}
		}
	default:
		return Answer{Error: "unknown sync method " + r.Method}
	}
	st, _ := status.FromError(err)
	a.Code = st.Code().String()
	if err != nil {
		msg := st.Message()
		a.Text = &msg
		return a
	}
	a.JSON, _ = marshalNoEscape(out)
	return a
}

// configJSON is a flag_configuration: its JSON document, or the string
// itself when it is not JSON.
func configJSON(s string) any {
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	return s
}

func structJSON(s *structpb.Struct) json.RawMessage {
	if s == nil {
		return json.RawMessage("null")
	}
	b, err := protojson.Marshal(s)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}

func marshalCompact(b []byte) (json.RawMessage, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
