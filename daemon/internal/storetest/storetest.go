// Package storetest loads flag stores from files, for the tests of the
// services built on package store.
package storetest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/syncsources"
)

// New returns a store whose sources are the given files of the calling
// package's testdata directory, lowest priority first, each named by its
// file name and loaded. The test fails if any is rejected.
func New(t testing.TB, files ...string) *store.Store {
	t.Helper()
	st := store.New(store.Config{Sources: files})
	for _, f := range files {
		ApplyFile(t, st, f, f)
	}
	if !st.Current().Ready() {
		t.Fatal("store not ready after loading every source")
	}
	return st
}

// ApplyFile delivers testdata/file as the whole document of source.
func ApplyFile(t testing.TB, st *store.Store, source, file string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	Apply(t, st, source, data)
}

// Apply delivers data as the whole document of source.
func Apply(t testing.TB, st *store.Store, source string, data []byte) {
	t.Helper()
	if _, err := st.Apply(syncsources.Update{Source: source, Data: data}); err != nil {
		t.Fatalf("loading %s: %v", source, err)
	}
}
