package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/vexilhq/vexil/daemon/internal/resolve"
	"github.com/vexilhq/vexil/evaluator"
)

// ExplainPath is where the management port serves explanations.
const ExplainPath = "/api/v1/explain"

// maxExplainBody bounds an explain request's body, whatever
// Config.MaxRequestBodyBytes allows.
const maxExplainBody = 1 << 20

// explainHandler serves POST /api/v1/explain on the management port: the
// body {"flagKey": KEY, "context": {...}, "type": KIND} (context and type
// optional) and the Flagd-Selector header select and evaluate one flag as
// the evaluation services would (the same selector, the same merged
// context: static values and mapped headers), and the answer is the
// flag's explanation ([evaluator.Explanation] as JSON): 200, or 404 when
// the flag is not found. Bad input is a 4xx with {"errorCode",
// "errorMessage"}: 405 for another method, 415 for a body that is not
// JSON, 413 past 1 MiB, 400 for a malformed body, a context that is not an
// object, an unknown type or an invalid selector.
//
// Explanations are not evaluations the daemon serves: the resolver's
// observers (metrics, telemetry) are not told of them.
func explainHandler(r *resolve.Resolver) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			explainError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "use POST with a JSON body {\"flagKey\": ..., \"context\": {...}}")
			return
		}
		if ct := req.Header.Get("Content-Type"); ct != "" {
			if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
				explainError(w, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", fmt.Sprintf("the body must be application/json, not %q", ct))
				return
			}
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxExplainBody))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				explainError(w, http.StatusRequestEntityTooLarge, "REQUEST_TOO_LARGE", fmt.Sprintf("the body is larger than %d bytes", tooLarge.Limit))
				return
			}
			explainError(w, http.StatusBadRequest, "INVALID_REQUEST", "reading the body: "+err.Error())
			return
		}
		key, ctx, kind, msg := decodeExplainRequest(body)
		if msg != "" {
			code := "INVALID_REQUEST"
			if strings.HasPrefix(msg, "context") {
				code = evaluator.CodeInvalidContext.String()
			}
			explainError(w, http.StatusBadRequest, code, msg)
			return
		}
		sel, err := r.Selector(req.Header)
		if err != nil {
			explainError(w, http.StatusBadRequest, "INVALID_SELECTOR", "the "+resolve.SelectorHeader+" header: "+err.Error())
			return
		}
		sc := r.Scope(sel, ctx, req.Header, true)
		x := sc.Explain(key, kind)
		data, err := MarshalExplanation(x)
		if err != nil {
			// Values JSON cannot hold are shortened away; this is a bug.
			explainError(w, http.StatusInternalServerError, "GENERAL", "encoding the explanation: "+err.Error())
			return
		}
		status := http.StatusOK
		if !x.Found {
			status = http.StatusNotFound
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(append(data, '\n'))
	})
}

// decodeExplainRequest reads an explain body; msg says what is wrong
// with it.
func decodeExplainRequest(body []byte) (key string, ctx map[string]any, kind evaluator.Kind, msg string) {
	var raw struct {
		FlagKey *string         `json:"flagKey"`
		Context json.RawMessage `json:"context"`
		Type    string          `json:"type"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return "", nil, 0, "the body is not a JSON object {\"flagKey\": ..., \"context\": {...}}: " + err.Error()
	}
	if dec.More() {
		return "", nil, 0, "the body holds more than one JSON value"
	}
	if raw.FlagKey == nil || *raw.FlagKey == "" {
		return "", nil, 0, "flagKey is missing or empty"
	}
	kind, ok := evaluator.ParseKind(raw.Type)
	if !ok {
		return "", nil, 0, fmt.Sprintf("type must be boolean, string, integer, float, object or any, not %q", raw.Type)
	}
	if len(raw.Context) > 0 && !bytes.Equal(bytes.TrimSpace(raw.Context), []byte("null")) {
		if err := json.Unmarshal(raw.Context, &ctx); err != nil {
			return "", nil, 0, "context must be a JSON object: " + err.Error()
		}
	}
	if ctx == nil {
		ctx = map[string]any{}
	}
	return *raw.FlagKey, ctx, kind, ""
}

// MarshalExplanation is the JSON of an explanation as the explain
// endpoint answers it (no HTML escapes); `vexil explain` prints the same.
func MarshalExplanation(x evaluator.Explanation) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(x); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func explainError(w http.ResponseWriter, status int, code, msg string) {
	data, _ := json.Marshal(struct {
		ErrorCode    string `json:"errorCode"`
		ErrorMessage string `json:"errorMessage"`
	}{code, msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

// explainResolver is a resolver like the evaluation services' (the same
// static context and header mapping) without their observers.
func (d *Daemon) explainResolver() *resolve.Resolver {
	return resolve.New(resolve.Config{Store: d.store, StaticContext: d.cfg.StaticContext, ContextFromHeaders: d.cfg.ContextFromHeaders})
}
