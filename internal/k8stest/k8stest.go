// Package k8stest runs a real Kubernetes control plane for tests: one etcd
// and one kube-apiserver, on free loopback ports, with the FeatureFlag
// custom resource definition installed. It needs no Docker and no envtest:
// the two binaries are built from the Go module proxy by
// syncsources/kubesource/testdata/build-k8s-test-bins.sh, which prints the
// directory holding them.
//
// The directory is $VEXIL_K8S_BIN_DIR, or else the script's default cache
// directory. When the binaries are absent a test is skipped, unless the
// environment variable CI is "true": then it fails, so that a missing build
// step cannot pass as green.
//
// Start one control plane per test package and share it (see [Shared]);
// give each test a fresh namespace ([ControlPlane.Namespace]).
package k8stest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/vexilhq/vexil/examples"
	"github.com/vexilhq/vexil/internal/testenv"
)

// Versions of the binaries, as the build script names its cache directory.
const (
	KubeVersion = "v1.36.3"
	EtcdVersion = "v3.6.8"
)

// BinDirEnv names the environment variable holding the binaries' directory.
const BinDirEnv = "VEXIL_K8S_BIN_DIR"

// FeatureFlagCRD returns the FeatureFlag CustomResourceDefinition that
// Start installs, as YAML: the one users apply from examples/kubernetes
// (group core.openfeature.dev, version v1beta1, an open spec.flagSpec).
func FeatureFlagCRD() []byte {
	data, err := examples.Kubernetes.ReadFile(examples.FeatureFlagCRDPath)
	if err != nil {
		panic("k8stest: the embedded CRD is missing: " + err.Error())
	}
	return data
}

// FeatureFlags is the FeatureFlag resource.
var FeatureFlags = schema.GroupVersionResource{Group: "core.openfeature.dev", Version: "v1beta1", Resource: "featureflags"}

var (
	crds       = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	namespaces = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

// BinDir returns the directory holding kube-apiserver and etcd, and whether
// both are there.
func BinDir() (string, bool) {
	dir := os.Getenv(BinDirEnv)
	if dir == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", false
			}
			cache = filepath.Join(home, ".cache")
		}
		dir = filepath.Join(cache, "k8s-test-bins", "kube-"+KubeVersion+"-etcd-"+EtcdVersion+"-linux-amd64")
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
			return dir, false
		}
	}
	return dir, true
}

// ControlPlane is a running etcd and kube-apiserver.
type ControlPlane struct {
	// Config is an administrator's client configuration (system:masters).
	Config *rest.Config
	// Dynamic is a dynamic client made from Config.
	Dynamic dynamic.Interface

	httpClient  *http.Client
	binDir, dir string
	token       string
	apiPort     int
	etcdURL     string

	mu   sync.Mutex
	etcd *exec.Cmd
	api  *exec.Cmd
	// Timings of the start, for reports.
	Ready, CRDEstablished time.Duration
}

// Start starts etcd and kube-apiserver from the binaries in binDir, waits
// until the API server is ready and installs FeatureFlagCRD. Stop ends both.
func Start(binDir string) (cp *ControlPlane, err error) {
	t0 := time.Now()
	dir, err := os.MkdirTemp("", "k8stest-")
	if err != nil {
		return nil, err
	}
	cp = &ControlPlane{binDir: binDir, dir: dir}
	defer func() {
		if err != nil {
			cp.Stop()
		}
	}()

	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return nil, err
	}
	cp.token = hex.EncodeToString(tok)
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"),
		fmt.Appendf(nil, "%s,admin,admin,\"system:masters\"\n", cp.token), 0o600); err != nil {
		return nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(filepath.Join(dir, "sa.key"), keyPEM, 0o600); err != nil {
		return nil, err
	}

	ports, err := testenv.FreePorts(3)
	if err != nil {
		return nil, err
	}
	clientPort, peerPort := ports[0], ports[1]
	cp.apiPort = ports[2]
	cp.etcdURL = fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)

	cp.etcd, err = cp.spawn("etcd",
		"--name", "default",
		"--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", cp.etcdURL,
		"--advertise-client-urls", cp.etcdURL,
		"--listen-peer-urls", peerURL,
		"--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "default="+peerURL,
		"--unsafe-no-fsync",
	)
	if err != nil {
		return nil, err
	}
	if err := cp.StartAPIServer(); err != nil {
		return nil, err
	}
	cp.Ready = time.Since(t0)

	cp.Config = &rest.Config{
		Host:            fmt.Sprintf("https://127.0.0.1:%d", cp.apiPort),
		BearerToken:     cp.token,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		QPS:             -1, // no client-side rate limit in tests
	}
	cp.httpClient, err = rest.HTTPClientFor(cp.Config)
	if err != nil {
		return nil, err
	}
	cp.Dynamic, err = dynamic.NewForConfigAndClient(cp.Config, cp.httpClient)
	if err != nil {
		return nil, err
	}
	t1 := time.Now()
	if err := cp.installCRD(); err != nil {
		return nil, err
	}
	cp.CRDEstablished = time.Since(t1)
	return cp, nil
}

