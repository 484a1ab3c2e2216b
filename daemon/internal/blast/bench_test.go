//go:build unix

package blast_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vexilhq/vexil/daemon/internal/blast"
)

// benchFlags returns a document of 10 flags with targeting, each edited
// between before (false) and after (true) as changes ship: rollout steps,
// segment edits, version gates, prefix and suffix rules.
func benchFlags(after bool) string {
	pick := func(a, b string) string {
		if after {
			return b
		}
		return a
	}
	var flags []string
	add := func(key, variants, def, targeting string) {
		flags = append(flags, fmt.Sprintf(`%q:{"state":"ENABLED","variants":%s,"defaultVariant":%q,"targeting":%s}`, key, variants, def, targeting))
	}
	onOff := `{"on":true,"off":false}`
	add("rollout-checkout", onOff, "off", `{"fractional":[{"cat":[{"var":"$flagd.flagKey"},{"var":"targetingKey"}]},["on",`+pick("10", "30")+`],["off",`+pick("90", "70")+`]]}`)
	add("rollout-search", onOff, "off", `{"fractional":[["on",`+pick("50", "60")+`],["off",`+pick("50", "40")+`]]}`)
	add("beta-countries", onOff, "off", `{"if":[{"in":[{"var":"country"},`+pick(`["de","fr"]`, `["de","fr","it","es"]`)+`]},"on",null]}`)
	add("pro-plans", `{"a":"adyen","s":"stripe"}`, "s", `{"if":[{"in":[{"var":"plan"},`+pick(`["pro"]`, `["pro","team"]`)+`]},"a","s"]}`)
	add("staff", onOff, "off", `{"if":[{"ends_with":[{"var":"email"},`+pick(`"@vexil.example"`, `"@example.com"`)+`]},"on",null]}`)
	add("new-app", onOff, "off", `{"if":[{"sem_ver":[{"var":"version"},">=",`+pick(`"2.1.0"`, `"2.0.0"`)+`]},"on",null]}`)
	add("tiers", `{"gold":3,"silver":2,"bronze":1}`, "bronze", `{"if":[{">=":[{"var":"spend"},`+pick("1000", "800")+`]},"gold",{">=":[{"var":"spend"},100]},"silver","bronze"]}`)
	add("prefix", onOff, "off", `{"if":[{"starts_with":[{"var":"targetingKey"},`+pick(`"user-1"`, `"user-2"`)+`]},"on","off"]}`)
	add("colors", `{"red":"red","blue":"blue","green":"green"}`, "red", `{"fractional":[["red",`+pick("34", "20")+`],["blue",33],["green",`+pick("33", "47")+`]]}`)
	add("age-gate", onOff, "off", `{"if":[{"and":[{">=":[{"var":"age"},`+pick("18", "21")+`]},{"==":[{"var":"verified"},true]}]},"on","off"]}`)
	return `{"flags":{` + strings.Join(flags, ",") + `}}`
}

// benchContexts returns n contexts as JSON lines, of the size a real
// context has (half a dozen attributes).
func benchContexts(n int) []byte {
	var b bytes.Buffer
	b.Grow(n * 150)
	countries := []string{"de", "fr", "it", "es", "us", "pl", "nl"}
	plans := []string{"free", "pro", "team"}
	domains := []string{"example.com", "vexil.example", "mail.test"}
	for i := range n {
		fmt.Fprintf(&b, `{"targetingKey":"user-%d","email":"u%d@%s","country":%q,"plan":%q,"version":"2.%d.%d","spend":%d,"age":%d,"verified":%t}`+"\n",
			i, i, domains[i%3], countries[i%7], plans[i%3], i%4, i%10, (i*37)%2000, 14+i%50, i%3 != 0)
	}
	return b.Bytes()
}

func benchRun(b *testing.B, contexts int) {
	diffs := blast.Compare(snapshotOf(b, benchFlags(false)), snapshotOf(b, benchFlags(true)))
	if len(diffs) != 10 {
		b.Fatalf("%d flags differ, want 10", len(diffs))
	}
	lines := benchContexts(contexts)
	b.SetBytes(int64(len(lines)))
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for b.Loop() {
		rep, err := blast.Run(context.Background(), diffs, blast.NewLineReader(bytes.NewReader(lines)), blast.Config{})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Contexts != contexts {
			b.Fatalf("%d contexts, want %d", rep.Contexts, contexts)
		}
	}
	// Every flag has targeting on both sides: two evaluations per flag and
	// context.
	// cpu-s/run is the CPU time the process spent (all goroutines, the
	// garbage collector included): on a shared machine, wall time depends
	// on the other jobs, CPU time much less.
	cpu := (cpuTime(b) - cpu0).Seconds()
	evals := float64(b.N) * float64(contexts) * float64(len(diffs)) * 2
	b.ReportMetric(evals/b.Elapsed().Seconds(), "evals/s")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/run")
	b.ReportMetric(evals/cpu, "evals/cpu-s")
	b.ReportMetric(cpu/float64(b.N), "cpu-s/run")
}

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTargetingEvaluations: a diff of 10 flags over 100,000 contexts
// read from JSON lines, decoding included; evals/s counts the targeting
// evaluations (two per flag and context). Target: >= 2 million per second
// on the project's 2-core machine.
func BenchmarkTargetingEvaluations(b *testing.B) { benchRun(b, 100_000) }

// BenchmarkMillionContextsTenFlags: 1,000,000 contexts x 10 changed flags,
// from JSON lines to the report. Target: <= 10 s a run (s/run).
func BenchmarkMillionContextsTenFlags(b *testing.B) { benchRun(b, 1_000_000) }
