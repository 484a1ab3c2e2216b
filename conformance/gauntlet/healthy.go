package gauntlet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// goodDoc is the good document of a generation: flag "gauntlet" answers
// "gen-N".
func goodDoc(gen int64) []byte {
	return fmt.Appendf(nil, `{"flags":{"gauntlet":{"state":"ENABLED","variants":{"v":"gen-%d","w":"other"},"defaultVariant":"v"},`+
		`"gauntlet-bool":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on"}}}`, gen)
}

// httpDoc is the HTTP source's document: flag "http-flag" answers value.
func httpDoc(value string) []byte {
	return fmt.Appendf(nil, `{"flags":{"http-flag":{"state":"ENABLED","variants":{"a":%q},"defaultVariant":"a"}}}`, value)
}

// WriteGood writes generation gen's good document to the file source.
func (e *Env) WriteGood(gen int64) error {
	if err := writeAtomic(e.FlagFile, goodDoc(gen)); err != nil {
		return err
	}
	e.gen.Store(gen)
	return nil
}

// Gen is the generation of the good document last written.
func (e *Env) Gen() int64 { return e.gen.Load() }

// AwaitServed waits until the evaluation port answers flag "gauntlet"
// with generation gen (polling every 20 ms), or ctx ends.
func (e *Env) AwaitServed(ctx context.Context, gen int64) error {
	want := fmt.Sprintf("gen-%d", gen)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last string
	var lastErr error
	for {
		last, lastErr = e.Evaluate(ctx, "gauntlet")
		if lastErr == nil && last == want {
			return nil
		}
		if err := e.Daemon.Alive(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("flag gauntlet: want %q, last answer %q (%v): %w", want, last, lastErr, ctx.Err())
		case <-tick.C:
		}
	}
}

// Evaluate resolves a string flag over Connect JSON on the evaluation port.
func (e *Env) Evaluate(ctx context.Context, key string) (string, error) {
	body, err := e.post(ctx, "http://"+e.Daemon.Addrs.Evaluation+"/flagd.evaluation.v1.Service/ResolveString",
		fmt.Appendf(nil, `{"flagKey":%q,"context":{"targetingKey":"healthy"}}`, key))
	if err != nil {
		return "", err
	}
	var r struct{ Value string }
	if err := json.Unmarshal(body, &r); err != nil {
		return "", fmt.Errorf("ResolveString answer %q: %w", body, err)
	}
	return r.Value, nil
}

// Healthy checks that a healthy client is served on every port: the
// current generation over Connect and OFREP, /healthz, and the sync port
// (a FetchAllFlags over gRPC).
func (e *Env) Healthy(ctx context.Context) error {
	if err := e.Daemon.Alive(); err != nil {
		return err
	}
	want := fmt.Sprintf("gen-%d", e.Gen())
	if v, err := e.Evaluate(ctx, "gauntlet"); err != nil || v != want {
		return fmt.Errorf("evaluation port: %q, %v (want %q)", v, err, want)
	}
	body, err := e.post(ctx, "http://"+e.Daemon.Addrs.OFREP+"/ofrep/v1/evaluate/flags/gauntlet", []byte(`{"context":{"targetingKey":"healthy"}}`))
	if err != nil {
		return fmt.Errorf("OFREP port: %w", err)
	}
	var r struct{ Value string }
	if json.Unmarshal(body, &r) != nil || r.Value != want {
		return fmt.Errorf("OFREP port: %s (want value %q)", body, want)
	}
	if _, err := get(ctx, "http://"+e.Daemon.Addrs.Management+"/healthz", nil); err != nil {
		return fmt.Errorf("management port: %w", err)
	}
	if err := fetchAll(ctx, e.Daemon.Addrs.Sync, want); err != nil {
		return fmt.Errorf("sync port: %w", err)
	}
	return nil
}

// post POSTs a JSON body with the healthy client and returns the body of
// a 200 answer.
func (e *Env) post(ctx context.Context, url string, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.healthy.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST %s: %s: %s", url, resp.Status, out)
	}
	return out, nil
}
