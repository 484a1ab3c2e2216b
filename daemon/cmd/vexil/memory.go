package main

import (
	"math"
	"os"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"sync"
)

// The memory policy of vexil start: the daemon changes no process-wide
// setting, so the command tunes the garbage collector for it (tuneGC, at
// start) and sets the memory limit after each update of the flags
// (afterUpdate, the daemon's Config.AfterUpdate).

// gcPercent is the daemon's GOGC. Requests allocate little that lives, and
// the flags are a small heap for most documents: a collection every time
// the heap doubles is several a second under load. 400 makes them four
// times rarer (measured: OFREP single 54,775 → 64,365 req/s, HTTP/JSON
// static 47,548 → 61,563 on one core), and limitMemory caps the growth it
// allows. A GOGC set by the operator wins.
const gcPercent = 400

// memoryCeiling is the memory limit the process started with: GOMEMLIMIT
// (in a container, its memory limit through the downward API), or
// math.MaxInt64 for none. tuneGC reads it, once per process (before any
// limit of limitMemory's); limitMemory never sets a limit above it.
var (
	memoryCeiling     int64 = math.MaxInt64
	readMemoryCeiling sync.Once
)

// tuneGC applies gcPercent unless GOGC is set, and notes the memory
// ceiling.
func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	readMemoryCeiling.Do(func() { memoryCeiling = debug.SetMemoryLimit(-1) })
}

// afterUpdate runs after the daemon applied an update that loaded or
// removed flags. A collection now, so that the memory limit is computed
// from the live heap of the flags just loaded; it also gives back the
// garbage of parsing (many times a large document's size), which the
// runtime returns only slowly.
func afterUpdate() {
	allocs := heapAllocs()
	debug.FreeOSMemory()
	limitMemory(allocs)
}

// limitMemory sets a soft memory limit from the live heap, measured just
// after the forced collection of debug.FreeOSMemory: with GOGC alone
// the heap of a daemon serving a large document grows back, under load, to
// twice the live heap and more (the collector marks for hundreds of
// milliseconds on one core, and what the requests allocate meanwhile counts
// as live). The limit keeps GOGC's pacing below it and makes the collector
// run earlier as the heap nears it. It is live×1.5, and at least
// live+memoryLimitSlack so that a small live heap does not make the
// collector run constantly.
//
// The flags are servable before the collection ends, so requests may
// allocate during it, and the collector counts what is allocated while it
// marks as live: allocsBefore, the heap's cumulative allocations read
// before the collection, lets limitMemory take what was allocated since
// out of the live heap it reads. (Measured at 100,000 flags under load,
// the uncorrected live heap was 243 MB for 98 MB of flags.)
//
// A GOMEMLIMIT set by the operator is a ceiling: the limit is never above
// it (softLimit). It is recomputed after every update.
func limitMemory(allocsBefore uint64) {
	sample := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/allocs:bytes"}}
	rtmetrics.Read(sample)
	if sample[0].Value.Kind() != rtmetrics.KindUint64 || sample[1].Value.Kind() != rtmetrics.KindUint64 {
		return
	}
	live := sample[0].Value.Uint64()
	// What was allocated during the collection was not all live, but some
	// of it may be: keep at least a quarter of what the collector found.
	during := sample[1].Value.Uint64() - allocsBefore
	live = max(live-min(during, live), live/4)
	debug.SetMemoryLimit(softLimit(int64(live), memoryCeiling))
}

// softLimit is the memory limit for a live heap of live bytes: live×1.5,
// at least live+memoryLimitSlack, and never above ceiling.
func softLimit(live, ceiling int64) int64 {
	return min(max(live+live/2, live+memoryLimitSlack), ceiling)
}

// heapAllocs is the heap's cumulative allocations, in bytes.
func heapAllocs() uint64 {
	sample := []rtmetrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	rtmetrics.Read(sample)
	if sample[0].Value.Kind() != rtmetrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}

// memoryLimitSlack is the least room limitMemory leaves above the live
// heap.
const memoryLimitSlack = 64 << 20
