package examples_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vexilhq/vexil/evaluator"
)

const sidecarManifest = "kubernetes/sidecar.yaml"

// The parts of Kubernetes objects the sidecar checks look at.
type (
	k8sObject struct {
		Kind     string                `yaml:"kind"`
		Metadata struct{ Name string } `yaml:"metadata"`
		Data     map[string]string     `yaml:"data"`
		Spec     struct {
			Template struct {
				Metadata struct {
					Annotations map[string]string `yaml:"annotations"`
				} `yaml:"metadata"`
				Spec podSpec `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	podSpec struct {
		SecurityContext struct {
			RunAsNonRoot *bool `yaml:"runAsNonRoot"`
		} `yaml:"securityContext"`
		InitContainers []container `yaml:"initContainers"`
		Containers     []container `yaml:"containers"`
		Volumes        []volume    `yaml:"volumes"`
	}
	volume struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name  string `yaml:"name"`
			Items []struct {
				Key  string `yaml:"key"`
				Path string `yaml:"path"`
			} `yaml:"items"`
		} `yaml:"configMap"`
	}
	containerPort struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	}
	container struct {
		Name            string          `yaml:"name"`
		Image           string          `yaml:"image"`
		RestartPolicy   string          `yaml:"restartPolicy"`
		Env             []envVar        `yaml:"env"`
		StartupProbe    *probe          `yaml:"startupProbe"`
		Command         []string        `yaml:"command"`
		Args            []string        `yaml:"args"`
		Ports           []containerPort `yaml:"ports"`
		LivenessProbe   *probe          `yaml:"livenessProbe"`
		ReadinessProbe  *probe          `yaml:"readinessProbe"`
		SecurityContext struct {
			ReadOnlyRootFilesystem *bool `yaml:"readOnlyRootFilesystem"`
		} `yaml:"securityContext"`
		Resources struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
			SubPath   string `yaml:"subPath"`
		} `yaml:"volumeMounts"`
	}
	envVar struct {
		Name      string `yaml:"name"`
		ValueFrom *struct {
			ResourceFieldRef *struct {
				Resource string `yaml:"resource"`
			} `yaml:"resourceFieldRef"`
		} `yaml:"valueFrom"`
	}
	probe struct {
		HTTPGet *struct {
			Path string `yaml:"path"`
			Port any    `yaml:"port"` // a number or a port name
		} `yaml:"httpGet"`
	}
)

// checkSidecar returns what is wrong with the sidecar manifest.
func checkSidecar(manifest []byte) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	var configMaps, deployments []k8sObject
	dec := yaml.NewDecoder(bytes.NewReader(manifest))
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return []error{fmt.Errorf("YAML: %w", err)}
		}
		switch o.Kind {
		case "ConfigMap":
			configMaps = append(configMaps, o)
		case "Deployment":
			deployments = append(deployments, o)
		}
	}
	if len(configMaps) != 1 || len(deployments) != 1 {
		return []error{fmt.Errorf("want one ConfigMap and one Deployment, have %d and %d", len(configMaps), len(deployments))}
	}
	cm, pod := configMaps[0], deployments[0].Spec.Template.Spec
	annotations := deployments[0].Spec.Template.Metadata.Annotations
	if annotations["prometheus.io/scrape"] != "true" || annotations["prometheus.io/port"] != "8014" || annotations["prometheus.io/path"] != "/metrics" {
		fail("the pod's Prometheus scrape annotations %v are not scrape true, port 8014, path /metrics", annotations)
	}

	// Every flag file in the ConfigMap is strictly valid.
	parser, err := evaluator.NewParser(evaluator.Options{Strict: true})
	if err != nil {
		return []error{err}
	}
	if len(cm.Data) == 0 {
		fail("ConfigMap %s has no data", cm.Metadata.Name)
	}
	for key, doc := range cm.Data {
		set, problems, err := parser.Parse(key, []byte(doc), evaluator.FormatForPath(key))
		switch {
		case err != nil:
			fail("ConfigMap key %s: %v", key, err)
		case len(problems) > 0:
			fail("ConfigMap key %s: problems: %v", key, problems)
		case set.Len() == 0:
			fail("ConfigMap key %s has no flags", key)
		}
	}

	if pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		fail("the pod does not set runAsNonRoot: true")
	}

	// The vexil container: a native sidecar, so that the app starts once
	// vexil is ready.
	if slices.ContainsFunc(pod.Containers, func(c container) bool { return strings.Contains(c.Image, "vexil") }) {
		fail("vexil is a regular container: make it a native sidecar (an init container with restartPolicy: Always)")
	}
	i := slices.IndexFunc(pod.InitContainers, func(c container) bool { return strings.Contains(c.Image, "vexil") })
	if i < 0 {
		return append(errs, errors.New("no vexil init container"))
	}
	c := pod.InitContainers[i]
	if c.RestartPolicy != "Always" {
		fail("the vexil init container's restartPolicy is %q, not Always (a native sidecar)", c.RestartPolicy)
	}
	if strings.HasSuffix(c.Image, ":latest") || !strings.Contains(c.Image[strings.LastIndex(c.Image, "/")+1:], ":") && !strings.Contains(c.Image, "@sha256:") {
		fail("the vexil image %s is not pinned to a version or digest", c.Image)
	}
	if !slices.ContainsFunc(c.Env, func(e envVar) bool {
		return e.Name == "GOMEMLIMIT" && e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil && e.ValueFrom.ResourceFieldRef.Resource == "limits.memory"
	}) {
		fail("vexil has no GOMEMLIMIT from its limits.memory (downward API)")
	}
	if len(c.Args) == 0 || c.Args[0] != "start" {
		fail("vexil args %q do not start with start", c.Args)
	}
	var uris []string
	for j, a := range c.Args {
		switch {
		case (a == "--uri" || a == "-f") && j+1 < len(c.Args):
			uris = append(uris, c.Args[j+1])
		case strings.HasPrefix(a, "--uri="):
			uris = append(uris, strings.TrimPrefix(a, "--uri="))
		}
	}
	if len(uris) == 0 {
		fail("vexil has no --uri")
	}
	for _, uri := range uris {
		p, ok := strings.CutPrefix(uri, "file:")
		if !ok || !path.IsAbs(p) {
			fail("--uri %s is not file:/absolute/path", uri)
			continue
		}
		p = path.Clean(p)
		found := false
		for _, m := range c.VolumeMounts {
			rel, ok := strings.CutPrefix(p, path.Clean(m.MountPath)+"/")
			if !ok {
				continue
			}
			found = true
			if m.SubPath != "" {
				fail("mount %s uses subPath %s: ConfigMap updates would never reach it", m.Name, m.SubPath)
			}
			v := slices.IndexFunc(pod.Volumes, func(v volume) bool {
				return v.Name == m.Name
			})
			if v < 0 || pod.Volumes[v].ConfigMap == nil {
				fail("mount %s is not a ConfigMap volume", m.Name)
				continue
			}
			vol := pod.Volumes[v].ConfigMap
			if vol.Name != cm.Metadata.Name {
				fail("volume %s mounts ConfigMap %s, not %s", m.Name, vol.Name, cm.Metadata.Name)
			}
			key := rel
			if len(vol.Items) > 0 {
				key = ""
				for _, it := range vol.Items {
					if path.Clean(it.Path) == rel {
						key = it.Key
					}
				}
			}
			if _, ok := cm.Data[key]; !ok {
				fail("--uri %s names %s, which is no key of ConfigMap %s", uri, rel, cm.Metadata.Name)
			}
		}
		if !found {
			fail("--uri %s lies outside every volume mount of the vexil container", uri)
		}
	}

	// Ports and probes.
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for _, want := range []int{8013, 8014, 8015, 8016} {
		if !slices.ContainsFunc(c.Ports, func(p containerPort) bool {
			return p.ContainerPort == want && p.Name != ""
		}) {
			fail("no named container port %d", want)
		}
	}
	for _, pr := range []struct {
		name, path string
		probe      *probe
	}{
		{"startupProbe", "/readyz", c.StartupProbe},
		{"livenessProbe", "/healthz", c.LivenessProbe},
		{"readinessProbe", "/readyz", c.ReadinessProbe},
	} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			fail("vexil has no HTTP %s", pr.name)
			continue
		}
		g := pr.probe.HTTPGet
		if g.Path != pr.path {
			fail("%s path is %s, not %s", pr.name, g.Path, pr.path)
		}
		port := -1
		switch p := g.Port.(type) {
		case int:
			port = p
		case string:
			if n, ok := ports[p]; ok {
				port = n
			}
		}
		if port != 8014 {
			fail("%s port %v is not the management port 8014", pr.name, g.Port)
		}
	}

	if bytes.Contains(manifest, []byte("namespace:")) {
		fail("the manifest hard-codes a namespace: kubectl apply -n NAMESPACE chooses it")
	}
	if ro := c.SecurityContext.ReadOnlyRootFilesystem; ro == nil || !*ro {
		fail("vexil's root filesystem is not read-only")
	}
	for _, r := range []string{"cpu", "memory"} {
		if c.Resources.Requests[r] == "" || c.Resources.Limits[r] == "" {
			fail("vexil has no %s request and limit", r)
		}
	}
	return errs
}

func TestKubernetesSidecar(t *testing.T) {
	manifest, err := os.ReadFile(sidecarManifest)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range checkSidecar(manifest) {
		t.Error(err)
	}
}

// TestKubernetesSidecarChecks: the checks catch a broken manifest.
func TestKubernetesSidecarChecks(t *testing.T) {
	manifest, err := os.ReadFile(sidecarManifest)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, old, new string }{
		{"invalid flag file", `"defaultVariant": "plain"`, `"defaultVariant": "fancy"`},
		{"flag file not JSON", `"$schema"`, `$schema`},
		{"uri outside the mount", "file:/etc/vexil/flags/flags.json", "file:/etc/flags.json"},
		{"uri names no key", "file:/etc/vexil/flags/flags.json", "file:/etc/vexil/flags/flag.json"},
		{"subPath mount", "mountPath: /etc/vexil/flags\n", "mountPath: /etc/vexil/flags\n              subPath: flags.json\n"},
		{"liveness path", "path: /healthz", "path: /health"},
		{"readiness path", "path: /readyz", "path: /healthz"},
		{"readiness port", "path: /readyz\n              port: 8014", "path: /readyz\n              port: 8013"},
		{"wrong ConfigMap", "name: vexil-flags\n", "name: other-flags\n"},
		{"not a native sidecar", "restartPolicy: Always", "restartPolicy: OnFailure"},
		{"unpinned image", "vexil:v0.1.0", "vexil:latest"},
		{"no GOMEMLIMIT", "name: GOMEMLIMIT", "name: MEMLIMIT"},
		{"no scrape annotation", `prometheus.io/scrape: "true"`, `prometheus.io/scrape: "false"`},
		{"startup probe path", "path: /readyz\n              port: 8014\n            periodSeconds: 1", "path: /ready\n              port: 8014\n            periodSeconds: 1"},
		{"hard-coded namespace", "  name: vexil-sidecar-demo\n  labels", "  name: vexil-sidecar-demo\n  namespace: default\n  labels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Contains(manifest, []byte(tc.old)) {
				t.Fatalf("the manifest has no %q to break", tc.old)
			}
			broken := bytes.Replace(manifest, []byte(tc.old), []byte(tc.new), 1)
			if errs := checkSidecar(broken); len(errs) == 0 {
				t.Error("the broken manifest passes the checks")
			} else {
				t.Log(errs)
			}
		})
	}
}
