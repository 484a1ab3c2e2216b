package blast

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/vexilhq/vexil/daemon/internal/strictjson"
)

// Input yields evaluation contexts as JSON texts, in order.
type Input interface {
	// Next returns the next context's JSON text, which is valid until the
	// following call, and its position (what Describe takes); io.EOF when
	// there are no more. Any other error says where it happened.
	Next() (text []byte, pos int, err error)
	// Describe names a position for a person: "line 7", "contexts[6]".
	Describe(pos int) string
}

// ContextError is a context that cannot be read: where it is, and why.
type ContextError struct {
	// Where names the context's place in its input ("line 7").
	Where string
	Err   error
}

func (e *ContextError) Error() string { return e.Where + ": " + e.Err.Error() }

func (e *ContextError) Unwrap() error { return e.Err }

// MaxLineBytes is the longest line LineReader accepts.
const MaxLineBytes = 16 << 20

// LineReader reads contexts as JSON lines: one JSON object per line. Lines
// that hold only JSON's white space (space, tab, CR) are skipped; a line
// may end with "\r\n".
// Positions are line numbers, from 1.
type LineReader struct {
	r    *bufio.Reader
	line int
	long []byte // a line longer than the reader's buffer
}

// NewLineReader returns a LineReader reading r.
func NewLineReader(r io.Reader) *LineReader {
	return &LineReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// Next returns the next non-blank line, without its end.
func (l *LineReader) Next() ([]byte, int, error) {
	for {
		line, err := l.readLine()
		if err != nil {
			return nil, 0, err
		}
		if line == nil {
			return nil, 0, io.EOF
		}
		line = bytes.Trim(line, " \t\r\n") // JSON's white space
		if len(line) > 0 {
			return line, l.line, nil
		}
	}
}

// readLine returns the next line, or nil at the end of the input.
func (l *LineReader) readLine() ([]byte, error) {
	l.long = l.long[:0]
	for {
		part, err := l.r.ReadSlice('\n')
		switch {
		case err == nil || errors.Is(err, io.EOF) && len(part)+len(l.long) > 0:
			l.line++
			if len(l.long) == 0 {
				return part, nil
			}
			if len(l.long)+len(part) > MaxLineBytes {
				return nil, &ContextError{Where: l.Describe(l.line), Err: fmt.Errorf("longer than %d bytes", MaxLineBytes)}
			}
			l.long = append(l.long, part...)
			return l.long, nil
		case errors.Is(err, io.EOF):
			return nil, nil
		case errors.Is(err, bufio.ErrBufferFull):
			if len(l.long)+len(part) > MaxLineBytes {
				return nil, &ContextError{Where: l.Describe(l.line + 1), Err: fmt.Errorf("longer than %d bytes", MaxLineBytes)}
			}
			l.long = append(l.long, part...)
		default:
			return nil, &ContextError{Where: l.Describe(l.line + 1), Err: err}
		}
	}
}

// Describe names a line.
func (l *LineReader) Describe(pos int) string { return fmt.Sprintf("line %d", pos) }

// Documents is an Input over JSON texts held in memory, such as the
// elements of a JSON array. Positions are indexes, from 0.
type Documents struct {
	// Name names the array in messages: Name[3].
	Name string
	Docs []json.RawMessage
	next int
}

// Next returns the next document.
func (d *Documents) Next() ([]byte, int, error) {
	if d.next >= len(d.Docs) {
		return nil, 0, io.EOF
	}
	d.next++
	return d.Docs[d.next-1], d.next - 1, nil
}

// Describe names an element.
func (d *Documents) Describe(pos int) string { return fmt.Sprintf("%s[%d]", d.Name, pos) }

var errNotObject = errors.New("not a JSON object")

// DecodeContext reads one context: a JSON object, decoded as
// encoding/json decodes it into any (numbers as float64). It takes a fast
// reader first and hands what that one declines (duplicate keys, invalid
// UTF-8, deep nesting, errors) to encoding/json.
func DecodeContext(text []byte) (map[string]any, error) {
	return decodeContextInto(text, map[string]any{}, nil)
}

// maxInterned bounds the member names a decoder keeps.
const maxInterned = 4096

// decodeContextInto is DecodeContext reusing m, which it clears, when the
// fast reader takes the text: it returns m then, else a new map. The
// context's member names are taken from names when it has them (and added
// to it, up to maxInterned), so that the names every context repeats are
// not allocated again; names may be nil.
func decodeContextInto(text []byte, m map[string]any, names map[string]string) (map[string]any, error) {
	clear(m)
	d := strictjson.New(text)
	d.Space()
	if d.Consume('{') && objectInto(d, m, names) && d.Done() {
		return m, nil
	}
	return decodeSlow(text)
}

// objectInto reads the members of an object whose '{' has been consumed
// into m, as strictjson's ObjectInto does, interning member names.
func objectInto(d *strictjson.Decoder, m map[string]any, names map[string]string) bool {
	d.Space()
	if d.Consume('}') {
		return true
	}
	for {
		d.Space()
		raw, ok := d.Name()
		if !ok {
			return false
		}
		name, ok := names[string(raw)]
		if !ok {
			name = string(raw)
			if names != nil && len(names) < maxInterned {
				names[name] = name
			}
		}
		if _, dup := m[name]; dup {
			return false // encoding/json decides: the last wins
		}
		d.Space()
		if !d.Consume(':') {
			return false
		}
		d.Space()
		v, ok := d.Value(2)
		if !ok {
			return false
		}
		m[name] = v
		d.Space()
		if d.Consume('}') {
			return true
		}
		if !d.Consume(',') {
			return false
		}
	}
}

// decodeSlow is DecodeContext by encoding/json, for what the fast reader
// declines.
func decodeSlow(text []byte) (map[string]any, error) {
	var v any
	if err := json.Unmarshal(text, &v); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, fmt.Errorf("not valid JSON: %v (at byte %d)", err, syn.Offset)
		}
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errNotObject
	}
	return m, nil
}
