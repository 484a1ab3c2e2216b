package blast_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vexilhq/vexil/daemon/internal/blast"
)

// FuzzLineReader holds the JSON-lines reader, with DecodeContext, to a
// naive reading: split at "\n", trim JSON's white space, skip blank lines,
// encoding/json each line. Both must give the same contexts, or fail at
// the same line; Run must report that line too.
func FuzzLineReader(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.jsonl")
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("{}\r\n\n{\"a\":[1,2,{\"b\":\"\\u00e9\"}]}\n"))
	f.Add([]byte("{\"a\":1}\n{\"a\":\n1}\n"))
	f.Add([]byte("\xef\xbb\xbf{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// The naive reading.
		var want []map[string]any
		wantErrLine := 0
		for i, line := range bytes.Split(data, []byte("\n")) {
			line = bytes.Trim(line, " \t\r")
			if len(line) == 0 {
				continue
			}
			var v any
			m, ok := v.(map[string]any)
			if err := json.Unmarshal(line, &v); err == nil {
				m, ok = v.(map[string]any)
			}
			if !ok {
				wantErrLine = i + 1
				break
			}
			want = append(want, m)
		}

		// As a worker reads: one map reused, member names interned.
		r := blast.NewLineReader(bytes.NewReader(data))
		var got []map[string]any
		gotErrLine := 0
		reused, names := map[string]any{}, map[string]string{}
		for {
			text, pos, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("reader error: %v", err)
			}
			m, err := blast.DecodeContextInto(text, reused, names)
			if err != nil {
				gotErrLine = pos
				break
			}
			if alone, err := blast.DecodeContext(text); err != nil || !reflect.DeepEqual(alone, m) {
				t.Fatalf("DecodeContext: %v, %v; with a reused map: %v", alone, err, m)
			}
			got = append(got, maps.Clone(m))
		}
		if gotErrLine != wantErrLine || !reflect.DeepEqual(got, want) {
			t.Fatalf("reader: %v, error at line %d; naive: %v, error at line %d", got, gotErrLine, want, wantErrLine)
		}

		rep, err := blast.Run(context.Background(), nil, blast.NewLineReader(bytes.NewReader(data)), blast.Config{Workers: 3, ChunkSize: 2})
		switch {
		case wantErrLine != 0:
			var ce *blast.ContextError
			if !errors.As(err, &ce) || ce.Where != fmt.Sprintf("line %d", wantErrLine) {
				t.Fatalf("Run: %v, want an error at line %d", err, wantErrLine)
			}
		case err != nil:
			t.Fatalf("Run: %v", err)
		case rep.Contexts != len(want):
			t.Fatalf("Run: %d contexts, want %d", rep.Contexts, len(want))
		}
	})
}
