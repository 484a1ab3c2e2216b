package history_test

import (
	"context"
	"testing"

	"github.com/vexilhq/vexil/daemon/internal/history"

	"github.com/vexilhq/vexil/daemon/internal/history/historytest"
)

func TestMemoryContract(t *testing.T) {
	historytest.Run(t, historytest.Harness{
		NewURL:  func(*testing.T) string { return "mem://" },
		BadURLs: []string{"mem://?limit=0", "mem://?limit=x", "mem://?size=3", "mem://%zz"},
	})
}

// FuzzOpenMemory: any mem: URL opens a store or gives an error, never a
// panic.
func FuzzOpenMemory(f *testing.F) {
	for _, s := range []string{"//", "//?limit=5", "//?limit=0", "//?limit=x", "//?size=3", "//%zz", "?limit=1&limit=2", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rest string) {
		s, err := history.Open(context.Background(), "mem:"+rest)
		if err == nil {
			_ = s.Close()
		}
	})
}
