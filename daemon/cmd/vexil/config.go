package main

// The options of vexil start: their flags, their FLAGD_* environment
// variables and their keys in a --config file, resolved into a
// daemon.Config.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/vexilhq/vexil/daemon"
)

// envPrefix is the prefix of the environment variables that set start's
// options, as flagd's: --management-port is FLAGD_MANAGEMENT_PORT.
const envPrefix = "FLAGD_"

// configFlag names the config file; it has no environment variable and no
// key of its own.
const configFlag = "config"

// optKind is the type of an option's value.
type optKind int

const (
	kindInt optKind = iota
	kindInt64
	kindString
	kindBool
	kindDuration
	kindStrings   // a list of strings
	kindStringMap // string keys to string values
)

// option is one option of vexil start: its flag (--name, -short), its
// environment variable and its config-file key.
type option struct {
	name  string
	short string
	kind  optKind
	def   any
	usage string
}

// Option names, used where the code refers to one.
const (
	optPort                = "port"
	optManagementPort      = "management-port"
	optSyncPort            = "sync-port"
	optOFREPPort           = "ofrep-port"
	optBindAddress         = "bind-address"
	optURI                 = "uri"
	optSources             = "sources"
	optContextValue        = "context-value"
	optContextFromHeader   = "context-from-header"
	optCORSOrigin          = "cors-origin"
	optServerCertPath      = "server-cert-path"
	optServerKeyPath       = "server-key-path"
	optSocketPath          = "socket-path"
	optSyncSocketPath      = "sync-socket-path"
	optLogFormat           = "log-format"
	optDebug               = "debug"
	optStrict              = "strict"
	optFractionalCBOR      = "fractional-cbor"
	optMaxRequestBody      = "max-request-body"
	optMaxRequestHeader    = "max-request-header"
	optStreamDeadline      = "stream-deadline"
	optDisableSyncMetadata = "disable-sync-metadata"
	optDisableNativeGRPC   = "disable-native-grpc"
	optKeepAliveMinTime    = "keep-alive-min-time"
	optKeepAliveNoStream   = "keep-alive-permit-without-stream"
	optMetricsExporter     = "metrics-exporter"
	optOtelCollectorURI    = "otel-collector-uri"
	optOtelCertPath        = "otel-cert-path"
	optOtelKeyPath         = "otel-key-path"
	optOtelCAPath          = "otel-ca-path"
	optOtelReloadInterval  = "otel-reload-interval"
)

// Defaults that differ from the zero value, as flagd's.
const (
	defaultMaxRequestBytes = 1_000_000
	defaultKeepAliveMin    = 30 * time.Second
	defaultOtelReload      = time.Hour
)

// noOtel is what the OpenTelemetry options say when given.
const noOtel = "Vexil does not export to OpenTelemetry: it serves Prometheus metrics at /metrics " +
	"on the management port (an OpenTelemetry Collector can scrape them with its prometheus receiver)"

