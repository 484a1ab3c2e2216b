//go:build !unix

package telemetry_test

import "time"

// processCPU is zero where getrusage is missing: cpu-ns/op reads 0.
func processCPU() time.Duration { return 0 }
