package main

import (
	"cmp"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vexilhq/vexil/daemon"
)

// envOf is an environment holding exactly m.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// parseStart parses start's arguments and resolves its options, as the
// command does before it runs the daemon.
func parseStart(args []string, env map[string]string) (startSettings, error) {
	cmd := newStartCmd(envOf(env))
	if err := cmd.Flags().Parse(args); err != nil {
		return startSettings{}, err
	}
	return startConfig(cmd.Flags(), envOf(env))
}

// defaultConfig is the daemon.Config of `vexil start` with no options.
func defaultConfig() daemon.Config {
	return daemon.Config{
		Port:                  8013,
		ManagementPort:        8014,
		SyncPort:              8015,
		OFREPPort:             8016,
		MaxRequestBodyBytes:   1_000_000,
		MaxRequestHeaderBytes: 1_000_000,
		OpenTelemetry:         daemon.OpenTelemetryConfig{ReloadInterval: time.Hour},
	}
}

func fileURIs(uris ...string) []daemon.SourceSpec {
	specs := make([]daemon.SourceSpec, len(uris))
	for i, u := range uris {
		specs[i] = daemon.SourceSpec{URI: u}
	}
	return specs
}

const cfgDir = "testdata/config/"

func TestStartConfig(t *testing.T) {
	cases := []struct {
		name      string
		args      []string
		env       map[string]string
		want      func(c *daemon.Config)
		logFormat string // "" means console
		debug     bool
		warnings  []string
	}{
		{name: "defaults", want: func(*daemon.Config) {}},
		{
			name: "every flag, long",
			args: []string{
				"--port", "1", "--management-port", "2", "--sync-port", "3", "--ofrep-port", "4",
				"--bind-address", "127.0.0.1", "--uri", "file:a.json", "--uri", "file:b.json,file:c.json",
				"--sources", `[{"uri":"d.json","provider":"file"}]`,
				"--context-value", "tier=gold", "--context-value", "n=1,empty=",
				"--context-from-header", "X-User=user", "--cors-origin", "https://a.example", "--cors-origin", "*",
				"--server-cert-path", "c.pem", "--server-key-path", "k.pem",
				"--socket-path", "/tmp/e.sock", "--sync-socket-path", "/tmp/s.sock",
				"--log-format", "json", "--debug", "--strict",
				"--max-request-body", "0", "--max-request-header", "2048", "--stream-deadline", "1m",
				"--disable-sync-metadata", "--keep-alive-min-time", "1s", "--keep-alive-permit-without-stream=false",
				"--metrics-exporter", "otel", "--otel-collector-uri", "https://collector:4317", "--otel-cert-path", "oc.pem",
				"--otel-key-path", "ok.pem", "--otel-ca-path", "ca.pem", "--otel-reload-interval", "5m", "--disable-native-grpc",
			},
			want: func(c *daemon.Config) {
				c.Port, c.ManagementPort, c.SyncPort, c.OFREPPort = 1, 2, 3, 4
				c.BindAddress = "127.0.0.1"
				c.Sources = append(fileURIs("file:a.json", "file:b.json", "file:c.json"), daemon.SourceSpec{URI: "d.json", Provider: "file"})
				c.StaticContext = map[string]any{"tier": "gold", "n": "1", "empty": ""}
				c.ContextFromHeaders = map[string]string{"X-User": "user"}
				c.CORSOrigins = []string{"https://a.example", "*"}
				c.TLSCertPath, c.TLSKeyPath = "c.pem", "k.pem"
				c.SocketPath, c.SyncSocketPath = "/tmp/e.sock", "/tmp/s.sock"
				c.Strict = true
				c.MaxRequestBodyBytes, c.MaxRequestHeaderBytes = 0, 2048
				c.StreamDeadline = time.Minute
				c.DisableSyncMetadata = true
				c.DisableNativeGRPC = true
				c.OpenTelemetry = daemon.OpenTelemetryConfig{Metrics: true, CollectorURI: "https://collector:4317",
					CertPath: "oc.pem", KeyPath: "ok.pem", CAPath: "ca.pem", ReloadInterval: 5 * time.Minute}
			},
			logFormat: "json",
			debug:     true,
		},
		{
			name: "every flag, short",
			args: []string{
				"-p", "1", "-m", "2", "-g", "3", "-r", "4", "-f", "file:a.json", "-s", `[{"uri":"d.json","provider":"file"}]`,
				"-X", "tier=gold", "-H", "X-User=user", "-C", "*", "-c", "c.pem", "-k", "k.pem",
				"-d", "/tmp/e.sock", "-e", "/tmp/s.sock", "-z", "json", "-x", "-B", "5", "-R", "6", "-t", "Prometheus",
			},
			want: func(c *daemon.Config) {
				c.Port, c.ManagementPort, c.SyncPort, c.OFREPPort = 1, 2, 3, 4
				c.Sources = []daemon.SourceSpec{{URI: "file:a.json"}, {URI: "d.json", Provider: "file"}}
				c.StaticContext = map[string]any{"tier": "gold"}
				c.ContextFromHeaders = map[string]string{"X-User": "user"}
				c.CORSOrigins = []string{"*"}
				c.TLSCertPath, c.TLSKeyPath = "c.pem", "k.pem"
				c.SocketPath, c.SyncSocketPath = "/tmp/e.sock", "/tmp/s.sock"
				c.MaxRequestBodyBytes, c.MaxRequestHeaderBytes = 5, 6
			},
			logFormat: "json",
			debug:     true,
		},
		{
			name: "sources, every field",
			args: []string{"-s", `[
				{"uri":"https://flags.example/a.json","provider":"http","authHeader":"Bearer t","headers":{"X-Team":"a","X-Env":"prod"},
				 "interval":30,"timeoutS":5,"certPath":"/ca.pem","oauth":{"clientID":"id","clientSecret":"s","tokenUrl":"https://auth.example/token"}},
				{"uri":"flags.example:8015","provider":"grpc","selector":"flagSetId=a","providerID":"p1","tls":true,"maxMsgSize":1024,"incrementalUpdates":false},
				{"URI":"b.json","PROVIDER":"file","intervalseed":""}]`},
			want: func(c *daemon.Config) {
				c.Sources = []daemon.SourceSpec{
					{
						URI: "https://flags.example/a.json", Provider: "http", AuthHeader: "Bearer t",
						Headers:  map[string]string{"X-Team": "a", "X-Env": "prod"},
						Interval: 30 * time.Second, Timeout: 5 * time.Second, CertPath: "/ca.pem",
						OAuth: &daemon.OAuthSpec{ClientID: "id", ClientSecret: "s", TokenURL: "https://auth.example/token"},
					},
					{URI: "flags.example:8015", Provider: "grpc", Selector: "flagSetId=a", ProviderID: "p1", TLS: true, MaxMsgSize: 1024},
					{URI: "b.json", Provider: "file"},
				}
			},
		},
		{
			name: "sources, ignored fields warn",
			args: []string{"-s", `[{"uri":"https://a.example/f.json","provider":"http","intervalSeed":"pod-1",
				"oauth":{"clientID":"id","clientSecret":"s","tokenUrl":"https://auth.example/token","reloadDelayS":60}}]`},
			want: func(c *daemon.Config) {
				c.Sources = []daemon.SourceSpec{{URI: "https://a.example/f.json", Provider: "http",
					OAuth: &daemon.OAuthSpec{ClientID: "id", ClientSecret: "s", TokenURL: "https://auth.example/token"}}}
			},
			warnings: []string{
				"--sources: entry 0: intervalSeed is ignored (Vexil does not offset the polling schedule)",
				"--sources: entry 0: oauth.reloadDelayS is ignored (tokens are renewed when they expire)",
			},
		},
		{
			name: "sources, deprecated bearerToken",
			args: []string{"-s", `[{"uri":"https://a.example/f.json","provider":"http","bearerToken":"t1"},
				{"uri":"https://b.example/f.json","provider":"http","bearerToken":"t2","authHeader":"Basic dTpw"}]`},
			want: func(c *daemon.Config) {
				c.Sources = []daemon.SourceSpec{
					{URI: "https://a.example/f.json", Provider: "http", AuthHeader: "Bearer t1"},
					{URI: "https://b.example/f.json", Provider: "http", AuthHeader: "Basic dTpw"},
				}
			},
			warnings: []string{
				`--sources: entry 0: bearerToken is deprecated: write "authHeader": "Bearer TOKEN" instead`,
				"--sources: entry 1: bearerToken is deprecated and ignored: authHeader is set",
			},
		},
		{
			// flagd ignores fields it does not know without a word.
			name: "sources, unknown fields warn",
			args: []string{"-s", `[{"uri":"a.json","provider":"file","pollInterval":5,"Zone":"x"},
				{"uri":"https://b.example/f.json","provider":"http","oauth":{"clientID":"id","clientSecret":"s","tokenUrl":"https://t.example","scope":"x"}}]`},
			want: func(c *daemon.Config) {
				c.Sources = []daemon.SourceSpec{{URI: "a.json", Provider: "file"}, {URI: "https://b.example/f.json", Provider: "http",
					OAuth: &daemon.OAuthSpec{ClientID: "id", ClientSecret: "s", TokenURL: "https://t.example"}}}
			},
			warnings: []string{
				`--sources: entry 0: unknown fields "Zone", "pollInterval" (the fields are ` + sourceFields + `), ignored as flagd ignores it (refused under --strict)`,
				`--sources: entry 1: oauth: unknown field "scope" (the fields are clientID, clientSecret, tokenUrl, folder, reloadDelayS), ignored as flagd ignores it (refused under --strict)`,
			},
		},
		{name: "empty sources", args: []string{"-s", " []"}, want: func(*daemon.Config) {}},
		{
			name: "environment",
			env: map[string]string{
				"FLAGD_PORT": "9013", "FLAGD_MANAGEMENT_PORT": " 9014", "FLAGD_URI": "file:a.json file:b.json,file:c.json",
				"FLAGD_SOURCES":             `[{"uri":"d.json","provider":"file","selector":"s"}]`,
				"FLAGD_CONTEXT_VALUE":       `{"UserTier":"gold","n":1,"on":true}`,
				"FLAGD_CONTEXT_FROM_HEADER": "X-A=a,X-B=b", "FLAGD_CORS_ORIGIN": "https://a.example, https://b.example",
				"FLAGD_LOG_FORMAT": "json", "FLAGD_DEBUG": "true", "FLAGD_MAX_REQUEST_BODY": "0", "FLAGD_MAX_REQUEST_HEADER": "100",
				"FLAGD_STREAM_DEADLINE": "30s", "FLAGD_DISABLE_SYNC_METADATA": "1", "FLAGD_STRICT": "TRUE",
				"FLAGD_BIND_ADDRESS": "::1", "FLAGD_SERVER_CERT_PATH": "c.pem", "FLAGD_SERVER_KEY_PATH": "k.pem",
				"FLAGD_SOCKET_PATH": "/e.sock", "FLAGD_SYNC_SOCKET_PATH": "/s.sock", "FLAGD_KEEP_ALIVE_MIN_TIME": "5s",
				"FLAGD_KEEP_ALIVE_PERMIT_WITHOUT_STREAM": "false", "FLAGD_METRICS_EXPORTER": "prometheus",
				"FLAGD_OTEL_COLLECTOR_URI": "", "OTHER_PORT": "1", "PORT": "2", "FLAGD_OFREP_SSE_ENABLED": "true",
			},
			want: func(c *daemon.Config) {
				c.Port, c.ManagementPort = 9013, 9014
				c.Sources = append(fileURIs("file:a.json", "file:b.json", "file:c.json"), daemon.SourceSpec{URI: "d.json", Provider: "file", Selector: "s"})
				c.StaticContext = map[string]any{"UserTier": "gold", "n": "1", "on": "true"}
				c.ContextFromHeaders = map[string]string{"X-A": "a", "X-B": "b"}
				c.CORSOrigins = []string{"https://a.example", "https://b.example"}
				c.MaxRequestBodyBytes, c.MaxRequestHeaderBytes = 0, 100
				c.StreamDeadline = 30 * time.Second
				c.DisableSyncMetadata, c.Strict = true, true
				c.OFREPEventStreams = true
				c.BindAddress = "::1"
				c.TLSCertPath, c.TLSKeyPath = "c.pem", "k.pem"
				c.SocketPath, c.SyncSocketPath = "/e.sock", "/s.sock"
			},
			logFormat: "json",
			debug:     true,
		},
		{
			name: "flag over environment over file over default",
			args: []string{"--config", cfgDir + "precedence.yaml", "-p", "3001", "-X", "from=flag"},
			env: map[string]string{
				"FLAGD_PORT": "2001", "FLAGD_MANAGEMENT_PORT": "2002", "FLAGD_URI": "file:from-env.json",
				"FLAGD_CONTEXT_VALUE": "from=env,other=env",
			},
			want: func(c *daemon.Config) {
				c.Port = 3001           // flag, over env and file
				c.ManagementPort = 2002 // env, over file
				c.SyncPort = 1003       // file
				// OFREPPort: the default
				c.Sources = fileURIs("file:from-env.json")       // env replaces the file's list
				c.StaticContext = map[string]any{"from": "flag"} // the flag replaces the whole map
			},
			logFormat: "json", // file
		},
		{
			name: "a flag set to its default still wins",
			args: []string{"--config", cfgDir + "precedence.yaml", "-p", "8013", "-z", "console"},
			env:  map[string]string{"FLAGD_PORT": "2001"},
			want: func(c *daemon.Config) {
				c.ManagementPort, c.SyncPort = 1002, 1003
				c.Sources = fileURIs("file:from-file.json")
				c.StaticContext = map[string]any{"from": "file"}
			},
		},
		{
			name: "YAML config file",
			args: []string{"--config", cfgDir + "full.yaml"},
			want: func(c *daemon.Config) {
				c.Port, c.ManagementPort, c.SyncPort, c.OFREPPort = 9013, 9014, 9015, 9016
				c.BindAddress = "127.0.0.1"
				c.Sources = append(fileURIs("file:a.json", "file:b.yaml"),
					daemon.SourceSpec{
						URI: "https://flags.example/flags.json", Provider: "http", AuthHeader: "Bearer t0ken",
						Headers:  map[string]string{"x-team": "checkout"}, // viper lowercases; header names are case-insensitive
						Interval: 30 * time.Second, Timeout: 5 * time.Second, CertPath: "/etc/ssl/ca.pem",
						OAuth: &daemon.OAuthSpec{ClientID: "id", ClientSecret: "secret", TokenURL: "https://auth.example/token"},
					},
					daemon.SourceSpec{URI: "flags.example:8015", Provider: "grpc", Selector: "flagSetId=checkout", ProviderID: "vexil-1", TLS: true, MaxMsgSize: 5242880},
				)
				c.StaticContext = map[string]any{"UserTier": "gold", "region": "eu"} // the keys keep their case
				c.ContextFromHeaders = map[string]string{"X-User-Id": "userId"}
				c.CORSOrigins = []string{"https://app.example"}
				c.TLSCertPath, c.TLSKeyPath = "/etc/vexil/tls.crt", "/etc/vexil/tls.key"
				c.Strict = true
				c.MaxRequestBodyBytes, c.MaxRequestHeaderBytes = 0, 4096
				c.StreamDeadline = 10 * time.Minute
				c.DisableSyncMetadata = true
			},
			logFormat: "json",
			debug:     true,
		},
		{
			name: "JSON config file",
			args: []string{"--config", cfgDir + "full.json"},
			want: func(c *daemon.Config) {
				c.Port = 9013
				c.Sources = []daemon.SourceSpec{{URI: "file:a.json"}, {URI: "b.json", Provider: "file"}}
				c.StaticContext = map[string]any{"UserTier": "gold", "level": "3"}
				c.CORSOrigins = []string{"https://a.example", "https://b.example"}
				c.StreamDeadline = 90 * time.Second
				c.MaxRequestBodyBytes = 2048
			},
		},
		{name: "config file .yml", args: []string{"--config", cfgDir + "short.yml"}, want: func(c *daemon.Config) { c.Port = 9013 }},
		{name: "empty config file", args: []string{"--config", cfgDir + "empty.yaml"}, want: func(*daemon.Config) {}},
		{
			name: "a unix socket frees its port",
			args: []string{"-d", "/tmp/e.sock", "-p", "8014", "-e", "/tmp/s.sock", "-g", "8016"},
			want: func(c *daemon.Config) {
				c.Port, c.SyncPort = 8014, 8016
				c.SocketPath, c.SyncSocketPath = "/tmp/e.sock", "/tmp/s.sock"
			},
		},
		{
			name: "port 0 for every service",
			args: []string{"-p", "0", "-m", "0", "-g", "0", "-r", "0"},
			want: func(c *daemon.Config) { c.Port, c.ManagementPort, c.SyncPort, c.OFREPPort = 0, 0, 0, 0 },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseStart(tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			want := defaultConfig()
			tc.want(&want)
			if !reflect.DeepEqual(s.daemon, want) {
				t.Errorf("config:\n got %+v\nwant %+v", s.daemon, want)
			}
			if lf := cmp.Or(tc.logFormat, "console"); s.logFormat != lf {
				t.Errorf("log format %q, want %q", s.logFormat, lf)
			}
			if s.debug != tc.debug {
				t.Errorf("debug %v, want %v", s.debug, tc.debug)
			}
			if !slices.Equal(s.warnings, tc.warnings) {
				t.Errorf("warnings:\n got %q\nwant %q", s.warnings, tc.warnings)
			}
		})
	}
}

