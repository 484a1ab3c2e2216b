package main

import (
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

// TestHelmChartArgs: the command line the Helm chart (deploy/helm/vexil,
// rendered with Helm's engine) gives the container is one vexil start
// accepts, with the ports and sources the chart's values say.
func TestHelmChartArgs(t *testing.T) {
	chrt, err := loader.Load("../../../deploy/helm/vexil")
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]any{"featureFlags": []any{"flags", "other/more-flags"}}
	vals, err := chartutil.ToRenderValues(chrt, values,
		chartutil.ReleaseOptions{Name: "vexil", Namespace: "team-a", Revision: 1, IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.Render(chrt, vals)
	if err != nil {
		t.Fatal(err)
	}
	var dep appsv1.Deployment
	if err := yaml.UnmarshalStrict([]byte(out["vexil/templates/deployment.yaml"]), &dep); err != nil {
		t.Fatal(err)
	}
	args := dep.Spec.Template.Spec.Containers[0].Args
	if len(args) == 0 || args[0] != "start" {
		t.Fatalf("args %q do not start with start", args)
	}
	s, err := parseStart(args[1:], nil)
	if err != nil {
		t.Fatalf("vexil start %q: %v", args[1:], err)
	}
	d := s.daemon
	if d.Port != 8013 || d.ManagementPort != 8014 || d.SyncPort != 8015 || d.OFREPPort != 8016 {
		t.Errorf("ports %d %d %d %d, want 8013 to 8016", d.Port, d.ManagementPort, d.SyncPort, d.OFREPPort)
	}
	want := []struct{ uri, provider string }{
		{"/etc/vexil/flags/flags.json", "file"},
		{"core.openfeature.dev/team-a/flags", "kubernetes"},
		{"core.openfeature.dev/other/more-flags", "kubernetes"},
	}
	if len(d.Sources) != len(want) {
		t.Fatalf("sources %+v, want %v", d.Sources, want)
	}
	for i, w := range want {
		if d.Sources[i].URI != w.uri || d.Sources[i].Provider != w.provider {
			t.Errorf("source %d: %s (%s), want %s (%s)", i, d.Sources[i].URI, d.Sources[i].Provider, w.uri, w.provider)
		}
	}
	if len(s.warnings) > 0 {
		t.Errorf("warnings: %q", s.warnings)
	}
}
