package httpsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// expiryMargin is how long before its expiry a token is renewed, so that it
// does not expire on its way to the server.
const expiryMargin = 10 * time.Second

// maxTokenResponse bounds a token endpoint's answer.
const maxTokenResponse = 1 << 20

// Ways of sending the client credentials to the token endpoint (RFC 6749
// section 2.3.1): HTTP Basic authentication, which servers must support, or
// form parameters, which some only support (flagd sends these).
const (
	styleUnknown = iota // try Basic, then parameters
	styleBasic
	styleParams
)

// tokenSource obtains and caches an access token by the client-credentials
// grant.
type tokenSource struct {
	cfg OAuthConfig
	now func() time.Time

	mu     sync.Mutex
	auth   string    // the Authorization value; "" when none is cached
	expiry time.Time // zero: does not expire
	style  int
}

// header returns the Authorization value to send, fetching a token if none
// is cached or it is about to expire. client makes the token request.
func (ts *tokenSource) header(ctx context.Context, client *http.Client) (string, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.auth != "" && (ts.expiry.IsZero() || ts.now().Before(ts.expiry.Add(-expiryMargin))) {
		return ts.auth, nil
	}
	ts.auth = ""
	style := ts.style
	if style == styleUnknown {
		style = styleBasic
	}
	tok, err := ts.request(ctx, client, style)
	if err != nil && ts.style == styleUnknown && errors.As(err, new(*rejectedError)) {
		// The server may not take Basic credentials: try parameters.
		style = styleParams
		tok, err = ts.request(ctx, client, style)
	}
	if err != nil {
		return "", err
	}
	ts.style = style
	ts.auth = tok.tokenType() + " " + tok.AccessToken
	ts.expiry = time.Time{}
	if tok.ExpiresIn > 0 {
		ts.expiry = ts.now().Add(time.Duration(tok.ExpiresIn) * time.Second)
	}
	return ts.auth, nil
}

// invalidate drops the cached token.
func (ts *tokenSource) invalidate() {
	ts.mu.Lock()
	ts.auth = ""
	ts.mu.Unlock()
}

// token is a token endpoint's successful answer (RFC 6749 section 5.1).
type token struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// tokenType is the Authorization scheme for the token.
func (t token) tokenType() string {
	switch strings.ToLower(t.TokenType) {
	case "", "bearer":
		return "Bearer"
	case "mac":
		return "MAC"
	case "basic":
		return "Basic"
	}
	return t.TokenType
}

// rejectedError is a token endpoint's refusal (a 4xx).
type rejectedError struct {
	status string
	body   string
}

func (e *rejectedError) Error() string {
	if e.body == "" {
		return "OAuth token request rejected: " + e.status
	}
	return fmt.Sprintf("OAuth token request rejected: %s: %s", e.status, e.body)
}

func (ts *tokenSource) request(ctx context.Context, client *http.Client, style int) (token, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(ts.cfg.Scopes) > 0 {
		form.Set("scope", strings.Join(ts.cfg.Scopes, " "))
	}
	if style == styleParams {
		form.Set("client_id", ts.cfg.ClientID)
		form.Set("client_secret", ts.cfg.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return token{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if style == styleBasic {
		// RFC 6749 section 2.3.1: both form-encoded before Basic encoding.
		req.SetBasicAuth(url.QueryEscape(ts.cfg.ClientID), url.QueryEscape(ts.cfg.ClientSecret))
	}
	resp, err := client.Do(req)
	if err != nil {
		return token{}, fmt.Errorf("OAuth token request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse))
	if err != nil {
		return token{}, fmt.Errorf("OAuth token request: reading the answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		snippet := strings.TrimSpace(string(body))
		if len(snippet) > 200 {
			snippet = snippet[:200]
		}
		if resp.StatusCode >= 400 && resp.StatusCode < 500 {
			return token{}, &rejectedError{status: resp.Status, body: snippet}
		}
		return token{}, fmt.Errorf("OAuth token request: %s", resp.Status)
	}
	tok, err := parseToken(resp.Header.Get("Content-Type"), body)
	if err != nil {
		return token{}, fmt.Errorf("OAuth token request: %w", err)
	}
	return tok, nil
}

// parseToken decodes a token endpoint's answer: JSON, or the form encoding
// some servers answer with.
func parseToken(contentType string, body []byte) (token, error) {
	var tok token
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/x-www-form-urlencoded" || mt == "text/plain" {
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return token{}, err
		}
		tok.AccessToken = v.Get("access_token")
		tok.TokenType = v.Get("token_type")
		if e := v.Get("expires_in"); e != "" {
			if tok.ExpiresIn, err = strconv.ParseInt(e, 10, 64); err != nil {
				return token{}, fmt.Errorf("invalid expires_in %q", e)
			}
		}
	} else {
		// expires_in is a number, but some servers send a string.
		var raw struct {
			AccessToken string          `json:"access_token"`
			TokenType   string          `json:"token_type"`
			ExpiresIn   json.RawMessage `json:"expires_in"`
		}
		if err := json.Unmarshal(body, &raw); err != nil {
			return token{}, fmt.Errorf("decoding the answer: %w", err)
		}
		tok.AccessToken, tok.TokenType = raw.AccessToken, raw.TokenType
		if len(raw.ExpiresIn) > 0 && string(raw.ExpiresIn) != "null" {
			s := strings.Trim(string(raw.ExpiresIn), `"`)
			f, err := strconv.ParseFloat(s, 64)
			if err != nil || f < 0 || f > 1e12 {
				return token{}, fmt.Errorf("invalid expires_in %s", raw.ExpiresIn)
			}
			tok.ExpiresIn = int64(f)
		}
	}
	if tok.AccessToken == "" {
		return token{}, errors.New("the answer has no access_token")
	}
	if strings.ContainsAny(tok.AccessToken, "\r\n") || strings.ContainsAny(tok.TokenType, "\r\n ") {
		return token{}, errors.New("the answer's token is not a valid header value")
	}
	return tok, nil
}
