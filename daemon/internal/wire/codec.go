package wire

import (
	"errors"
	"fmt"
	"strings"

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
	return stableError(JSONUnmarshalOptions().Unmarshal(data, m))
}

// ProtoCodec is a Connect option that makes handlers read and write binary
// protobuf as connect-go's default codec does (its errors included: "unmarshal
// into <type>: <protobuf-go's error>"), with protobuf-go's part of the
// errors worded as [stableError] words it.
func ProtoCodec() connect.Option { return connect.WithCodec(protoCodec{}) }

type protoCodec struct{}

func (protoCodec) Name() string   { return "proto" }
func (protoCodec) IsBinary() bool { return true }

func (protoCodec) Marshal(v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%T is not a protobuf message", v)
	}
	return proto.Marshal(m)
}

func (protoCodec) MarshalAppend(dst []byte, v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%T is not a protobuf message", v)
	}
	return proto.MarshalOptions{}.MarshalAppend(dst, m)
}

func (protoCodec) MarshalStable(v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%T is not a protobuf message", v)
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

func (protoCodec) Unmarshal(data []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("%T is not a protobuf message", v)
	}
	if err := proto.Unmarshal(data, m); err != nil {
		return stableError(fmt.Errorf("unmarshal into %T: %w", v, err))
	}
	return nil
}

// protoPrefixNBSP is the prefix of protobuf-go's errors in about half of
// all builds: protobuf-go chooses between ordinary and non-breaking spaces
// by a hash of the running binary, to discourage comparing error strings.
const protoPrefixNBSP = "proto:\u00a0"

// stableError is err with protobuf-go's prefix written with an ordinary
// space, "proto: ", whatever the build: the text that flagd's answers
// carry, and the same in every build of the daemon.
func stableError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if !strings.Contains(msg, protoPrefixNBSP) {
		return err
	}
	return errors.New(strings.ReplaceAll(msg, protoPrefixNBSP, "proto: "))
}
