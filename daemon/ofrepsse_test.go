package daemon_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vexilhq/vexil/daemon"
)

// bulkEventStreams evaluates every flag over OFREP and returns the
// eventStreams of the answer and my-flag's value.
func (d *daemonUnderTest) bulkEventStreams(t *testing.T) (streams []map[string]any, value any) {
	t.Helper()
	resp, err := d.client.Post("http://"+d.addrs.OFREP+"/ofrep/v1/evaluate/flags", "application/json", strings.NewReader(`{"context":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Flags []struct {
			Key   string `json:"key"`
			Value any    `json:"value"`
		} `json:"flags"`
		EventStreams []map[string]any `json:"eventStreams"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("bulk evaluation: %s, %v", resp.Status, err)
	}
	for _, f := range body.Flags {
		if f.Key == "my-flag" {
			value = f.Value
		}
	}
	return body.EventStreams, value
}

// TestOFREPEventStream: with OFREPEventStreams, bulk evaluation lists the
// SSE stream as the OFREP spec's eventStreams; a provider that opens it on
// the OFREP port receives a refetchEvaluation event when the flag file is
// edited, and the re-fetch answers the new value.
func TestOFREPEventStream(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	writeAtomic(t, path, flagsDoc(true))
	d := startDaemon(t, daemon.Config{Sources: []daemon.SourceSpec{{URI: "file:" + path}}, OFREPEventStreams: true})
	d.waitValue(t, true)

	streams, value := d.bulkEventStreams(t)
	if len(streams) != 1 || streams[0]["type"] != "sse" || value != true {
		t.Fatalf("eventStreams %v, my-flag %v", streams, value)
	}
	endpoint, _ := streams[0]["endpoint"].(map[string]any)
	uri, _ := endpoint["requestUri"].(string)
	if !strings.HasPrefix(uri, "/") || streams[0]["url"] != nil {
		t.Fatalf("eventStreams[0] %v: want an endpoint with a requestUri (on the OFREP origin)", streams[0])
	}

	req, _ := http.NewRequest(http.MethodGet, "http://"+d.addrs.OFREP+uri, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := d.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// The headers come once the stream is subscribed: an edit from now on
	// is an event.
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("event stream: %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	writeAtomic(t, path, flagsDoc(false))

	// One event: its fields up to the blank line (comments skipped).
	lines := bufio.NewScanner(resp.Body)
	fields := map[string]string{}
	for lines.Scan() {
		line := lines.Text()
		if line == "" {
			if len(fields) > 0 {
				break
			}
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		k, v, _ := strings.Cut(line, ":")
		fields[k] = strings.TrimPrefix(v, " ")
	}
	if err := lines.Err(); err != nil {
		t.Fatalf("reading the event stream: %v", err)
	}
	var data struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal([]byte(fields["data"]), &data); err != nil || data.Type != "refetchEvaluation" || fields["event"] != "message" || fields["id"] == "" {
		t.Fatalf("event %q (%v), want event message, an id and data type refetchEvaluation", fields, err)
	}
	if _, value := d.bulkEventStreams(t); value != false {
		t.Errorf("my-flag after the event: %v, want false", value)
	}
	// Stopping the daemon ends the open stream (d.stop checks that Run
	// returns nil in time).
	d.stop(t)
}

// TestOFREPEventStreamOff: without the option, bulk responses are flagd's
// (no eventStreams) and there is no event stream.
func TestOFREPEventStreamOff(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	if streams, _ := d.bulkEventStreams(t); streams != nil {
		t.Errorf("eventStreams %v, want none", streams)
	}
	resp, err := d.client.Get("http://" + d.addrs.OFREP + "/ofrep/v1/event-stream")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /ofrep/v1/event-stream: %s, want 404", resp.Status)
	}
}
