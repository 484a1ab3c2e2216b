package daemon_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vexilhq/vexil/daemon"
)

// postDiff sends a body to POST /api/v1/diff and returns the status and
// the decoded answer.
func (d *daemonUnderTest) postDiff(t testing.TB, method, body string) (int, map[string]any, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+d.addrs.Management+"/api/v1/diff", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var got map[string]any
	_ = json.Unmarshal(data, &got)
	return resp.StatusCode, got, string(data)
}

// TestDiffAPI: POST /api/v1/diff answers the blast radius of a proposed
// document against what the daemon serves, changes nothing, and answers
// bad input with a 4xx and the problem, never a 500.
func TestDiffAPI(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "flags.json")
	doc := `{"flags":{"rollout":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off",
		"targeting":{"fractional":[["on",10],["off",90]]}}}}`
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	source := path // its name, as /readyz lists it
	d := startDaemon(t, daemon.Config{Sources: []daemon.SourceSpec{{URI: "file:" + path}}, MaxRequestBodyBytes: 64 << 10})
	d.waitReadyz(t, "ready", func(code int, _ readyz) bool { return code == http.StatusOK })

	quote := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	killed := strings.Replace(doc, "ENABLED", "DISABLED", 1)
	body := func(document, contexts string) string {
		return `{"source":` + quote(source) + `,"document":` + document + `,"contexts":` + contexts + `}`
	}

	status, got, raw := d.postDiff(t, http.MethodPost, body(killed, `[{"targetingKey":"a"},{"targetingKey":"b"},{}]`))
	if status != http.StatusOK {
		t.Fatalf("kill switch: %d %s", status, raw)
	}
	flags, _ := got["flags"].([]any)
	if got["contexts"] != 3.0 || len(flags) != 1 || flags[0].(map[string]any)["changed"] != 3.0 {
		t.Errorf("kill switch: %s; want 3 contexts, all changed", raw)
	}
	// Nothing was applied: the daemon still serves the rollout.
	if a := d.resolveBoolean(t, "rollout", `{}`); a.Reason == "DISABLED" {
		t.Error("the proposed document was applied")
	}

	// YAML as a string, with a warning of flagd's level.
	yamlDoc := quote("flags:\n  rollout:\n    state: ENABLED\n    variants: {on: true, off: \"no\"}\n    defaultVariant: off\n")
	status, got, raw = d.postDiff(t, http.MethodPost, `{"source":`+quote(source)+`,"document":`+yamlDoc+`,"format":"yaml","contexts":[{}]}`)
	if status != http.StatusOK || got["problems"] == nil {
		t.Errorf("YAML document: %d %s; want 200 with the document's warnings", status, raw)
	}

	big := `[` + strings.Repeat(`{"targetingKey":"0123456789"},`, 4000) + `{}]`
	for _, tc := range []struct {
		name, method, body string
		status             int
		says               string
	}{
		{"unknown source", "POST", `{"source":"file:/nope.json","document":{"flags":{}}}`, 400, `unknown source "file:/nope.json"; the daemon's sources are "` + source + `"`},
		{"no source", "POST", `{"document":{"flags":{}}}`, 400, `"source" is required`},
		{"no document", "POST", `{"source":` + quote(source) + `}`, 400, `"document" is required`},
		{"invalid document", "POST", body(`{"flags":{"x":{"state":"ENABLED","variants":{"a":1},"defaultVariant":"b"}}}`, `[]`), 422, "the proposed document is rejected"},
		{"document not JSON", "POST", body(quote(`{"flags":`), `[]`), 422, "the proposed document is rejected"},
		{"a context not an object", "POST", body(doc, `[{},{"a":1},[1]]`), 400, "contexts[2]: not a JSON object"},
		{"contexts not an array", "POST", body(doc, `{"a":1}`), 400, "the request body is not a diff request"},
		{"body not JSON", "POST", `flags please`, 400, "the request body is not a diff request"},
		{"unknown field", "POST", `{"source":` + quote(source) + `,"document":{},"context":{}}`, 400, `unknown field "context"`},
		{"trailing data", "POST", body(doc, `[]`) + `{}`, 400, "data after the JSON object"},
		{"format and JSON", "POST", `{"source":` + quote(source) + `,"document":{"flags":{}},"format":"yaml"}`, 400, `"format" is "yaml"`},
		{"unknown format", "POST", `{"source":` + quote(source) + `,"document":"flags: {}","format":"toml"}`, 400, `"format" must be json or yaml`},
		{"examples out of range", "POST", `{"source":` + quote(source) + `,"document":{"flags":{}},"examples":-1}`, 400, `"examples" must be from 0 to 100`},
		{"body too large", "POST", body(doc, big), 413, "the request body is larger than 65536 bytes"},
		{"GET", "GET", ``, 405, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, got, raw := d.postDiff(t, tc.method, tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, raw)
			}
			if tc.says == "" {
				return
			}
			msg, _ := got["error"].(string)
			if !strings.Contains(msg, tc.says) {
				t.Errorf("error %q, want it to say %q", msg, tc.says)
			}
			if tc.status == 422 {
				if probs, _ := got["problems"].([]any); len(probs) == 0 {
					t.Errorf("no problems listed: %s", raw)
				}
			}
		})
	}
}