// TestStartConfigErrors: every way start's options are refused, with its
// message. All are usage errors (exit code 2).
func TestStartConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		// Ports.
		{"port above range", []string{"-p", "70000"}, nil, "--port: 70000 is not a port number (0 to 65535; 0 picks a free port)"},
		{"negative port from env", nil, map[string]string{"FLAGD_OFREP_PORT": "-1"}, "--ofrep-port (FLAGD_OFREP_PORT): -1 is not a port number (0 to 65535; 0 picks a free port)"},
		{"port not a number", nil, map[string]string{"FLAGD_PORT": "abc"}, `--port (FLAGD_PORT): "abc" is not a whole number`},
		{"port in file not a number", []string{"--config", cfgDir + "bad-port.yaml"}, nil, `--port (port in testdata/config/bad-port.yaml): "nine" is not a whole number`},
		{"two services on one port", []string{"-p", "9000", "-m", "9000"}, nil, "--port and --management-port are both 9000: each service needs its own port"},
		{"a port taken by a default", nil, map[string]string{"FLAGD_SYNC_PORT": "8013"}, "--port (the default) and --sync-port (FLAGD_SYNC_PORT) are both 8013: each service needs its own port"},
		{"ofrep on the sync port", []string{"-r", "8015"}, nil, "--sync-port (the default) and --ofrep-port are both 8015: each service needs its own port"},
		// TLS and sockets.
		{"certificate without key", []string{"-c", "c.pem"}, nil, "--server-cert-path needs --server-key-path: TLS takes a certificate and its key"},
		{"key without certificate", nil, map[string]string{"FLAGD_SERVER_KEY_PATH": "k.pem"}, "--server-key-path (FLAGD_SERVER_KEY_PATH) needs --server-cert-path: TLS takes a certificate and its key"},
		{"one socket for two services", []string{"-d", "/tmp/v.sock", "-e", "/tmp/v.sock"}, nil, "--socket-path and --sync-socket-path are the same socket: each service needs its own"},
		// Limits and durations.
		{"negative body limit", []string{"-B", "-1"}, nil, "--max-request-body: -1 is negative (0 disables the limit)"},
		{"negative header limit", []string{"-R", "-5"}, nil, "--max-request-header: -5 is negative (0 means Go's default of 1 MiB)"},
		{"negative stream deadline", []string{"--stream-deadline", "-1s"}, nil, "--stream-deadline: -1s is negative (0 means no deadline)"},
		{"negative keepalive", []string{"--keep-alive-min-time", "-1s"}, nil, "--keep-alive-min-time: -1s is negative"},
		{"duration without unit", []string{"--config", cfgDir + "bad-deadline.yaml"}, nil, "--stream-deadline (stream-deadline in testdata/config/bad-deadline.yaml): 30 is not a duration: give a unit, such as 30s"},
		{"duration not a duration", nil, map[string]string{"FLAGD_STREAM_DEADLINE": "soon"}, `--stream-deadline (FLAGD_STREAM_DEADLINE): "soon" is not a duration, such as 30s or 5m`},
		{"bool not a bool", nil, map[string]string{"FLAGD_STRICT": "maybe"}, `--strict (FLAGD_STRICT): "maybe" is not true or false`},
		// Log format, metrics, OpenTelemetry.
		{"log format", []string{"-z", "xml"}, nil, `--log-format must be console or json, not "xml"`},
		{"log format from env", nil, map[string]string{"FLAGD_LOG_FORMAT": "text"}, `--log-format (FLAGD_LOG_FORMAT) must be console or json, not "text"`},
		{"metrics exporter unknown", []string{"-t", "statsd"}, nil, `--metrics-exporter must be prometheus or otel, not "statsd"`},
		{"otel certificate without key", nil, map[string]string{"FLAGD_OTEL_CERT_PATH": "c.pem"}, "--otel-cert-path (FLAGD_OTEL_CERT_PATH) needs --otel-key-path: mTLS takes a certificate and its key"},
		{"otel key without certificate", []string{"-K", "k.pem"}, nil, "--otel-key-path needs --otel-cert-path: mTLS takes a certificate and its key"},
		{"otel reload interval zero", []string{"-I", "0s"}, nil, "--otel-reload-interval: 0s is not positive"},
		// Maps.
		{"context value not KEY=VALUE", nil, map[string]string{"FLAGD_CONTEXT_VALUE": "a=1,novalue"}, `--context-value (FLAGD_CONTEXT_VALUE): "novalue" is not KEY=VALUE`},
		{"context value bad JSON", nil, map[string]string{"FLAGD_CONTEXT_VALUE": `{"a":`}, "--context-value (FLAGD_CONTEXT_VALUE): not a JSON object of strings: unexpected end of JSON input"},
		{"context value nested", []string{"--config", cfgDir + "bad-context.yaml"}, nil, `--context-value (context-value in testdata/config/bad-context.yaml): the value of "nested" must be a string, not map[a:b]`},
		// The config file.
		{"config file missing", []string{"--config", cfgDir + "missing.yaml"}, nil, "--config testdata/config/missing.yaml: cannot read it: no such file or directory"},
		{"config file of another type", []string{"--config", cfgDir + "config.toml"}, nil, "--config testdata/config/config.toml: the config file must be YAML (.yaml, .yml) or JSON (.json)"},
		{"config file invalid YAML", []string{"--config", cfgDir + "invalid.yaml"}, nil, "--config testdata/config/invalid.yaml: not valid YAML: yaml: line 1: did not find expected ',' or ']'"},
		{"config file invalid JSON", []string{"--config", cfgDir + "invalid.json"}, nil, "--config testdata/config/invalid.json: not valid JSON: invalid character '}' looking for beginning of object key string"},
		{"config file unknown keys", []string{"--config", cfgDir + "unknown-keys.yaml"}, nil, `--config testdata/config/unknown-keys.yaml: unknown keys "prot", "uris" (the keys are the long option names: ` +
			"bind-address, context-from-header, context-value, cors-origin, debug, disable-native-grpc, disable-sync-metadata, fractional-cbor, keep-alive-min-time, keep-alive-permit-without-stream, " +
			"log-format, management-port, max-request-body, max-request-header, metrics-exporter, ofrep-port, ofrep-sse-enabled, otel-ca-path, otel-cert-path, otel-collector-uri, " +
			"otel-key-path, otel-reload-interval, port, server-cert-path, server-key-path, socket-path, sources, stream-deadline, strict, sync-port, sync-socket-path, uri)"},
		// --sources.
		{"sources not JSON", []string{"-s", "file:a.json"}, nil, `--sources: not a JSON array of source objects, such as [{"uri":"flags.json","provider":"file"}]: invalid character 'i' in literal false (expecting 'a')`},
		{"sources an object", []string{"-s", `{"uri":"a.json","provider":"file"}`}, nil, `--sources: not a JSON array of source objects, such as [{"uri":"flags.json","provider":"file"}]: json: cannot unmarshal object into Go value of type []json.RawMessage`},
		{"sources an object in the file", []string{"--config", cfgDir + "sources-object.yaml"}, nil, "--sources (sources in testdata/config/sources-object.yaml): want a JSON array of source objects, not map[provider:file uri:a.json]"},
		{"sources entry not an object", nil, map[string]string{"FLAGD_SOURCES": `[{"uri":"a","provider":"file"},"b.json"]`}, `--sources (FLAGD_SOURCES): entry 1: must be a JSON object, not "b.json"`},
		{"sources entry null", []string{"-s", `[null]`}, nil, `--sources: entry 0: must be a JSON object, not null`},
		{"sources without uri", []string{"-s", `[{"provider":"file"}]`}, nil, `--sources: entry 0: "uri" is required (every entry has "uri" and "provider")`},
		{"sources without provider", []string{"--config", cfgDir + "sources-no-provider.yaml"}, nil, `--sources (sources in testdata/config/sources-no-provider.yaml): entry 0: "provider" is required (every entry has "uri" and "provider")`},
		{"sources unknown field, strict", []string{"--strict", "-s", `[{"uri":"a","provider":"file"},{"uri":"b","provider":"file","pollInterval":5}]`}, nil, `--sources: entry 1: unknown field "pollInterval" (the fields are ` +
			sourceFields + ") (refused under --strict; flagd ignores it)"},
		{"sources negative interval", []string{"-s", `[{"uri":"a","provider":"http","interval":-1}]`}, nil, "--sources: entry 0: interval must be a whole number of seconds, 0 or more, not -1"},
		{"sources string tls", []string{"-s", `[{"uri":"a","provider":"grpc","tls":"yes"}]`}, nil, `--sources: entry 0: tls must be true or false, not "yes"`},
		{"sources headers not strings", []string{"-s", `[{"uri":"a","provider":"http","headers":{"X-N":1}}]`}, nil, `--sources: entry 0: headers must be an object of strings, not {"X-N":1}`},
		{"sources negative timeout", []string{"-s", `[{"uri":"a","provider":"http","timeoutS":-2}]`}, nil, "--sources: entry 0: timeoutS must be 0 or more, not -2"},
		{"sources negative message size", []string{"-s", `[{"uri":"a","provider":"grpc","maxMsgSize":-2}]`}, nil, "--sources: entry 0: maxMsgSize must be 0 or more, not -2"},
		{"sources incremental updates", []string{"-s", `[{"uri":"a","provider":"grpc","incrementalUpdates":true}]`}, nil, "--sources: entry 0: incrementalUpdates (experimental in flagd) is not supported: each update replaces the source's flags"},
		{"sources oauth folder", []string{"-s", `[{"uri":"a","provider":"http","oauth":{"folder":"/secrets"}}]`}, nil, "--sources: entry 0: oauth.folder is not supported: give clientID, clientSecret and tokenUrl in the entry"},
		{"sources oauth incomplete", []string{"-s", `[{"uri":"a","provider":"http","oauth":{"clientID":"id"}}]`}, nil, "--sources: entry 0: oauth needs clientID, clientSecret and tokenUrl"},
		{"sources oauth unknown field, strict", []string{"--strict", "-s", `[{"uri":"a","provider":"http","oauth":{"clientID":"id","clientSecret":"s","tokenUrl":"t","scope":"x"}}]`}, nil, `--sources: entry 0: oauth: unknown field "scope" (the fields are clientID, clientSecret, tokenUrl, folder, reloadDelayS) (refused under --strict; flagd ignores it)`},
		{"sources oauth wrong type", []string{"-s", `[{"uri":"a","provider":"http","oauth":{"reloadDelayS":"1m"}}]`}, nil, `--sources: entry 0: oauth.reloadDelayS must be a whole number of seconds, not "1m"`},
		{"sources oauth not an object", []string{"-s", `[{"uri":"a","provider":"http","oauth":true}]`}, nil, "--sources: entry 0: oauth must be an object, not true"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseStart(tc.args, tc.env)
			if err == nil {
				t.Fatalf("no error, want %s", tc.want)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("error:\n got %s\nwant %s", got, tc.want)
			}
			var exit *exitError
			if !errors.As(err, &exit) || exit.code != 2 {
				t.Errorf("error %#v is not a usage error (exit code 2)", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("the message spans lines")
			}
		})
	}
}

// sourceFields lists the fields of a --sources entry, as messages do.
const sourceFields = "uri, provider, selector, providerID, authHeader, headers, interval, intervalSeed, tls, certPath, timeoutS, maxMsgSize, incrementalUpdates, oauth, bearerToken"
