#!/usr/bin/env bash
# Builds upstream flagd, as a test and benchmark oracle only (the project
# never imports it), from its public source at a pinned commit:
#
#   conformance/oracle/build-flagd.sh FLAGD_SRC OPERATOR_SRC [OUT]
#
# FLAGD_SRC is open-feature/flagd and OPERATOR_SRC open-feature/
# open-feature-operator: each a checkout (work tree) or a git directory
# without one (as the workplace's fetch leaves them). A git directory is
# read at the pinned commit below; a work tree is used as it is, and its
# commit is checked when it is a git checkout. The Go module proxy does not
# serve flagd's core module nor the operator's api module, so the build
# replaces both with the local copies; everything else comes from the
# proxy.
#
# The binary goes to OUT (default: $XDG_CACHE_HOME/vexil/flagd-COMMIT, or
# ~/.cache/vexil/flagd-COMMIT); a cached one is reused. The script prints
# its path. A first build downloads about 300 modules and takes 2-4 minutes.
set -euo pipefail

FLAGD_COMMIT=bbb05d4bc3903ea8bf5123a88b1cf558750a22ab    # 2026-07-31, flagd/v0.15.x main
OPERATOR_COMMIT=90d373fd1661c998ae22f95fb32367dcbfd2d86c # 2026-05-27

if [[ $# -lt 2 ]]; then
	echo "usage: $0 FLAGD_SRC OPERATOR_SRC [OUT]" >&2
	exit 2
fi
flagd_src=$1 operator_src=$2
cache=${XDG_CACHE_HOME:-$HOME/.cache}/vexil
out=${3:-$cache/flagd-$FLAGD_COMMIT}
if [[ -x $out ]]; then
	echo "$out"
	exit 0
fi

work=$(mktemp -d -t flagd-oracle.XXXXXX)
trap 'rm -rf "$work"' EXIT

# export SRC COMMIT DEST: copies the tree of SRC at COMMIT (a git
# directory) or SRC itself (a work tree) into DEST.
export_tree() {
	local src=$1 commit=$2 dest=$3
	mkdir -p "$dest"
	if [[ -d $src/objects && -f $src/HEAD ]]; then
		git --git-dir="$src" archive "$commit" | tar -x -C "$dest"
	elif [[ -d $src ]]; then
		if head=$(git -C "$src" rev-parse HEAD 2>/dev/null) && [[ $head != "$commit" ]]; then
			echo "$0: note: $src is at $head, not the pinned $commit" >&2
		fi
		cp -a "$src/." "$dest/"
	else
		echo "$0: $src is neither a git directory nor a source tree" >&2
		exit 1
	fi
}
export_tree "$flagd_src" "$FLAGD_COMMIT" "$work/flagd"
export_tree "$operator_src" "$OPERATOR_COMMIT" "$work/operator"
[[ -f $work/flagd/flagd/main.go && -f $work/operator/api/go.mod ]] || {
	echo "$0: the sources do not look like flagd and the operator" >&2
	exit 1
}

(cd "$work/flagd/core" && go mod edit -replace "github.com/open-feature/open-feature-operator/api=$work/operator/api")
(cd "$work/flagd/flagd" &&
	go mod edit -replace "github.com/open-feature/flagd/core=$work/flagd/core" \
		-replace "github.com/open-feature/open-feature-operator/api=$work/operator/api" &&
	GOFLAGS=-mod=mod go build -trimpath -o "$work/flagd.bin" .)
mkdir -p "$(dirname "$out")"
mv "$work/flagd.bin" "$out"
echo "$out"
