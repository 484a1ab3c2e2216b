package main

// The options of vexil start: their flags, their FLAGD_* environment
// variables and their keys in a --config file, resolved into a
// daemon.Config.

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"reflect"
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

// option is one option of vexil start: its flag (--name, -short), its
// environment variable and its config-file key.
type option struct {
	name  string
	short string
	def   any // the default, of the option's type
	usage string
}

// Option names, used where the code refers to one.
const (
	optPort                = "port"
	optManagementPort      = "management-port"
	optSyncPort            = "sync-port"
	optOFREPPort           = "ofrep-port"
	optOFREPSSE            = "ofrep-sse-enabled"
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

// startOptions are vexil start's options, in the order of its help.
func startOptions() []option {
	return []option{
		{optPort, "p", daemon.DefaultPort, "port for the evaluation services (flagd.evaluation.v1/v2 over Connect, gRPC, gRPC-Web)"},
		{optManagementPort, "m", daemon.DefaultManagementPort, "port for /healthz, /readyz, grpc.health.v1 and /metrics"},
		{optSyncPort, "g", daemon.DefaultSyncPort, "port for the flag sync service (flagd.sync.v1, for in-process providers)"},
		{optOFREPPort, "r", daemon.DefaultOFREPPort, "port for OFREP (/ofrep/v1/evaluate/flags)"},
		{optOFREPSSE, "", false, "serve OFREP change events over server-sent events (GET /ofrep/v1/event-stream on the OFREP port), listed in bulk responses' eventStreams"},
		{optBindAddress, "", "", "address to listen on (default: all interfaces)"},
		{optURI, "f", []string{}, "flag source URI, such as file:flags.json (repeatable or comma-separated; later sources win)"},
		{optSources, "s", "", `flag sources as a JSON array of objects with "uri" and "provider" and flagd's source options; they come after the --uri sources`},
		{optContextValue, "X", map[string]string{}, "KEY=VALUE set in every evaluation context (repeatable or comma-separated)"},
		{optContextFromHeader, "H", map[string]string{}, "HEADER=KEY: copy request header HEADER into the evaluation context as KEY (repeatable)"},
		{optCORSOrigin, "C", []string{}, "origin allowed to call the evaluation and OFREP ports from a browser; * allows any, and so does none, as in flagd (repeatable)"},
		{optServerCertPath, "c", "", "TLS certificate (PEM) for the evaluation, sync and OFREP ports; needs --server-key-path"},
		{optServerKeyPath, "k", "", "TLS private key (PEM) for --server-cert-path"},
		{optSocketPath, "d", "", "serve the evaluation services on this unix socket instead of --port"},
		{optSyncSocketPath, "e", "", "serve the sync service on this unix socket instead of --sync-port"},
		{optLogFormat, "z", "console", "log format: console or json"},
		{optDebug, "x", false, "log at debug level"},
		{optStrict, "", false, "reject flag documents with the problems flagd only warns about"},
		{optFractionalCBOR, "", false, "bucket \"fractional\" with the CBOR-hashed algorithm (the testbed's fractional-v3) instead of flagd's"},
		{optMaxRequestBody, "B", int64(defaultMaxRequestBytes), "largest request body in bytes (larger: 413 for OFREP, resource_exhausted for Connect and gRPC); 0 disables the limit"},
		{optMaxRequestHeader, "R", int64(defaultMaxRequestBytes), "largest request header in bytes (larger: 431); 0 means Go's default of 1 MiB"},
		{optStreamDeadline, "", time.Duration(0), "end every event and sync stream this long after it opened; 0 means never"},
		{optDisableSyncMetadata, "", false, "turn off the sync service's GetMetadata"},
		{optDisableNativeGRPC, "", false, "serve gRPC clients' connections to the evaluation port with connect-go like the others, not with grpc-go (for proxies that mix gRPC and other requests on one HTTP/2 connection)"},
		{optKeepAliveMinTime, "", defaultKeepAliveMin, "accepted for flagd compatibility; Vexil's sync server accepts client keepalive pings at any rate"},
		{optKeepAliveNoStream, "", true, "accepted for flagd compatibility; Vexil's sync server accepts keepalive pings also without an open stream"},
		{optMetricsExporter, "t", "", "metrics exporter: prometheus (the default: /metrics on the management port) or otel (also push flagd's metrics over OTLP/gRPC to --otel-collector-uri)"},
		{optOtelCollectorURI, "o", "", "OpenTelemetry Collector's OTLP/gRPC endpoint (HOST:PORT, http:// or https://); given, evaluation and sync spans are exported to it"},
		{optOtelCertPath, "D", "", "client certificate (PEM) for mTLS to the collector; needs --otel-key-path"},
		{optOtelKeyPath, "K", "", "client key (PEM) for --otel-cert-path"},
		{optOtelCAPath, "A", "", "CA certificate (PEM) that the collector's certificate is verified against"},
		{optOtelReloadInterval, "I", defaultOtelReload, "how often the --otel-cert-path, --otel-key-path and --otel-ca-path files are read again"},
	}
}

// addStartFlags defines start's flags on fs.
func addStartFlags(fs *pflag.FlagSet) {
	for _, o := range startOptions() {
		switch def := o.def.(type) {
		case int:
			fs.IntP(o.name, o.short, def, o.usage)
		case int64:
			fs.Int64P(o.name, o.short, def, o.usage)
		case string:
			fs.StringP(o.name, o.short, def, o.usage)
		case bool:
			fs.BoolP(o.name, o.short, def, o.usage)
		case time.Duration:
			fs.DurationP(o.name, o.short, def, o.usage)
		case []string:
			fs.StringSliceP(o.name, o.short, def, o.usage)
		case map[string]string:
			fs.StringToStringP(o.name, o.short, def, o.usage)
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
func describe(origin map[string]string, key string) string {
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
// flags (BindPFlags), the environment and the config file (SetConfigFile),
// and keeps the first error.
//
// Two things are not viper's own:
//
//   - The environment. Viper reads it only through os.LookupEnv
//     (AutomaticEnv, BindEnv), while start's callers pass it in (getenv:
//     os.LookupEnv outside tests, which run without touching the
//     process's). Each FLAGD_ variable of an option whose flag was not
//     given is therefore set as viper's override, which puts it above the
//     config file and below the flags, where AutomaticEnv would.
//   - The conversions. Viper's typed getters return the zero value for a
//     value they cannot convert (a mistyped port would become 0, a free
//     port), and cast's conversions accept what flagd's options do not
//     ("0x1F", 1.5 truncated to 1, a duration of 30 read as 30ns). Each
//     option is decoded with UnmarshalKey through one mapstructure decode
//     hook, decodeOption, which converts what any layer gave and says what
//     is wrong.
type resolver struct {
	v      *viper.Viper
	origin map[string]string
	err    error
}

func resolveStart(fs *pflag.FlagSet, getenv func(string) (string, bool)) (startSettings, error) {
	opts := startOptions()
	r := &resolver{v: viper.NewWithOptions(viper.WithDecoderRegistry(configDecoders{})), origin: map[string]string{}}

	// The config file first: its keys are checked before the flags are
	// bound, while AllKeys lists only the file's.
	configFile, _ := fs.GetString(configFlag)
	if configFile != "" {
		if err := r.readConfig(configFile, opts); err != nil {
			return startSettings{}, err
		}
	}
	if err := r.v.BindPFlags(fs); err != nil {
		return startSettings{}, err
	}
	for _, o := range opts {
		if fs.Lookup(o.name).Changed {
			r.origin[o.name] = "--" + o.name
		} else if val, ok := getenv(envName(o.name)); ok {
			r.v.Set(o.name, val)
			r.origin[o.name] = envName(o.name)
		} else if r.v.InConfig(o.name) {
			r.origin[o.name] = o.name + " in " + configFile
		} else {
			r.origin[o.name] = "the default"
		}
	}

	s := startSettings{configFile: configFile, origin: r.origin, otel: map[string]string{}}
	d := &s.daemon
	var (
		uris, origins       []string
		ctxValues, fromHdrs map[string]string
		keepAliveNoStream   bool
	)
	r.getAll([]optionValue{
		{optPort, &d.Port}, {optManagementPort, &d.ManagementPort}, {optSyncPort, &d.SyncPort}, {optOFREPPort, &d.OFREPPort},
		{optBindAddress, &d.BindAddress}, {optURI, &uris},
	})
	for _, u := range uris {
		d.Sources = append(d.Sources, daemon.SourceSpec{URI: u})
	}
	specs, warnings, unknownEntries := r.sources()
	d.Sources = append(d.Sources, specs...)
	s.warnings = append(s.warnings, warnings...)
	r.getAll([]optionValue{
		{optContextValue, &ctxValues}, {optContextFromHeader, &fromHdrs},
		{optCORSOrigin, &origins}, {optServerCertPath, &d.TLSCertPath}, {optServerKeyPath, &d.TLSKeyPath},
		{optSocketPath, &d.SocketPath}, {optSyncSocketPath, &d.SyncSocketPath}, {optLogFormat, &s.logFormat},
		{optDebug, &s.debug}, {optStrict, &d.Strict}, {optFractionalCBOR, &d.FractionalCBOR},
		{optMaxRequestBody, &d.MaxRequestBodyBytes}, {optMaxRequestHeader, &s.maxRequestHeader},
		{optStreamDeadline, &d.StreamDeadline}, {optDisableSyncMetadata, &d.DisableSyncMetadata},
		{optDisableNativeGRPC, &d.DisableNativeGRPC}, {optKeepAliveMinTime, &s.keepAliveMinTime},
		{optOFREPSSE, &d.OFREPEventStreams},
		{optKeepAliveNoStream, &keepAliveNoStream}, // checked, and nothing to do
		{optMetricsExporter, &s.metricsExporter},
	})
	for _, key := range []string{optOtelCollectorURI, optOtelCertPath, optOtelKeyPath, optOtelCAPath} {
		var v string
		if r.get(key, &v); v != "" {
			s.otel[key] = v
		}
	}
	r.get(optOtelReloadInterval, &s.otelReloadInterval)
	if d.Strict && len(unknownEntries) > 0 {
		r.fail(optSources, "%s (refused under --strict; flagd ignores it)", unknownEntries[0])
	}
	if len(ctxValues) > 0 {
		d.StaticContext = make(map[string]any, len(ctxValues))
		for k, v := range ctxValues {
			d.StaticContext[k] = v
		}
	}
	if len(fromHdrs) > 0 {
		d.ContextFromHeaders = fromHdrs
	}
	if len(origins) > 0 {
		d.CORSOrigins = origins
	}
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
	r.v.SetConfigFile(path)
	r.v.SetConfigType(ext)
	if err := r.v.ReadInConfig(); err != nil {
		var perr viper.ConfigParseError
		if errors.As(err, &perr) {
			return fmt.Errorf("--config %s: not valid %s: %v", path, strings.ToUpper(strings.Replace(ext, "yml", "yaml", 1)), errors.Unwrap(perr))
		}
		return fmt.Errorf("--config %s: cannot read it: %v", path, readError(err))
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

// configDecoders decode a config file as viper's own YAML and JSON codecs
// do (with the same libraries, so with the same messages), except that the
// values of the map-valued options, context-value and context-from-header,
// are handed to viper as caseKept maps, which it does not descend into:
// viper lowercases every key it reads, and a context's keys are
// case-sensitive. (The other maps are lowercased: a --sources entry's
// fields match whatever their case, and its headers are HTTP header names.)
type configDecoders struct{}

// caseKept is a map of the config file whose keys keep their case.
type caseKept map[string]any

func (configDecoders) Decoder(format string) (viper.Decoder, error) {
	return configDecoder(format), nil
}

type configDecoder string

func (f configDecoder) Decode(data []byte, m map[string]any) error {
	var err error
	if f == "json" {
		err = json.Unmarshal(data, &m)
	} else {
		err = yaml.Unmarshal(data, &m)
	}
	for k, v := range m {
		if obj, ok := v.(map[string]any); ok && (strings.EqualFold(k, optContextValue) || strings.EqualFold(k, optContextFromHeader)) {
			m[k] = caseKept(obj)
		}
	}
	return err
}

// optionValue is an option and where its value is decoded to: a pointer
// to a value of the option's type.
type optionValue struct {
	key string
	dst any
}

// getAll decodes the options in order; the first problem is kept.
func (r *resolver) getAll(opts []optionValue) {
	for _, o := range opts {
		r.get(o.key, o.dst)
	}
}

// get decodes an option's layered value into dst, a pointer to the
// option's type (see decodeOption).
func (r *resolver) get(key string, dst any) {
	if r.err != nil {
		return
	}
	err := r.v.UnmarshalKey(key, dst, viper.DecodeHook(decodeOption))
	var bad badValue
	switch {
	case errors.As(err, &bad):
		r.fail(key, "%s", bad)
	case err != nil:
		r.fail(key, "%v", err)
	}
}

// fail records a problem with an option's value.
func (r *resolver) fail(key, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %s", describe(r.origin, key), fmt.Sprintf(format, args...))
	}
}

// badValue says what is wrong with an option's value.
type badValue string

func (b badValue) Error() string { return string(b) }

func badf(format string, args ...any) error { return badValue(fmt.Sprintf(format, args...)) }

// decodeOption is the decode hook of start's options: it converts the
// value a layer gave (a flag's value, an environment variable's string, a
// config file's YAML or JSON value) to the option's type, to.
func decodeOption(_, to reflect.Type, data any) (any, error) {
	switch to {
	case reflect.TypeFor[time.Duration]():
		return toDuration(data)
	case reflect.TypeFor[[]string]():
		return toStrings(data)
	case reflect.TypeFor[map[string]string]():
		return toStringMap(data)
	}
	switch to.Kind() {
	case reflect.Int, reflect.Int64:
		return toWhole(data)
	case reflect.Bool:
		return toBool(data)
	case reflect.String:
		return toString(data)
	}
	return data, nil
}

func toWhole(data any) (any, error) {
	switch v := data.(type) {
	case int, int32, int64:
		return v, nil
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v), nil
		}
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<62 {
			return int64(v), nil
		}
	case string:
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			return n, nil
		}
		return nil, badf("%q is not a whole number", v)
	}
	return nil, badf("%v is not a whole number", data)
}

func toString(data any) (any, error) {
	switch v := data.(type) {
	case string:
		return v, nil
	case int, int64, float64, bool:
		return fmt.Sprint(v), nil
	}
	return nil, badf("want a string, not %v", data)
}

func toBool(data any) (any, error) {
	switch v := data.(type) {
	case bool:
		return v, nil
	case string:
		if b, err := strconv.ParseBool(strings.TrimSpace(v)); err == nil {
			return b, nil
		}
		return nil, badf("%q is not true or false", v)
	}
	return nil, badf("%v is not true or false", data)
}

func toDuration(data any) (any, error) {
	switch v := data.(type) {
	case time.Duration:
		return v, nil
	case string:
		if d, err := time.ParseDuration(strings.TrimSpace(v)); err == nil {
			return d, nil
		}
		if n, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && n == 0 {
			return time.Duration(0), nil
		}
		return nil, badf("%q is not a duration, such as 30s or 5m", v)
	case int, int64, float64:
		if fmt.Sprint(v) == "0" {
			return time.Duration(0), nil
		}
		return nil, badf("%v is not a duration: give a unit, such as %vs", v, v)
	}
	return nil, badf("%v is not a duration, such as 30s or 5m", data)
}

// toStrings reads a list of strings. A string (from an environment
// variable or the config file) is split at commas and white space, so that
// both FLAGD_URI="file:a.json,file:b.json" and flagd's space-separated form
// work (cast, viper's conversion, splits at white space only).
func toStrings(data any) (any, error) {
	switch v := data.(type) {
	case []string:
		return v, nil
	case string:
		return strings.FieldsFunc(v, func(c rune) bool { return c == ',' || unicode.IsSpace(c) }), nil
	case []any:
		out := make([]string, len(v))
		for i, e := range v {
			s, err := toString(e)
			if err != nil {
				return nil, badf("want a list of strings, not %v", v)
			}
			out[i] = s.(string)
		}
		return out, nil
	}
	return nil, badf("want a list of strings, not %v", data)
}

// toStringMap reads a map of strings. A string (from an environment
// variable) is a JSON object, as flagd reads it, or KEY=VALUE pairs
// separated by commas, as the flag takes them.
func toStringMap(data any) (any, error) {
	fromObject := func(m map[string]any) (any, error) {
		out := make(map[string]string, len(m))
		for k, e := range m {
			if e == nil {
				out[k] = ""
				continue
			}
			s, err := toString(e)
			if err != nil {
				return nil, badf("the value of %q must be a string, not %v", k, e)
			}
			out[k] = s.(string)
		}
		return out, nil
	}
	switch v := data.(type) {
	case caseKept:
		return fromObject(v)
	case map[string]any:
		return fromObject(v)
	case string:
		s := strings.TrimSpace(v)
		if strings.HasPrefix(s, "{") {
			var m map[string]any
			if err := json.Unmarshal([]byte(s), &m); err != nil {
				return nil, badf("not a JSON object of strings: %v", err)
			}
			return fromObject(m)
		}
		out := map[string]string{}
		for pair := range strings.SplitSeq(s, ",") {
			if pair = strings.TrimSpace(pair); pair == "" {
				continue
			}
			k, val, ok := strings.Cut(pair, "=")
			if !ok {
				return nil, badf("%q is not KEY=VALUE", pair)
			}
			out[k] = val
		}
		return out, nil
	}
	return nil, badf("want KEY=VALUE pairs or an object, not %v", data)
}

// sources reads --sources: a JSON array (from the flag, FLAGD_SOURCES or a
// string in the config file) or a list of objects in the config file.
// Field names match as flagd's do, whatever their case. It returns the
// warnings for the fields that are accepted and ignored, and apart what it
// says of unknown fields: flagd ignores them, Vexil warns (and, under
// --strict, refuses them).
func (r *resolver) sources() (specs []daemon.SourceSpec, warnings, unknown []string) {
	var data []byte
	switch v := r.v.Get(optSources).(type) {
	case nil:
		return nil, nil, nil
	case string:
		if strings.TrimSpace(v) == "" {
			return nil, nil, nil
		}
		data = []byte(v)
	case []any:
		var err error
		if data, err = json.Marshal(v); err != nil {
			r.fail(optSources, "want a list of source objects: %v", err)
			return nil, nil, nil
		}
	default:
		r.fail(optSources, "want a JSON array of source objects, not %v", v)
		return nil, nil, nil
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(data, &entries); err != nil {
		r.fail(optSources, `not a JSON array of source objects, such as [{"uri":"flags.json","provider":"file"}]: %v`, err)
		return nil, nil, nil
	}
	for i, raw := range entries {
		spec, warns, unknowns, err := decodeSource(raw)
		if err != nil {
			r.fail(optSources, "entry %d: %v", i, err)
			return nil, nil, nil
		}
		for _, w := range warns {
			warnings = append(warnings, fmt.Sprintf("%s: entry %d: %s", describe(r.origin, optSources), i, w))
		}
		for _, u := range unknowns {
			unknown = append(unknown, fmt.Sprintf("entry %d: %s", i, u))
			warnings = append(warnings, fmt.Sprintf("%s: entry %d: %s, ignored as flagd ignores it (refused under --strict)", describe(r.origin, optSources), i, u))
		}
		specs = append(specs, spec)
	}
	return specs, warnings, unknown
}

// entryField is a field of a --sources entry (flagd's SourceConfig) or of
// its "oauth": its JSON name, what its value must be, and where it is
// decoded to.
type entryField struct {
	name string
	want string
	dst  any
}

// decodeFields decodes a JSON object's fields, whose names match whatever
// their case; parent names the object in messages ("" for an entry). It
// returns the names that are none of fields, sorted: flagd's decoder
// ignores them, and so does Vexil, with a warning (refused under --strict).
func decodeFields(obj map[string]json.RawMessage, parent string, fields []entryField) (unknown []string, err error) {
	prefix := ""
	if parent != "" {
		prefix = parent + "."
	}
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		i := slices.IndexFunc(fields, func(f entryField) bool { return strings.EqualFold(f.name, k) })
		if i < 0 {
			unknown = append(unknown, k)
			continue
		}
		if err := json.Unmarshal(obj[k], fields[i].dst); err != nil {
			return nil, fmt.Errorf("%s%s must be %s, not %s", prefix, fields[i].name, fields[i].want, obj[k])
		}
	}
	return unknown, nil
}

// unknownFields says which fields of an entry (or of its parent object)
// are not known, and which are.
func unknownFields(parent string, unknown []string, fields []entryField) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	quoted := make([]string, len(unknown))
	for i, u := range unknown {
		quoted[i] = strconv.Quote(u)
	}
	noun := "field"
	if len(unknown) > 1 {
		noun = "fields"
	}
	if parent != "" {
		parent += ": "
	}
	return fmt.Sprintf("%sunknown %s %s (the fields are %s)", parent, noun, strings.Join(quoted, ", "), strings.Join(names, ", "))
}

// decodeSource decodes one --sources entry into a SourceSpec. It returns
// the warnings for the fields that are accepted and ignored, and, apart,
// what it says of unknown fields (flagd ignores those without a word).
func decodeSource(raw json.RawMessage) (spec daemon.SourceSpec, warnings, unknown []string, err error) {
	var (
		interval           uint32
		timeout            int
		seed               string
		incrementalUpdates bool
		bearerToken        string
		oauth              map[string]json.RawMessage
	)
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return daemon.SourceSpec{}, nil, nil, fmt.Errorf("must be a JSON object, not %s", raw)
	}
	fields := []entryField{
		{"uri", "a string", &spec.URI},
		{"provider", "a string", &spec.Provider},
		{"selector", "a string", &spec.Selector},
		{"providerID", "a string", &spec.ProviderID},
		{"authHeader", "a string", &spec.AuthHeader},
		{"headers", "an object of strings", &spec.Headers},
		{"interval", "a whole number of seconds, 0 or more", &interval},
		{"intervalSeed", "a string", &seed},
		{"tls", "true or false", &spec.TLS},
		{"certPath", "a string", &spec.CertPath},
		{"timeoutS", "a whole number of seconds", &timeout},
		{"maxMsgSize", "a whole number of bytes", &spec.MaxMsgSize},
		{"incrementalUpdates", "true or false", &incrementalUpdates},
		{"oauth", "an object", &oauth},
		{"bearerToken", "a string", &bearerToken},
	}
	names, err := decodeFields(obj, "", fields)
	switch {
	case err != nil:
		return daemon.SourceSpec{}, nil, nil, err
	case spec.URI == "":
		return daemon.SourceSpec{}, nil, nil, errors.New(`"uri" is required (every entry has "uri" and "provider")`)
	case spec.Provider == "":
		return daemon.SourceSpec{}, nil, nil, errors.New(`"provider" is required (every entry has "uri" and "provider")`)
	case timeout < 0:
		return daemon.SourceSpec{}, nil, nil, fmt.Errorf("timeoutS must be 0 or more, not %d", timeout)
	case spec.MaxMsgSize < 0:
		return daemon.SourceSpec{}, nil, nil, fmt.Errorf("maxMsgSize must be 0 or more, not %d", spec.MaxMsgSize)
	case incrementalUpdates:
		return daemon.SourceSpec{}, nil, nil, errors.New("incrementalUpdates (experimental in flagd) is not supported: each update replaces the source's flags")
	}
	spec.Interval = time.Duration(interval) * time.Second
	spec.Timeout = time.Duration(timeout) * time.Second
	if len(names) > 0 {
		unknown = append(unknown, unknownFields("", names, fields))
	}
	if seed != "" {
		warnings = append(warnings, "intervalSeed is ignored (Vexil does not offset the polling schedule)")
	}
	// bearerToken is flagd's deprecated (and since removed) way to write
	// authHeader "Bearer TOKEN"; it is taken so, unless authHeader is set.
	switch {
	case bearerToken != "" && spec.AuthHeader != "":
		warnings = append(warnings, `bearerToken is deprecated and ignored: authHeader is set`)
	case bearerToken != "":
		spec.AuthHeader = "Bearer " + bearerToken
		warnings = append(warnings, `bearerToken is deprecated: write "authHeader": "Bearer TOKEN" instead`)
	}
	if oauth != nil {
		var warn, oauthUnknown string
		if spec.OAuth, warn, oauthUnknown, err = decodeOAuth(oauth); err != nil {
			return daemon.SourceSpec{}, nil, nil, err
		}
		if warn != "" {
			warnings = append(warnings, warn)
		}
		if oauthUnknown != "" {
			unknown = append(unknown, oauthUnknown)
		}
	}
	return spec, warnings, unknown, nil
}

// decodeOAuth decodes an entry's "oauth" object. It returns a warning for
// a field that is accepted and ignored, and what it says of unknown fields.
func decodeOAuth(obj map[string]json.RawMessage) (_ *daemon.OAuthSpec, warning, unknown string, err error) {
	var (
		o           daemon.OAuthSpec
		folder      string
		reloadDelay int
	)
	fields := []entryField{
		{"clientID", "a string", &o.ClientID},
		{"clientSecret", "a string", &o.ClientSecret},
		{"tokenUrl", "a string", &o.TokenURL},
		{"folder", "a string", &folder},
		{"reloadDelayS", "a whole number of seconds", &reloadDelay},
	}
	names, err := decodeFields(obj, "oauth", fields)
	switch {
	case err != nil:
		return nil, "", "", err
	case folder != "":
		return nil, "", "", errors.New("oauth.folder is not supported: give clientID, clientSecret and tokenUrl in the entry")
	case o.ClientID == "" || o.ClientSecret == "" || o.TokenURL == "":
		return nil, "", "", errors.New("oauth needs clientID, clientSecret and tokenUrl")
	}
	if len(names) > 0 {
		unknown = unknownFields("oauth", names, fields)
	}
	if reloadDelay != 0 {
		warning = "oauth.reloadDelayS is ignored (tokens are renewed when they expire)"
	}
	return &o, warning, unknown, nil
}

// validateStart checks the resolved options against each other and their
// ranges. (A port in use is found by the daemon when it listens.)
func validateStart(s *startSettings) error {
	d := &s.daemon
	desc := func(key string) string { return describe(s.origin, key) }
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
			return fmt.Errorf("%s: %d is not a port number (0 to 65535; 0 picks a free port)", desc(p.key), p.port)
		}
		for _, q := range ports[:i] {
			if p.used && q.used && p.port != 0 && p.port == q.port {
				return fmt.Errorf("%s and %s are both %d: each service needs its own port", desc(q.key), desc(p.key), p.port)
			}
		}
	}
	// daemon.Run refuses this too, but as the daemon's error (exit code 1)
	// in its own terms; checked here, it is a usage error that names the
	// option and where its value came from, as every check here.
	if (d.TLSCertPath == "") != (d.TLSKeyPath == "") {
		given, missing := optServerCertPath, optServerKeyPath
		if d.TLSCertPath == "" {
			given, missing = missing, given
		}
		return fmt.Errorf("%s needs --%s: TLS takes a certificate and its key", desc(given), missing)
	}
	if d.SocketPath != "" && d.SocketPath == d.SyncSocketPath {
		return fmt.Errorf("%s and %s are the same socket: each service needs its own", desc(optSocketPath), desc(optSyncSocketPath))
	}
	if d.MaxRequestBodyBytes < 0 {
		return fmt.Errorf("%s: %d is negative (0 disables the limit)", desc(optMaxRequestBody), d.MaxRequestBodyBytes)
	}
	if s.maxRequestHeader < 0 {
		return fmt.Errorf("%s: %d is negative (0 means Go's default of 1 MiB)", desc(optMaxRequestHeader), s.maxRequestHeader)
	}
	d.MaxRequestHeaderBytes = int(min(s.maxRequestHeader, math.MaxInt))
	if d.StreamDeadline < 0 {
		return fmt.Errorf("%s: %v is negative (0 means no deadline)", desc(optStreamDeadline), d.StreamDeadline)
	}
	if s.keepAliveMinTime < 0 {
		return fmt.Errorf("%s: %v is negative", desc(optKeepAliveMinTime), s.keepAliveMinTime)
	}
	if s.logFormat != "console" && s.logFormat != "json" {
		return fmt.Errorf("%s must be console or json, not %q", desc(optLogFormat), s.logFormat)
	}
	o := &d.OpenTelemetry
	switch strings.ToLower(s.metricsExporter) {
	case "", "prometheus":
	case "otel":
		o.Metrics = true
	default:
		return fmt.Errorf("%s must be prometheus or otel, not %q", desc(optMetricsExporter), s.metricsExporter)
	}
	o.CollectorURI, o.CertPath, o.KeyPath, o.CAPath = s.otel[optOtelCollectorURI], s.otel[optOtelCertPath], s.otel[optOtelKeyPath], s.otel[optOtelCAPath]
	if (o.CertPath == "") != (o.KeyPath == "") {
		given, missing := optOtelCertPath, optOtelKeyPath
		if o.CertPath == "" {
			given, missing = missing, given
		}
		return fmt.Errorf("%s needs --%s: mTLS takes a certificate and its key", desc(given), missing)
	}
	if s.otelReloadInterval <= 0 {
		return fmt.Errorf("%s: %v is not positive", desc(optOtelReloadInterval), s.otelReloadInterval)
	}
	o.ReloadInterval = s.otelReloadInterval
	return nil
}
