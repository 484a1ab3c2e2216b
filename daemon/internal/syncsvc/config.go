package syncsvc

import (
	"encoding/json"

	"github.com/vexilhq/vexil/daemon/internal/store"
)

// wireFlag is one flag of flag_configuration, with the members, in the
// order, flagd's model.Flag marshals (core/pkg/model/flag.go; its key is
// left out by its MarshalJSON).
type wireFlag struct {
	State          string         `json:"state"`
	DefaultVariant string         `json:"defaultVariant"`
	Variants       map[string]any `json:"variants"`
	// Targeting is present whenever the flag has a "targeting" member,
	// even null or {}: flagd keeps it as a json.RawMessage.
	Targeting json.RawMessage `json:"targeting,omitempty"`
	Source    string          `json:"source"`
	Metadata  map[string]any  `json:"metadata,omitempty"`
}

// FlagConfiguration returns the flag_configuration of SyncFlags and
// FetchAllFlags for the snapshot's flags that the selector sees, as
// flagd's generateResponse marshals them with encoding/json:
//
//	{"flags": {key: {"state", "defaultVariant", "variants", "targeting"?, "source", "metadata"?}}}
//
// with every object's keys sorted (flagd decodes documents into maps, and
// normalizes targeting by a round trip through one), "<", ">" and "&"
// escaped, "defaultVariant" "" when the flag has none, "variants" null
// when it has none, "targeting" only when the flag has the member (with
// each $ref replaced by its evaluator), "source" the name of the source
// that serves the flag, and "metadata" the flag's metadata over its
// document's, null entries included, left out when empty. There is no top-level metadata.
//
// A key defined in several flag sets appears once: without a selector as
// the flag a lookup of the key sees (the highest-priority source's);
// flagd keeps whichever sorts last by flag set id.
func FlagConfiguration(snap *store.Snapshot, sel store.Selector) ([]byte, error) {
	flags := snap.Flags(sel)
	out := make(map[string]wireFlag, len(flags))
	for _, f := range flags {
		key := f.Key()
		if _, done := out[key]; done {
			continue
		}
		dv, _ := f.DefaultVariant()
		wf := wireFlag{
			State:          f.State(),
			DefaultVariant: dv,
			Variants:       f.Variants(),
			Metadata:       f.WrittenMetadata(),
		}
		wf.Source, _ = snap.FlagSource(sel, key)
		if rule, present := f.TargetingJSON(); present {
			wf.Targeting = rule
		}
		out[key] = wf
	}
	return json.Marshal(struct {
		Flags map[string]wireFlag `json:"flags"`
	}{out})
}
