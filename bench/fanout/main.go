// Command fanout measures how a flag change reaches many open sync
// streams: it starts vexil on a flag file, opens N flagd.sync.v1
// SyncFlags streams, reads the daemon's resident memory, goroutines and
// descriptors before and after (memory per stream), then rewrites the file
// and records when each stream got the new configuration (time to the
// median, the 99th percentile and the last stream, from the write). It
// repeats this for each N and prints a markdown table for
// daemon/BENCHMARKS.md.
//
//	go build -o /tmp/vexil ./daemon/cmd/vexil
//	go run ./bench/fanout -vexil /tmp/vexil -streams 1000,10000 -changes 5
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vexilhq/vexil/conformance/gauntlet"
)

func main() {
	vexil := flag.String("vexil", "", "the vexil binary (required)")
	counts := flag.String("streams", "1000,10000", "comma-separated numbers of streams")
	changes := flag.Int("changes", 5, "changes per number of streams (the table gives the median change)")
	flags := flag.Int("flags", 100, "flags in the document")
	gzip := flag.Bool("gzip", false, "the clients accept gzip (connect-go's default; Vexil's provider does not)")
	flag.Parse()
	if *vexil == "" {
		fmt.Fprintln(os.Stderr, "fanout: -vexil is required (go build -o /tmp/vexil ./daemon/cmd/vexil)")
		os.Exit(2)
	}
	var ns []int
	for f := range strings.SplitSeq(*counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "fanout: -streams: %q is not a positive number\n", f)
			os.Exit(2)
		}
		ns = append(ns, n)
	}
	fmt.Printf("| streams | RSS before | RSS with streams | per stream | goroutines | fds | change to median | to p99 | to last |\n")
	fmt.Printf("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, n := range ns {
		row, err := measure(*vexil, n, *changes, *flags, *gzip)
		if err != nil {
			fmt.Fprintf(os.Stderr, "fanout: %d streams: %v\n", n, err)
			os.Exit(1)
		}
		fmt.Println(row)
	}
	host, _ := os.Hostname()
	fmt.Printf("\n%s, %d CPUs (GOMAXPROCS of this client %d), %s\n", host, runtime.NumCPU(), runtime.GOMAXPROCS(0), cpuModel())
}

func doc(gen, flags int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"flags":{"version":{"state":"ENABLED","variants":{"v":"gen-%d"},"defaultVariant":"v"}`, gen)
	for i := range flags {
		fmt.Fprintf(&b, `,"f%d":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on"}`, i)
	}
	b.WriteString("}}")
	return []byte(b.String())
}

func write(path string, data []byte) error {
	if err := os.WriteFile(path+".tmp", data, 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

func measure(vexil string, n, changes, flags int, gzip bool) (string, error) {
	dir, err := os.MkdirTemp("", "fanout-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "flags.json")
	if err := write(path, doc(0, flags)); err != nil {
		return "", err
	}
	d, err := gauntlet.StartDaemon(vexil, nil, "-f", "file:"+path)
	if err != nil {
		return "", err
	}
	defer d.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	marks := make([]string, changes)
	for i := range marks {
		marks[i] = fmt.Sprintf(`"gen-%d"`, i+1)
	}
	before, err := d.Stats(ctx)
	if err != nil {
		return "", err
	}
	streams, err := gauntlet.OpenSyncStreams(ctx, d.Addrs.Sync, n, gzip, append([]string{`"gen-0"`}, marks...)...)
	if err != nil {
		return "", err
	}
	defer streams.Close()
	if _, err := streams.AwaitMark(ctx, `"gen-0"`); err != nil {
		return "", err
	}
	with, err := d.Stats(ctx)
	if err != nil {
		return "", err
	}
	var medians, p99s, lasts []time.Duration
	for i, m := range marks {
		start := time.Now()
		if err := write(path, doc(i+1, flags)); err != nil {
			return "", err
		}
		at, err := streams.AwaitMark(ctx, m)
		if err != nil {
			return "", err
		}
		lat := make([]time.Duration, len(at))
		for j, t := range at {
			lat[j] = t.Sub(start)
		}
		slices.Sort(lat)
		medians = append(medians, lat[len(lat)/2])
		p99s = append(p99s, lat[len(lat)*99/100])
		lasts = append(lasts, lat[len(lat)-1])
	}
	med := func(ds []time.Duration) time.Duration {
		slices.Sort(ds)
		return ds[len(ds)/2].Round(time.Millisecond)
	}
	perStream := float64(with.RSS-before.RSS) / float64(n) / 1024
	return fmt.Sprintf("| %d | %d MiB | %d MiB | %.1f KiB | %d | %d | %v | %v | %v |", n, before.RSS>>20, with.RSS>>20, perStream,
		with.Goroutines, with.FDs, med(medians), med(p99s), med(lasts)), nil
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
