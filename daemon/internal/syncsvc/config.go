package syncsvc

import (
	"encoding/json"
	"maps"

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
// document's, null entries included (a null on the flag hides the
// document's entry), left out when empty. There is no top-level metadata.
//
// A key defined in several flag sets appears once, as in flagd's
// convertMap: the flag of the listing ([store.Snapshot.Listing]) that comes
// last, that is of the greatest flag set id, with the name of its own
// source.
func FlagConfiguration(snap *store.Snapshot, sel store.Selector) ([]byte, error) {
	listing := snap.Listing(sel)
	out := make(map[string]wireFlag, len(listing))
	for _, l := range listing {
		f := l.Flag
		dv, _ := f.DefaultVariant()
		wf := wireFlag{
			State:          f.State(),
			DefaultVariant: dv,
			Variants:       f.Variants(),
			Metadata:       storedMetadata(f.DocumentMetadata(), f.OwnMetadata()),
			Source:         l.Source,
		}
		if rule, present := f.TargetingJSON(); present {
			wf.Targeting = rule
		}
		out[f.Key()] = wf
	}
	return json.Marshal(struct {
		Flags map[string]wireFlag `json:"flags"`
	}{out})
}

// storedMetadata is a flag's metadata as flagd's store keeps it (its
// patchMetadata): the document's entries, then the flag's over them, null
// ones included, which flagd's sync payloads carry.
func storedMetadata(doc, own map[string]any) map[string]any {
	if len(own) == 0 {
		return doc
	}
	if len(doc) == 0 {
		return own
	}
	out := make(map[string]any, len(doc)+len(own))
	maps.Copy(out, doc)
	maps.Copy(out, own)
	return out
}
