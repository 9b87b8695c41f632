#!/usr/bin/env bash
# What `make bench` runs: the benchmarks of ./pkg/... against a DynamoDB Local
# started for this run (or $DYNAMODB_ENDPOINT if set), then the table of the
# BenchmarkRow… results (scripts/benchtable): each figure beside the floor
# measured in the same run, their ratio and the target. BENCH selects
# benchmarks (a -bench regexp, default all); extra arguments go to `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/dynamodb-local-session.bash
source scripts/dynamodb-local-session.bash

use_dynamodb_local
out=$(mktemp "${TMPDIR:-/tmp}/kitaru-bench.XXXXXX")
trap 'rm -f "$out"' EXIT
printf '\n==> go test -run ^$ -bench %s -benchmem ./pkg/...\n' "${BENCH:-.}"
status=0
go test -run '^$' -bench "${BENCH:-.}" -benchmem "$@" ./pkg/... | tee "$out" || status=$?
printf '\n==> the figures beside their floors (BenchmarkRow…)\n'
go run ./scripts/benchtable <"$out"
exit "$status"
