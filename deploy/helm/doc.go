// Package helm holds Vexil's Helm chart (the directory vexil: a Deployment,
// Service, ConfigMap source and RBAC for the sidecar-less deployment) and
// the tests that render it with Helm's own engine and apply it to a real
// API server. It has no Go API.
package helm
