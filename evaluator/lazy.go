package evaluator

import (
	"encoding/binary"
	"hash/maphash"

	gojson "github.com/goccy/go-json"
)

// Reuse of unchanged flags.
//
// A JSON object document (or a YAML one, once converted) is read member by
// member: the top level and the "flags" object are scanned, and each flag
// is decoded on its own from its bytes. Every flag records a 128-bit hash
// of what its compiled form depends on: the parser (its seeds), the
// document's "metadata" and "$evaluators" as written, its key, and its
// bytes. When ParseReusing is given the flags of the source's previous
// document, a flag whose hash is unchanged, and whose previous parse
// reported nothing about it, is reused as it is: not decoded, validated or
// compiled again. An edit of one flag of a large document then costs a
// scan, a hash of the bytes, and the work for that one flag.
//
// Anything unusual (flags as an array or not an object, a byte-order
// mark, a syntax error, a flag that does not decode) falls back to decoding
// the whole document, which also describes the errors.
//
// The source hash only decides reuse: it is keyed per parser and changes
// with formatting. Whether a flag changed is told by its Fingerprint
// (fingerprint.go), which a reused flag keeps.

// srcHash is a flag's source hash: two lanes of 64 bits, each with its own
// random seed (per parser), so that two different sources share one with a
// probability of about 2^-128.
type srcHash struct{ a, b uint64 }

// lazyDoc is a document read member by member.
type lazyDoc struct {
	top   map[string]any // the decoded top-level members but "flags"
	flags []lazyFlag     // in order, a repeated key as often as written
	ctx   srcHash        // of "metadata" and "$evaluators" as written
	span  []byte         // of "flags"
}

type lazyFlag struct {
	key  string
	span []byte
}

type jsonScanner struct {
	d []byte
	i int
	// seed hashes member names (sourcemap.go's duplicate scan).
	seed maphash.Seed
}

func (s *jsonScanner) ws() {
	for s.i < len(s.d) {
		switch s.d[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// str skips a string at s.i ('"'); plain says it has no escape, control
// or non-ASCII byte (so its bytes are its value).
func (s *jsonScanner) str() (end int, plain, ok bool) {
	plain = true
	for i := s.i + 1; i < len(s.d); i++ {
		switch c := s.d[i]; {
		case c == '"':
			s.i = i + 1
			return s.i, plain, true
		case c == '\\':
			plain = false
			i++
		case c < 0x20 || c >= 0x80:
			plain = false
		}
	}
	return 0, false, false
}

// value skips a value and returns its span. It checks only what it needs
// to find the end: the caller decodes every span that is not the same as a
// span of a document that decoded.
func (s *jsonScanner) value() ([]byte, bool) {
	s.ws()
	if s.i >= len(s.d) {
		return nil, false
	}
	start := s.i
	switch s.d[s.i] {
	case '"':
		if _, _, ok := s.str(); !ok {
			return nil, false
		}
	case '{', '[':
		depth := 0
		for s.i < len(s.d) {
			switch s.d[s.i] {
			case '"':
				if _, _, ok := s.str(); !ok {
					return nil, false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.i++
			if depth == 0 {
				return s.d[start:s.i], true
			}
		}
		return nil, false
	default:
		for s.i < len(s.d) {
			switch s.d[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return s.d[start:s.i], s.i > start
			}
			s.i++
		}
	}
	return s.d[start:s.i], true
}

// members calls fn for each member of the object at s.i, with its
// decoded name and its value's text.
func (s *jsonScanner) members(fn func(key string, span []byte) bool) bool {
	s.ws()
	if s.i >= len(s.d) || s.d[s.i] != '{' {
		return false
	}
	return s.object(func(n memberName) bool {
		key, ok := n.decode()
		if !ok {
			return false
		}
		span, ok := s.value()
		return ok && fn(key, span)
	})
}

// scanDocument reads a JSON object document whose "flags" is an object.
// It returns false for anything else.
func (b *builder) scanDocument(data []byte) (*lazyDoc, bool) {
	s := &jsonScanner{d: data}
	spans := map[string][]byte{}
	var order []string
	if !s.members(func(key string, span []byte) bool {
		if _, dup := spans[key]; !dup {
			order = append(order, key)
		}
		spans[key] = span
		return true
	}) {
		return nil, false
	}
	s.ws()
	if s.i != len(data) {
		return nil, false
	}
	for _, k := range order {
		if k != "flags" && k != "metadata" && k != "$evaluators" && isDocField(k) {
			return nil, false // a member flagd matches ignoring case
		}
	}
	flagsSpan, ok := spans["flags"]
	if !ok || len(flagsSpan) == 0 || flagsSpan[0] != '{' {
		return nil, false
	}
	doc := &lazyDoc{top: make(map[string]any, len(spans)), span: flagsSpan}
	for _, k := range order {
		if k == "flags" {
			continue
		}
		var v any
		if gojson.Unmarshal(spans[k], &v) != nil {
			return nil, false
		}
		doc.top[k] = v
	}
	fs := &jsonScanner{d: flagsSpan}
	if !fs.members(func(key string, span []byte) bool {
		doc.flags = append(doc.flags, lazyFlag{key: key, span: span})
		return true
	}) {
		return nil, false
	}
	doc.ctx = b.hashContext(spans)
	return doc, true
}

// hashContext hashes what every flag of a document depends on besides its
// own bytes.
func (b *builder) hashContext(spans map[string][]byte) srcHash {
	var h srcHash
	for lane, seed := range b.parser.seeds {
		var mh maphash.Hash
		mh.SetSeed(seed)
		for _, k := range [...]string{"metadata", "$evaluators"} {
			sp, ok := spans[k]
			if !ok {
				mh.WriteByte(0)
				continue
			}
			mh.WriteByte(1)
			writeLen(&mh, len(sp))
			mh.Write(sp)
		}
		if lane == 0 {
			h.a = mh.Sum64()
		} else {
			h.b = mh.Sum64()
		}
	}
	return h
}

// hashFlag hashes a flag's source in its document's context: per lane,
// the hashes of its bytes and of its key, and the context's, hashed again.
func (b *builder) hashFlag(ctx srcHash, key string, span []byte) srcHash {
	var buf [24]byte
	lane := func(seed maphash.Seed, c uint64) uint64 {
		binary.LittleEndian.PutUint64(buf[0:], maphash.Bytes(seed, span))
		binary.LittleEndian.PutUint64(buf[8:], maphash.String(seed, key))
		binary.LittleEndian.PutUint64(buf[16:], c)
		return maphash.Bytes(seed, buf[:])
	}
	return srcHash{lane(b.parser.seeds[0], ctx.a), lane(b.parser.seeds[1], ctx.b)}
}

func writeLen(h *maphash.Hash, n int) {
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], uint64(n))
	h.Write(buf[:])
}
