package daemon_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/vexilhq/vexil/daemon"
	"github.com/vexilhq/vexil/internal/k8stest"
)

// cluster is this package's Kubernetes control plane, started by the first
// test that needs it.
var cluster k8stest.Shared

// writeKubeconfig writes a kubeconfig for the control plane and points
// KUBECONFIG at it, as a daemon outside the cluster is configured.
func writeKubeconfig(t testing.TB, cp *k8stest.ControlPlane) {
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

func featureFlag(t testing.TB, ns, doc string) *unstructured.Unstructured {
	t.Helper()
	var spec map[string]any
	if err := json.Unmarshal([]byte(doc), &spec); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "core.openfeature.dev/v1beta1",
		"kind":       "FeatureFlag",
		"metadata":   map[string]any{"name": "flags", "namespace": ns},
		"spec":       map[string]any{"flagSpec": spec},
	}}
}

// TestKubernetesSource: a daemon configured with a FeatureFlag's
// core.openfeature.dev/NAMESPACE/NAME serves its flags and their changes,
// from a real API server.
func TestKubernetesSource(t *testing.T) {
	cp := cluster.Get(t)
	ns := cp.Namespace(t)
	writeKubeconfig(t, cp)
	res := cp.Dynamic.Resource(k8stest.FeatureFlags).Namespace(ns)
	ctx := context.Background()
	obj, err := res.Create(ctx, featureFlag(t, ns, flagsDoc(true)), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, daemon.Config{Sources: []daemon.SourceSpec{{URI: "core.openfeature.dev/" + ns + "/flags"}}})
	d.waitValue(t, true)

	obj.Object["spec"] = featureFlag(t, ns, flagsDoc(false)).Object["spec"]
	if _, err := res.Update(ctx, obj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	d.waitValue(t, false)
	d.stop(t)
	cp.CloseIdleConnections()
}
