package history_test

import (
	"path/filepath"
	"testing"

	"github.com/vexilhq/vexil/daemon/internal/history/historytest"
)

func TestSQLiteContract(t *testing.T) {
	historytest.Run(t, historytest.Harness{
		NewURL: func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "history.db") },
		Shared: true,
		BadURLs: []string{
			"sqlite:",
			"sqlite:" + filepath.Join(t.TempDir(), "no-such-dir", "history.db"),
			"sqlite:" + t.TempDir(), // a directory
		},
	})
}
