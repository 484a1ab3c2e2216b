package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/vexilhq/vexil/daemon"
	"github.com/vexilhq/vexil/examples"
	"github.com/vexilhq/vexil/internal/k8stest"
)

// cluster is this package's Kubernetes control plane, started by the first
// test that needs it.
var cluster k8stest.Shared

// writeKubeconfig writes a kubeconfig for the control plane and points
// KUBECONFIG at it, as a daemon outside the cluster is configured.
func writeKubeconfig(t testing.TB, cp *k8stest.ControlPlane) {
	t.Helper()
	writeKubeconfigAs(t, cp, "")
}

// writeKubeconfigAs is writeKubeconfig for a user the administrator
// impersonates ("" for the administrator).
func writeKubeconfigAs(t testing.TB, cp *k8stest.ControlPlane, as string) {
	t.Helper()
	user := map[string]any{"token": cp.Config.BearerToken}
	if as != "" {
		user["as"] = as
	}
	cfg := map[string]any{
		"apiVersion":      "v1",
		"kind":            "Config",
		"clusters":        []any{map[string]any{"name": "test", "cluster": map[string]any{"server": cp.Config.Host, "insecure-skip-tls-verify": true}}},
		"users":           []any{map[string]any{"name": "test", "user": user}},
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

// TestKubernetesExampleManifests applies examples/kubernetes/featureflag's
// RBAC and FeatureFlag to a real API server and runs the daemon as the
// example's service account: its Role must be enough, and the example's
// flags must be served.
func TestKubernetesExampleManifests(t *testing.T) {
	cp := cluster.Get(t)
	ns := cp.Namespace(t)
	ctx := context.Background()
	resources := map[string]schema.GroupVersionResource{
		"ServiceAccount": {Version: "v1", Resource: "serviceaccounts"},
		"Role":           {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
		"RoleBinding":    {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
		"FeatureFlag":    k8stest.FeatureFlags,
	}
	for _, file := range []string{"rbac.yaml", "featureflag.yaml"} {
		data, err := examples.Kubernetes.ReadFile("kubernetes/featureflag/" + file)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			obj := &unstructured.Unstructured{}
			if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			if obj.Object == nil {
				continue
			}
			if obj.GetKind() == "RoleBinding" {
				subjects, _, _ := unstructured.NestedSlice(obj.Object, "subjects")
				for _, s := range subjects {
					s.(map[string]any)["namespace"] = ns
				}
				_ = unstructured.SetNestedSlice(obj.Object, subjects, "subjects")
			}
			gvr, ok := resources[obj.GetKind()]
			if !ok {
				t.Fatalf("%s: unexpected kind %s", file, obj.GetKind())
			}
			if _, err := cp.Dynamic.Resource(gvr).Namespace(ns).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
				t.Fatalf("%s: creating %s %s: %v", file, obj.GetKind(), obj.GetName(), err)
			}
		}
	}

	writeKubeconfigAs(t, cp, "system:serviceaccount:"+ns+":vexil")
	d := startDaemon(t, daemon.Config{Sources: []daemon.SourceSpec{{URI: "core.openfeature.dev/" + ns + "/demo-flags"}}})
	d.waitReady(t)
	if a := d.resolveBoolean(t, "new-checkout", `{"email":"ana@example.com"}`); !a.Value || a.Variant != "on" {
		t.Fatalf("new-checkout for ana@example.com: %+v", a)
	}
	d.stop(t)

	// Without the RoleBinding the same account is refused: the Role is what
	// grants access.
	if err := cp.Dynamic.Resource(resources["RoleBinding"]).Namespace(ns).Delete(ctx, "vexil-featureflag-reader", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	d2 := startDaemon(t, daemon.Config{Sources: []daemon.SourceSpec{{URI: "core.openfeature.dev/" + ns + "/demo-flags"}}})
	r := d2.waitReadyz(t, "a refusal", func(_ int, r readyz) bool { return len(r.Sources) == 1 && r.Sources[0].LastError != "" })
	if r.Ready || !strings.Contains(r.Sources[0].LastError, "forbidden") {
		t.Errorf("/readyz without the RoleBinding: %+v", r)
	}
	d2.stop(t)
	cp.CloseIdleConnections()
}
