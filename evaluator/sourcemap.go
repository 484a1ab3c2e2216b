package evaluator

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"
	"unicode/utf8"

	gojson "github.com/goccy/go-json"
	"go.yaml.in/yaml/v3"
)

// Positions in a document's text.
//
// Problems name places by JSON pointer; the text a person edits has lines
// and columns. Locate maps pointers to positions in one pass over a JSON
// document (descending only where a pointer leads) or over a YAML
// document's node tree. The same JSON scan finds members written twice in
// one object, which decoding cannot see (the last silently wins).

// Position is a place in a document's text: 1-based line, and column in
// characters.
type Position struct {
	Line, Column int
}

// Locate returns the positions of pointers in data, a document of format:
// for a member of an object the position of its name, for an element of an
// array that of its value. A pointer that is not in the document, or the
// document itself (""), has none; where an object repeats a member, the
// last is the one located (the one decoding keeps).
func Locate(data []byte, format Format, pointers []string) map[string]Position {
	out := map[string]Position{}
	if len(pointers) == 0 {
		return out
	}
	if format == FormatAuto {
		format = FormatYAML
		if isJSONText(data) {
			format = FormatJSON
		}
	}
	trie := &ptrTrie{}
	for _, p := range pointers {
		if p == "" || p[0] != '/' {
			continue
		}
		trie.add(p)
	}
	if format == FormatYAML {
		locateYAML(data, trie, out)
		return out
	}
	offsets := map[string]int{}
	s := &jsonScanner{d: data}
	// A byte-order mark before the document is skipped, as decoding does.
	s.ws()
	if bytes.HasPrefix(data[s.i:], []byte("\ufeff")) {
		s.i += 3
	}
	s.locate(trie, offsets, 0)
	lines := newLineIndex(data)
	for p, off := range offsets {
		out[p] = lines.position(off)
	}
	return out
}

// ptrTrie holds the pointers looked for, by token.
type ptrTrie struct {
	kids map[string]*ptrTrie
	ptr  string // set where a pointer ends
	want bool
}

func (t *ptrTrie) add(ptr string) {
	n := t
	for _, tok := range ptrTokens(ptr) {
		if n.kids == nil {
			n.kids = map[string]*ptrTrie{}
		}
		c := n.kids[tok]
		if c == nil {
			c = &ptrTrie{}
			n.kids[tok] = c
		}
		n = c
	}
	n.ptr, n.want = ptr, true
}

// maxLocateDepth bounds the nesting the scans follow.
const maxLocateDepth = 10000

// locate scans the value at s.i, recording in out the offsets of the
// pointers of t below it. It returns false on a syntax error.
func (s *jsonScanner) locate(t *ptrTrie, out map[string]int, depth int) bool {
	s.ws()
	if s.i >= len(s.d) || depth > maxLocateDepth {
		return false
	}
	if len(t.kids) == 0 {
		_, ok := s.value()
		return ok
	}
	switch s.d[s.i] {
	case '{':
		return s.object(func(name memberName) bool {
			var c *ptrTrie
			if name.plain {
				c = t.kids[string(name.text)]
			} else {
				c = t.kids[name.String()]
			}
			if c == nil {
				_, ok := s.value()
				return ok
			}
			if c.want {
				out[c.ptr] = name.off
			}
			return s.locate(c, out, depth+1)
		})
	case '[':
		return s.array(func(i int) bool {
			c := t.kids[strconv.Itoa(i)]
			if c == nil {
				_, ok := s.value()
				return ok
			}
			s.ws()
			if c.want {
				out[c.ptr] = s.i
			}
			return s.locate(c, out, depth+1)
		})
	}
	_, ok := s.value()
	return ok
}

