#!/usr/bin/env bash
# Outside clients against our surfaces (what `make clients` runs), with the
# versions pinned in package.json (npm ci installs them):
#   1. node --test clients/: the official TypeScript MCP SDK spawns
#      `kitaru mcp`, lists the tools and calls them against a fresh
#      `kitaru dev --memory`; Ajv validates every structured result against
#      the tool's output schema;
#   2. the MCP Inspector's CLI lists the tools with --strict: any tool schema
#      portability error fails;
#   3. redocly lint api/openapi.yaml: any error fails.
# kitaru dev is started on a free loopback port and always stopped. The
# binary is $KITARU_BIN, else bin/kitaru (built when missing). Exits
# non-zero on the first failing check, naming it.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
# shellcheck source=scripts/kitaru-dev-session.bash
source scripts/kitaru-dev-session.bash

step_name="setup"
step() {
  step_name=$1
  printf '\n==> %s\n' "$1"
}
fail() {
  echo "clients: $*" >&2
  exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/kitaru-clients.XXXXXX")
cleanup() {
  stop_kitaru_dev "$1"
  rm -rf "$work"
}
trap 'rc=$?; cleanup "$rc"; [ "$rc" -eq 0 ] || echo "clients: FAILED at step \"$step_name\" (exit $rc)" >&2; exit "$rc"' EXIT

[ -d node_modules/@modelcontextprotocol/sdk ] && [ -d node_modules/@modelcontextprotocol/inspector ] &&
  [ -d node_modules/@redocly/cli ] && [ -d node_modules/ajv ] ||
  fail "the pinned clients are not installed; run npm ci --no-audit --no-fund"

kitaru_bin=${KITARU_BIN:-bin/kitaru}
if [ -z "${KITARU_BIN:-}" ] && [ ! -x "$kitaru_bin" ]; then
  step "go build -o bin/kitaru ./cmd/kitaru"
  go build -o "$kitaru_bin" ./cmd/kitaru
fi
case $kitaru_bin in /*) ;; *) kitaru_bin=$repo/$kitaru_bin ;; esac
[ -x "$kitaru_bin" ] || fail "$kitaru_bin is not an executable; set KITARU_BIN or run make build-cli"
export KITARU_BIN=$kitaru_bin
# Only the connection below counts, never a developer's saved login.
export KITARU_CONFIG_DIR="$work/config"

step "start kitaru dev --memory on a free loopback port"
start_kitaru_dev "$KITARU_BIN" "$work"

step "node --test clients/ (the official MCP SDK calls every tool; Ajv checks each result against its output schema)"
node --test --test-reporter=spec --test-timeout=60000 clients/

step "MCP Inspector: tools/list --strict (no tool schema portability error)"
npx --no-install inspector --cli "$KITARU_BIN" mcp --method tools/list --strict >"$work/tools.json"
echo "ok: $(grep -c '"name": "kitaru_' "$work/tools.json") tools"

step "redocly lint api/openapi.yaml (no error)"
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true npx --no-install redocly lint api/openapi.yaml

step "all outside clients passed"
