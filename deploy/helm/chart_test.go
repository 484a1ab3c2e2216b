package helm_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/vexilhq/vexil/internal/k8stest"
)

var cluster k8stest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	cluster.Close()
	os.Exit(code)
}

// render renders the chart as `helm template vexil deploy/helm/vexil -n ns
// -f values` does, with Helm's chart loader and template engine, and
// returns its manifests by template path (NOTES.txt and helpers left out).
func render(t *testing.T, ns string, values map[string]any) map[string]string {
	t.Helper()
	chrt, err := loader.Load("vexil")
	if err != nil {
		t.Fatal(err)
	}
	if err := chartutil.ValidateAgainstSchema(chrt, values); err != nil {
		t.Fatal(err)
	}
	vals, err := chartutil.ToRenderValues(chrt, values,
		chartutil.ReleaseOptions{Name: "vexil", Namespace: ns, Revision: 1, IsInstall: true},
		chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.Render(chrt, vals)
	if err != nil {
		t.Fatal(err)
	}
	manifests := map[string]string{}
	for name, text := range out {
		if path.Ext(name) == ".yaml" && strings.TrimSpace(text) != "" {
			manifests[name] = text
		}
	}
	return manifests
}

// objects splits the manifests into objects, in a stable order.
func objects(t *testing.T, manifests map[string]string) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	for _, name := range slices.Sorted(maps.Keys(manifests)) {
		rd := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifests[name])))
		for {
			doc, err := rd.Read()
			if err != nil {
				break
			}
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			var obj map[string]any
			if err := yaml.Unmarshal(doc, &obj); err != nil {
				t.Fatalf("%s: %v\n%s", name, err, doc)
			}
			if obj != nil {
				objs = append(objs, &unstructured.Unstructured{Object: obj})
			}
		}
	}
	return objs
}

// deployment decodes the rendered Deployment with the Kubernetes API types.
func deployment(t *testing.T, manifests map[string]string) appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict([]byte(manifests["vexil/templates/deployment.yaml"]), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestChartApplies renders the chart, creates every object on a real API
// server (which validates them as the cluster would), and checks the pod
// spec of the Deployment the server stored.
func TestChartApplies(t *testing.T) {
	cp := cluster.Get(t)
	ns := cp.Namespace(t)
	manifests := render(t, ns, map[string]any{"featureFlags": []any{"demo-flags"}})

	clientset, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := restmapper.GetAPIGroupResources(clientset.Discovery())
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDiscoveryRESTMapper(groups)
	ctx := context.Background()
	var kinds []string
	for _, obj := range objects(t, manifests) {
		gvk := obj.GroupVersionKind()
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s: %v", gvk, err)
		}
		if _, err := cp.Dynamic.Resource(mapping.Resource).Namespace(ns).Create(ctx, obj, metav1.CreateOptions{FieldValidation: "Strict"}); err != nil {
			t.Fatalf("creating %s %s: %v", gvk.Kind, obj.GetName(), err)
		}
		kinds = append(kinds, gvk.Kind)
	}
	slices.Sort(kinds)
	if want := []string{"ConfigMap", "Deployment", "Role", "RoleBinding", "Service", "ServiceAccount"}; !slices.Equal(kinds, want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}

	stored, err := clientset.AppsV1().Deployments(ns).Get(ctx, "vexil", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkPodSpec(t, stored.Spec.Template.Spec)
	checkSources(t, stored.Spec.Template.Spec.Containers[0].Args, ns)
	cp.CloseIdleConnections()
}

// TestChartRenders checks the rendered Deployment's pod spec without a
// cluster, and the values that change it.
func TestChartRenders(t *testing.T) {
	tests := []struct {
		name      string
		values    map[string]any
		image     string
		automount bool
	}{
		{"defaults", nil, "ghcr.io/vexilhq/vexil:latest", false},
		{"pinned digest", map[string]any{"image": map[string]any{"digest": "sha256:" + strings.Repeat("ab", 32)}},
			"ghcr.io/vexilhq/vexil@sha256:" + strings.Repeat("ab", 32), false},
		{"feature flags", map[string]any{"featureFlags": []any{"flags", "other/flags"}}, "ghcr.io/vexilhq/vexil:latest", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := deployment(t, render(t, "team-a", tt.values))
			spec := d.Spec.Template.Spec
			checkPodSpec(t, spec)
			if got := spec.Containers[0].Image; got != tt.image {
				t.Errorf("image %q, want %q", got, tt.image)
			}
			if got := spec.AutomountServiceAccountToken; got == nil || *got != tt.automount {
				t.Errorf("automountServiceAccountToken %v, want %v", got, tt.automount)
			}
			if a := d.Spec.Template.Annotations; a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != "8014" {
				t.Errorf("scrape annotations %v", a)
			}
		})
	}
}

// checkSources checks the --sources argument: the ConfigMap's file and
// the FeatureFlag in the release's namespace.
func checkSources(t *testing.T, args []string, ns string) {
	t.Helper()
	i := slices.IndexFunc(args, func(a string) bool { return strings.HasPrefix(a, "--sources=") })
	if i < 0 {
		t.Fatalf("no --sources in %q", args)
	}
	var sources []map[string]any
	if err := json.Unmarshal([]byte(strings.TrimPrefix(args[i], "--sources=")), &sources); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{
		{"uri": "/etc/vexil/flags/flags.json", "provider": "file"},
		{"uri": "core.openfeature.dev/" + ns + "/demo-flags", "provider": "kubernetes"},
	}
	if got, _ := json.Marshal(sources); string(got) != mustJSON(t, want) {
		t.Errorf("sources %s, want %s", got, mustJSON(t, want))
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkPodSpec checks the probes, resources and security context of the
// vexil container and its pod.
func checkPodSpec(t *testing.T, spec corev1.PodSpec) {
	t.Helper()
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]
	probes := []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{
		{"startupProbe", c.StartupProbe, "/readyz"},
		{"livenessProbe", c.LivenessProbe, "/healthz"},
		{"readinessProbe", c.ReadinessProbe, "/readyz"},
	}
	for _, p := range probes {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: not an HTTP probe: %+v", p.name, p.probe)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "management" {
			t.Errorf("%s: %s on port %s, want %s on management", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path)
		}
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "management" && p.ContainerPort == 8014 }) {
		t.Errorf("no management port 8014 in %v", c.Ports)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %v: want CPU and memory requests and a memory limit", c.Resources)
	}
	if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
		return e.Name == "GOMEMLIMIT" && e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil &&
			e.ValueFrom.ResourceFieldRef.Resource == "limits.memory"
	}) {
		t.Errorf("no GOMEMLIMIT from limits.memory in %v", c.Env)
	}
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Fatal("no container securityContext")
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
		t.Error("runAsNonRoot is not true")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("readOnlyRootFilesystem is not true")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("allowPrivilegeEscalation is not false")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Errorf("capabilities %+v, want drop ALL and add none", sc.Capabilities)
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("seccompProfile %+v, want RuntimeDefault", sc.SeccompProfile)
	}
	if psc := spec.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and a non-zero runAsUser", psc)
	}
}
