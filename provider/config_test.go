package provider

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vexilhq/vexil/internal/testenv"
)

// optionFor maps a config.feature option to an Option.
func optionFor(t *testing.T, name, value string) Option {
	t.Helper()
	num := func() int {
		n, err := strconv.Atoi(value)
		if err != nil {
			t.Fatalf("option %s: %v", name, err)
		}
		return n
	}
	ms := func() time.Duration { return time.Duration(num()) * time.Millisecond }
	switch name {
	case "resolver":
		return WithResolver(Resolver(value))
	case "host":
		return WithHost(value)
	case "port":
		return WithPort(num())
	case "targetUri":
		return WithTargetURI(value)
	case "tls":
		b, err := strconv.ParseBool(value)
		if err != nil {
			t.Fatal(err)
		}
		return WithTLS(b)
	case "certPath":
		return WithCertPath(value)
	case "socketPath":
		return WithSocketPath(value)
	case "deadlineMs":
		return WithDeadline(ms())
	case "streamDeadlineMs":
		return WithStreamDeadline(ms())
	case "retryBackoffMs":
		return WithRetryBackoff(ms())
	case "retryBackoffMaxMs":
		return WithRetryBackoffMax(ms())
	case "retryGracePeriod":
		return WithRetryGracePeriod(time.Duration(num()) * time.Second)
	case "keepAliveTime":
		return WithKeepAliveTime(ms())
	case "cache":
		return WithCache(CacheType(value))
	case "maxCacheSize":
		return WithMaxCacheSize(num())
	case "selector":
		return WithSelector(value)
	case "providerId":
		return WithProviderID(value)
	case "offlineFlagSourcePath":
		return WithOfflineFlagSourcePath(value)
	case "offlinePollIntervalMs":
		return WithOfflinePollInterval(ms())
	case "fatalStatusCodes":
		return WithFatalStatusCodes(splitList(value)...)
	}
	t.Fatalf("unknown option %q", name)
	return nil
}

// configValue returns a resolved option as config.feature writes it.
func configValue(t *testing.T, c config, name string) string {
	t.Helper()
	msOf := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	switch name {
	case "resolver":
		return string(c.Resolver)
	case "host":
		return c.Host
	case "port":
		return strconv.Itoa(c.Port)
	case "targetUri":
		return c.TargetURI
	case "tls":
		return strconv.FormatBool(c.TLS)
	case "certPath":
		return c.CertPath
	case "socketPath":
		return c.SocketPath
	case "deadlineMs":
		return msOf(c.Deadline)
	case "streamDeadlineMs":
		return msOf(c.StreamDeadline)
	case "retryBackoffMs":
		return msOf(c.RetryBackoff)
	case "retryBackoffMaxMs":
		return msOf(c.RetryBackoffMax)
	case "retryGracePeriod":
		return strconv.FormatInt(int64(c.RetryGracePeriod/time.Second), 10)
	case "keepAliveTime":
		return msOf(c.KeepAlive)
	case "cache":
		return string(c.Cache)
	case "maxCacheSize":
		return strconv.Itoa(c.MaxCacheSize)
	case "selector":
		return c.Selector
	case "providerId":
		return c.ProviderID
	case "offlineFlagSourcePath":
		return c.OfflinePath
	case "offlinePollIntervalMs":
		return msOf(c.OfflinePoll)
	case "fatalStatusCodes":
		return strings.Join(c.FatalStatusCodes, ",")
	}
	t.Fatalf("unknown option %q", name)
	return ""
}

// sameValue compares a resolved value with config.feature's, by type.
func sameValue(typ, got, want string) bool {
	switch typ {
	case "Boolean":
		g, err1 := strconv.ParseBool(got)
		w, err2 := strconv.ParseBool(want)
		return err1 == nil && err2 == nil && g == w
	case "String":
		if want == "null" {
			want = ""
		}
		return got == want
	case "StringList":
		return slices.Equal(splitList(got), splitList(want))
	case "ResolverType":
		r, err := parseResolver(want)
		return err == nil && string(r) == got
	case "CacheType":
		return strings.EqualFold(got, want)
	}
	return got == want
}

// runConfigSteps runs one scenario's steps.
func runConfigSteps(t *testing.T, steps []string) {
	t.Helper()
	var (
		stepOption = regexp.MustCompile(`^an option "([^"]+)" of type "([^"]+)" with value "([^"]*)"$`)
		stepEnv    = regexp.MustCompile(`^an environment variable "([^"]+)" with value "([^"]*)"$`)
		stepInit   = regexp.MustCompile(`^a config was initialized$`)
		stepCheck  = regexp.MustCompile(`^the option "([^"]+)" of type "([^"]+)" should have the value "([^"]*)"$`)
		stepError  = regexp.MustCompile(`^we should have an error$`)
	)
	var s settings
	env := map[string]string{}
	var cfg config
	var err error
	for _, step := range steps {
		if m := stepOption.FindStringSubmatch(step); m != nil {
			optionFor(t, m[1], m[3])(&s)
		} else if m := stepEnv.FindStringSubmatch(step); m != nil {
			env[m[1]] = m[2]
		} else if stepInit.MatchString(step) {
			WithLookupEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })(&s)
			cfg, err = resolveConfig(s)
		} else if m := stepCheck.FindStringSubmatch(step); m != nil {
			if err != nil {
				t.Fatalf("config: %v", err)
			}
			if got := configValue(t, cfg, m[1]); !sameValue(m[2], got, m[3]) {
				t.Errorf("%s = %q, want %q", m[1], got, m[3])
			}
		} else if stepError.MatchString(step) {
			if err == nil {
				t.Error("no error")
			}
		} else {
			t.Fatalf("unknown step %q", step)
		}
	}
}

