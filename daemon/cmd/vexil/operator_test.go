package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/vexilhq/vexil/internal/k8stest"
)

// cluster is this package's Kubernetes control plane, started by the first
// test that needs it (the binaries: see k8stest.BinDirEnv); TestMain stops
// it.
var cluster k8stest.Shared

// The OpenFeature Operator's sidecar, as open-feature/open-feature-operator
// at commit 90d373fd1661c998ae22f95fb32367dcbfd2d86c injects it
// (internal/common/flagdinjector/flagdinjector.go, api/core/v1beta1/
// featureflagsource_types.go, internal/common/types/sourceconfig.go):
//
//   - args: "start", "--management-port", spec.managementPort (8014),
//     "--port", spec.port (8013), then "--sources" and the JSON array of the
//     sources (each {"uri","provider"} with omitempty bearerToken, certPath,
//     tls, providerID, selector, interval), then --debug, --metrics-exporter
//     otel --otel-collector-uri, --context-value K=V, --context-from-header
//     H=K, --cors-origin, and "--ofrep-port", spec.ofrepPort (8016, a CRD
//     default, so always there) when set. (--sync-provider-args, from the
//     deprecated syncProviderArgs field, is not a flag of flagd either.)
//   - env: spec.envVars, each name prefixed with envVarPrefix + "_" (FLAGD_,
//     except AZURE_STORAGE*, AWS_* and GOOGLE_*), then FLAGD_MANAGEMENT_PORT,
//     FLAGD_PORT, FLAGD_EVALUATOR (json), FLAGD_LOG_FORMAT (json),
//     FLAGD_RESOLVER (rpc) and FLAGD_SOCKET_PATH when spec.socketPath is set.
//   - probes: HTTP GET /healthz (liveness) and /readyz (readiness) on the
//     management port, initialDelaySeconds 5.
//   - a kubernetes source: {"uri":"NAMESPACE/NAME","provider":"kubernetes"},
//     read with the pod's service account (in-cluster configuration).
//   - a file source: the FeatureFlag's spec.flagSpec as JSON, in a ConfigMap
//     mounted at /etc/flagd/NAMESPACE_NAME, key NAMESPACE_NAME.flagd.json:
//     {"uri":"/etc/flagd/NS_NAME/NS_NAME.flagd.json","provider":"file"}.

// operatorSpec is the part of a FeatureFlagSource's spec the operator turns
// into the sidecar's command line and environment.
type operatorSpec struct {
	ManagementPort, Port, OFREPPort int
	Sources                         []map[string]any // as types.SourceConfig marshals
	EnvVars                         map[string]string
	// Optional fields, each turned into flags.
	DebugLogging                          bool
	ContextValues, HeaderToContextMapping map[string]string
	CORS                                  []string
}

// operatorArgs is the sidecar's argument list for spec (buildFlagdArgs with
// the fields this test sets).
func operatorArgs(t *testing.T, spec operatorSpec) []string {
	t.Helper()
	sources, err := json.Marshal(spec.Sources)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{
		"start", "--management-port", strconv.Itoa(spec.ManagementPort), "--port", strconv.Itoa(spec.Port),
		"--sources", string(sources),
	}
	if spec.DebugLogging {
		args = append(args, "--debug")
	}
	for _, m := range []struct {
		flag string
		kv   map[string]string
	}{{"--context-value", spec.ContextValues}, {"--context-from-header", spec.HeaderToContextMapping}} {
		for _, k := range slices.Sorted(maps.Keys(m.kv)) {
			args = append(args, m.flag, k+"="+m.kv[k])
		}
	}
	for _, origin := range spec.CORS {
		args = append(args, "--cors-origin", origin)
	}
	return append(args, "--ofrep-port", strconv.Itoa(spec.OFREPPort))
}

// operatorEnv is the sidecar's environment for spec (ToEnvVars).
func operatorEnv(spec operatorSpec) map[string]string {
	env := map[string]string{}
	for k, v := range spec.EnvVars {
		env["FLAGD_"+k] = v
	}
	env["FLAGD_MANAGEMENT_PORT"] = strconv.Itoa(spec.ManagementPort)
	env["FLAGD_PORT"] = strconv.Itoa(spec.Port)
	env["FLAGD_EVALUATOR"] = "json"
	env["FLAGD_LOG_FORMAT"] = "json"
	env["FLAGD_RESOLVER"] = "rpc"
	return env
}

// freePort returns a port free on 127.0.0.1 now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// newOperatorSpec is a FeatureFlagSource spec on free ports. Its envVars
// set the sync port (not among the operator's flags; its default 8015 may
// be taken on a test machine) and the bind address, as a user's may.
func newOperatorSpec(t *testing.T, sources ...map[string]any) operatorSpec {
	return operatorSpec{
		ManagementPort: freePort(t), Port: freePort(t), OFREPPort: freePort(t),
		Sources: sources,
		EnvVars: map[string]string{"SYNC_PORT": strconv.Itoa(freePort(t)), "BIND_ADDRESS": "127.0.0.1"},
	}
}

