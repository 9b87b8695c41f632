# shellcheck shell=bash
# Sourced by scripts that need a DynamoDB endpoint for the rest of their run
# (test.sh, bench.sh). Not executable on its own.
#
#   use_dynamodb_local
#
# If DYNAMODB_ENDPOINT is already set it is used as is. Otherwise a private
# DynamoDB Local is started (scripts/dynamodb-local.sh) and an EXIT trap stops it
# however the script ends: success, failure, Ctrl-C or SIGTERM. If the script is
# SIGKILLed, the server's watchdog stops it within a few seconds.
#
# Afterwards DYNAMODB_ENDPOINT and KITARU_REQUIRE_DYNAMODB_LOCAL=1 are exported:
# the conformance suite in pkg/dynamo then fails instead of skipping when the
# endpoint does not answer.

_ddb_session_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

_ddb_session_stop() {
  local rc=$?
  trap - EXIT INT TERM
  "$_ddb_session_root/scripts/dynamodb-local.sh" stop || rc=1
  exit "$rc"
}

use_dynamodb_local() {
  if [[ -n ${DYNAMODB_ENDPOINT:-} ]]; then
    printf '\n==> %s\n' "using DYNAMODB_ENDPOINT=$DYNAMODB_ENDPOINT (set by the caller; not starting DynamoDB Local)"
  else
    printf '\n==> %s\n' "starting DynamoDB Local"
    # One state dir per run, so this never touches an instance started by `make ddb-local-start`.
    export DDB_LOCAL_STATE_DIR="$_ddb_session_root/.tmp/dynamodb-local.$$"
    trap _ddb_session_stop EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    DYNAMODB_ENDPOINT=$(DDB_LOCAL_OWNER_PID=$$ "$_ddb_session_root/scripts/dynamodb-local.sh" start)
  fi
  export DYNAMODB_ENDPOINT
  export KITARU_REQUIRE_DYNAMODB_LOCAL=1
}
