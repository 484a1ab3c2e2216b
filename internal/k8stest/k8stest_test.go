package k8stest_test

import (
	"context"
	"os"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/vexilhq/vexil/internal/k8stest"
)

var cluster k8stest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	cluster.Close()
	os.Exit(code)
}

// The control plane serves FeatureFlags, and survives an API server restart
// with its data.
func TestControlPlane(t *testing.T) {
	cp := cluster.Get(t)
	t.Logf("control plane ready in %v, CRD established in %v", cp.Ready, cp.CRDEstablished)
	ns := cp.Namespace(t)
	ctx := context.Background()
	ff := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "core.openfeature.dev/v1beta1",
		"kind":       "FeatureFlag",
		"metadata":   map[string]any{"name": "flags"},
		"spec":       map[string]any{"flagSpec": map[string]any{"flags": map[string]any{}}},
	}}
	if _, err := cp.Dynamic.Resource(k8stest.FeatureFlags).Namespace(ns).Create(ctx, ff, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := cp.RestartAPIServer(); err != nil {
		t.Fatal(err)
	}
	t.Logf("API server restarted in %v", time.Since(t0))
	if _, err := cp.Dynamic.Resource(k8stest.FeatureFlags).Namespace(ns).Get(ctx, "flags", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
}
