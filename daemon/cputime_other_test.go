//go:build !unix

package daemon_test

import (
	"testing"
	"time"
)

// processCPU is zero where getrusage is missing: cpu-ns/op reads 0.
func processCPU(*testing.B) time.Duration { return 0 }