// startOptions are vexil start's options, in the order of its help.
func startOptions() []option {
	return []option{
		{optPort, "p", kindInt, daemon.DefaultPort, "port for the evaluation services (flagd.evaluation.v1/v2 over Connect, gRPC, gRPC-Web)"},
		{optManagementPort, "m", kindInt, daemon.DefaultManagementPort, "port for /healthz, /readyz, grpc.health.v1 and /metrics"},
		{optSyncPort, "g", kindInt, daemon.DefaultSyncPort, "port for the flag sync service (flagd.sync.v1, for in-process providers)"},
		{optOFREPPort, "r", kindInt, daemon.DefaultOFREPPort, "port for OFREP (/ofrep/v1/evaluate/flags)"},
		{optBindAddress, "", kindString, "", "address to listen on (default: all interfaces)"},
		{optURI, "f", kindStrings, []string{}, "flag source URI, such as file:flags.json (repeatable or comma-separated; later sources win)"},
		{optSources, "s", kindString, "", `flag sources as a JSON array of objects with "uri" and "provider" and flagd's source options; they come after the --uri sources`},
		{optContextValue, "X", kindStringMap, map[string]string{}, "KEY=VALUE set in every evaluation context (repeatable or comma-separated)"},
		{optContextFromHeader, "H", kindStringMap, map[string]string{}, "HEADER=KEY: copy request header HEADER into the evaluation context as KEY (repeatable)"},
		{optCORSOrigin, "C", kindStrings, []string{}, "origin allowed to call the evaluation and OFREP ports from a browser; * allows any (repeatable)"},
		{optServerCertPath, "c", kindString, "", "TLS certificate (PEM) for the evaluation, sync and OFREP ports; needs --server-key-path"},
		{optServerKeyPath, "k", kindString, "", "TLS private key (PEM) for --server-cert-path"},
		{optSocketPath, "d", kindString, "", "serve the evaluation services on this unix socket instead of --port"},
		{optSyncSocketPath, "e", kindString, "", "serve the sync service on this unix socket instead of --sync-port"},
		{optLogFormat, "z", kindString, "console", "log format: console or json"},
		{optDebug, "x", kindBool, false, "log at debug level"},
		{optStrict, "", kindBool, false, "reject flag documents with the problems flagd only warns about"},
		{optFractionalCBOR, "", kindBool, false, "bucket \"fractional\" with the CBOR-hashed algorithm (the testbed's fractional-v3) instead of flagd's"},
		{optMaxRequestBody, "B", kindInt64, int64(defaultMaxRequestBytes), "largest request body in bytes (larger: 413 for OFREP, resource_exhausted for Connect and gRPC); 0 disables the limit"},
		{optMaxRequestHeader, "R", kindInt64, int64(defaultMaxRequestBytes), "largest request header in bytes (larger: 431); 0 means Go's default of 1 MiB"},
		{optStreamDeadline, "", kindDuration, time.Duration(0), "end every event and sync stream this long after it opened; 0 means never"},
		{optDisableSyncMetadata, "", kindBool, false, "turn off the sync service's GetMetadata"},
		{optDisableNativeGRPC, "", kindBool, false, "serve gRPC clients' connections to the evaluation port with connect-go like the others, not with grpc-go (for proxies that mix gRPC and other requests on one HTTP/2 connection)"},
		{optKeepAliveMinTime, "", kindDuration, defaultKeepAliveMin, "accepted for flagd compatibility; Vexil's sync server accepts client keepalive pings at any rate"},
		{optKeepAliveNoStream, "", kindBool, true, "accepted for flagd compatibility; Vexil's sync server accepts keepalive pings also without an open stream"},
		{optMetricsExporter, "t", kindString, "", "metrics exporter: prometheus (the default and only one: /metrics on the management port); otel is not supported"},
		{optOtelCollectorURI, "o", kindString, "", "not supported (flagd's OpenTelemetry collector); Vexil serves Prometheus metrics instead"},
		{optOtelCertPath, "D", kindString, "", "not supported (flagd's OpenTelemetry collector TLS certificate)"},
		{optOtelKeyPath, "K", kindString, "", "not supported (flagd's OpenTelemetry collector TLS key)"},
		{optOtelCAPath, "A", kindString, "", "not supported (flagd's OpenTelemetry collector CA certificate)"},
		{optOtelReloadInterval, "I", kindDuration, defaultOtelReload, "not supported (flagd's OpenTelemetry certificate reload interval)"},
	}
}

// addStartFlags defines start's flags on fs.
func addStartFlags(fs *pflag.FlagSet) {
	for _, o := range startOptions() {
		switch o.kind {
		case kindInt:
			fs.IntP(o.name, o.short, o.def.(int), o.usage)
		case kindInt64:
			fs.Int64P(o.name, o.short, o.def.(int64), o.usage)
		case kindString:
			fs.StringP(o.name, o.short, o.def.(string), o.usage)
		case kindBool:
			fs.BoolP(o.name, o.short, o.def.(bool), o.usage)
		case kindDuration:
			fs.DurationP(o.name, o.short, o.def.(time.Duration), o.usage)
		case kindStrings:
			fs.StringSliceP(o.name, o.short, o.def.([]string), o.usage)
		case kindStringMap:
			fs.StringToStringP(o.name, o.short, o.def.(map[string]string), o.usage)
		}
	}
	fs.String(configFlag, "", "config file (.yaml, .yml or .json) whose keys are the long option names")
}

