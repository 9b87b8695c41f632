#!/usr/bin/env bash
# What `make bench` runs: the benchmarks of ./pkg/... against a DynamoDB Local
# started for this run (or $DYNAMODB_ENDPOINT if set). BENCH selects benchmarks
# (a -bench regexp, default all); extra arguments go to `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/dynamodb-local-session.bash
source scripts/dynamodb-local-session.bash

use_dynamodb_local
printf '\n==> go test -run ^$ -bench %s -benchmem ./pkg/...\n' "${BENCH:-.}"
go test -run '^$' -bench "${BENCH:-.}" -benchmem "$@" ./pkg/...
