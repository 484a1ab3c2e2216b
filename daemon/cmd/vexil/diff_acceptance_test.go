package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
)

// diffJSON is the JSON `vexil diff --output json` prints, as scripts read it.
type diffJSON struct {
	Contexts int `json:"contexts"`
	Flags    []struct {
		Key         string `json:"key"`
		Change      string `json:"change"`
		Evaluated   int    `json:"evaluated"`
		Changed     int    `json:"changed"`
		Transitions []struct {
			From  *string `json:"from"`
			To    *string `json:"to"`
			Count int     `json:"count"`
		} `json:"transitions"`
		Unchanged []struct {
			Variant *string `json:"variant"`
			Count   int     `json:"count"`
		} `json:"unchanged"`
		Examples []struct {
			From    *string        `json:"from"`
			To      *string        `json:"to"`
			Index   int            `json:"index"`
			Context map[string]any `json:"context"`
		} `json:"examples"`
	} `json:"flags"`
}

// naiveSnapshot loads one flag document into a store of its own, as the
// daemon would serve it.
func naiveSnapshot(t *testing.T, path string) *store.Snapshot {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(store.Config{Sources: []string{"flags"}})
	if _, err := st.Apply(syncsources.Update{Source: "flags", Data: data, Format: evaluator.FormatForPath(path)}); err != nil {
		t.Fatal(err)
	}
	return st.Current()
}

// naiveAnswer evaluates one flag for one context as the daemon answers a
// request: the variant ("" and false for none) and the value.
func naiveAnswer(snap *store.Snapshot, key string, ctx map[string]any) (string, bool, any) {
	r := snap.Evaluate(store.Selector{}, key, evaluator.KindAny, ctx)
	if r.NoValue {
		return "", false, nil
	}
	return r.Variant, true, r.Value
}

func variantKey(v *string) string {
	if v == nil {
		return "<none>"
	}
	return *v
}

