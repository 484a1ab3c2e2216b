package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRelativeValueIsFromModuleRoot(t *testing.T) {
	t.Setenv("FLAGD_TESTBED_DIR", "../shared/flagd-testbed")
	dir, required := Testbed.Lookup()
	want := filepath.Join(ModuleRoot(), "..", "shared", "flagd-testbed")
	if dir != want || !required {
		t.Errorf("Lookup() = %s, %v; want %s, true", dir, required, want)
	}
	if _, err := os.Stat(filepath.Join(ModuleRoot(), "go.mod")); err != nil {
		t.Errorf("module root %s has no go.mod", ModuleRoot())
	}
}

func TestUnsetUsesSharedBesideModule(t *testing.T) {
	t.Setenv("FLAGD_SCHEMAS_DIR", "")
	dir, required := Schemas.Lookup()
	if required || dir != filepath.Join(ModuleRoot(), "..", "shared", "flagd-schemas") {
		t.Errorf("Lookup() = %s, %v", dir, required)
	}
}