// object reads the object at s.i, calling member for each member with
// s.i at its value; member must consume the value. The member's name is
// given as its name's text (the bytes between the quotes: the name
// itself when plain, with no escape), and where it starts.
func (s *jsonScanner) object(member func(name memberName) bool) bool {
	s.i++ // '{'
	s.ws()
	if s.i < len(s.d) && s.d[s.i] == '}' {
		s.i++
		return true
	}
	for {
		s.ws()
		name, ok := s.name()
		if !ok {
			return false
		}
		s.ws()
		if s.i >= len(s.d) || s.d[s.i] != ':' {
			return false
		}
		s.i++
		if !member(name) {
			return false
		}
		s.ws()
		if s.i >= len(s.d) {
			return false
		}
		switch s.d[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

// array reads the array at s.i, calling elem for each element; elem must
// consume it.
func (s *jsonScanner) array(elem func(i int) bool) bool {
	s.i++ // '['
	s.ws()
	if s.i < len(s.d) && s.d[s.i] == ']' {
		s.i++
		return true
	}
	for i := 0; ; i++ {
		if !elem(i) {
			return false
		}
		s.ws()
		if s.i >= len(s.d) {
			return false
		}
		switch s.d[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return true
		default:
			return false
		}
	}
}

// memberName is a member's name as written.
type memberName struct {
	text  []byte // between the quotes
	plain bool   // no escape: text is the name
	off   int    // of the opening quote
}

// String decodes the name ("" if it does not decode).
func (n memberName) String() string {
	k, _ := n.decode()
	return k
}

// decode decodes the name, reporting whether it decodes.
func (n memberName) decode() (string, bool) {
	if n.plain {
		return string(n.text), true
	}
	var k string
	if gojson.Unmarshal(append(append([]byte{'"'}, n.text...), '"'), &k) != nil {
		return "", false
	}
	return k, true
}

// name reads a member name at s.i.
func (s *jsonScanner) name() (memberName, bool) {
	start := s.i
	if s.i >= len(s.d) || s.d[s.i] != '"' {
		return memberName{}, false
	}
	end, plain, ok := s.str()
	if !ok {
		return memberName{}, false
	}
	return memberName{text: s.d[start+1 : end-1], plain: plain, off: start}, true
}

// duplicateMember is a member written again in its object.
type duplicateMember struct {
	ptr          string // of the member
	first, again int    // offsets of the two names
}

// duplicateMembers returns every member of an object of the JSON
// document data that the object repeats (each repetition after the first).
func duplicateMembers(data []byte) []duplicateMember {
	s := &jsonScanner{d: data, seed: maphash.MakeSeed()}
	s.ws()
	if bytes.HasPrefix(data[s.i:], []byte("\ufeff")) {
		s.i += 3
	}
	var out []duplicateMember
	var path []memberName
	s.dups(&path, &out, 0)
	return out
}

// dups scans the value at s.i for repeated members; path holds the names
// above it (an element of an array by an empty name whose off is its
// index), turned into a pointer only for a repetition. Names are
// compared as written when plain (most are), which allocates nothing.
func (s *jsonScanner) dups(path *[]memberName, out *[]duplicateMember, depth int) bool {
	s.ws()
	if s.i >= len(s.d) || depth > maxLocateDepth {
		return false
	}
	switch s.d[s.i] {
	case '{':
		var small [16]memberName
		seen := small[:0]
		// Beyond 16 members, names are looked up by hash, then compared.
		var many map[uint64]memberName
		return s.object(func(name memberName) bool {
			first := -1
			same := func(e memberName) bool {
				if e.plain && name.plain {
					return bytes.Equal(e.text, name.text)
				}
				return e.String() == name.String()
			}
			for _, e := range seen {
				if same(e) {
					first = e.off
					break
				}
			}
			var h uint64
			if len(seen) == cap(small) {
				h = nameHash(s.seed, name)
				if e, ok := many[h]; ok && same(e) {
					first = e.off
				}
			}
			if first >= 0 {
				*out = append(*out, duplicateMember{ptr: namesPointer(*path, name), first: first, again: name.off})
			} else if len(seen) < cap(small) {
				seen = append(seen, name)
			} else {
				if many == nil {
					many = make(map[uint64]memberName, 32)
				}
				if _, taken := many[h]; !taken {
					many[h] = name // a collision (of 64-bit hashes) goes unseen
				}
			}
			*path = append(*path, name)
			ok := s.dups(path, out, depth+1)
			*path = (*path)[:len(*path)-1]
			return ok
		})
	case '[':
		return s.array(func(i int) bool {
			*path = append(*path, memberName{off: i})
			ok := s.dups(path, out, depth+1)
			*path = (*path)[:len(*path)-1]
			return ok
		})
	}
	_, ok := s.value()
	return ok
}

// nameHash hashes a member's name (decoded when it has escapes).
func nameHash(seed maphash.Seed, n memberName) uint64 {
	if n.plain {
		return maphash.Bytes(seed, n.text)
	}
	return maphash.String(seed, n.String())
}

// namesPointer is the pointer of the member last below path.
func namesPointer(path []memberName, last memberName) string {
	toks := make([]string, 0, len(path))
	for _, n := range path {
		if n.text == nil {
			toks = append(toks, strconv.Itoa(n.off))
		} else {
			toks = append(toks, n.String())
		}
	}
	return pointerOf(toks, last.String())
}

func pointerOf(path []string, last string) string {
	var b strings.Builder
	for _, t := range path {
		b.WriteByte('/')
		b.WriteString(escapeToken(t))
	}
	b.WriteByte('/')
	b.WriteString(escapeToken(last))
	return b.String()
}

// lineIndex turns byte offsets into positions.
type lineIndex struct {
	data  []byte
	start []int // offset of each line's first byte
}

func newLineIndex(data []byte) *lineIndex {
	li := &lineIndex{data: data, start: []int{0}}
	for i, c := range data {
		if c == '\n' {
			li.start = append(li.start, i+1)
		}
	}
	return li
}

func (li *lineIndex) position(off int) Position {
	off = min(max(off, 0), len(li.data))
	// The last line starting at or before off.
	lo, hi := 0, len(li.start)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if li.start[mid] <= off {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return Position{Line: lo + 1, Column: utf8.RuneCount(li.data[li.start[lo]:off]) + 1}
}

// locateYAML records the positions of t's pointers in a YAML document.
func locateYAML(data []byte, t *ptrTrie, out map[string]Position) {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return
	}
	var walk func(n *ptrTrie, node *yaml.Node, depth int)
	walk = func(n *ptrTrie, node *yaml.Node, depth int) {
		for node != nil && node.Kind == yaml.AliasNode && depth < maxLocateDepth {
			node, depth = node.Alias, depth+1
		}
		if node == nil || len(n.kids) == 0 || depth > maxLocateDepth {
			return
		}
		switch node.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(node.Content); i += 2 {
				k := node.Content[i]
				c := n.kids[k.Value]
				if c == nil {
					continue
				}
				if c.want {
					out[c.ptr] = Position{Line: k.Line, Column: k.Column}
				}
				walk(c, node.Content[i+1], depth+1)
			}
		case yaml.SequenceNode:
			for i, e := range node.Content {
				c := n.kids[strconv.Itoa(i)]
				if c == nil {
					continue
				}
				if c.want {
					v := e
					out[c.ptr] = Position{Line: v.Line, Column: v.Column}
				}
				walk(c, e, depth+1)
			}
		}
	}
	walk(t, doc.Content[0], 0)
}

// duplicates reports the members a JSON document repeats in one object:
// decoding keeps the last, silently, in flagd as here.
func (b *builder) duplicates() {
	dups := duplicateMembers(b.data)
	if len(dups) == 0 {
		return
	}
	lines := newLineIndex(b.data)
	for _, d := range dups {
		first, again := lines.position(d.first), lines.position(d.again)
		parent, last := d.ptr[:strings.LastIndexByte(d.ptr, '/')], ptrTokens(d.ptr)
		name := last[len(last)-1]
		if parent == "/flags" {
			b.lint(CheckDuplicateMember, name, d.ptr, "flag %q is defined again (first at line %d, column %d); this definition wins", name, first.Line, first.Column)
		} else {
			b.lint(CheckDuplicateMember, b.flagKeyAt(d.ptr), d.ptr, "%q is written again in this object (first at line %d, column %d); flagd reads only the last", name, first.Line, first.Column)
		}
		b.own[len(b.own)-1].Line, b.own[len(b.own)-1].Column = again.Line, again.Column
	}
}

// locateProblems sets the position of each problem that has none and
// whose pointer is in the document.
func locateProblems(data []byte, format Format, problems []Problem) {
	var ptrs []string
	for _, p := range problems {
		if p.Line == 0 && p.Pointer != "" {
			ptrs = append(ptrs, p.Pointer)
		}
	}
	if len(ptrs) == 0 {
		return
	}
	pos := Locate(data, format, ptrs)
	for i := range problems {
		if p := &problems[i]; p.Line == 0 {
			if at, ok := pos[p.Pointer]; ok {
				p.Line, p.Column = at.Line, at.Column
			}
		}
	}
}

// yamlDuplicates reports the keys a YAML document repeats in one mapping,
// which its decoder (flagd's too) refuses: errors in either mode. It
// returns false when there is none.
func (b *builder) yamlDuplicates(data []byte) bool {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return false
	}
	found := false
	var path []string
	var walk func(node *yaml.Node, depth int)
	walk = func(node *yaml.Node, depth int) {
		if node == nil || depth > maxLocateDepth {
			return
		}
		switch node.Kind {
		case yaml.MappingNode:
			first := map[string]*yaml.Node{}
			for i := 0; i+1 < len(node.Content); i += 2 {
				k := node.Content[i]
				if k.Kind == yaml.ScalarNode && k.Value != "<<" {
					if f, dup := first[k.Value]; dup {
						found = true
						ptr := pointerOf(path, k.Value)
						what := fmt.Sprintf("%q is written again in this mapping", k.Value)
						if len(path) == 1 && path[0] == "flags" {
							what = fmt.Sprintf("flag %q is defined again", k.Value)
						}
						b.add(SeverityError, b.flagKeyAt(ptr), ptr, "%s (first at line %d, column %d): YAML allows a key once per mapping, and flagd rejects the document", what, f.Line, f.Column)
						b.own[len(b.own)-1].Line, b.own[len(b.own)-1].Column = k.Line, k.Column
					} else {
						first[k.Value] = k
					}
				}
				path = append(path, k.Value)
				walk(node.Content[i+1], depth+1)
				path = path[:len(path)-1]
			}
		case yaml.SequenceNode:
			for i, e := range node.Content {
				path = append(path, strconv.Itoa(i))
				walk(e, depth+1)
				path = path[:len(path)-1]
			}
		}
	}
	walk(doc.Content[0], 0)
	return found
}
