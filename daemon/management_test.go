package daemon_test

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vexilhq/vexil/daemon"
)

// managementAnswer is what a management port request answered: flagd's
// recorded answer in the table.
type managementAnswer struct {
	status      int
	contentType string // "" for none
	location    string // "" for none
	body        string
}

// flagd's answers on its management port (bbb05d4,
// conformance/oracle/testdata/008-http/golden.jsonl, category
// http/management, and recorded by hand for the Accept headers).
var notFound = managementAnswer{http.StatusNotFound, "text/plain; charset=utf-8", "", "404 page not found\n"}

var managementTests = []struct {
	method, path, accept string
	want                 managementAnswer
}{
	{"GET", "/healthz", "", managementAnswer{status: http.StatusOK}},
	{"POST", "/healthz", "", managementAnswer{status: http.StatusOK}},
	{"HEAD", "/healthz", "", managementAnswer{status: http.StatusOK}},
	{"DELETE", "/healthz", "", managementAnswer{status: http.StatusOK}},
	{"GET", "/readyz", "", managementAnswer{status: http.StatusOK}},
	{"POST", "/readyz", "", managementAnswer{status: http.StatusOK}},
	{"HEAD", "/readyz", "", managementAnswer{status: http.StatusOK}},
	{"GET", "/readyz?x=1", "", managementAnswer{status: http.StatusOK}},
	{"POST", "/readyz?x=1", "", managementAnswer{status: http.StatusOK}},
	{"HEAD", "/readyz?x=1", "", managementAnswer{status: http.StatusOK}},
	{"GET", "/readyz", "*/*", managementAnswer{status: http.StatusOK}}, // kubelet's probe
	{"GET", "/", "", notFound},
	{"POST", "/", "", notFound},
	{"HEAD", "/", "", managementAnswer{http.StatusNotFound, "text/plain; charset=utf-8", "", ""}},
	{"GET", "/healthz/", "", notFound},
	{"POST", "/healthz/", "", notFound},
	{"HEAD", "/healthz/", "", managementAnswer{http.StatusNotFound, "text/plain; charset=utf-8", "", ""}},
	{"GET", "/nope", "", notFound},
	{"GET", "/HEALTHZ", "", notFound},
	{"GET", "/metrics/", "", notFound},
	{"GET", "//healthz", "", managementAnswer{http.StatusTemporaryRedirect, "text/html; charset=utf-8", "/healthz", "<a href=\"/healthz\">Temporary Redirect</a>.\n\n"}},
	{"POST", "//healthz", "", managementAnswer{http.StatusTemporaryRedirect, "", "/healthz", ""}},
	{"HEAD", "//healthz", "", managementAnswer{http.StatusTemporaryRedirect, "text/html; charset=utf-8", "/healthz", ""}},
	// grpc.health.v1 is served over gRPC (HTTP/2) only: Connect is 404.
	{"POST", "/grpc.health.v1.Health/Check", "", notFound},
}

// TestManagementPort asks the management port what the table asks flagd,
// with a document that is rejected: flagd reads it, rejects it, and is
// ready all the same.
func TestManagementPort(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	writeAtomic(t, path, `{"flags":{`)
	d := startDaemon(t, daemon.Config{Sources: []daemon.SourceSpec{{URI: "file:" + path}}})
	d.waitReadyz(t, "the rejection", func(_ int, r readyz) bool { return len(r.Sources) == 1 && r.Sources[0].Rejected > 0 })
	client := &http.Client{
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for _, tc := range managementTests {
		req, err := http.NewRequest(tc.method, "http://"+d.addrs.Management+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.method == "POST" && strings.HasPrefix(tc.path, "/grpc.") {
			req.Header.Set("Content-Type", "application/json")
			req.Body = io.NopCloser(strings.NewReader("{}"))
		}
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		got := managementAnswer{resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Location"), string(body)}
		if got != tc.want {
			t.Errorf("%s %s (Accept %q):\ngot  %+v\nwant %+v", tc.method, tc.path, tc.accept, got, tc.want)
		}
	}
}

// TestReadyzReport: the JSON report of the sources is answered to a client
// that asks for JSON, with the status code flagd answers.
func TestReadyzReport(t *testing.T) {
	dir := t.TempDir()
	rejected, missing := filepath.Join(dir, "rejected.json"), filepath.Join(dir, "missing.json")
	writeAtomic(t, rejected, `{"flags":{`)
	d := startDaemon(t, daemon.Config{Sources: []daemon.SourceSpec{{URI: "file:" + rejected}, {URI: "file:" + missing}}})
	r := d.waitReadyz(t, "the rejection and the outage", func(code int, r readyz) bool {
		return code == http.StatusPreconditionFailed && len(r.Sources) == 2 && r.Sources[0].State == "rejected" && r.Sources[1].State == "outage"
	})
	if r.Ready {
		t.Errorf("ready with a source that never delivered: %+v", r)
	}
	// Without Accept: application/json, no body.
	resp, err := d.client.Get("http://" + d.addrs.Management + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPreconditionFailed || len(body) != 0 || resp.Header.Get("Content-Type") != "" {
		t.Errorf("/readyz before ready: %s %q %q", resp.Status, resp.Header.Get("Content-Type"), body)
	}

	writeAtomic(t, missing, flagsDoc(true))
	r = d.waitReadyz(t, "ready", func(code int, _ readyz) bool { return code == http.StatusOK })
	if !r.Ready || r.Sources[0].State != "rejected" || r.Sources[1].State != "loaded" {
		t.Errorf("/readyz once both delivered: %+v", r)
	}
}
