#!/usr/bin/env bash
# Regenerates the Go code in gen/ from the .proto files in proto/.
#
# Every tool is built by `go run` at a pinned version, so nothing has to be
# installed first: buf's version is BUF_VERSION below, and the plugins'
# versions are in buf.gen.yaml. Running it twice gives byte-identical output.
set -euo pipefail

BUF_VERSION=v1.75.0

cd "$(dirname "$0")"

# Remove what an earlier run generated, so that a deleted .proto file leaves
# nothing behind. Hand-written files in gen/ (tests) are kept.
if [ -d gen ]; then
	find gen \( -name '*.pb.go' -o -name '*.connect.go' \) -type f -delete
	find gen -mindepth 1 -type d -empty -delete
fi

go run "github.com/bufbuild/buf/cmd/buf@${BUF_VERSION}" generate
go build ./gen/...