// TestDiffAgreesWithEvaluatingEachContext is the acceptance test of
// `vexil diff`: its counts are those of evaluating every context
// separately under the old and the new flags (through the daemon's store,
// one request at a time), for a rollout step (fractional weights 10 -> 30),
// a segment edit (an "in" list in $evaluators), a kill switch (state
// DISABLED), an added and a removed flag and a variant whose value
// changed; flags whose answers change for no context have no transition.
func TestDiffAgreesWithEvaluatingEachContext(t *testing.T) {
	const n = 5000
	oldPath, newPath := filepath.Join("testdata", "diff", "old.json"), filepath.Join("testdata", "diff", "new.json")
	countries := []string{"de", "fr", "it", "es", "us", "pl"}
	plans := []string{"free", "pro", "team"}
	var lines bytes.Buffer
	contexts := make([]map[string]any, n)
	for i := range n {
		c := map[string]any{"targetingKey": fmt.Sprintf("user-%d", i*7919), "country": countries[i%len(countries)], "plan": plans[(i/7)%len(plans)]}
		if i%5 == 0 {
			c["email"] = fmt.Sprintf("u%d@vexil.example", i)
		}
		if i%11 == 0 {
			delete(c, "targetingKey") // fractional then buckets by the flag key alone
		}
		contexts[i] = c
		b, _ := json.Marshal(c)
		lines.Write(b)
		lines.WriteByte('\n')
	}
	ctxPath := filepath.Join(t.TempDir(), "contexts.jsonl")
	if err := os.WriteFile(ctxPath, lines.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	args := []string{"diff", oldPath, newPath, "--contexts", ctxPath, "--output", "json", "--examples", "4"}
	if code := execute(context.Background(), args, noEnv, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var got diffJSON
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Contexts != n {
		t.Errorf("contexts = %d, want %d", got.Contexts, n)
	}

	// The naive answer: every flag of either side, every context, one at a
	// time.
	oldSnap, newSnap := naiveSnapshot(t, oldPath), naiveSnapshot(t, newPath)
	keys := map[string]bool{}
	for _, snap := range []*store.Snapshot{oldSnap, newSnap} {
		for _, f := range snap.Flags(store.Selector{}) {
			keys[f.Key()] = true
		}
	}
	type move struct{ from, to string }
	type expect struct {
		changed     int
		transitions map[move]int // changed contexts
		unchanged   map[string]int
		firsts      map[move][]int // the first indexes of each transition
	}
	want := map[string]*expect{}
	for key := range keys {
		e := &expect{transitions: map[move]int{}, unchanged: map[string]int{}, firsts: map[move][]int{}}
		want[key] = e
		for i, c := range contexts {
			ov, oOK, oVal := naiveAnswer(oldSnap, key, c)
			nv, nOK, nVal := naiveAnswer(newSnap, key, c)
			from, to := "<none>", "<none>"
			if oOK {
				from = ov
			}
			if nOK {
				to = nv
			}
			if from == to && reflect.DeepEqual(oVal, nVal) {
				e.unchanged[from]++
				continue
			}
			m := move{from, to}
			e.changed++
			e.transitions[m]++
			if len(e.firsts[m]) < 4 {
				e.firsts[m] = append(e.firsts[m], i)
			}
		}
	}

	reported := map[string]bool{}
	for _, f := range got.Flags {
		reported[f.Key] = true
		e := want[f.Key]
		if e == nil {
			t.Errorf("%s: reported, but neither side has it", f.Key)
			continue
		}
		if f.Evaluated != n || f.Changed != e.changed {
			t.Errorf("%s: evaluated %d, changed %d; want %d, %d", f.Key, f.Evaluated, f.Changed, n, e.changed)
		}
		gotMoves := map[move]int{}
		for _, tr := range f.Transitions {
			gotMoves[move{variantKey(tr.From), variantKey(tr.To)}] = tr.Count
		}
		if !reflect.DeepEqual(gotMoves, e.transitions) {
			t.Errorf("%s: transitions %v, want %v", f.Key, gotMoves, e.transitions)
		}
		gotSame := map[string]int{}
		for _, u := range f.Unchanged {
			gotSame[variantKey(u.Variant)] = u.Count
		}
		if !reflect.DeepEqual(gotSame, e.unchanged) {
			t.Errorf("%s: unchanged %v, want %v", f.Key, gotSame, e.unchanged)
		}
		gotFirsts := map[move][]int{}
		for _, ex := range f.Examples {
			m := move{variantKey(ex.From), variantKey(ex.To)}
			gotFirsts[m] = append(gotFirsts[m], ex.Index)
			if !reflect.DeepEqual(ex.Context, contexts[ex.Index]) {
				t.Errorf("%s: example %d is %v, but context %d is %v", f.Key, ex.Index, ex.Context, ex.Index, contexts[ex.Index])
			}
		}
		if !reflect.DeepEqual(gotFirsts, e.firsts) {
			t.Errorf("%s: examples %v, want the first of each transition %v", f.Key, gotFirsts, e.firsts)
		}
	}
	for key, e := range want {
		if e.changed > 0 && !reported[key] {
			t.Errorf("%s: %d contexts change, but the flag is not reported", key, e.changed)
		}
	}

	// The scenarios are what the test is about: make sure each one flips
	// someone, as its kind of change says.
	kinds := map[string]string{}
	for _, f := range got.Flags {
		kinds[f.Key] = f.Change
	}
	for key, kind := range map[string]string{
		"new-checkout":  "changed", // rollout 10 -> 30
		"beta-banner":   "changed", // segment edit
		"payments":      "changed", // kill switch
		"search-v2":     "added",
		"legacy-export": "removed",
		"theme":         "changed", // a variant's value
	} {
		if kinds[key] != kind || want[key].changed == 0 {
			t.Errorf("%s: change %q with %d contexts changing; want %q, some", key, kinds[key], want[key].changed, kind)
		}
	}
	// The rollout step moves about a fifth of the contexts from off to on,
	// and no one back.
	if e := want["new-checkout"]; e.transitions[move{"on", "off"}] != 0 || e.changed < n/10 || e.changed > n*3/10 {
		t.Errorf("new-checkout: %v; want about %d contexts from off to on", e.transitions, n/5)
	}
	if e := want["payments"]; e.changed != n {
		t.Errorf("payments: %d contexts change under the kill switch, want all %d", e.changed, n)
	}
	// A flag whose definition did not change is not reported.
	if reported["welcome"] || want["welcome"].changed != 0 {
		t.Errorf("welcome, unchanged, is reported (%v) or changes %d contexts", reported["welcome"], want["welcome"].changed)
	}
}