// runSidecar runs `vexil start` in-process with the operator's arguments
// and environment for spec, waits until its readiness probe (/readyz on the
// management port) passes after it logged the flags loaded, and checks that
// the evaluation port (the rpc resolver's) serves flag key as want. The
// daemon stops when the test ends, and must exit 0.
func runSidecar(t *testing.T, spec operatorSpec, key string, want bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		code := execute(ctx, operatorArgs(t, spec), envOf(operatorEnv(spec)), strings.NewReader(""), io.Discard, pw)
		pw.Close()
		done <- code
	}()
	loaded := make(chan struct{})
	logTail := make(chan []string, 1)
	go func() {
		var lines []string
		sc := bufio.NewScanner(pr)
		signalled := false
		for sc.Scan() {
			lines = append(lines, sc.Text())
			var rec struct{ Msg string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "flags loaded" && !signalled {
				close(loaded)
				signalled = true
			}
		}
		logTail <- lines
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exit code %d, want 0; log:\n%s", code, strings.Join(<-logTail, "\n"))
		}
	})
	select {
	case <-loaded:
	case code := <-done:
		done <- code
		t.Fatalf("vexil start ended (exit %d) before loading flags; log:\n%s", code, strings.Join(<-logTail, "\n"))
	case <-time.After(60 * time.Second):
		t.Fatal("no flags loaded in time")
	}

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	for _, probe := range []string{"/healthz", "/readyz"} {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", spec.ManagementPort, probe))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s, want 200", probe, resp.Status)
		}
	}
	resp, err := client.Post(fmt.Sprintf("http://127.0.0.1:%d/flagd.evaluation.v1.Service/ResolveBoolean", spec.Port),
		"application/json", strings.NewReader(`{"flagKey":"`+key+`","context":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Value bool }
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || got.Value != want {
		t.Errorf("ResolveBoolean %s: status %d, value %v, err %v; want 200 and %v", key, resp.StatusCode, got.Value, err, want)
	}
}

const operatorFlagSpec = `{"flags":{"new-welcome":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on"}}}`

// TestOperatorFileSource: the sidecar the operator injects for a "file"
// source (the FeatureFlag's flagSpec in a mounted ConfigMap file) starts,
// becomes ready and serves the flag.
func TestOperatorFileSource(t *testing.T) {
	// The ConfigMap volume's layout: /etc/flagd/NS_NAME/NS_NAME.flagd.json.
	dir := filepath.Join(t.TempDir(), "etc", "flagd", "default_app-flags")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "default_app-flags.flagd.json")
	if err := os.WriteFile(file, []byte(operatorFlagSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		modify func(*operatorSpec)
	}{
		{"defaults", func(*operatorSpec) {}},
		{"every optional field", func(s *operatorSpec) {
			s.DebugLogging = true
			s.ContextValues = map[string]string{"env": "prod", "region": "eu"}
			s.HeaderToContextMapping = map[string]string{"X-User-Tier": "tier"}
			s.CORS = []string{"https://app.example.com"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := newOperatorSpec(t, map[string]any{"uri": file, "provider": "file"})
			tt.modify(&spec)
			runSidecar(t, spec, "new-welcome", true)
		})
	}
}

// TestOperatorKubernetesSource: the sidecar the operator injects for a
// "kubernetes" source (a FeatureFlag, "NAMESPACE/NAME") reads it from a
// real API server, becomes ready and serves the flag. The pod's in-cluster
// configuration is stood in for by KUBECONFIG.
func TestOperatorKubernetesSource(t *testing.T) {
	cp := cluster.Get(t)
	ns := cp.Namespace(t)
	var flagSpec map[string]any
	if err := json.Unmarshal([]byte(operatorFlagSpec), &flagSpec); err != nil {
		t.Fatal(err)
	}
	ff := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "core.openfeature.dev/v1beta1",
		"kind":       "FeatureFlag",
		"metadata":   map[string]any{"name": "app-flags", "namespace": ns},
		"spec":       map[string]any{"flagSpec": flagSpec},
	}}
	if _, err := cp.Dynamic.Resource(k8stest.FeatureFlags).Namespace(ns).Create(context.Background(), ff, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	writeKubeconfig(t, cp)
	runSidecar(t, newOperatorSpec(t, map[string]any{"uri": ns + "/app-flags", "provider": "kubernetes"}), "new-welcome", true)
	cp.CloseIdleConnections()
}

// writeKubeconfig writes a kubeconfig for the control plane and points
// KUBECONFIG at it.
func writeKubeconfig(t *testing.T, cp *k8stest.ControlPlane) {
	t.Helper()
	cfg := map[string]any{
		"apiVersion":      "v1",
		"kind":            "Config",
		"clusters":        []any{map[string]any{"name": "test", "cluster": map[string]any{"server": cp.Config.Host, "insecure-skip-tls-verify": true}}},
		"users":           []any{map[string]any{"name": "test", "user": map[string]any{"token": cp.Config.BearerToken}}},
		"contexts":        []any{map[string]any{"name": "test", "context": map[string]any{"cluster": "test", "user": "test"}}},
		"current-context": "test",
	}
	data, err := json.Marshal(cfg) // JSON is YAML
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", path)
}
