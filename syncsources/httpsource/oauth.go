package httpsource

import (
	"context"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// expiryMargin is how long before its expiry a token is renewed, so that it
// does not expire on its way to the server.
const expiryMargin = 10 * time.Second

// tokenSource caches the access token that golang.org/x/oauth2's
// client-credentials grant obtains, until shortly before it expires by
// its own clock (a test's). The grant sends the credentials with HTTP
// Basic authentication, or as form parameters when the server refuses
// that (flagd sends these), and remembers which worked.
type tokenSource struct {
	grant *clientcredentials.Config
	now   func() time.Time

	mu     sync.Mutex
	token  *oauth2.Token // nil when none is cached
	expiry time.Time     // zero: does not expire
}

// header returns the Authorization value to send, fetching a token if none
// is cached or it is about to expire. client makes the token request.
func (ts *tokenSource) header(ctx context.Context, client *http.Client) (string, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.token == nil || !ts.expiry.IsZero() && !ts.now().Before(ts.expiry.Add(-expiryMargin)) {
		tok, err := ts.grant.Token(context.WithValue(ctx, oauth2.HTTPClient, client))
		if err != nil {
			ts.token = nil
			return "", err
		}
		// The token's expiry is by the real clock: keep its lifetime.
		ts.token, ts.expiry = tok, time.Time{}
		if !tok.Expiry.IsZero() {
			ts.expiry = ts.now().Add(time.Until(tok.Expiry))
		}
	}
	return ts.token.Type() + " " + ts.token.AccessToken, nil
}

// invalidate drops the cached token.
func (ts *tokenSource) invalidate() {
	ts.mu.Lock()
	ts.token = nil
	ts.mu.Unlock()
}
