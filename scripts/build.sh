#!/usr/bin/env bash
# Builds the Lambda code the CDK app deploys (make build):
#   every Go main under functions/ → dist/<name>/bootstrap (provided.al2023)
#   the Python runner              → dist/runner/ (runner.py + the kitaru package)
# GOARCH defaults to arm64 (the stack's architecture). For LocalStack on an
# x86 host build for the host instead: GOARCH=amd64 scripts/build.sh
# (LocalStack then runs them with LAMBDA_IGNORE_ARCHITECTURE=1).
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
arch=${GOARCH:-arm64}
dist=${DIST:-dist}

mains=$("$GO" list -f '{{if eq .Name "main"}}{{.ImportPath}}{{end}}' ./functions/...)
if [[ -z $mains ]]; then
  echo "error: no Go main packages under functions/" >&2
  exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kitaru-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# One go build for all functions: packages compile once, in parallel.
# shellcheck disable=SC2086 # one import path per word
CGO_ENABLED=0 GOOS=linux GOARCH=$arch "$GO" build -tags lambda.norpc -trimpath -ldflags '-s -w' -o "$tmp/" $mains

mkdir -p "$dist"
for pkg in $mains; do
  name=${pkg##*/}
  rm -rf "${dist:?}/$name"
  mkdir -p "$dist/$name"
  mv "$tmp/$name" "$dist/$name/bootstrap"
  printf '%-28s %s\n' "$dist/$name/bootstrap" "$(du -h "$dist/$name/bootstrap" | cut -f1) linux/$arch"
done

rm -rf "${dist:?}/runner"
# stagerunner runs here: build it for this machine whatever GOARCH the caller exported.
env -u GOOS -u GOARCH "$GO" run ./scripts/stagerunner "$dist/runner"
printf '%-28s %s\n' "$dist/runner/" "runner.py + kitaru package (the stack's Python runtime)"
