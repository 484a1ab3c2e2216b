package examples_test

import (
	"bytes"
	"context"
	"os"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/vexilhq/vexil/internal/k8stest"
)

var cluster k8stest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	cluster.Close()
	os.Exit(code)
}

// TestKubernetesSidecarApplies decodes the sidecar example with the
// Kubernetes API types (strictly: a misspelt field fails) and creates its
// objects on a real API server, which validates them as a cluster would
// (the native sidecar's restartPolicy included); the stored Deployment
// keeps vexil as an init container with restartPolicy Always.
func TestKubernetesSidecarApplies(t *testing.T) {
	manifest, err := os.ReadFile(sidecarManifest)
	if err != nil {
		t.Fatal(err)
	}
	docs := bytes.Split(manifest, []byte("\n---\n"))
	if len(docs) != 2 {
		t.Fatalf("%d documents, want a ConfigMap and a Deployment", len(docs))
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(docs[0], &cm); err != nil {
		t.Fatalf("ConfigMap: %v", err)
	}
	var dep appsv1.Deployment
	if err := yaml.UnmarshalStrict(docs[1], &dep); err != nil {
		t.Fatalf("Deployment: %v", err)
	}
	if cm.Namespace != "" || dep.Namespace != "" {
		t.Errorf("namespaces %q and %q: the example sets none", cm.Namespace, dep.Namespace)
	}

	cp := cluster.Get(t)
	ns := cp.Namespace(t)
	clientset, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	opts := metav1.CreateOptions{FieldValidation: "Strict"}
	if _, err := clientset.CoreV1().ConfigMaps(ns).Create(ctx, &cm, opts); err != nil {
		t.Fatal(err)
	}
	stored, err := clientset.AppsV1().Deployments(ns).Create(ctx, &dep, opts)
	if err != nil {
		t.Fatal(err)
	}
	spec := stored.Spec.Template.Spec
	if len(spec.InitContainers) != 1 || spec.InitContainers[0].RestartPolicy == nil ||
		*spec.InitContainers[0].RestartPolicy != corev1.ContainerRestartPolicyAlways || spec.InitContainers[0].StartupProbe == nil {
		t.Errorf("stored init containers %+v: want vexil with restartPolicy Always and a startupProbe", spec.InitContainers)
	}
	cp.CloseIdleConnections()
}
