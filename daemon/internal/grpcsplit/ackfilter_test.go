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

// withoutFirstAck is what ackFilter should give for in: the bytes as they
// are, less the first complete SETTINGS frame with the ACK flag and an
// empty payload that starts at a frame boundary after the preface.
func withoutFirstAck(in []byte) []byte {
	pre := len(http2.ClientPreface)
	if len(in) <= pre {
		return in
	}
	for off := pre; off+frameHeaderLen <= len(in); {
		h := in[off : off+frameHeaderLen]
		n := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
		if n == 0 && h[3] == frameSettings && h[4]&flagSettingsAck != 0 {
			return append(append([]byte{}, in[:off]...), in[off+frameHeaderLen:]...)
		}
		off += frameHeaderLen + n
	}
	return in
}

// FuzzAckFilter: for any byte stream after the preface and any read
// sizes, the filter passes every byte but the first SETTINGS ACK.
func FuzzAckFilter(f *testing.F) {
	f.Add(append(frame(0x4, 0, ""), frame(0x4, 1, "")...), uint8(1))
	f.Add(append(frame(0x0, 0, string(frame(0x4, 1, ""))), frame(0x4, 1, "")...), uint8(3))
	f.Add([]byte{0, 0, 0, 4, 1}, uint8(9))
	f.Add([]byte{}, uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		in := append([]byte(http2.ClientPreface), data...)
		var r io.Reader = bytes.NewReader(in)
		if chunk > 0 {
			r = &chunkReader{r: r, n: int(chunk)}
		}
		got, err := io.ReadAll(&ackFilter{r: r, pass: len(http2.ClientPreface)})
		if err != nil {
			t.Fatal(err)
		}
		if want := withoutFirstAck(in); !bytes.Equal(got, want) {
			t.Fatalf("chunk %d:\ngot  %x\nwant %x", chunk, got, want)
		}
	})
}

// chunkReader reads at most n bytes at a time.
type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}
