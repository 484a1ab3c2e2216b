// Package testenv locates the flagd reference material that tests read:
// the testbed and the schemas. Each is named by an environment variable
// (a relative value is taken from the module's root, so that
// `FLAGD_TESTBED_DIR=../shared/flagd-testbed go test ./...` works from
// there), and defaults to ../shared beside the module. A test is skipped
// when the variable is unset and the default is absent, and fails when the
// variable names a directory that does not hold the material.
package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// Material is one kind of reference material.
type Material struct {
	Env   string // environment variable
	Dir   string // directory name under ../shared
	Check string // a file that must exist inside it
	Hint  string // how to get it
}

var (
	// Testbed is the flagd conformance suite.
	Testbed = Material{
		Env: "FLAGD_TESTBED_DIR", Dir: "flagd-testbed", Check: "evaluator/flags/testkit-flags.json",
		Hint: "get open-feature/flagd-testbed v3.9.0 (commit 82ba89ec8db498fa51368e558e4d87642d9e93c4), " +
			"e.g. as a git submodule at conformance/flagd-testbed, and set FLAGD_TESTBED_DIR to it",
	}
	// Schemas is the flagd flag-definition schemas and protobuf files.
	Schemas = Material{
		Env: "FLAGD_SCHEMAS_DIR", Dir: "flagd-schemas", Check: "json/flags.json",
		Hint: "get open-feature/flagd-schemas and set FLAGD_SCHEMAS_DIR to it",
	}
)

// Lookup returns where the material is and whether it must be there (the
// variable is set). It does not check that it is.
func (m Material) Lookup() (dir string, required bool) {
	if v := os.Getenv(m.Env); v != "" {
		if !filepath.IsAbs(v) {
			v = filepath.Join(ModuleRoot(), v)
		}
		return v, true
	}
	return filepath.Join(ModuleRoot(), "..", "shared", m.Dir), false
}

// Present reports whether the material is at dir.
func (m Material) Present(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(m.Check)))
	return err == nil
}

// Path returns the material's directory, skipping or failing the test when
// it is absent.
func (m Material) Path(t testing.TB) string {
	t.Helper()
	dir, required := m.Lookup()
	if !m.Present(dir) {
		if required {
			t.Fatalf("%s=%s does not hold %s (no %s)", m.Env, os.Getenv(m.Env), m.Dir, m.Check)
		}
		t.Skipf("%s not found at %s and %s is unset: %s", m.Dir, dir, m.Env, m.Hint)
	}
	return dir
}

// ModuleRoot returns the directory of the go.mod above the working
// directory (the working directory itself when there is none).
func ModuleRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return wd
		}
		dir = parent
	}
}
