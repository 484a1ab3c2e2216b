package oracle

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	evalv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
)

// PortEvalGRPC is the evaluation port spoken to over gRPC (HTTP/2), as
// flagd's RPC providers do; Method is "flagd.evaluation.v1.Service/NAME"
// and Body the request message as protobuf JSON.
const PortEvalGRPC = "eval-grpc"

// evalMessages makes the request and response messages of an
// flagd.evaluation.v1 method.
var evalMessages = map[string]func() (proto.Message, proto.Message){
	"ResolveBoolean": func() (proto.Message, proto.Message) {
		return &evalv1.ResolveBooleanRequest{}, &evalv1.ResolveBooleanResponse{}
	},
	"ResolveString": func() (proto.Message, proto.Message) {
		return &evalv1.ResolveStringRequest{}, &evalv1.ResolveStringResponse{}
	},
	"ResolveInt": func() (proto.Message, proto.Message) {
		return &evalv1.ResolveIntRequest{}, &evalv1.ResolveIntResponse{}
	},
	"ResolveFloat": func() (proto.Message, proto.Message) {
		return &evalv1.ResolveFloatRequest{}, &evalv1.ResolveFloatResponse{}
	},
	"ResolveObject": func() (proto.Message, proto.Message) {
		return &evalv1.ResolveObjectRequest{}, &evalv1.ResolveObjectResponse{}
	},
	"ResolveAll": func() (proto.Message, proto.Message) {
		return &evalv1.ResolveAllRequest{}, &evalv1.ResolveAllResponse{}
	},
}

// doEvalGRPC calls the evaluation service over gRPC; the answer is the
// gRPC code, the message of an error, and the response as protobuf JSON.
func (c *Client) doEvalGRPC(ctx context.Context, r Request) Answer {
	name := strings.TrimPrefix(r.Method, "flagd.evaluation.v1.Service/")
	mk, ok := evalMessages[name]
	if !ok {
		return Answer{Error: "unknown evaluation method " + r.Method}
	}
	c.mu.Lock()
	if c.evalConn == nil {
		conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", c.ports.Eval), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			c.mu.Unlock()
			return Answer{Error: err.Error()}
		}
		c.evalConn = conn
	}
	conn := c.evalConn
	c.mu.Unlock()
	req, resp := mk()
	if err := protojson.Unmarshal([]byte(r.Body), req); err != nil {
		return Answer{Error: "request body: " + err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if len(r.Header) > 0 {
		md := metadata.MD{}
		for k, v := range r.Header {
			md.Append(strings.ToLower(k), v)
		}
		ctx = metadata.NewOutgoingContext(ctx, md)
	}
	err := conn.Invoke(ctx, "/flagd.evaluation.v1.Service/"+name, req, resp)
	st, _ := status.FromError(err)
	a := Answer{Code: st.Code().String()}
	if err != nil {
		msg := st.Message()
		a.Text = &msg
		return a
	}
	b, err := protojson.Marshal(resp)
	if err != nil {
		return Answer{Error: err.Error()}
	}
	var v any
	if json.Unmarshal(b, &v) != nil {
		return Answer{Error: "response is not JSON"}
	}
	a.JSON, _ = marshalCompact(b)
	return a
}
