package main

import (
	"math"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"testing"
)

func TestSoftLimit(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name          string
		live, ceiling int64
		want          int64
	}{
		{"small heap: the slack", 10 * mib, math.MaxInt64, 10*mib + memoryLimitSlack},
		{"large heap: half again", 400 * mib, math.MaxInt64, 600 * mib},
		{"under the ceiling", 10 * mib, 128 * mib, 10*mib + memoryLimitSlack},
		{"capped by the ceiling", 100 * mib, 128 * mib, 128 * mib},
		{"live heap above the ceiling", 200 * mib, 128 * mib, 128 * mib},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := softLimit(tt.live, tt.ceiling); got != tt.want {
				t.Errorf("softLimit(%d, %d) = %d, want %d", tt.live, tt.ceiling, got, tt.want)
			}
		})
	}
}

// memoryChildEnv makes the test binary run TestMemoryCeiling's child part.
const memoryChildEnv = "VEXIL_TEST_MEMORY_CHILD"

// TestMemoryCeiling: with GOMEMLIMIT set, as the sidecar example sets it
// from the container's memory limit, the limit the daemon sets after an
// update stays at or below it. It runs in a child process, whose runtime
// reads GOMEMLIMIT at start.
func TestMemoryCeiling(t *testing.T) {
	const ceiling = 48 << 20 // below the slack alone
	if os.Getenv(memoryChildEnv) == "1" {
		tuneGC()
		afterUpdate()
		if got := debug.SetMemoryLimit(-1); got > ceiling || got <= 0 {
			t.Fatalf("memory limit %d after an update, want at most GOMEMLIMIT %d", got, ceiling)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryCeiling$", "-test.count=1")
	cmd.Env = append(os.Environ(), memoryChildEnv+"=1", "GOMEMLIMIT="+strconv.Itoa(ceiling), "GOGC=100")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
