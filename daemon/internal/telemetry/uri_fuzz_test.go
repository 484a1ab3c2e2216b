package telemetry

import (
	"os"
	"strings"
	"testing"
)

// FuzzParseURI: any collector URI gives an endpoint or an error, never a
// panic, and an accepted URI with a scheme has a host in its endpoint.
func FuzzParseURI(f *testing.F) {
	seeds, err := os.ReadFile("testdata/collector-uris.txt")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range strings.Split(strings.TrimSpace(string(seeds)), "\n") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		endpoint, _, err := parseURI(uri)
		if err == nil && strings.Contains(uri, "://") && endpoint == "" {
			t.Errorf("parseURI(%q) accepted it without a host", uri)
		}
	})
}
