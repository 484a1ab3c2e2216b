package filesource_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
	"github.com/vexilhq/vexil/syncsources/filesource"
)

// flagDoc returns a flag document of n targeted flags and a revision flag.
func flagDoc(n, revision int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"$schema":"https://flagd.dev/schema/v0/flags.json","flags":{`)
	for i := range n {
		fmt.Fprintf(&b, `"flag-%05d":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off",`+
			`"targeting":{"if":[{"ends_with":[{"var":"email"},"@team-%d.example"]},"on","off"]}},`, i, i%97)
	}
	fmt.Fprintf(&b, `"revision":{"state":"ENABLED","variants":{"r":%d},"defaultVariant":"r"}}}`, revision)
	return b.Bytes()
}

// BenchmarkEditToUpdate measures the time from the start of an atomic
// write of the file to the receipt of its Update: the debounce plus the
// watch, read and compare. It reports the median and 99th percentile.
func BenchmarkEditToUpdate(b *testing.B) {
	for _, bc := range []struct {
		name     string
		flags    int
		debounce time.Duration
	}{
		{"small", 1, 0},
		{"small/no-debounce", 1, -1},
		{"10000-flags", 10000, 0},
		{"10000-flags/no-debounce", 10000, -1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			docs := [2][]byte{flagDoc(bc.flags, 0), flagDoc(bc.flags, 1)}
			p, err := evaluator.NewParser(evaluator.Options{})
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := p.Parse("bench", docs[1], evaluator.FormatJSON); err != nil {
				b.Fatal(err)
			}
			path := filepath.Join(b.TempDir(), "flags.json")
			writeAtomic(b, path, docs[0])
			src := newSource(b, filesource.Config{Path: path, Debounce: bc.debounce})
			ctx, cancel := context.WithCancel(context.Background())
			updates := make(chan syncsources.Update)
			done := make(chan error, 1)
			go func() { done <- src.Run(ctx, updates) }()
			defer func() { cancel(); <-done }()
			receive := func(want []byte) {
				select {
				case u := <-updates:
					if u.Err != nil || !bytes.Equal(u.Data, want) {
						b.Fatalf("got update (err %v) of %d bytes, want %d bytes", u.Err, len(u.Data), len(want))
					}
				case <-time.After(timeout):
					b.Fatal("no update")
				}
			}
			receive(docs[0])

			var latencies []time.Duration
			b.SetBytes(int64(len(docs[0])))
			i := 0
			for b.Loop() {
				i++
				doc := docs[i%2]
				start := time.Now()
				writeAtomic(b, path, doc)
				receive(doc)
				latencies = append(latencies, time.Since(start))
			}
			slices.Sort(latencies)
			ms := func(q float64) float64 {
				return float64(latencies[int(q*float64(len(latencies)-1))]) / float64(time.Millisecond)
			}
			b.ReportMetric(ms(0.5), "median-ms")
			b.ReportMetric(ms(0.99), "p99-ms")
		})
	}
}