// TestConfigFeature runs the scenarios of the testbed's config.feature
// against resolveConfig.
func TestConfigFeature(t *testing.T) {
	path := filepath.Join(testenv.Testbed.Path(t), "gherkin", "config.feature")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	var (
		name     string
		steps    []string
		outline  bool
		header   []string
		inTable  bool
		inDoc    bool
		pending  bool // a plain scenario not yet run
		scenario int
		rows     int
	)
	run := func(label string, steps []string) {
		rows++
		t.Run(label, func(t *testing.T) { runConfigSteps(t, steps) })
	}
	flush := func() {
		if pending {
			run(name, steps)
			pending = false
		}
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, `"""`):
			inDoc = !inDoc
			continue
		case inDoc, line == "", strings.HasPrefix(line, "#"), strings.HasPrefix(line, "@"):
			continue
		}
		if strings.HasPrefix(line, "|") {
			cells := strings.Split(strings.Trim(line, "|"), "|")
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			if !inTable {
				header, inTable = cells, true
				continue
			}
			sub := make([]string, len(steps))
			for i, st := range steps {
				for j, h := range header {
					st = strings.ReplaceAll(st, "<"+h+">", cells[j])
				}
				sub[i] = st
			}
			run(name+"/"+strings.Join(cells, ","), sub)
			continue
		}
		inTable = false
		switch {
		case strings.HasPrefix(line, "Scenario Outline:"), strings.HasPrefix(line, "Scenario:"):
			flush()
			scenario++
			outline = strings.HasPrefix(line, "Scenario Outline:")
			name = strconv.Itoa(scenario) + " " + strings.TrimSpace(line[strings.Index(line, ":")+1:])
			steps = nil
			pending = !outline
		case strings.HasPrefix(line, "Scenarios:"), strings.HasPrefix(line, "Examples:"):
		case strings.HasPrefix(line, "Feature:"):
		default:
			for _, kw := range []string{"Given ", "And ", "When ", "Then ", "But "} {
				if strings.HasPrefix(line, kw) {
					steps = append(steps, strings.TrimPrefix(line, kw))
				}
			}
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if rows < 90 {
		t.Errorf("ran %d rows of config.feature; expected at least 90", rows)
	}
}

// TestConfigPrecedence checks option > environment > default without the
// testbed.
func TestConfigPrecedence(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		opts []Option
		want func(config) bool
		err  bool
	}{
		{name: "defaults", want: func(c config) bool {
			return c.Resolver == ResolverRPC && c.Host == "localhost" && c.Port == 8013 && c.Deadline == 500*time.Millisecond &&
				c.StreamDeadline == 600*time.Second && c.RetryBackoff == time.Second && c.RetryBackoffMax == 12*time.Second &&
				c.RetryGracePeriod == 5*time.Second && c.KeepAlive == 0 && c.Cache == CacheLRU && c.MaxCacheSize == 1000 &&
				c.OfflinePoll == 5*time.Second && !c.TLS && len(c.FatalStatusCodes) == 0
		}},
		{name: "in-process port", opts: []Option{WithResolver(ResolverInProcess)}, want: func(c config) bool { return c.Port == 8015 }},
		{name: "env resolver in upper case", env: map[string]string{EnvResolver: "IN-PROCESS"},
			want: func(c config) bool { return c.Resolver == ResolverInProcess && c.Port == 8015 }},
		{name: "sync port wins", env: map[string]string{EnvSyncPort: "9999", EnvPort: "8888"}, opts: []Option{WithResolver(ResolverInProcess)},
			want: func(c config) bool { return c.Port == 9999 }},
		{name: "sync port ignored by rpc", env: map[string]string{EnvSyncPort: "9999"},
			want: func(c config) bool { return c.Port == 8013 }},
		{name: "option wins", env: map[string]string{EnvPort: "1"}, opts: []Option{WithPort(2)},
			want: func(c config) bool { return c.Port == 2 }},
		{name: "offline path makes in-process file", env: map[string]string{EnvOfflinePath: "f.json"}, opts: []Option{WithResolver(ResolverInProcess)},
			want: func(c config) bool { return c.Resolver == ResolverFile }},
		{name: "file without path", opts: []Option{WithResolver(ResolverFile)}, err: true},
		{name: "bad integer", env: map[string]string{EnvDeadlineMs: "soon"}, err: true},
		{name: "bad resolver", env: map[string]string{EnvResolver: "carrier-pigeon"}, err: true},
		{name: "grace in seconds", env: map[string]string{EnvRetryGracePeriod: "7", EnvFatalStatusCodes: "UNAVAILABLE, PERMISSION_DENIED"},
			want: func(c config) bool {
				return c.RetryGracePeriod == 7*time.Second && slices.Equal(c.FatalStatusCodes, []string{"UNAVAILABLE", "PERMISSION_DENIED"})
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s settings
			for _, o := range append([]Option{WithLookupEnv(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })}, tc.opts...) {
				o(&s)
			}
			c, err := resolveConfig(s)
			if tc.err {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want(c) {
				t.Errorf("config %+v", c)
			}
		})
	}
}
