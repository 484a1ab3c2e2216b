package blobsource_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"go.uber.org/goleak"
	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"

	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
	"github.com/vexilhq/vexil/syncsources/blobsource"
	"github.com/vexilhq/vexil/syncsources/sourcetest"
)

// interval is the sources' polling interval in these tests.
const interval = 50 * time.Millisecond

// timeout bounds every wait for an update.
const timeout = 10 * time.Second

// leakOptions ignores goroutines that outlive a run but are not the
// source's own: idle HTTP connections of the clouds' clients (kept in
// their process-wide transports) and the emulators' connection handlers.
var leakOptions = []goleak.Option{
	goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
	goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
	goleak.IgnoreAnyFunction("net/http.(*conn).serve"),
	goleak.IgnoreAnyFunction("internal/poll.runtime_pollWait"),
}

func TestFromURI(t *testing.T) {
	t.Setenv("AZURE_STORAGE_ACCOUNT", "account")
	for _, tc := range []struct {
		uri, err string
	}{
		{uri: "gs://bucket/flags.json"},
		{uri: "gs://bucket/dir/flags.yaml?anonymous=true"},
		{uri: "s3://bucket/flags.yml?region=eu-west-1&endpoint=http://127.0.0.1:9000&use_path_style=true"},
		{uri: "azblob://container/flags?domain=127.0.0.1:10000&protocol=http&localemu=true"},
		{uri: "gs://bucket/", err: "has no object path"},
		{uri: "gs://bucket", err: "has no object path"},
		{uri: "s3:///flags.json", err: "has no bucket"},
		{uri: "http://host/flags.json", err: "is not a gs://, s3:// or azblob:// URI"},
		{uri: "s3://bucket/flags.json?regoin=eu", err: `unknown option "regoin" for s3://`},
		{uri: "gs://bucket/flags.json?endpoint=x", err: `unknown option "endpoint" for gs://`},
		{uri: "gs://bucket/flags.txt", err: "unsupported file format: 'txt'"},
		{uri: "s3://bucket/flags.json?a=%zz", err: "bad query"},
	} {
		t.Run(tc.uri, func(t *testing.T) {
			cfg, err := blobsource.FromURI(tc.uri)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if cfg.Name != tc.uri {
					t.Errorf("name %q, want the URI", cfg.Name)
				}
				if _, err := blobsource.New(cfg); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
}

func TestKind(t *testing.T) {
	for uri, want := range map[string]string{
		"gs://b/f.json": "gcs", "S3://b/f.json": "s3", "azblob://c/f.json": "azblob", "file:/x": "",
	} {
		if got := blobsource.Kind(uri); got != want {
			t.Errorf("Kind(%q) = %q, want %q", uri, got, want)
		}
	}
}

func TestAzblobNeedsAccount(t *testing.T) {
	t.Setenv("AZURE_STORAGE_ACCOUNT", "")
	_, err := blobsource.New(blobsource.Config{URI: "azblob://c/flags.json"})
	if err == nil || !strings.Contains(err.Error(), "AZURE_STORAGE_ACCOUNT not set") {
		t.Fatalf("error %v, want AZURE_STORAGE_ACCOUNT not set", err)
	}
}

// store is one emulator: how to make a bucket in it and the URI of an
// object there.
type store struct {
	// makeBucket creates a bucket.
	makeBucket func(t testing.TB, name string)
	// uri is the URI of an object (the opener's options included).
	uri func(bucket, object string) string
}

// backend is an object in an emulator's bucket, written through gocloud.
type backend struct {
	bucket *blob.Bucket
	object string
	doc    []byte
}

func (b *backend) Set(t testing.TB, doc []byte) {
	t.Helper()
	b.doc = doc
	if err := b.bucket.WriteAll(context.Background(), b.object, doc, nil); err != nil {
		t.Fatal(err)
	}
}

func (b *backend) Break(t testing.TB) {
	t.Helper()
	if err := b.bucket.Delete(context.Background(), b.object); err != nil {
		t.Fatal(err)
	}
}

func (b *backend) Restore(t testing.TB) { b.Set(t, b.doc) }

var buckets atomic.Int64

// newBucket makes a fresh bucket holding doc as object, and a backend
// writing it.
func (s store) newBucket(t testing.TB, object string, doc []byte) (*backend, string) {
	t.Helper()
	name := fmt.Sprintf("vexil-test-%d", buckets.Add(1))
	s.makeBucket(t, name)
	uri := s.uri(name, object)
	// The bucket's URL is the URI without the object, as the source opens it.
	bucketURL, query, _ := strings.Cut(uri, "?")
	bucketURL = strings.TrimSuffix(bucketURL, "/"+object)
	if query != "" {
		bucketURL += "?" + query
	}
	b, err := blob.OpenBucket(context.Background(), bucketURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	be := &backend{bucket: b, object: object}
	be.Set(t, doc)
	return be, uri
}

func newSource(t testing.TB, uri string) *blobsource.Source {
	t.Helper()
	cfg, err := blobsource.FromURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Interval = interval
	src, err := blobsource.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// testStore runs the contract and the error cases against one emulator.
// badCredentials, when set, returns an object's URI and a URL mux whose
// opener brings credentials the store refuses.
func testStore(t *testing.T, s store, badCredentials func(t *testing.T) (string, *blob.URLMux)) {
	t.Run("Contract", func(t *testing.T) {
		sourcetest.Run(t, sourcetest.Harness{
			New: func(t *testing.T, doc []byte) sourcetest.Instance {
				be, uri := s.newBucket(t, "flags.json", doc)
				return sourcetest.Instance{Source: newSource(t, uri), Backend: be, Name: uri}
			},
			Quiet:       4 * interval,
			Timeout:     timeout,
			LeakOptions: leakOptions,
		})
	})
	t.Run("YAMLByExtension", func(t *testing.T) {
		doc := []byte("flags:\n  f:\n    state: ENABLED\n    variants: {a: 1}\n    defaultVariant: a\n")
		_, uri := s.newBucket(t, "dir/flags.yaml", doc)
		u := first(t, newSource(t, uri))
		if u.Err != nil || string(u.Data) != string(doc) || u.Format != evaluator.FormatYAML {
			t.Fatalf("got %+v, want the YAML document", u)
		}
	})
	t.Run("EditWithinOneInterval", func(t *testing.T) {
		be, uri := s.newBucket(t, "flags.json", sourcetest.Doc(1))
		src := newSource(t, uri)
		ctx, cancel := context.WithCancel(context.Background())
		updates := make(chan syncsources.Update)
		done := make(chan error, 1)
		go func() { done <- src.Run(ctx, updates) }()
		defer func() { cancel(); <-done }()
		if u := receive(t, updates); string(u.Data) != string(sourcetest.Doc(1)) {
			t.Fatalf("first update %+v", u)
		}
		be.Set(t, sourcetest.Doc(2))
		if u := receive(t, updates); string(u.Data) != string(sourcetest.Doc(2)) {
			t.Fatalf("after the edit: %+v", u)
		}
	})
	t.Run("MissingObject", func(t *testing.T) {
		_, uri := s.newBucket(t, "flags.json", sourcetest.Doc(1))
		uri = strings.Replace(uri, "/flags.json", "/missing.json", 1)
		wantErr(t, first(t, newSource(t, uri)), `object "missing.json" not found in bucket`)
	})
	t.Run("MissingBucket", func(t *testing.T) {
		wantErr(t, first(t, newSource(t, s.uri("vexil-no-such-bucket", "flags.json"))), `bucket "vexil-no-such-bucket" does not exist`)
	})
	if badCredentials != nil {
		t.Run("BadCredentials", func(t *testing.T) {
			uri, mux := badCredentials(t)
			cfg, err := blobsource.FromURI(uri)
			if err != nil {
				t.Fatal(err)
			}
			cfg.URLMux = mux
			src, err := blobsource.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			wantErr(t, first(t, src), "(check the credentials)")
		})
	}
}

func wantErr(t *testing.T, u syncsources.Update, want string) {
	t.Helper()
	if u.Err == nil || !strings.Contains(u.Err.Error(), want) {
		t.Fatalf("update %+v, want an error containing %q", u, want)
	}
	t.Logf("error: %v", u.Err)
}

// first runs src until its first update.
func first(t *testing.T, src *blobsource.Source) syncsources.Update {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	updates := make(chan syncsources.Update)
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, updates) }()
	defer func() { cancel(); <-done }()
	return receive(t, updates)
}

func receive(t *testing.T, updates <-chan syncsources.Update) syncsources.Update {
	t.Helper()
	select {
	case u := <-updates:
		return u
	case <-time.After(timeout):
		t.Fatal("no update")
		return syncsources.Update{}
	}
}

// TestGCS runs against fake-gcs-server's in-process server on loopback,
// reached through gocloud's gs:// opener with STORAGE_EMULATOR_HOST.
func TestGCS(t *testing.T) {
	// The Go client reads objects by the XML API's path, which the server
	// serves on its public host only: that host is the server's address.
	port := freePort(t)
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Host: "127.0.0.1", Port: uint16(port), Scheme: "http",
		PublicHost: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(srv.URL(), "http://"))
	testStore(t, store{
		makeBucket: func(_ testing.TB, name string) {
			srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: name})
		},
		uri: func(bucket, object string) string { return "gs://" + bucket + "/" + object },
	}, nil)
}

