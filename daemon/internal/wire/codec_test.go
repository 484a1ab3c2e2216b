package wire

import (
	"errors"
	"testing"

	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
)

// TestCodecErrorsAsFlagd: the errors of unreadable requests are flagd's
// (connect-go prefixes them with "unmarshal message: "), recorded from
// flagd (commit bbb05d4). protobuf-go writes its "proto: " prefix with a
// non-breaking space in about half of all builds; the codecs write an
// ordinary one in every build, as the recorded answers have it.
func TestCodecErrorsAsFlagd(t *testing.T) {
	for _, tc := range []struct {
		codec interface{ Unmarshal([]byte, any) error }
		body  string
		want  string
	}{
		{jsonCodec{name: "json"}, ``, "zero-length payload is not a valid JSON object"},
		{jsonCodec{name: "json"}, `null`, "proto: syntax error (line 1:1): unexpected token null"},
		{jsonCodec{name: "json"}, `{"flagKey":1}`, "proto: (line 1:12): invalid value for string field flagKey: 1"},
		{jsonCodec{name: "json"}, `{"flagKey":"nope","flagKey":"bool-flag"}`, `proto: (line 1:19): duplicate field "flagKey"`},
		{jsonCodec{name: "json"}, `{"flagKey":"bool-flag","context":{"a":1e400}}`, "proto: (line 1:39): invalid google.protobuf.Value: 1e400"},
		{protoCodec{}, "\xff", "unmarshal into *evaluationv1.ResolveBooleanRequest: proto: cannot parse invalid wire-format data"},
		{protoCodec{}, "\x0a\x02\xff\xfe", "unmarshal into *evaluationv1.ResolveBooleanRequest: string field contains invalid UTF-8"},
	} {
		err := tc.codec.Unmarshal([]byte(tc.body), &evaluationv1.ResolveBooleanRequest{})
		if err == nil || err.Error() != tc.want {
			t.Errorf("%T %q: %v, want %q", tc.codec, tc.body, err, tc.want)
		}
	}
}

// TestStableError: protobuf-go's prefix with a non-breaking space (as
// about half of all builds write it) is written with an ordinary one.
func TestStableError(t *testing.T) {
	for in, want := range map[string]string{
		"proto:\u00a0syntax error (line 1:1): unexpected token null":             "proto: syntax error (line 1:1): unexpected token null",
		"unmarshal into *x.Y: proto:\u00a0cannot parse invalid wire-format data": "unmarshal into *x.Y: proto: cannot parse invalid wire-format data",
		"proto: already ordinary": "proto: already ordinary",
	} {
		if got := stableError(errors.New(in)).Error(); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
	if stableError(nil) != nil {
		t.Error("stableError(nil) is not nil")
	}
}
