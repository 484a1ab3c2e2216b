package oracle

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// FlagdCommit is the upstream flagd commit the corpus is recorded from
// (build-flagd.sh builds it).
const FlagdCommit = "bbb05d4bc3903ea8bf5123a88b1cf558750a22ab"

// GoldenFile is the name of a scenario's golden file in its directory.
const GoldenFile = "golden.jsonl"

// Port names which of a daemon's ports a request goes to.
const (
	PortEval  = "eval"
	PortOFREP = "ofrep"
	PortSync  = "sync"
	PortMgmt  = "management"
	// PortSyncHTTP is the sync port asked with plain HTTP/1.1 (flagd's is
	// a gRPC server alone).
	PortSyncHTTP = "sync-http"
)

// A File is a flag document of a scenario, at a path relative to the
// scenario's directory.
type File struct {
	Path    string
	Content []byte
}

// A Scenario is what one daemon run is asked: documents, the --uri list
// it starts with, and requests in order.
type Scenario struct {
	Name     string
	Seed     uint64
	Files    []File
	URIs     []string
	Requests []Request
}

// A Request is one question to a daemon. For the eval, OFREP and
// management ports it is an HTTP/1.1 request (Path is sent as it is, not
// cleaned); Stream makes it a Connect server-streaming call whose Body is
// sent as one enveloped message and whose first message is the answer. For
// the sync port, Method is FetchAllFlags, SyncFlags or GetMetadata over
// gRPC, with Selector and ProviderID as the request's fields and Header as
// metadata.
type Request struct {
	Cat        string            // category, for the summary: area/detail
	Port       string            // PortEval, PortOFREP, PortSync, PortMgmt
	Method     string            // HTTP method, or the sync RPC
	Path       string            // raw request target
	Header     map[string]string // request headers (or gRPC metadata)
	Body       string            // raw body
	Stream     bool
	Selector   string
	ProviderID string
}

type requestJSON struct {
	Cat        string            `json:"cat"`
	Port       string            `json:"port"`
	Method     string            `json:"method"`
	Path       string            `json:"path,omitempty"`
	Header     map[string]string `json:"header,omitempty"`
	JSON       json.RawMessage   `json:"json,omitempty"`
	Body       *string           `json:"body,omitempty"`
	Stream     bool              `json:"stream,omitempty"`
	Selector   string            `json:"selector,omitempty"`
	ProviderID string            `json:"providerId,omitempty"`
}

// MarshalJSON writes a body that is compact JSON as "json" (readable),
// any other as the string "body".
func (r Request) MarshalJSON() ([]byte, error) {
	j := requestJSON{Cat: r.Cat, Port: r.Port, Method: r.Method, Path: r.Path, Header: r.Header,
		Stream: r.Stream, Selector: r.Selector, ProviderID: r.ProviderID}
	if r.Body != "" {
		if isCompactJSON([]byte(r.Body)) {
			j.JSON = json.RawMessage(r.Body)
		} else {
			b := r.Body
			j.Body = &b
		}
	}
	return marshalNoEscape(j)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Request) UnmarshalJSON(b []byte) error {
	var j requestJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Request{Cat: j.Cat, Port: j.Port, Method: j.Method, Path: j.Path, Header: j.Header,
		Stream: j.Stream, Selector: j.Selector, ProviderID: j.ProviderID}
	switch {
	case j.JSON != nil:
		r.Body = string(j.JSON)
	case j.Body != nil:
		r.Body = *j.Body
	}
	return nil
}

// An Answer is what a daemon answered to a Request, normalised.
type Answer struct {
	Status int               `json:"status,omitempty"` // HTTP status
	Code   string            `json:"code,omitempty"`   // gRPC code (sync)
	Header map[string]string `json:"header,omitempty"` // RecordedHeaders present
	JSON   json.RawMessage   `json:"json,omitempty"`   // a JSON body
	Text   *string           `json:"text,omitempty"`   // any other body, or a gRPC message
	Msgs   []json.RawMessage `json:"msgs,omitempty"`   // stream messages
	Error  string            `json:"error,omitempty"`  // transport failure
}

// An Exchange is a request and its answer, a line of a golden file.
type Exchange struct {
	Req Request `json:"req"`
	Ans Answer  `json:"ans"`
}

// A Header is the first line of a golden file.
type Header struct {
	Scenario string   `json:"scenario"`
	Flagd    string   `json:"flagd"`
	Seed     uint64   `json:"seed"`
	URIs     []string `json:"uris"`
	Files    []string `json:"files"`
	Requests int      `json:"requests"`
	Ready    bool     `json:"ready"` // flagd's /readyz answered 200 before the requests
}

// WriteScenarioFiles writes the documents of s under dir.
func WriteScenarioFiles(dir string, s *Scenario) error {
	for _, f := range s.Files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.Content, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// WriteGolden writes dir/golden.jsonl.
func WriteGolden(dir string, h Header, ex []Exchange) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(h); err != nil {
		return err
	}
	for _, e := range ex {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, GoldenFile), buf.Bytes(), 0o644)
}

// ReadGolden reads dir/golden.jsonl.
func ReadGolden(dir string) (Header, []Exchange, error) {
	var h Header
	f, err := os.Open(filepath.Join(dir, GoldenFile))
	if err != nil {
		return h, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var ex []Exchange
	for n := 1; sc.Scan(); n++ {
		if n == 1 {
			if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
				return h, nil, fmt.Errorf("%s:1: %w", f.Name(), err)
			}
			continue
		}
		var e Exchange
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return h, nil, fmt.Errorf("%s:%d: %w", f.Name(), n, err)
		}
		ex = append(ex, e)
	}
	return h, ex, sc.Err()
}

// ScenarioDirs lists the scenario directories under root, sorted.
func ScenarioDirs(root string) ([]string, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, e := range ents {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(root, e.Name(), GoldenFile)); err == nil {
				dirs = append(dirs, e.Name())
			}
		}
	}
	sort.Strings(dirs)
	return dirs, nil
}

func isCompactJSON(b []byte) bool {
	if !json.Valid(b) {
		return false
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return false
	}
	return bytes.Equal(buf.Bytes(), b)
}

func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// startArgs are the arguments of flagd start and vexil start.
func startArgs(uris []string, p Ports) []string {
	args := []string{"start"}
	for _, u := range uris {
		args = append(args, "--uri", u)
	}
	return append(args,
		"--port", fmt.Sprint(p.Eval),
		"--management-port", fmt.Sprint(p.Management),
		"--sync-port", fmt.Sprint(p.Sync),
		"--ofrep-port", fmt.Sprint(p.OFREP))
}

var _ = strings.TrimSpace