// TestS3 runs against gofakes3, an S3-compatible server, on loopback,
// reached through gocloud's s3:// opener with flagd's query options.
func TestS3(t *testing.T) {
	mem := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(mem).Server())
	t.Cleanup(srv.Close)
	awsEnv(t, "vexil", "vexil-secret")
	testStore(t, store{
		makeBucket: func(t testing.TB, name string) {
			if err := mem.CreateBucket(name); err != nil {
				t.Fatal(err)
			}
		},
		uri: func(bucket, object string) string {
			return "s3://" + bucket + "/" + object + "?region=us-east-1&use_path_style=true&endpoint=" + srv.URL
		},
	}, nil)
}

// awsEnv sets credentials and keeps the AWS SDK off files and the
// instance metadata service.
func awsEnv(t *testing.T, id, secret string) {
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", id)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// Azurite's well-known development account.
const (
	azuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// TestAzblob runs against Azurite (npm) started on a free loopback port
// with a temporary directory, reached through gocloud's azblob:// opener
// with its local-emulator options.
func TestAzblob(t *testing.T) {
	bin := azuriteBlob(t)
	addr := startAzurite(t, bin)
	t.Setenv("AZURE_STORAGE_ACCOUNT", azuriteAccount)
	t.Setenv("AZURE_STORAGE_KEY", azuriteKey)
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", "")
	t.Setenv("AZURE_STORAGE_SAS_TOKEN", "")
	cred, err := azblob.NewSharedKeyCredential(azuriteAccount, azuriteKey)
	if err != nil {
		t.Fatal(err)
	}
	client, err := azblob.NewClientWithSharedKeyCredential("http://"+addr+"/"+azuriteAccount, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	uri := func(container, object string) string {
		return "azblob://" + container + "/" + object + "?localemu=true&protocol=http&domain=" + addr
	}
	makeContainer := func(t testing.TB, name string) {
		if _, err := client.CreateContainer(context.Background(), name, nil); err != nil {
			t.Fatal(err)
		}
	}
	testStore(t, store{
		makeBucket: makeContainer,
		uri:        uri,
	}, func(t *testing.T) (string, *blob.URLMux) {
		_, uri := store{makeBucket: makeContainer, uri: uri}.newBucket(t, "flags.json", sourcetest.Doc(1))
		// gocloud's default azblob opener reads the environment once per
		// process: a mux of its own brings the wrong key.
		mux := new(blob.URLMux)
		mux.RegisterBucket(azureblob.Scheme, &azureblob.URLOpener{
			MakeClient: func(svcURL azureblob.ServiceURL, name azureblob.ContainerName) (*container.Client, error) {
				wrong, err := azblob.NewSharedKeyCredential(azuriteAccount, "d3Jvbmcta2V5")
				if err != nil {
					return nil, err
				}
				return container.NewClientWithSharedKeyCredential(string(svcURL)+"/"+string(name), wrong, nil)
			},
			ServiceURLOptions: azureblob.ServiceURLOptions{AccountName: azuriteAccount},
		})
		return uri, mux
	})
}

// azuriteBlob finds Azurite's blob server: $VEXIL_AZURITE_BLOB, else
// azurite-blob on PATH, else the npm cache directory .ci/run installs it
// in. Without it the test skips (fails under CI=true).
func azuriteBlob(t *testing.T) string {
	if p := os.Getenv("VEXIL_AZURITE_BLOB"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("azurite-blob"); err == nil {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "vexil", "azurite", "node_modules", ".bin", "azurite-blob")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "Azurite is not installed: npm install --prefix ~/.cache/vexil/azurite azurite (as .ci/run does), or set VEXIL_AZURITE_BLOB"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// startAzurite starts Azurite's blob server on a free loopback port, in a
// temporary directory, and returns its address once it accepts
// connections.
func startAzurite(t *testing.T, bin string) string {
	port := freePort(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port),
		"--location", dir, "--silent", "--skipApiVersionCheck", "--disableTelemetry")
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr
		}
		select {
		case err := <-exited:
			t.Fatalf("azurite exited: %v", errors.Join(err, errors.New("see its output above")))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("azurite does not accept connections on %s", addr)
		}
	}
}

// freePort returns a loopback port that was free a moment ago, for a
// server that must be told its port.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// s3rver's key pair, the only one it accepts.
const s3rverKey = "S3RVER"

// TestS3Credentials runs against s3rver (npm), an S3 emulator that refuses
// access keys it does not know (gofakes3, which the contract runs against,
// checks no credentials): a source whose key is refused reports it, with
// its name and the store's answer, and a source with s3rver's key serves
// the object. A wrong secret for a known key cannot be tested here:
// s3rver checks SigV2 signatures but not SigV4 ones, which the AWS SDK
// makes, and no S3 emulator among the project's test tools does.
func TestS3Credentials(t *testing.T) {
	bin := s3rverBin(t)
	const bucket = "vexil-credentials"
	addr := startS3rver(t, bin, bucket)
	// s3rver predates the SDK's default checksums: ask for them only
	// where S3 requires them.
	uri := "s3://" + bucket + "/flags.json?region=us-east-1&use_path_style=true&endpoint=http://" + addr +
		"&request_checksum_calculation=when_required&response_checksum_validation=when_required"
	bucketURL := strings.Replace(uri, "/flags.json", "", 1)

	awsEnv(t, s3rverKey, s3rverKey)
	b, err := blob.OpenBucket(context.Background(), bucketURL)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.WriteAll(context.Background(), "flags.json", sourcetest.Doc(1), nil); err != nil {
		t.Fatal(err)
	}
	if u := first(t, newSource(t, uri)); u.Err != nil || string(u.Data) != string(sourcetest.Doc(1)) {
		t.Fatalf("with s3rver's key pair: %+v, want the document", u)
	}

	t.Run("UnknownKey", func(t *testing.T) {
		awsEnv(t, "NOBODY", "not-the-secret")
		u := first(t, newSource(t, uri))
		wantErr(t, u, `access to bucket "`+bucket+`" denied (check the credentials)`)
		// The source's name, and S3's answer (to a HEAD: a status, no body).
		for _, want := range []string{uri + ": ", "StatusCode: 403"} {
			if !strings.Contains(u.Err.Error(), want) {
				t.Errorf("error %q does not say %q", u.Err, want)
			}
		}
	})
}

// s3rverBin finds s3rver: $VEXIL_S3RVER, else s3rver on PATH, else the
// npm cache directory .ci/run installs it in. Without it the test skips
// (fails under CI=true).
func s3rverBin(t *testing.T) string {
	if p := os.Getenv("VEXIL_S3RVER"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("s3rver"); err == nil {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "vexil", "s3rver", "node_modules", ".bin", "s3rver")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "s3rver is not installed: npm install --prefix ~/.cache/vexil/s3rver s3rver@3.7.1 (as .ci/run does), or set VEXIL_S3RVER"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// startS3rver starts s3rver on a free loopback port, in a temporary
// directory, with bucket made, and returns its address once it accepts
// connections.
func startS3rver(t *testing.T, bin, bucket string) string {
	port := freePort(t)
	cmd := exec.Command(bin, "-d", t.TempDir(), "-a", "127.0.0.1", "-p", strconv.Itoa(port), "--silent",
		"--no-vhost-buckets", "--configure-bucket", bucket)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr
		}
		select {
		case err := <-exited:
			t.Fatalf("s3rver exited: %v", errors.Join(err, errors.New("see its output above")))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("s3rver does not accept connections on %s", addr)
		}
	}
}
