// Package examples bundles the example flag files, so that the daemon and
// the command line can run on them with no file of their own, and the
// Kubernetes manifests, so that tests can apply them.
package examples

import "embed"

// Flags holds the example flag documents under flags/.
//
//go:embed flags/*.json
var Flags embed.FS

// Kubernetes holds the manifests of kubernetes/featureflag/: the
// FeatureFlag CRD, an example FeatureFlag, the sidecar's RBAC and its
// Deployment. Tests apply them to a real API server.
//
//go:embed kubernetes/featureflag/*.yaml
var Kubernetes embed.FS

// FeatureFlagCRDPath is the FeatureFlag CustomResourceDefinition in
// Kubernetes.
const FeatureFlagCRDPath = "kubernetes/featureflag/crd.yaml"

// DefaultFlagsPath is the document served when no source is given.
const DefaultFlagsPath = "flags/demo.flags.json"
