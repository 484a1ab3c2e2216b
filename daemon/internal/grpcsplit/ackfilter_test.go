package grpcsplit

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"

	"golang.org/x/net/http2"
)

// frame is an HTTP/2 frame: a header for the payload, then the payload.
func frame(typ, flags byte, payload string) []byte {
	n := len(payload)
	return append([]byte{byte(n >> 16), byte(n >> 8), byte(n), typ, flags, 0, 0, 0, 1}, payload...)
}

// TestAckFilter: the first SETTINGS ACK is dropped wherever it falls,
// nothing else is, whatever the sizes of the reads.
func TestAckFilter(t *testing.T) {
	ack := frame(0x4, 0x1, "")
	settings := frame(0x4, 0x0, "\x00\x03\x00\x00\x00\x64")
	// A DATA frame whose payload looks like a SETTINGS ACK header.
	data := frame(0x0, 0x0, string(ack)+"xyz")
	headers := frame(0x1, 0x4, "hpack")
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	pre := []byte(http2.ClientPreface)
	cases := []struct {
		name    string
		in, out []byte
	}{
		{"ack after settings", cat(pre, settings, ack, headers, ack), cat(pre, settings, headers, ack)},
		{"ack-like payload passes", cat(pre, settings, data, ack, data), cat(pre, settings, data, data)},
		{"no ack", cat(pre, settings, headers), cat(pre, settings, headers)},
		{"ack first", cat(pre, ack, settings), cat(pre, settings)},
		{"truncated header", cat(pre, settings, []byte{0, 0}), cat(pre, settings, []byte{0, 0})},
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"bytes":    iotest.OneByteReader,
		"halves":   iotest.HalfReader,
		"data+eof": iotest.DataErrReader,
	}
	for _, c := range cases {
		for rn, wrap := range readers {
			f := &ackFilter{r: wrap(bytes.NewReader(c.in)), pass: len(http2.ClientPreface)}
			got, err := io.ReadAll(f)
			if err != nil {
				t.Errorf("%s/%s: %v", c.name, rn, err)
			}
			if !bytes.Equal(got, c.out) {
				t.Errorf("%s/%s:\ngot  %q\nwant %q", c.name, rn, got, c.out)
			}
		}
	}
}