// envName is the environment variable of an option.
func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, "-", "_"))
}

// startSettings are start's resolved options.
type startSettings struct {
	// daemon is the daemon's configuration, without its Logger.
	daemon    daemon.Config
	logFormat string
	debug     bool
	// configFile is the --config file read, if any.
	configFile string
	// warnings are options accepted but ignored, to log once the logger
	// exists.
	warnings []string

	metricsExporter    string
	otel               map[string]string // otel-* option → value, when set
	otelReloadInterval time.Duration
	keepAliveMinTime   time.Duration
	maxRequestHeader   int64

	// origin says where each option's value came from, for messages.
	origin map[string]string
}

// describe names an option and, unless it was given as a flag, where its
// value came from: "--port", "--port (FLAGD_PORT)".
func (s *startSettings) describe(key string) string {
	return describeOption(s.origin, key)
}

func describeOption(origin map[string]string, key string) string {
	o := origin[key]
	if o == "" || o == "--"+key {
		return "--" + key
	}
	return "--" + key + " (" + o + ")"
}

// startConfig resolves start's options: a flag given on the command line
// wins over its FLAGD_* environment variable (looked up with getenv), which
// wins over the --config file, which wins over the default. The flags must
// have been parsed. Errors are usage errors (exit code 2).
func startConfig(fs *pflag.FlagSet, getenv func(string) (string, bool)) (startSettings, error) {
	s, err := resolveStart(fs, getenv)
	if err == nil {
		err = validateStart(&s)
	}
	if err != nil {
		return startSettings{}, &exitError{code: 2, err: err}
	}
	return s, nil
}

// resolver looks options up through one viper instance, which layers the
// flags, the environment and the config file. It keeps the first error.
type resolver struct {
	v          *viper.Viper
	fs         *pflag.FlagSet
	configFile string
	configData []byte
	origin     map[string]string
	err        error
}

