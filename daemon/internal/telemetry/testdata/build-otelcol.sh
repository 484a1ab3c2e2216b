#!/usr/bin/env bash
# build-otelcol.sh builds a minimal OpenTelemetry Collector (the OTLP
# receiver and the debug exporter) that the telemetry tests send Vexil's
# metrics and spans to, from the Go module proxy's core collector modules at
# one release, and caches it. It prints the binary's path:
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/vexil/otelcol-vV-OS-ARCH-RECIPE/otelcol
#
# It is idempotent: when that binary exists (with its .complete marker) it
# prints it and exits at once. Otherwise it builds it in a throw-away module
# outside the project's go.mod, into a temporary directory next to the cache
# that is renamed into place, so a half-built cache is never used. A cold
# build takes a few minutes on 2 cores.
#
# Usage: VEXIL_OTELCOL_BIN=$(daemon/internal/telemetry/testdata/build-otelcol.sh)
# Progress goes to stderr; only the path goes to stdout.
set -euo pipefail

# The core modules of one collector release: the v0.x modules and the
# v1.x modules (confmap and its providers) released with them.
COLLECTOR_VERSION=${COLLECTOR_VERSION:-v0.165.0}
COLLECTOR_STABLE_VERSION=${COLLECTOR_STABLE_VERSION:-v1.71.0}
GO=${GO:-go}

goos=$("$GO" env GOOS)
goarch=$("$GO" env GOARCH)
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/vexil
# The build's recipe (this script) is part of the name: a changed recipe
# builds a new binary.
recipe=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-12)
dir=$cache_root/otelcol-$COLLECTOR_VERSION-$goos-$goarch-$recipe

if [[ -f $dir/.complete && -x $dir/otelcol ]]; then
	echo "$dir/otelcol"
	exit 0
fi

export CGO_ENABLED=0 GOTOOLCHAIN=local GOWORK=off GOFLAGS=-mod=mod
mkdir -p "$cache_root"
work=$(mktemp -d)
out=$(mktemp -d "$cache_root/.build-otelcol-XXXXXX")
trap 'rm -rf "$work" "$out"' EXIT

log() { echo "build-otelcol: $*" >&2; }

cat >"$work/go.mod" <<MOD
module vexil.test/otelcol

go $("$GO" env GOVERSION | sed 's/^go//; s/^\([0-9]*\.[0-9]*\).*/\1/').0

require (
	go.opentelemetry.io/collector/component $COLLECTOR_STABLE_VERSION
	go.opentelemetry.io/collector/confmap $COLLECTOR_STABLE_VERSION
	go.opentelemetry.io/collector/confmap/provider/envprovider $COLLECTOR_STABLE_VERSION
	go.opentelemetry.io/collector/confmap/provider/fileprovider $COLLECTOR_STABLE_VERSION
	go.opentelemetry.io/collector/exporter/debugexporter $COLLECTOR_VERSION
	go.opentelemetry.io/collector/otelcol $COLLECTOR_VERSION
	go.opentelemetry.io/collector/receiver/otlpreceiver $COLLECTOR_VERSION
)
MOD
cat >"$work/main.go" <<'GO'
// Command otelcol is a minimal OpenTelemetry Collector: the OTLP receiver
// and the debug exporter, configured from a file (--config FILE).
package main

import (
	"log"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/debugexporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
)

func components() (otelcol.Factories, error) {
	var f otelcol.Factories
	var err error
	if f.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](otlpreceiver.NewFactory()); err != nil {
		return f, err
	}
	if f.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](debugexporter.NewFactory()); err != nil {
		return f, err
	}
	f.Telemetry = otelconftelemetry.NewFactory()
	return f, nil
}

func main() {
	settings := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{Command: "otelcol", Description: "Vexil's test collector", Version: "test"},
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory(), envprovider.NewFactory()},
				DefaultScheme:     "env",
			},
		},
	}
	if err := otelcol.NewCommand(settings).Execute(); err != nil {
		log.Fatal(err)
	}
}
GO

log "resolving collector $COLLECTOR_VERSION modules (go mod tidy)"
(cd "$work" && "$GO" mod tidy)
log "building otelcol"
(cd "$work" && "$GO" build -trimpath -ldflags="-s -w" -o "$out/otelcol" .)
"$out/otelcol" --version >&2
touch "$out/.complete"
rm -rf "$dir"
mv "$out" "$dir"
trap 'rm -rf "$work"' EXIT
echo "$dir/otelcol"
