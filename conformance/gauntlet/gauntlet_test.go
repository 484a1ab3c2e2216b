package gauntlet_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vexilhq/vexil/conformance/gauntlet"
)

// buildVexil builds the vexil binary (or takes $VEXIL_BIN).
func buildVexil(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("VEXIL_BIN"); bin != "" {
		return bin
	}
	out := filepath.Join(t.TempDir(), "vexil")
	cmd := exec.Command("go", "build", "-o", out, "github.com/vexilhq/vexil/daemon/cmd/vexil")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build vexil: %v\n%s", err, b)
	}
	return out
}

// TestGauntlet runs every check of the gauntlet, at the Short scale (with
// -short, smaller still), against
// the real vexil binary: one daemon with a JSON file, a YAML file and an
// HTTP source, attacked check after check, each followed by a healthy
// client's requests on every port; SIGTERM ends it.
func TestGauntlet(t *testing.T) {
	scale := gauntlet.Short
	if testing.Short() {
		// go test -short: the same checks, smaller floods and documents.
		scale.Flood, scale.Docs = 500, 1000
	}
	e, err := gauntlet.Start(gauntlet.Config{Binary: buildVexil(t), Dir: t.TempDir(), Scale: scale, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, c := range gauntlet.Checks() {
		t.Run(c.Name, func(t *testing.T) {
			if err := e.Daemon.Alive(); err != nil {
				t.Skipf("the daemon is gone: %v", err)
			}
			r := e.Run(c)
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			t.Logf("after: RSS %d MiB, %d goroutines, %d descriptors", r.After.RSS>>20, r.After.Goroutines, r.After.FDs)
		})
	}
	if t.Failed() {
		t.Logf("daemon log (last lines):\n%s", lastLines(e.Daemon.Logs(), 40))
	}
}

func lastLines(s string, n int) string {
	end := len(s)
	for i := len(s) - 1; i >= 0 && n >= 0; i-- {
		if s[i] == '\n' {
			n--
			if n < 0 {
				return s[i+1 : end]
			}
		}
	}
	return s
}
