package history_test

import (
	"testing"

	"github.com/vexilhq/vexil/daemon/internal/history/historytest"
)

func TestMemoryContract(t *testing.T) {
	historytest.Run(t, historytest.Harness{
		NewURL:  func(*testing.T) string { return "mem://" },
		BadURLs: []string{"mem://?limit=0", "mem://?limit=x", "mem://?size=3", "mem://%zz"},
	})
}
