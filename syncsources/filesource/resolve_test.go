package filesource

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestResolve(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	j := func(p ...string) string { return filepath.Join(append([]string{dir}, p...)...) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// A ConfigMap volume.
	must(os.Mkdir(j("cm"), 0o755))
	must(os.Mkdir(j("cm", "..2026_11_21"), 0o755))
	must(os.WriteFile(j("cm", "..2026_11_21", "flags.json"), nil, 0o644))
	must(os.Symlink("..2026_11_21", j("cm", "..data")))
	must(os.Symlink("..data/flags.json", j("cm", "flags.json")))
	// An absolute link to it from elsewhere, through a linked directory.
	must(os.Mkdir(j("etc"), 0o755))
	must(os.Symlink(j("cm"), j("etc", "vexil")))
	// A loop.
	must(os.Symlink("loop2", j("loop1")))
	must(os.Symlink("loop1", j("loop2")))

	for _, tt := range []struct {
		path        string
		dirs, names []string
	}{
		{
			path:  j("cm", "flags.json"),
			dirs:  []string{j("cm"), j("cm", "..2026_11_21")},
			names: []string{j("cm", "..2026_11_21", "flags.json"), j("cm", "..data"), j("cm", "flags.json")},
		},
		{
			path:  j("etc", "vexil", "flags.json"),
			dirs:  []string{j("cm"), j("cm", "..2026_11_21"), j("etc")},
			names: []string{j("cm", "..2026_11_21", "flags.json"), j("cm", "..data"), j("cm", "flags.json"), j("etc", "vexil")},
		},
		{
			path:  j("missing", "deeper", "flags.json"),
			dirs:  []string{dir},
			names: []string{j("missing")},
		},
		{
			// Not cleaned: ".." after a link is the link target's parent.
			path:  dir + "/cm/..data/../etc/x.json",
			dirs:  []string{j("cm")},
			names: []string{j("cm", "..data"), j("cm", "etc")},
		},
		{
			path:  j("loop1"),
			dirs:  []string{dir},
			names: []string{j("loop1"), j("loop2")},
		},
		{
			path:  j("cm", "..2026_11_21", "flags.json", "x"),
			dirs:  []string{j("cm", "..2026_11_21")},
			names: []string{j("cm", "..2026_11_21", "flags.json")},
		},
	} {
		p := resolve(tt.path)
		if d := slices.Sorted(maps.Keys(p.dirs)); !slices.Equal(d, tt.dirs) {
			t.Errorf("resolve(%s): dirs %q, want %q", tt.path, d, tt.dirs)
		}
		if n := slices.Sorted(maps.Keys(p.names)); !slices.Equal(n, tt.names) {
			t.Errorf("resolve(%s): names %q, want %q", tt.path, n, tt.names)
		}
	}
}
