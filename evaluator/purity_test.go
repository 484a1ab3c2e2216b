package evaluator_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPurity: the evaluator's own code (not its tests) starts no
// goroutines and imports nothing that does I/O or logs.
func TestPurity(t *testing.T) {
	forbidden := map[string]bool{"os": true, "log": true, "log/slog": true, "net": true, "net/http": true, "io/ioutil": true, "os/exec": true, "syscall": true}
	dirs := []string{".", "internal/logic", "internal/ops"}
	files := 0
	for _, dir := range dirs {
		paths, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, path := range paths {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			files++
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, src, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if forbidden[p] {
					t.Errorf("%s imports %s", path, p)
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if _, ok := n.(*ast.GoStmt); ok {
					t.Errorf("%s starts a goroutine", path)
				}
				return true
			})
		}
	}
	if files < 10 {
		t.Errorf("checked only %d files", files)
	}
}
