package daemon

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vexilhq/vexil/syncsources"
)

// misnamedSource delivers one document under a name of its own.
type misnamedSource struct{}

func (misnamedSource) Run(ctx context.Context, updates chan<- syncsources.Update) error {
	doc := `{"flags":{"f":{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on"}}}`
	select {
	case updates <- syncsources.Update{Source: "a name of its own", Data: []byte(doc)}:
	case <-ctx.Done():
	}
	<-ctx.Done()
	return ctx.Err()
}

// TestSourceNamedByTheDaemon: a source that names its updates otherwise
// than the daemon knows it still makes the daemon ready; AfterUpdate is
// called after the update.
func TestSourceNamedByTheDaemon(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	updated := make(chan struct{}, 1)
	cfg := Config{BindAddress: "127.0.0.1", Logger: log, AfterUpdate: func() { updated <- struct{}{} }}
	d, err := newDaemon(cfg, log, []namedSource{{name: "spec:name", src: misnamedSource{}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	snap, changes := d.store.Subscribe(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	for !snap.Ready() {
		select {
		case c := <-changes:
			snap = c.New
		case <-timer.C:
			t.Fatalf("never ready: %+v", snap.Sources())
		}
	}
	select {
	case <-updated:
	case <-timer.C:
		t.Fatal("AfterUpdate was not called")
	}
	if s := d.store.Current().Sources(); len(s) != 1 || s[0].Name != "spec:name" || s[0].Flags != 1 {
		t.Fatalf("sources: %+v", s)
	}
}

// TestInapplicableSourceOptions: an option that does not apply to the
// kind of its source is a warning that names it and the kinds it applies
// to, and an error under strict; "tls" outside gRPC is a warning in both
// modes.
func TestInapplicableSourceOptions(t *testing.T) {
	for _, tc := range []struct {
		spec    SourceSpec
		problem string // "" means none
		tlsOnly bool   // the problem is the tls warning, never an error
	}{
		{SourceSpec{URI: "http://example.com/flags.json", Selector: "app=a"},
			`option "selector" does not apply to http sources (only to grpc)`, false},
		{SourceSpec{URI: "file:flags.json", OAuth: &OAuthSpec{ClientID: "id"}},
			`option "oauth" does not apply to file sources (only to http)`, false},
		{SourceSpec{URI: "grpc://localhost:8015", Interval: time.Second},
			`option "interval" does not apply to grpc sources (only to http, gcs, s3, azblob)`, false},
		{SourceSpec{URI: "ns/name", Provider: "kubernetes", Headers: map[string]string{"a": "b"}},
			`option "headers" does not apply to kubernetes sources (only to http, grpc)`, false},
		{SourceSpec{URI: "flags.json", Provider: "file", CertPath: "ca.pem"},
			`option "certPath" does not apply to file sources (only to http, grpc)`, false},
		{SourceSpec{URI: "https://example.com/flags.json", TLS: true, Interval: time.Second},
			`does not apply to http sources (only to grpc); ignored, as flagd ignores it`, true},
		{SourceSpec{URI: "localhost:8015", Provider: "grpc", TLS: true, Selector: "app=a", ProviderID: "me", MaxMsgSize: 1 << 20}, "", false},
		{SourceSpec{URI: "s3://bucket/flags.json", Provider: "s3", AuthHeader: "Bearer x"},
			`option "authHeader" does not apply to s3 sources (only to http)`, false},
		{SourceSpec{URI: "gs://bucket/flags.json", Provider: "gcs", Interval: time.Minute}, "", false},
	} {
		for _, strict := range []bool{false, true} {
			provider, _ := providerOf(tc.spec)
			_, warnings, err := sourceKinds[provider].openSpec(tc.spec, strict, slog.New(slog.DiscardHandler))
			if err != nil && !strings.Contains(err.Error(), "does not apply") {
				err = nil // the source's own (a Kubernetes source without a cluster)
			}
			wantErr := strict && tc.problem != "" && !tc.tlsOnly
			warned := strings.Join(warnings, "\n")
			switch {
			case !wantErr && err != nil:
				t.Errorf("%+v (strict %v): %v", tc.spec, strict, err)
			case wantErr && (err == nil || !strings.Contains(err.Error(), tc.problem)):
				t.Errorf("%+v (strict): error %v, want %q", tc.spec, err, tc.problem)
			case !wantErr && !strings.Contains(warned, tc.problem):
				t.Errorf("%+v (strict %v): warnings %q, want %q", tc.spec, strict, warned, tc.problem)
			case tc.problem == "" && len(warnings) > 0:
				t.Errorf("%+v (strict %v): unexpected warnings %q", tc.spec, strict, warned)
			}
		}
	}
}

// TestFileSourceNames: a file source is named as flagd names it, by what
// follows "file:" exactly as written (a gRPC one by what follows "://") (flagd answers metadata "source" and
// matches "source=" selectors against that name); two URIs that name the
// same path count once.
func TestFileSourceNames(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	specs := []SourceSpec{
		{URI: "file:a.json"},
		{URI: "file:./sub/b.json"},
		{URI: "file:sub/../c.json"},
		{URI: "file:///abs/d.json"},
		{URI: "e.json", Provider: "file"},
		{URI: "./sub/b.json", Provider: "file"}, // the name of the second
		{URI: "grpc://127.0.0.1:9"},
		{URI: "grpcs://localhost:9"},
	}
	got, err := openSources(specs, false, log)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range got {
		names = append(names, s.name)
	}
	want := []string{"a.json", "./sub/b.json", "sub/../c.json", "///abs/d.json", "e.json", "127.0.0.1:9", "localhost:9"}
	if !slices.Equal(names, want) {
		t.Errorf("names %q, want %q", names, want)
	}
}

// TestBlobSources: gs://, s3:// and azblob:// URIs (or flagd's providers
// gcs, s3 and azblob) open blob sources named by their URI as written, as
// flagd names them; a provider whose scheme the URI does not have, and a
// query option the store's opener does not know, are errors.
func TestBlobSources(t *testing.T) {
	t.Setenv("AZURE_STORAGE_ACCOUNT", "account")
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		spec SourceSpec
		err  string
	}{
		{spec: SourceSpec{URI: "gs://bucket/flags.json"}},
		{spec: SourceSpec{URI: "gs://bucket/dir/flags.yaml", Provider: "gcs", Interval: time.Second}},
		{spec: SourceSpec{URI: "s3://bucket/flags.json?region=eu-west-1&use_path_style=true"}},
		{spec: SourceSpec{URI: "s3://bucket/flags.json", Provider: "s3"}},
		{spec: SourceSpec{URI: "azblob://container/flags.json", Provider: "azblob"}},
		{spec: SourceSpec{URI: "s3://bucket/flags.json", Provider: "gcs"}, err: "gcs sources are written gs://BUCKET/PATH"},
		{spec: SourceSpec{URI: "bucket/flags.json", Provider: "s3"}, err: "s3 sources are written s3://BUCKET/PATH"},
		{spec: SourceSpec{URI: "s3://bucket/flags.json?regoin=eu"}, err: `unknown option "regoin" for s3://`},
		{spec: SourceSpec{URI: "gs://bucket/"}, err: "has no object path"},
	} {
		srcs, err := openSources([]SourceSpec{tc.spec}, true, log)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: error %v, want %q", tc.spec, err, tc.err)
			}
		case err != nil:
			t.Errorf("%+v: %v", tc.spec, err)
		case srcs[0].name != tc.spec.URI:
			t.Errorf("%+v: named %q, want the URI", tc.spec, srcs[0].name)
		}
	}
}
