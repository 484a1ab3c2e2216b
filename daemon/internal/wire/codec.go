package wire

import (
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
)

// JSONCodec is a Connect option that makes handlers (or clients) read and
// write JSON as flagd does: responses with every field, zero values
// included (see [MarshalJSON]), and requests with unknown fields ignored.
// It covers both content types Connect clients send JSON with.
func JSONCodec() connect.Option {
	return connect.WithOptions(
		connect.WithCodec(jsonCodec{name: "json"}),
		connect.WithCodec(jsonCodec{name: "json; charset=utf-8"}),
	)
}

type jsonCodec struct{ name string }

func (c jsonCodec) Name() string { return c.name }

func (c jsonCodec) IsBinary() bool { return false }

func (c jsonCodec) Marshal(v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%T is not a protobuf message", v)
	}
	return MarshalJSON(m)
}

// MarshalStable is the same as Marshal, whose output is already stable.
func (c jsonCodec) MarshalStable(v any) ([]byte, error) { return c.Marshal(v) }

func (c jsonCodec) Unmarshal(data []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("%T is not a protobuf message", v)
	}
	if len(data) == 0 {
		return errors.New("zero-length payload is not a valid JSON object") // connect-go's words, as flagd answers
	}
	return JSONUnmarshalOptions().Unmarshal(data, m)
}
