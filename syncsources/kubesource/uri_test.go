package kubesource_test

import (
	"strings"
	"testing"

	"github.com/vexilhq/vexil/syncsources/kubesource"
)

func TestFromURI(t *testing.T) {
	for _, tc := range []struct {
		uri      string
		ns, name string // empty: FromURI fails
		newFails bool   // FromURI accepts it, New rejects the names
	}{
		{uri: "core.openfeature.dev/default/my-flags", ns: "default", name: "my-flags"},
		{uri: "CORE.OpenFeature.dev/prod/flags.v2", ns: "prod", name: "flags.v2"},
		{uri: "default/my-flags", ns: "default", name: "my-flags"}, // flagd's provider "kubernetes" form
		{uri: "core.openfeature.dev/default/my_example", ns: "default", name: "my_example", newFails: true},
		{uri: "core.openfeature.dev/Default/flags", ns: "Default", name: "flags", newFails: true},
		{uri: "core.openfeature.dev/a.b/flags", ns: "a.b", name: "flags", newFails: true},
		{uri: "core.openfeature.dev/default/" + strings.Repeat("x", 254), ns: "default", name: strings.Repeat("x", 254), newFails: true},
		{uri: "core.openfeature.dev/default"},
		{uri: "core.openfeature.dev/"},
		{uri: "core.openfeature.dev/default/"},
		{uri: "core.openfeature.dev//flags"},
		{uri: "core.openfeature.dev/a/b/c"},
		{uri: "default"},
		{uri: ""},
	} {
		cfg, err := kubesource.FromURI(tc.uri)
		if tc.ns == "" {
			if err == nil {
				t.Errorf("FromURI(%q) = %+v, want an error", tc.uri, cfg)
			}
			continue
		}
		// flagd names the source NAMESPACE/NAME.
		if err != nil || cfg.Namespace != tc.ns || cfg.Name != tc.name || cfg.SourceName != tc.ns+"/"+tc.name {
			t.Errorf("FromURI(%q) = %+v, %v; want %s/%s", tc.uri, cfg, err, tc.ns, tc.name)
			continue
		}
		cfg.RESTConfig = testRESTConfig
		s, err := kubesource.New(cfg)
		if (err != nil) != tc.newFails {
			t.Errorf("New(FromURI(%q)) error = %v, want error: %v", tc.uri, err, tc.newFails)
		}
		if err == nil && s.Name() != tc.ns+"/"+tc.name {
			t.Errorf("New(FromURI(%q)).Name() = %q", tc.uri, s.Name())
		}
	}
}

func FuzzFromURI(f *testing.F) {
	for _, s := range []string{"core.openfeature.dev/default/flags", "default/flags", "core.openfeature.dev/a/b/c", "", "/", "core.openfeature.dev//"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		cfg, err := kubesource.FromURI(uri)
		if err != nil {
			return
		}
		if cfg.Namespace == "" || cfg.Name == "" || strings.Contains(cfg.Namespace, "/") || strings.Contains(cfg.Name, "/") {
			t.Fatalf("FromURI(%q) = %+v", uri, cfg)
		}
		if cfg.SourceName != cfg.Namespace+"/"+cfg.Name {
			t.Fatalf("FromURI(%q).SourceName = %q", uri, cfg.SourceName)
		}
		if !strings.HasSuffix(uri, cfg.Namespace+"/"+cfg.Name) {
			t.Fatalf("FromURI(%q) = %s/%s, not the end of the URI", uri, cfg.Namespace, cfg.Name)
		}
		cfg.RESTConfig = testRESTConfig
		if s, err := kubesource.New(cfg); err == nil && s.Name() != cfg.SourceName {
			t.Fatalf("Name() = %q, want %q", s.Name(), cfg.SourceName)
		}
	})
}
