package httpsource

import (
	"strings"
	"testing"
)

func TestParseToken(t *testing.T) {
	for _, tt := range []struct {
		ctype, body string
		want        token
		ok          bool
	}{
		{"application/json", `{"access_token":"a","token_type":"bearer","expires_in":60}`, token{"a", "bearer", 60}, true},
		{"application/json", `{"access_token":"a","expires_in":"60"}`, token{"a", "", 60}, true},
		{"", `{"access_token":"a","expires_in":null}`, token{"a", "", 0}, true},
		{"application/x-www-form-urlencoded", `access_token=a&token_type=bearer&expires_in=5`, token{"a", "bearer", 5}, true},
		{"application/json", `{"token_type":"bearer"}`, token{}, false},
		{"application/json", `{"access_token":"a","expires_in":-1}`, token{}, false},
		{"application/json", `{"access_token":"a\r\nX: y"}`, token{}, false},
		{"application/json", `not json`, token{}, false},
		{"text/plain", `expires_in=x&access_token=a`, token{}, false},
	} {
		got, err := parseToken(tt.ctype, []byte(tt.body))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseToken(%q, %s) = %+v, %v; want %+v, ok=%v", tt.ctype, tt.body, got, err, tt.want, tt.ok)
		}
	}
	for typ, want := range map[string]string{"": "Bearer", "BEARER": "Bearer", "mac": "MAC", "DPoP": "DPoP"} {
		if got := (token{TokenType: typ}).tokenType(); got != want {
			t.Errorf("tokenType(%q) = %q, want %q", typ, got, want)
		}
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add("application/json", []byte(`{"access_token":"a","token_type":"bearer","expires_in":60}`))
	f.Add("application/x-www-form-urlencoded", []byte(`access_token=a&expires_in=5`))
	f.Add("", []byte(`{"access_token":"a","expires_in":"1e3"}`))
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		tok, err := parseToken(ctype, body)
		if err != nil {
			return
		}
		if tok.AccessToken == "" || tok.ExpiresIn < 0 {
			t.Fatalf("accepted %+v", tok)
		}
		if strings.ContainsAny(tok.AccessToken+tok.tokenType(), "\r\n") {
			t.Fatalf("header injection: %+v", tok)
		}
	})
}