// APIServerURL is the API server's address.
func (cp *ControlPlane) APIServerURL() string { return fmt.Sprintf("https://127.0.0.1:%d", cp.apiPort) }

// StopAPIServer stops kube-apiserver (SIGTERM, then SIGKILL after 2 s: with
// watches open its graceful shutdown takes longer than tests should wait),
// leaving etcd running: clients then get "connection refused".
func (cp *ControlPlane) StopAPIServer() {
	cp.mu.Lock()
	api := cp.api
	cp.api = nil
	cp.mu.Unlock()
	stop(api, 2*time.Second)
}

// StartAPIServer starts kube-apiserver on its port against the running etcd
// and waits until it is ready (/readyz). Start calls it; call it again after
// StopAPIServer.
func (cp *ControlPlane) StartAPIServer() error {
	cp.mu.Lock()
	running := cp.api != nil
	cp.mu.Unlock()
	if running {
		return errors.New("k8stest: kube-apiserver is running")
	}
	api, err := cp.spawn("kube-apiserver",
		"--etcd-servers", cp.etcdURL,
		"--bind-address", "127.0.0.1",
		"--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(cp.apiPort),
		"--cert-dir", filepath.Join(cp.dir, "certs"),
		"--token-auth-file", filepath.Join(cp.dir, "tokens.csv"),
		"--authorization-mode", "RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", filepath.Join(cp.dir, "sa.key"),
		"--service-account-signing-key-file", filepath.Join(cp.dir, "sa.key"),
		"--service-cluster-ip-range", "10.0.0.0/24",
		"--disable-admission-plugins", "ServiceAccount",
		"--endpoint-reconciler-type", "none",
		"--profiling=false",
	)
	if err != nil {
		return err
	}
	cp.mu.Lock()
	cp.api = api
	cp.mu.Unlock()
	if err := cp.waitReady(60 * time.Second); err != nil {
		return fmt.Errorf("%w\n%s", err, cp.logTail("kube-apiserver"))
	}
	return nil
}

// RestartAPIServer stops kube-apiserver and starts it again on the same port
// against the same etcd.
func (cp *ControlPlane) RestartAPIServer() error {
	cp.StopAPIServer()
	return cp.StartAPIServer()
}

// CloseIdleConnections closes Dynamic's idle connections, so that a leak
// check does not count their goroutines.
func (cp *ControlPlane) CloseIdleConnections() {
	utilnet.CloseIdleConnectionsFor(cp.httpClient.Transport)
}

// Stop stops kube-apiserver, then etcd, and removes their files. It may be
// called more than once.
func (cp *ControlPlane) Stop() {
	cp.StopAPIServer()
	cp.mu.Lock()
	etcd := cp.etcd
	cp.etcd = nil
	cp.mu.Unlock()
	stop(etcd, 10*time.Second)
	if cp.dir != "" {
		_ = os.RemoveAll(cp.dir)
	}
}

