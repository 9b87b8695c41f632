#!/usr/bin/env bash
# What `make test` and CI run: formatting, vet, staticcheck, the CLI's
# cross-builds, pyflakes and the Python runner and SDK tests,
# and every Go test with -race,
# against a DynamoDB Local started for this run (or $DYNAMODB_ENDPOINT if set);
# then make e2e, the CLI walkthrough against a kitaru dev, make clients, the
# official MCP SDK and Inspector and Redocly's linter on kitaru mcp and the
# OpenAPI document, and make
# aws-local-e2e, the same walkthrough against the synthesized stack on AWS's
# emulators (it builds the functions and synthesizes with the CDK CLI).
# Exits non-zero on the first failing step; DynamoDB Local is always stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/dynamodb-local-session.bash
source scripts/dynamodb-local-session.bash

step() { printf '\n==> %s\n' "$*"; }

step "gofmt"
scripts/gofmt.sh check

step "go vet ./..."
go vet ./...
echo "ok"

step "staticcheck (root module and infra/; scripts/lint.sh pins the version)"
scripts/lint.sh staticcheck

step "make crossbuild (cmd/kitaru for linux, darwin, windows x amd64, arm64)"
make --no-print-directory crossbuild

step "pyflakes (sdk/python, functions/runner, scripts/awslocal; Debian's python3-pyflakes)"
scripts/lint.sh pyflakes

# sdk/python's integration suites build ./cmd/kitaru and run it as `kitaru dev`
# (and pip-install the SDK into a throwaway venv, offline).
step "python3 -m unittest (functions/runner, sdk/python against kitaru dev)"
for suite in functions/runner sdk/python; do
  PYTHONDONTWRITEBYTECODE=1 python3 -m unittest discover -s "$suite" -p 'test_*.py'
done

use_dynamodb_local
echo "DYNAMODB_ENDPOINT=$DYNAMODB_ENDPOINT KITARU_REQUIRE_DYNAMODB_LOCAL=$KITARU_REQUIRE_DYNAMODB_LOCAL"

step "go test -race -count=1 -timeout 20m ./..."
go test -race -count=1 -timeout 20m ./...

step "fuzz targets, ${FUZZTIME:=3000x} each (scripts/fuzz.sh)"
FUZZTIME=$FUZZTIME scripts/fuzz.sh

step "make e2e (the docs' deployments walkthrough with bin/kitaru against kitaru dev)"
make --no-print-directory e2e

step "make clients (the official MCP SDK and Inspector, redocly lint)"
make --no-print-directory clients

step "make aws-local-e2e (the synthesized stack on RIE, moto's ASL interpreter and DynamoDB Local; the walkthrough again)"
make --no-print-directory aws-local-e2e
step "all checks passed"