func resolveStart(fs *pflag.FlagSet, getenv func(string) (string, bool)) (startSettings, error) {
	opts := startOptions()
	r := &resolver{v: viper.New(), fs: fs, origin: map[string]string{}}

	// The config file first: its keys are checked before the flags are
	// bound, while AllKeys lists only the file's.
	if path, _ := fs.GetString(configFlag); path != "" {
		if err := r.readConfig(path, opts); err != nil {
			return startSettings{}, err
		}
	}
	for _, o := range opts {
		f := fs.Lookup(o.name)
		if err := r.v.BindPFlag(o.name, f); err != nil {
			return startSettings{}, fmt.Errorf("--%s: %v", o.name, err)
		}
		if f.Changed {
			r.origin[o.name] = "--" + o.name
			continue
		}
		if val, ok := getenv(envName(o.name)); ok {
			// Viper reads only the process's environment: the variable
			// is set as an override, which is safe for an option whose
			// flag was not given, and puts it above the config file.
			r.v.Set(o.name, val)
			r.origin[o.name] = envName(o.name)
		} else if r.v.InConfig(o.name) {
			r.origin[o.name] = o.name + " in " + r.configFile
		} else {
			r.origin[o.name] = "the default"
		}
	}

	s := startSettings{configFile: r.configFile, origin: r.origin, otel: map[string]string{}}
	d := &s.daemon
	d.Port = int(r.int(optPort))
	d.ManagementPort = int(r.int(optManagementPort))
	d.SyncPort = int(r.int(optSyncPort))
	d.OFREPPort = int(r.int(optOFREPPort))
	d.BindAddress = r.str(optBindAddress)
	for _, u := range r.strs(optURI) {
		d.Sources = append(d.Sources, daemon.SourceSpec{URI: u})
	}
	specs, warnings := r.sources()
	d.Sources = append(d.Sources, specs...)
	s.warnings = append(s.warnings, warnings...)
	if m := r.strMap(optContextValue); len(m) > 0 {
		d.StaticContext = make(map[string]any, len(m))
		for k, v := range m {
			d.StaticContext[k] = v
		}
	}
	if m := r.strMap(optContextFromHeader); len(m) > 0 {
		d.ContextFromHeaders = m
	}
	if origins := r.strs(optCORSOrigin); len(origins) > 0 {
		d.CORSOrigins = origins
	}
	d.TLSCertPath = r.str(optServerCertPath)
	d.TLSKeyPath = r.str(optServerKeyPath)
	d.SocketPath = r.str(optSocketPath)
	d.SyncSocketPath = r.str(optSyncSocketPath)
	s.logFormat = r.str(optLogFormat)
	s.debug = r.bool(optDebug)
	d.Strict = r.bool(optStrict)
	d.FractionalCBOR = r.bool(optFractionalCBOR)
	d.MaxRequestBodyBytes = r.int(optMaxRequestBody)
	s.maxRequestHeader = r.int(optMaxRequestHeader)
	d.StreamDeadline = r.duration(optStreamDeadline)
	d.DisableSyncMetadata = r.bool(optDisableSyncMetadata)
	d.DisableNativeGRPC = r.bool(optDisableNativeGRPC)
	s.keepAliveMinTime = r.duration(optKeepAliveMinTime)
	r.bool(optKeepAliveNoStream) // checked, and nothing to do
	s.metricsExporter = r.str(optMetricsExporter)
	for _, key := range []string{optOtelCollectorURI, optOtelCertPath, optOtelKeyPath, optOtelCAPath} {
		if v := r.str(key); v != "" {
			s.otel[key] = v
		}
	}
	s.otelReloadInterval = r.duration(optOtelReloadInterval)
	if r.err != nil {
		return startSettings{}, r.err
	}
	return s, nil
}

