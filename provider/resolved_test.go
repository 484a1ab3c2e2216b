package provider

import (
	"testing"
	"time"
)

func TestResolveConfig(t *testing.T) {
	env := map[string]string{EnvPort: "1234", EnvRetryGracePeriod: "7"}
	c, err := ResolveConfig(WithLookupEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }),
		WithResolver(ResolverInProcess))
	if err != nil {
		t.Fatal(err)
	}
	if c.Resolver != ResolverInProcess || c.Port != 1234 || c.RetryGracePeriod != 7*time.Second {
		t.Errorf("got %+v", c)
	}
	if _, err := ResolveConfig(WithResolver(ResolverFile), WithLookupEnv(nil)); err == nil {
		t.Error("file resolver without a path: no error")
	}
}
