package daemon_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/vexilhq/vexil/daemon"
)

const explainDoc = `{"metadata":{"flagSetId":"web"},"flags":{
  "greet":{"state":"ENABLED","variants":{"hi":"hi","yo":"yo"},"defaultVariant":"hi",
    "targeting":{"if":[{"==":[{"var":"team"},"core"]},"yo"]}}}}`

// TestExplainEndpoint: POST /api/v1/explain on the management port
// explains with the daemon's selector and merged context (static values,
// mapped headers), and answers bad input with a 4xx and the problem as
// JSON, never a 500.
func TestExplainEndpoint(t *testing.T) {
	d := startDaemon(t, daemon.Config{
		Sources:             []daemon.SourceSpec{{URI: "file:" + writeFlags(t, explainDoc)}},
		ContextFromHeaders:  map[string]string{"X-Team": "team"},
		MaxRequestBodyBytes: 4 << 20,
	})
	d.waitReady(t)
	url := "http://" + d.addrs.Management + daemon.ExplainPath
	post := func(method, contentType, body string, header map[string]string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := d.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s %q: the answer is not JSON: %s", method, body, data)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %q: Content-Type %q", method, body, ct)
		}
		return resp.StatusCode, m
	}

	// The mapped header reaches the rule; the selector applies.
	code, x := post(http.MethodPost, "application/json", `{"flagKey":"greet","context":{"team":"other"}}`, map[string]string{"X-Team": "core"})
	if code != 200 || x["variant"] != "yo" || x["reason"] != "TARGETING_MATCH" {
		t.Errorf("with the mapped header: %d %v", code, x)
	}
	if trace, _ := x["trace"].(map[string]any); trace == nil || trace["op"] != "if" {
		t.Errorf("trace %v", x["trace"])
	}
	code, x = post(http.MethodPost, "", `{"flagKey":"greet"}`, map[string]string{"Flagd-Selector": "flagSetId=web"})
	if code != 200 || x["variant"] != "hi" || x["reason"] != "DEFAULT" || x["flagSetId"] != "web" {
		t.Errorf("with a selector: %d %v", code, x)
	}

	big := `{"flagKey":"greet","context":{"pad":"` + strings.Repeat("x", 2<<20) + `"}}`
	for _, c := range []struct {
		name, method, contentType, body string
		header                          map[string]string
		status                          int
		code                            string
	}{
		{"unknown flag", http.MethodPost, "application/json", `{"flagKey":"nope","context":{}}`, nil, 404, "FLAG_NOT_FOUND"},
		{"selected away", http.MethodPost, "application/json", `{"flagKey":"greet"}`, map[string]string{"Flagd-Selector": "flagSetId=mobile"}, 404, "FLAG_NOT_FOUND"},
		{"malformed JSON", http.MethodPost, "application/json", `{"flagKey":`, nil, 400, "INVALID_REQUEST"},
		{"not an object", http.MethodPost, "application/json", `[1,2]`, nil, 400, "INVALID_REQUEST"},
		{"two values", http.MethodPost, "application/json", `{"flagKey":"greet"} {}`, nil, 400, "INVALID_REQUEST"},
		{"unknown field", http.MethodPost, "application/json", `{"flagKey":"greet","contxt":{}}`, nil, 400, "INVALID_REQUEST"},
		{"no flag key", http.MethodPost, "application/json", `{"context":{}}`, nil, 400, "INVALID_REQUEST"},
		{"flag key not a string", http.MethodPost, "application/json", `{"flagKey":7}`, nil, 400, "INVALID_REQUEST"},
		{"context not an object", http.MethodPost, "application/json", `{"flagKey":"greet","context":[1]}`, nil, 400, "INVALID_CONTEXT"},
		{"context a string", http.MethodPost, "application/json", `{"flagKey":"greet","context":"team=core"}`, nil, 400, "INVALID_CONTEXT"},
		{"unknown type", http.MethodPost, "application/json", `{"flagKey":"greet","type":"decimal"}`, nil, 400, "INVALID_REQUEST"},
		{"invalid selector", http.MethodPost, "application/json", `{"flagKey":"greet"}`, map[string]string{"Flagd-Selector": "color=red"}, 400, "INVALID_SELECTOR"},
		{"not JSON", http.MethodPost, "text/plain", `flagKey=greet`, nil, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"GET", http.MethodGet, "", ``, nil, 405, "METHOD_NOT_ALLOWED"},
		{"oversized", http.MethodPost, "application/json", big, nil, 413, "REQUEST_TOO_LARGE"},
	} {
		code, x := post(c.method, c.contentType, c.body, c.header)
		msg, _ := x["errorMessage"].(string)
		if code != c.status || x["errorCode"] != c.code || msg == "" {
			t.Errorf("%s: %d %v, want %d %s with a message", c.name, code, x, c.status, c.code)
		}
	}
}
