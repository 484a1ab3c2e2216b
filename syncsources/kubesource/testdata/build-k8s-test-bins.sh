#!/usr/bin/env bash
# build-k8s-test-bins.sh builds the kube-apiserver and etcd binaries that the
# Kubernetes source's tests run (see internal/k8stest), from the Go module
# proxy only, and caches them. It prints the directory holding them:
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/k8s-test-bins/kube-vK-etcd-vE-OS-ARCH/
#
# It is idempotent: when that directory is complete (its .complete marker is
# present) it prints it and exits at once. Otherwise it builds both binaries
# in a throw-away wrapper module (neither can be `go install`ed: their go.mod
# files hold replace directives), writes them to a temporary directory next
# to the cache and renames that into place, so a half-built cache is never
# used. A cold build takes about 4 minutes on 2 cores and ~2 GB of memory.
#
# Usage: VEXIL_K8S_BIN_DIR=$(syncsources/kubesource/testdata/build-k8s-test-bins.sh)
# Progress goes to stderr; only the directory goes to stdout.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.36.3}
ETCD_VERSION=${ETCD_VERSION:-v3.6.8}
GO=${GO:-go}

goos=$("$GO" env GOOS)
goarch=$("$GO" env GOARCH)
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/k8s-test-bins
dir=$cache_root/kube-$KUBE_VERSION-etcd-$ETCD_VERSION-$goos-$goarch

if [[ -f $dir/.complete && -x $dir/kube-apiserver && -x $dir/etcd ]]; then
	echo "$dir"
	exit 0
fi

export CGO_ENABLED=0 GOTOOLCHAIN=local GOWORK=off GOFLAGS=-mod=mod
mkdir -p "$cache_root"
work=$(mktemp -d)
out=$(mktemp -d "$cache_root/.build-XXXXXX")
trap 'rm -rf "$work" "$out"' EXIT

log() { echo "build-k8s-test-bins: $*" >&2; }

# k8s.io/kubernetes requires its staging modules (k8s.io/api, client-go, ...)
# at v0.0.0 and replaces them with local directories; the wrapper replaces
# each with its published version, v0.MINOR.PATCH for kubernetes v1.MINOR.PATCH.
staging_version=v0.${KUBE_VERSION#v1.}
log "downloading k8s.io/kubernetes@$KUBE_VERSION"
kube_gomod=$(cd "$work" && "$GO" mod download -json "k8s.io/kubernetes@$KUBE_VERSION" |
	sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
[[ -f $kube_gomod ]] || { log "no go.mod for k8s.io/kubernetes@$KUBE_VERSION"; exit 1; }
mapfile -t staging < <(awk '
	/^require[[:space:]]*\(/ { inreq = 1; next }
	inreq && /^\)/ { inreq = 0; next }
	inreq && $1 ~ /^k8s\.io\// && $2 == "v0.0.0" { print $1 }
	/^require[[:space:]]+k8s\.io\// && $3 == "v0.0.0" { print $2 }
' "$kube_gomod" | sort -u)
((${#staging[@]} > 0)) || { log "found no staging modules in $kube_gomod"; exit 1; }
log "${#staging[@]} staging modules at $staging_version"

{
	echo "module vexil.test/k8stestbins"
	echo
	echo "go $("$GO" env GOVERSION | sed 's/^go//; s/^\([0-9]*\.[0-9]*\).*/\1/').0"
	echo
	echo "require ("
	echo "	k8s.io/kubernetes $KUBE_VERSION"
	echo "	go.etcd.io/etcd/server/v3 $ETCD_VERSION"
	echo ")"
	echo
	for m in "${staging[@]}"; do
		echo "replace $m => $m $staging_version"
	done
} >"$work/go.mod"
cat >"$work/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
GO

log "resolving modules (go mod tidy)"
(cd "$work" && "$GO" mod tidy)

kube_minor=${KUBE_VERSION#v1.}
kube_minor=${kube_minor%%.*}
kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	kube_ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$kube_minor -X $pkg.gitTreeState=clean"
done

log "building kube-apiserver $KUBE_VERSION"
(cd "$work" && "$GO" build -trimpath -ldflags="$kube_ldflags" -o "$out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
log "building etcd $ETCD_VERSION"
(cd "$work" && "$GO" build -trimpath -ldflags="-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3)

"$out/kube-apiserver" --version >&2
"$out/etcd" --version >&2
touch "$out/.complete"
rm -rf "$dir"
mv "$out" "$dir"
trap 'rm -rf "$work"' EXIT
echo "$dir"