// readConfig reads the config file into the viper instance and rejects
// keys that are not options.
func (r *resolver) readConfig(path string, opts []option) error {
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	if ext != "yaml" && ext != "yml" && ext != "json" {
		return fmt.Errorf("--config %s: the config file must be YAML (.yaml, .yml) or JSON (.json)", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config %s: cannot read it: %v", path, readError(err))
	}
	r.v.SetConfigType(ext)
	if err := r.v.ReadConfig(bytes.NewReader(data)); err != nil {
		var perr viper.ConfigParseError
		if errors.As(err, &perr) {
			err = errors.Unwrap(perr)
		}
		return fmt.Errorf("--config %s: not valid %s: %v", path, map[string]string{"yaml": "YAML", "yml": "YAML", "json": "JSON"}[ext], err)
	}
	known := make([]string, len(opts))
	for i, o := range opts {
		known[i] = o.name
	}
	var unknown []string
	for _, k := range r.v.AllKeys() {
		top, _, _ := strings.Cut(k, ".")
		if !slices.Contains(known, top) && !slices.Contains(unknown, top) {
			unknown = append(unknown, top)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		slices.Sort(known)
		return fmt.Errorf("--config %s: unknown %s %s (the keys are the long option names: %s)",
			path, keysWord(len(unknown)), quoteList(unknown), strings.Join(known, ", "))
	}
	r.configFile = path
	r.configData = data
	return nil
}

func keysWord(n int) string {
	if n == 1 {
		return "key"
	}
	return "keys"
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

// fail records a problem with an option's value.
func (r *resolver) fail(key, format string, args ...any) {
	if r.err != nil {
		return
	}
	r.err = fmt.Errorf("%s: %s", describeOption(r.origin, key), fmt.Sprintf(format, args...))
}

// The getters convert the layered value, whatever its source gave: a
// flag's value, an environment variable's string, a config file's YAML or
// JSON value.

func (r *resolver) int(key string) int64 {
	switch v := r.v.Get(key).(type) {
	case int:
		return int64(v)
	case int64:
		return v
	case int32:
		return int64(v)
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v)
		}
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<62 {
			return int64(v)
		}
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err == nil {
			return n
		}
		r.fail(key, "%q is not a whole number", v)
		return 0
	}
	r.fail(key, "%v is not a whole number", r.v.Get(key))
	return 0
}

func (r *resolver) str(key string) string {
	switch v := r.v.Get(key).(type) {
	case string:
		return v
	case nil:
		return ""
	case int, int64, float64, bool:
		return fmt.Sprint(v)
	default:
		r.fail(key, "want a string, not %v", v)
		return ""
	}
}

func (r *resolver) bool(key string) bool {
	switch v := r.v.Get(key).(type) {
	case bool:
		return v
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err == nil {
			return b
		}
		r.fail(key, "%q is not true or false", v)
		return false
	default:
		r.fail(key, "%v is not true or false", v)
		return false
	}
}

func (r *resolver) duration(key string) time.Duration {
	switch v := r.v.Get(key).(type) {
	case time.Duration:
		return v
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err == nil {
			return d
		}
		if n, nerr := strconv.ParseFloat(strings.TrimSpace(v), 64); nerr == nil && n == 0 {
			return 0
		}
		r.fail(key, "%q is not a duration, such as 30s or 5m", v)
		return 0
	case int, int64, float64:
		if fmt.Sprint(v) == "0" {
			return 0
		}
		r.fail(key, "%v is not a duration: give a unit, such as %vs", v, v)
		return 0
	default:
		r.fail(key, "%v is not a duration, such as 30s or 5m", v)
		return 0
	}
}

// strs reads a list of strings. A string (from an environment variable or
// the config file) is split at commas and white space, so that both
// FLAGD_URI="file:a.json,file:b.json" and flagd's space-separated form work.
func (r *resolver) strs(key string) []string {
	var out []string
	switch v := r.v.Get(key).(type) {
	case nil:
	case []string:
		out = v
	case string:
		out = strings.FieldsFunc(v, func(c rune) bool { return c == ',' || unicode.IsSpace(c) })
	case []any:
		for _, e := range v {
			switch e := e.(type) {
			case string:
				out = append(out, e)
			case int, int64, float64, bool:
				out = append(out, fmt.Sprint(e))
			default:
				r.fail(key, "want a list of strings, not %v", v)
				return nil
			}
		}
	default:
		r.fail(key, "want a list of strings, not %v", v)
	}
	return out
}

// strMap reads a map of strings. A string (from an environment variable
// or the config file) is a JSON object, as flagd reads it, or
// KEY=VALUE pairs separated by commas, as the flag takes them.
func (r *resolver) strMap(key string) map[string]string {
	raw := r.v.Get(key)
	if strings.HasSuffix(r.origin[key], " in "+r.configFile) {
		// Viper lowercases the keys of the maps in a config file; the
		// context's keys are case-sensitive, so the file's own are read.
		raw = r.configValue(key)
	}
	out := map[string]string{}
	fromObject := func(m map[string]any) map[string]string {
		for k, e := range m {
			switch e := e.(type) {
			case string:
				out[k] = e
			case int, int64, float64, bool:
				out[k] = fmt.Sprint(e)
			case nil:
				out[k] = ""
			default:
				r.fail(key, "the value of %q must be a string, not %v", k, e)
				return nil
			}
		}
		return out
	}
	switch v := raw.(type) {
	case nil:
	case map[string]any:
		return fromObject(v)
	case map[string]string:
		return v
	case string:
		s := strings.TrimSpace(v)
		if strings.HasPrefix(s, "{") {
			var m map[string]any
			if err := json.Unmarshal([]byte(s), &m); err != nil {
				r.fail(key, "not a JSON object of strings: %v", err)
				return nil
			}
			return fromObject(m)
		}
		for pair := range strings.SplitSeq(s, ",") {
			if pair = strings.TrimSpace(pair); pair == "" {
				continue
			}
			k, val, ok := strings.Cut(pair, "=")
			if !ok {
				r.fail(key, "%q is not KEY=VALUE", pair)
				return nil
			}
			out[k] = val
		}
	default:
		r.fail(key, "want KEY=VALUE pairs or an object, not %v", v)
		return nil
	}
	return out
}

// configValue is a key's value in the config file with the case of its
// nested keys kept.
func (r *resolver) configValue(key string) any {
	var m map[string]any
	if err := yaml.Unmarshal(r.configData, &m); err != nil { // JSON is YAML too
		return r.v.Get(key)
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return r.v.Get(key)
}

// sourceEntry is one --sources entry, with flagd's field names (its
// SourceConfig).
type sourceEntry struct {
	URI                string
	Provider           string
	Selector           string
	ProviderID         string
	AuthHeader         string
	Headers            map[string]string
	Interval           uint32
	IntervalSeed       string
	TLS                bool
	CertPath           string
	TimeoutS           int
	MaxMsgSize         int
	IncrementalUpdates bool
	OAuth              map[string]json.RawMessage
}

// entryField is a field of a --sources entry: its JSON name, what its
// value must be, and where it is decoded to.
type entryField struct {
	name string
	want string
	dst  func(e *sourceEntry) any
}

func sourceFields() []entryField {
	return []entryField{
		{"uri", "a string", func(e *sourceEntry) any { return &e.URI }},
		{"provider", "a string", func(e *sourceEntry) any { return &e.Provider }},
		{"selector", "a string", func(e *sourceEntry) any { return &e.Selector }},
		{"providerID", "a string", func(e *sourceEntry) any { return &e.ProviderID }},
		{"authHeader", "a string", func(e *sourceEntry) any { return &e.AuthHeader }},
		{"headers", "an object of strings", func(e *sourceEntry) any { return &e.Headers }},
		{"interval", "a whole number of seconds, 0 or more", func(e *sourceEntry) any { return &e.Interval }},
		{"intervalSeed", "a string", func(e *sourceEntry) any { return &e.IntervalSeed }},
		{"tls", "true or false", func(e *sourceEntry) any { return &e.TLS }},
		{"certPath", "a string", func(e *sourceEntry) any { return &e.CertPath }},
		{"timeoutS", "a whole number of seconds", func(e *sourceEntry) any { return &e.TimeoutS }},
		{"maxMsgSize", "a whole number of bytes", func(e *sourceEntry) any { return &e.MaxMsgSize }},
		{"incrementalUpdates", "true or false", func(e *sourceEntry) any { return &e.IncrementalUpdates }},
		{"oauth", "an object", func(e *sourceEntry) any { return &e.OAuth }},
	}
}

// oauthFields are the fields of a --sources entry's "oauth", as flagd's.
var oauthFieldNames = [...]string{"clientID", "clientSecret", "tokenUrl", "folder", "reloadDelayS"}

// sources reads --sources: a JSON array (from the flag, FLAGD_SOURCES or a
// string in the config file) or a list of objects in the config file.
// Field names match as flagd's do, whatever their case. It returns the
// warnings for the fields that are accepted and ignored.
func (r *resolver) sources() ([]daemon.SourceSpec, []string) {
	var data []byte
	switch v := r.v.Get(optSources).(type) {
	case nil:
		return nil, nil
	case string:
		if strings.TrimSpace(v) == "" {
			return nil, nil
		}
		data = []byte(v)
	case []any:
		var err error
		if data, err = json.Marshal(v); err != nil {
			r.fail(optSources, "want a list of source objects: %v", err)
			return nil, nil
		}
	default:
		r.fail(optSources, "want a JSON array of source objects, not %v", v)
		return nil, nil
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(data, &entries); err != nil {
		r.fail(optSources, `not a JSON array of source objects, such as [{"uri":"flags.json","provider":"file"}]: %v`, err)
		return nil, nil
	}
	var specs []daemon.SourceSpec
	var warnings []string
	for i, raw := range entries {
		spec, warns, err := decodeSource(raw)
		if err != nil {
			r.fail(optSources, "entry %d: %v", i, err)
			return nil, nil
		}
		for _, w := range warns {
			warnings = append(warnings, fmt.Sprintf("%s: entry %d: %s", describeOption(r.origin, optSources), i, w))
		}
		specs = append(specs, spec)
	}
	return specs, warnings
}

// decodeSource decodes one --sources entry into a SourceSpec.
func decodeSource(raw json.RawMessage) (daemon.SourceSpec, []string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return daemon.SourceSpec{}, nil, fmt.Errorf("must be a JSON object, not %s", raw)
	}
	fields := sourceFields()
	var e sourceEntry
	for _, k := range sortedKeys(obj) {
		i := slices.IndexFunc(fields, func(f entryField) bool { return strings.EqualFold(f.name, k) })
		if i < 0 {
			names := make([]string, len(fields))
			for j, f := range fields {
				names[j] = f.name
			}
			return daemon.SourceSpec{}, nil, fmt.Errorf("unknown field %q (the fields are %s)", k, strings.Join(names, ", "))
		}
		f := fields[i]
		if err := json.Unmarshal(obj[k], f.dst(&e)); err != nil {
			return daemon.SourceSpec{}, nil, fmt.Errorf("%s must be %s, not %s", f.name, f.want, obj[k])
		}
	}
	switch {
	case e.URI == "":
		return daemon.SourceSpec{}, nil, errors.New(`"uri" is required (every entry has "uri" and "provider")`)
	case e.Provider == "":
		return daemon.SourceSpec{}, nil, errors.New(`"provider" is required (every entry has "uri" and "provider")`)
	case e.TimeoutS < 0:
		return daemon.SourceSpec{}, nil, fmt.Errorf("timeoutS must be 0 or more, not %d", e.TimeoutS)
	case e.MaxMsgSize < 0:
		return daemon.SourceSpec{}, nil, fmt.Errorf("maxMsgSize must be 0 or more, not %d", e.MaxMsgSize)
	case e.IncrementalUpdates:
		return daemon.SourceSpec{}, nil, errors.New("incrementalUpdates (experimental in flagd) is not supported: each update replaces the source's flags")
	}
	spec := daemon.SourceSpec{
		URI:        e.URI,
		Provider:   e.Provider,
		Selector:   e.Selector,
		ProviderID: e.ProviderID,
		AuthHeader: e.AuthHeader,
		Headers:    e.Headers,
		Interval:   time.Duration(e.Interval) * time.Second,
		TLS:        e.TLS,
		CertPath:   e.CertPath,
		Timeout:    time.Duration(e.TimeoutS) * time.Second,
		MaxMsgSize: e.MaxMsgSize,
	}
	var warnings []string
	if e.IntervalSeed != "" {
		warnings = append(warnings, "intervalSeed is ignored (Vexil does not offset the polling schedule)")
	}
	if e.OAuth != nil {
		oauth, warns, err := decodeOAuth(e.OAuth)
		if err != nil {
			return daemon.SourceSpec{}, nil, err
		}
		spec.OAuth = oauth
		warnings = append(warnings, warns...)
	}
	return spec, warnings, nil
}

func decodeOAuth(obj map[string]json.RawMessage) (*daemon.OAuthSpec, []string, error) {
	var o daemon.OAuthSpec
	var folder string
	var reloadDelay int
	var warnings []string
	for _, k := range sortedKeys(obj) {
		i := slices.IndexFunc(oauthFieldNames[:], func(n string) bool { return strings.EqualFold(n, k) })
		if i < 0 {
			return nil, nil, fmt.Errorf("oauth: unknown field %q (the fields are %s)", k, strings.Join(oauthFieldNames[:], ", "))
		}
		name := oauthFieldNames[i]
		var dst any
		want := "a string"
		switch name {
		case "clientID":
			dst = &o.ClientID
		case "clientSecret":
			dst = &o.ClientSecret
		case "tokenUrl":
			dst = &o.TokenURL
		case "folder":
			dst = &folder
		case "reloadDelayS":
			dst, want = &reloadDelay, "a whole number of seconds"
		}
		if err := json.Unmarshal(obj[k], dst); err != nil {
			return nil, nil, fmt.Errorf("oauth.%s must be %s, not %s", name, want, obj[k])
		}
	}
	if folder != "" {
		return nil, nil, errors.New("oauth.folder is not supported: give clientID, clientSecret and tokenUrl in the entry")
	}
	if reloadDelay != 0 {
		warnings = append(warnings, "oauth.reloadDelayS is ignored (tokens are renewed when they expire)")
	}
	if o.ClientID == "" || o.ClientSecret == "" || o.TokenURL == "" {
		return nil, nil, errors.New("oauth needs clientID, clientSecret and tokenUrl")
	}
	return &o, warnings, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// validateStart checks the resolved options against each other and their
// ranges. (A port in use is found by the daemon when it listens.)
func validateStart(s *startSettings) error {
	d := &s.daemon
	ports := []struct {
		key  string
		port int
		used bool // served on TCP (not replaced by a unix socket)
	}{
		{optPort, d.Port, d.SocketPath == ""},
		{optManagementPort, d.ManagementPort, true},
		{optSyncPort, d.SyncPort, d.SyncSocketPath == ""},
		{optOFREPPort, d.OFREPPort, true},
	}
	for i, p := range ports {
		if p.port < 0 || p.port > 65535 {
			return fmt.Errorf("%s: %d is not a port number (0 to 65535; 0 picks a free port)", s.describe(p.key), p.port)
		}
		for _, q := range ports[:i] {
			if p.used && q.used && p.port != 0 && p.port == q.port {
				return fmt.Errorf("%s and %s are both %d: each service needs its own port", s.describe(q.key), s.describe(p.key), p.port)
			}
		}
	}
	if (d.TLSCertPath == "") != (d.TLSKeyPath == "") {
		given, missing := optServerCertPath, optServerKeyPath
		if d.TLSCertPath == "" {
			given, missing = missing, given
		}
		return fmt.Errorf("%s needs --%s: TLS takes a certificate and its key", s.describe(given), missing)
	}
	if d.SocketPath != "" && d.SocketPath == d.SyncSocketPath {
		return fmt.Errorf("%s and %s are the same socket: each service needs its own", s.describe(optSocketPath), s.describe(optSyncSocketPath))
	}
	if d.MaxRequestBodyBytes < 0 {
		return fmt.Errorf("%s: %d is negative (0 disables the limit)", s.describe(optMaxRequestBody), d.MaxRequestBodyBytes)
	}
	if s.maxRequestHeader < 0 {
		return fmt.Errorf("%s: %d is negative (0 means Go's default of 1 MiB)", s.describe(optMaxRequestHeader), s.maxRequestHeader)
	}
	d.MaxRequestHeaderBytes = int(min(s.maxRequestHeader, math.MaxInt))
	if d.StreamDeadline < 0 {
		return fmt.Errorf("%s: %v is negative (0 means no deadline)", s.describe(optStreamDeadline), d.StreamDeadline)
	}
	if s.keepAliveMinTime < 0 {
		return fmt.Errorf("%s: %v is negative", s.describe(optKeepAliveMinTime), s.keepAliveMinTime)
	}
	if s.logFormat != "console" && s.logFormat != "json" {
		return fmt.Errorf("%s must be console or json, not %q", s.describe(optLogFormat), s.logFormat)
	}
	switch strings.ToLower(s.metricsExporter) {
	case "", "prometheus":
	case "otel":
		return fmt.Errorf("%s otel is not supported. %s; remove the option", s.describe(optMetricsExporter), noOtel)
	default:
		return fmt.Errorf("%s must be prometheus, not %q", s.describe(optMetricsExporter), s.metricsExporter)
	}
	for _, key := range []string{optOtelCollectorURI, optOtelCertPath, optOtelKeyPath, optOtelCAPath} {
		if _, ok := s.otel[key]; ok {
			return fmt.Errorf("%s is not supported. %s; remove the option", s.describe(key), noOtel)
		}
	}
	if s.otelReloadInterval != defaultOtelReload {
		return fmt.Errorf("%s is not supported. %s; remove the option", s.describe(optOtelReloadInterval), noOtel)
	}
	return nil
}
