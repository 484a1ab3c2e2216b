package daemon_test

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vexilhq/vexil/daemon"
)

// lintDoc is a document flagd serves whose targeting can choose a variant
// the flag does not have: with {"beta": true} every evaluation fails.
const lintDoc = `{"flags":{"my-flag":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on",
"targeting":{"if":[{"var":"beta"},"enabled","on"]}}}}`

// waitLog waits until the daemon's log holds every one of parts, failing
// after timeout.
func (d *daemonUnderTest) waitLog(t *testing.T, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		logs := d.logs.String()
		all := true
		for _, p := range parts {
			all = all && strings.Contains(logs, p)
		}
		if all {
			return logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q not logged in %v:\n%s", parts, timeout, logs)
		}
		<-tick.C
	}
}

// TestStrictRejectsLintFindings: under --strict, a document with a lint
// finding is refused, named by source, flag and pointer, and the last
// good flags keep serving.
func TestStrictRejectsLintFindings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	writeAtomic(t, path, flagsDoc(true))
	d := startDaemon(t, daemon.Config{Sources: []daemon.SourceSpec{{URI: "file:" + path}}, Strict: true})
	d.waitReadyz(t, "ready", func(code int, _ readyz) bool { return code == http.StatusOK })

	writeAtomic(t, path, lintDoc)
	r := d.waitReadyz(t, "the rejection", func(_ int, r readyz) bool {
		return len(r.Sources) == 1 && r.Sources[0].Rejected > 0
	})
	if !strings.Contains(r.Sources[0].LastError, "flags/my-flag/targeting/if/1") || !strings.Contains(r.Sources[0].LastError, `"enabled"`) {
		t.Errorf("last error %q does not name the pointer and the variant", r.Sources[0].LastError)
	}
	if a := d.resolveBoolean(t, "my-flag", `{"beta":true}`); !a.Value || a.Variant != "on" {
		t.Fatalf("after the rejected document: %+v, want the last good flags", a)
	}
	d.waitLog(t, "flag document rejected", path+":2:35: flags/my-flag/targeting/if/1")
}

// TestEvaluationErrorsLogged: in the default mode the same document loads
// with a warning, as in flagd; the evaluations that fail on it are logged
// with their cause. With debug logging each update's added, changed and
// removed flags are logged.
func TestEvaluationErrorsLogged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	writeAtomic(t, path, flagsDoc(true))
	d := startDaemon(t, daemon.Config{Sources: []daemon.SourceSpec{{URI: "file:" + path}}})
	d.waitReadyz(t, "ready", func(code int, _ readyz) bool { return code == http.StatusOK })
	d.waitLog(t, `msg="flags changed"`, `added=[my-flag] changed=[] removed=[]`)

	writeAtomic(t, path, strings.TrimSuffix(lintDoc, "}}")+`,"second":{"state":"ENABLED","variants":{"a":1},"defaultVariant":"a"}}}`)
	d.waitLog(t, "flags loaded with warnings", "flags/my-flag/targeting/if/1", `added=[second] changed=[my-flag] removed=[]`)

	resp, err := d.client.Post("http://"+d.addrs.Evaluation+"/flagd.evaluation.v1.Service/ResolveBoolean",
		"application/json", strings.NewReader(`{"flagKey":"my-flag","context":{"beta":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatalf("ResolveBoolean with beta: %s, want the error flagd answers", body)
	}
	// Logged before the answer was sent.
	logs := d.logs.String()
	if !strings.Contains(logs, `msg="flag evaluation failed" flag=my-flag code=GENERAL cause="targeting chose variant \"enabled\", which the flag does not have"`) {
		t.Errorf("the failure was not logged with its cause:\n%s", logs)
	}

	writeAtomic(t, path, flagsDoc(false))
	d.waitLog(t, `added=[] changed=[my-flag] removed=[second]`)
}
