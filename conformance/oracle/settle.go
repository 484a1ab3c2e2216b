package oracle

import (
	"context"
	"encoding/json"
	"time"
)

// emptySettle is how long a daemon must show no flags to be settled.
const emptySettle = 500 * time.Millisecond

// SettleWait bounds how long Settle waits for a daemon's flags.
const SettleWait = 3 * time.Second

// Settle waits until the daemon's flags have loaded: flagd answers /readyz
// before its file sources have delivered, so readiness is when the sync
// service's FetchAllFlags holds flags and the same ones on two polls 50 ms
// apart; a daemon without flags is settled once it has answered the same
// for emptySettle (and never later than SettleWait).
func Settle(ctx context.Context, c *Client) {
	start := time.Now()
	deadline := start.Add(SettleWait)
	prev := "-"
	for time.Now().Before(deadline) {
		a := c.Do(ctx, Request{Port: PortSync, Method: "FetchAllFlags"})
		cur := a.Code
		if a.Code == "OK" {
			var v struct {
				FlagConfiguration struct {
					Flags map[string]json.RawMessage `json:"flags"`
				} `json:"flagConfiguration"`
			}
			if json.Unmarshal(a.JSON, &v) == nil && len(v.FlagConfiguration.Flags) > 0 {
				cur = string(a.JSON)
			}
		}
		if cur == prev && (cur != "OK" || time.Since(start) > emptySettle) {
			return
		}
		prev = cur
		time.Sleep(50 * time.Millisecond)
	}
}

// Open starts bin (flagd or vexil) for a scenario in dir, waits until it
// has settled and returns it with a client; stop both with the returned
// function.
func Open(ctx context.Context, bin, dir string, uris []string) (*Daemon, *Client, func(), error) {
	d, err := StartDaemon(ctx, bin, dir, uris, ReadyWait)
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := NewClient(d.Ports)
	if err != nil {
		d.Stop()
		return nil, nil, nil, err
	}
	Settle(ctx, c)
	return d, c, func() { c.Close(); d.Stop() }, nil
}
