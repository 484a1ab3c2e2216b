package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/vexilhq/vexil/daemon/internal/blast"
	"github.com/vexilhq/vexil/daemon/internal/store"
	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
)

// maxDiffBodyBytes bounds a POST /api/v1/diff body (the port's
// MaxRequestBodyBytes, when lower, wins).
const maxDiffBodyBytes = 64 << 20

// maxDiffExamples bounds the examples a diff request may ask for.
const maxDiffExamples = 100

// diffRequest is the body of POST /api/v1/diff.
type diffRequest struct {
	// Source names the source whose document is proposed, as /readyz
	// lists it.
	Source string `json:"source"`
	// Document is the proposed document: a JSON object (or array), or a
	// string holding its text, JSON or YAML.
	Document json.RawMessage `json:"document"`
	// Format is "json" or "yaml" for a document given as a string; empty
	// means by the source name's extension, else by its first character.
	Format string `json:"format"`
	// Contexts are the evaluation contexts, JSON objects.
	Contexts []json.RawMessage `json:"contexts"`
	// Examples is how many contexts to show per transition (default 3).
	Examples *int `json:"examples"`
}

// diffResponse is the answer: the report `vexil diff --output json`
// prints, and the warnings of the proposed document.
type diffResponse struct {
	*blast.Report
	Problems []problemJSON `json:"problems,omitempty"`
}

// diffError is the body of a 4xx answer.
type diffError struct {
	Error    string        `json:"error"`
	Problems []problemJSON `json:"problems,omitempty"`
}

// problemJSON is a problem of a document, as `vexil validate --output
// json` prints it.
type problemJSON struct {
	Severity string `json:"severity"`
	Source   string `json:"source,omitempty"`
	FlagKey  string `json:"flagKey,omitempty"`
	Pointer  string `json:"pointer"`
	Message  string `json:"message"`
}

// diffHandler serves POST /api/v1/diff: the blast radius of a proposed
// document for one source, against the flags the store serves now (see
// README, "Blast radius"). One diff runs at a time, on all cores; the
// others wait for it (or for their client to leave).
func diffHandler(st *store.Store) http.Handler {
	busy := make(chan struct{}, 1)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, status, err := readDiffRequest(w, r)
		if err != nil {
			writeDiffJSON(w, status, diffError{Error: err.Error()})
			return
		}
		u, err := req.update(st.Current())
		if err != nil {
			writeDiffJSON(w, http.StatusBadRequest, diffError{Error: err.Error()})
			return
		}
		change, err := st.Propose(u)
		if err != nil {
			var le *evaluator.LoadError
			if errors.As(err, &le) {
				writeDiffJSON(w, http.StatusUnprocessableEntity, diffError{
					Error:    "the proposed document is rejected: " + le.Error(),
					Problems: sourceProblems(change.New, req.Source),
				})
				return
			}
			writeDiffJSON(w, http.StatusBadRequest, diffError{Error: err.Error()})
			return
		}
		examples := blast.DefaultExamples
		if req.Examples != nil {
			if examples = *req.Examples; examples == 0 {
				examples = -1
			}
		}

		select {
		case busy <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		rep, err := blast.Run(r.Context(), blast.Compare(change.Old, change.New),
			&blast.Documents{Name: "contexts", Docs: req.Contexts}, blast.Config{Examples: examples})
		<-busy
		var ce *blast.ContextError
		switch {
		case errors.As(err, &ce):
			writeDiffJSON(w, http.StatusBadRequest, diffError{Error: ce.Error()})
			return
		case err != nil:
			return // the client left
		}
		writeDiffJSON(w, http.StatusOK, diffResponse{Report: rep, Problems: sourceProblems(change.New, req.Source)})
	})
}

// readDiffRequest reads and checks the body; the status goes with the
// error.
func readDiffRequest(w http.ResponseWriter, r *http.Request) (*diffRequest, int, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxDiffBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("the request body is larger than %d bytes", mbe.Limit)
		}
		return nil, http.StatusBadRequest, fmt.Errorf("reading the request body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var req diffRequest
	if err := dec.Decode(&req); err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("the request body is not a diff request: %v", err)
	}
	if dec.More() {
		return nil, http.StatusBadRequest, errors.New("the request body is not a diff request: data after the JSON object")
	}
	switch {
	case req.Source == "":
		return nil, http.StatusBadRequest, errors.New(`"source" is required: the name of the source whose document is proposed, as /readyz lists it`)
	case len(req.Document) == 0 || string(req.Document) == "null":
		return nil, http.StatusBadRequest, errors.New(`"document" is required: the proposed flag document, as a JSON object or a string`)
	case req.Examples != nil && (*req.Examples < 0 || *req.Examples > maxDiffExamples):
		return nil, http.StatusBadRequest, fmt.Errorf(`"examples" must be from 0 to %d, not %d`, maxDiffExamples, *req.Examples)
	}
	return &req, 0, nil
}

// update returns the source update the request proposes.
func (req *diffRequest) update(snap *store.Snapshot) (syncsources.Update, error) {
	known := false
	var names []string
	for _, s := range snap.Sources() {
		names = append(names, s.Name)
		known = known || s.Name == req.Source
	}
	if !known {
		return syncsources.Update{}, fmt.Errorf("unknown source %q; the daemon's sources are %s", req.Source, quoteAll(names))
	}
	u := syncsources.Update{Source: req.Source}
	var text string
	if err := json.Unmarshal(req.Document, &text); err != nil {
		// The document itself, as JSON.
		if req.Format != "" && req.Format != "json" {
			return u, fmt.Errorf(`"format" is %q, but "document" is JSON (give YAML as a string)`, req.Format)
		}
		u.Data, u.Format = req.Document, evaluator.FormatJSON
		return u, nil
	}
	u.Data = []byte(text)
	switch strings.ToLower(req.Format) {
	case "":
		u.Format = evaluator.FormatForPath(req.Source)
	case "json":
		u.Format = evaluator.FormatJSON
	case "yaml", "yml":
		u.Format = evaluator.FormatYAML
	default:
		return u, fmt.Errorf(`"format" must be json or yaml, not %q`, req.Format)
	}
	return u, nil
}

func quoteAll(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// sourceProblems returns the problems of a source's latest document in a
// snapshot.
func sourceProblems(snap *store.Snapshot, source string) []problemJSON {
	var out []problemJSON
	for _, s := range snap.Sources() {
		if s.Name != source {
			continue
		}
		for _, p := range s.Problems {
			out = append(out, problemJSON{Severity: p.Severity.String(), Source: p.Source, FlagKey: p.FlagKey, Pointer: p.Pointer, Message: p.Message})
		}
	}
	return out
}

func writeDiffJSON(w http.ResponseWriter, status int, body any) {
	data, err := json.Marshal(body)
	if err != nil {
		status = http.StatusInternalServerError
		data, _ = json.Marshal(diffError{Error: err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}
