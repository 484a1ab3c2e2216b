package oracle

import (
	"bytes"
	"encoding/json"

	"go.yaml.in/yaml/v3"
)

// kv is a member of an ordered JSON object.
type kv struct {
	K string
	V any
}

// obj is a JSON object that keeps its members' order and may repeat a key
// (a duplicate-key document).
type obj []kv

// MarshalJSON writes o's members in order.
func (o obj) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := marshalNoEscape(m.K)
		buf.Write(k)
		buf.WriteByte(':')
		v, err := marshalNoEscape(m.V)
		if err != nil {
			return nil, err
		}
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// raw is JSON text written as it is (numbers like 1e21 or 1.0).
type raw string

// MarshalJSON returns r.
func (r raw) MarshalJSON() ([]byte, error) { return []byte(r), nil }

func mustJSON(v any) []byte {
	b, err := marshalNoEscape(v)
	if err != nil {
		panic(err)
	}
	return b
}

// toYAML writes the JSON document v as block-style YAML, keeping member
// order and duplicate keys; strings stay quoted.
func toYAML(v any) []byte {
	j := mustJSON(v)
	var n yaml.Node
	if err := yaml.Unmarshal(j, &n); err != nil {
		return j
	}
	var block func(*yaml.Node)
	block = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
			n.Style = 0
		}
		for _, c := range n.Content {
			block(c)
		}
	}
	block(&n)
	out, err := yaml.Marshal(&n)
	if err != nil {
		return j
	}
	// A document that does not read back as the same JSON is written as
	// JSON, which is YAML too.
	var back any
	if yaml.Unmarshal(out, &back) != nil {
		return j
	}
	if _, err := json.Marshal(back); err != nil {
		return j
	}
	return out
}
