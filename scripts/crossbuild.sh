#!/usr/bin/env bash
# Builds the kitaru CLI for every platform we ship it on (make crossbuild; make
# test runs it after go vet): linux, darwin and windows × amd64, arm64, with
# CGO_ENABLED=0, into a temporary directory removed afterwards. Then vets
# pkg/workflow/... for each OS, so each platform's files and tests compile
# (pyrunner runs flows on Unix only; docs/dev-runner.md). Nothing is kept:
# this only proves the code builds everywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kitaru-crossbuild.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

failed=()
for os in linux darwin windows; do
  for arch in amd64 arm64; do
    if CGO_ENABLED=0 GOOS=$os GOARCH=$arch "$GO" build -trimpath -o "$tmp/kitaru-$os-$arch" ./cmd/kitaru; then
      echo "ok   cmd/kitaru $os/$arch"
    else
      echo "FAIL cmd/kitaru $os/$arch" >&2
      failed+=("cmd/kitaru $os/$arch")
    fi
  done
  if CGO_ENABLED=0 GOOS=$os GOARCH=amd64 "$GO" vet ./pkg/workflow/...; then
    echo "ok   go vet ./pkg/workflow/... $os"
  else
    echo "FAIL go vet ./pkg/workflow/... $os" >&2
    failed+=("go vet ./pkg/workflow/... $os")
  fi
done

if ((${#failed[@]} > 0)); then
  echo "error: these do not build: ${failed[*]}; build one alone with, e.g., GOOS=windows GOARCH=amd64 go build ./cmd/kitaru" >&2
  exit 1
fi