// Namespace creates a namespace with a fresh name and deletes it when the
// test ends.
func (cp *ControlPlane) Namespace(t testing.TB) string {
	t.Helper()
	ns := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Namespace",
		"metadata":   map[string]any{"generateName": "test-"},
	}}
	got, err := cp.Dynamic.Resource(namespaces).Create(context.Background(), ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating a namespace: %v", err)
	}
	name := got.GetName()
	t.Cleanup(func() {
		// Best effort: the API server may be down after a failed test.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = cp.Dynamic.Resource(namespaces).Delete(ctx, name, metav1.DeleteOptions{})
	})
	return name
}

func (cp *ControlPlane) spawn(name string, args ...string) (*exec.Cmd, error) {
	log, err := os.OpenFile(filepath.Join(cp.dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(cp.binDir, name), args...)
	cmd.Stdout, cmd.Stderr = log, log
	// A killed test process leaves nothing running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	_ = log.Close() // the child has its own descriptor
	if err != nil {
		return nil, fmt.Errorf("k8stest: starting %s: %w", name, err)
	}
	return cmd, nil
}

// stop ends cmd: SIGTERM, then SIGKILL if it has not exited within grace.
func stop(cmd *exec.Cmd, grace time.Duration) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (cp *ControlPlane) waitReady(timeout time.Duration) error {
	client := &http.Client{
		Transport: &http.Transport{TLSClientConfig: insecureTLS()},
		Timeout:   2 * time.Second,
	}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		cp.mu.Lock()
		api := cp.api
		cp.mu.Unlock()
		if api != nil && api.ProcessState != nil {
			return fmt.Errorf("k8stest: kube-apiserver exited: %s", api.ProcessState)
		}
		req, _ := http.NewRequest(http.MethodGet, cp.APIServerURL()+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+cp.token)
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/readyz: %s", resp.Status)
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("k8stest: kube-apiserver not ready within %v: %v", timeout, last)
}

func (cp *ControlPlane) installCRD() error {
	obj := &unstructured.Unstructured{}
	if err := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(FeatureFlagCRD()), 4096).Decode(&obj.Object); err != nil {
		return fmt.Errorf("k8stest: decoding the CRD: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cp.Dynamic.Resource(crds).Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("k8stest: creating the CRD: %w", err)
	}
	for {
		got, err := cp.Dynamic.Resource(crds).Get(ctx, obj.GetName(), metav1.GetOptions{})
		if err == nil && established(got) {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("k8stest: CRD not established: %v", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	// The resource is served once discovery and the handler know it.
	for {
		_, err := cp.Dynamic.Resource(FeatureFlags).Namespace("default").List(ctx, metav1.ListOptions{})
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("k8stest: FeatureFlags not served: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func established(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}

func (cp *ControlPlane) logTail(name string) string {
	b, _ := os.ReadFile(filepath.Join(cp.dir, name+".log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return fmt.Sprintf("--- %s log (tail) ---\n%s", name, b)
}

// Shared is one control plane for a test package, started by the first Get
// and stopped by Close (from TestMain):
//
//	var cluster k8stest.Shared
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		cluster.Close()
//		os.Exit(code)
//	}
type Shared struct {
	once sync.Once
	cp   *ControlPlane
	err  error
}

// Get returns the package's control plane, starting it on first use. It
// skips t when the binaries are absent and CI is not "true", and fails t
// when they are absent in CI or the control plane does not start.
func (s *Shared) Get(t testing.TB) *ControlPlane {
	t.Helper()
	dir, ok := BinDir()
	if !ok {
		msg := fmt.Sprintf("kube-apiserver and etcd not found in %s; build them with "+
			"syncsources/kubesource/testdata/build-k8s-test-bins.sh and set %s to the directory it prints", dir, BinDirEnv)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	s.once.Do(func() { s.cp, s.err = Start(dir) })
	if s.err != nil {
		t.Fatalf("starting the control plane: %v", s.err)
	}
	return s.cp
}

// Close stops the control plane if Get started one.
func (s *Shared) Close() {
	if s.cp != nil {
		s.cp.Stop()
	}
}

func insecureTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true} //nolint:gosec // a throw-away test server's self-signed certificate
}
