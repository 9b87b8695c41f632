#!/usr/bin/env bash
# The LocalStack kit behind make localstack-up|deploy|e2e|down:
#
#   localstack/kit.sh up      docker compose up, wait for /_localstack/health
#   localstack/kit.sh deploy  build for the host architecture, cdklocal bootstrap, destroy
#                             the stack if it exists, deploy it (-c kitaru:localstack=true and
#                             the context in $cdk_context), outputs in .tmp/localstack/outputs.json
#   localstack/kit.sh e2e     401 without credentials, a first API key for a new project,
#                             then scripts/e2e.sh
#   localstack/kit.sh down    docker compose down (LocalStack keeps no state on the free plan)
#
# Needs Docker with Compose v2, curl, node (npm ci'd), go. It always talks to
# 127.0.0.1:4566 with LocalStack's dummy credentials, never to AWS.
# This repository's CI has no Docker: this script is not exercised there.
set -euo pipefail
cd "$(dirname "$0")/.."

compose_file=${LOCALSTACK_COMPOSE:-localstack/docker-compose.yml}
endpoint=http://localhost:4566
state=.tmp/localstack
outputs=$state/outputs.json
stack=${KITARU_STACK_NAME:-Kitaru}

# The CDK context of every cdklocal command (synth, destroy and deploy must
# agree). Reserved concurrency is 0 (unreserved) here: LocalStack's
# CloudFormation does not pass ReservedConcurrentExecutions on (4.14.0's
# AWS::Lambda::Function provider drops it), so the template says what
# LocalStack does, and a LocalStack that starts applying it cannot fail the
# deploy against a lowered LAMBDA_LIMITS_CONCURRENT_EXECUTIONS.
cdk_context=(-c kitaru:localstack=true -c "kitaru:stackName=$stack"
  -c kitaru:invokeConcurrency=0 -c kitaru:resolveConcurrency=0)

# LocalStack's conventional dummy account; whatever AWS profile is set stays unused.
unset AWS_PROFILE AWS_SESSION_TOKEN
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
export AWS_REGION=$AWS_DEFAULT_REGION
export AWS_ENDPOINT_URL=$endpoint AWS_ENDPOINT_URL_S3=$endpoint
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=true

die() {
  echo "localstack: $*" >&2
  exit 1
}

compose() { docker compose -f "$compose_file" "$@"; }

# output NAME prints one output of the deployed stack.
output() {
  [ -s "$outputs" ] || die "$outputs is missing; run make localstack-deploy first"
  node -e '
const o = require(require("path").resolve(process.argv[1]))[process.argv[2]] || {};
if (!o[process.argv[3]]) { console.error("no output " + process.argv[3] + " for stack " + process.argv[2]); process.exit(1); }
console.log(o[process.argv[3]]);' "$outputs" "$stack" "$1"
}

up() {
  command -v docker >/dev/null || die "docker is not installed"
  compose up -d
  echo "waiting for $endpoint/_localstack/health …"
  for _ in $(seq 1 90); do
    if curl -fsS "$endpoint/_localstack/health" >/dev/null 2>&1; then
      echo "LocalStack is up on $endpoint"
      return 0
    fi
    sleep 2
  done
  compose logs --tail 50 >&2 || true
  die "LocalStack did not become healthy within 180 s (logs above)"
}

deploy() {
  curl -fsS "$endpoint/_localstack/health" >/dev/null 2>&1 || die "LocalStack is not answering on $endpoint; run make localstack-up"
  # LAMBDA_IGNORE_ARCHITECTURE=1 runs the functions on the host's architecture.
  GOARCH=${GOARCH:-$(go env GOARCH)} scripts/build.sh
  mkdir -p "$state"
  # Bootstrap after every LocalStack start: nothing persists on the free plan.
  npx --no-install cdklocal bootstrap --no-notices "aws://000000000000/$AWS_DEFAULT_REGION"
  # A deploy over an existing stack would leave a broken API: LocalStack's
  # CloudFormation does not update an API Gateway stage (a no-op with a
  # warning), and deleting the replaced AWS::ApiGateway::Deployment deletes
  # the stage on it. So a redeploy starts from nothing (the stack's data goes
  # with it anyway, kitaru:destroy); destroying a stack that does not exist
  # does nothing.
  echo "==> destroy $stack if it exists (LocalStack cannot update an API Gateway stage in place)"
  rm -f "$outputs"
  npx --no-install cdklocal destroy "$stack" --force --no-notices "${cdk_context[@]}"
  npx --no-install cdklocal deploy "$stack" --require-approval never --no-notices \
    "${cdk_context[@]}" --outputs-file "$outputs"
  echo
  echo "API:   $endpoint/_aws/execute-api/$(output ApiId)/$(output StageName)"
  echo "table: $(output TableName)"
}

e2e() {
  local api_id stage table url code key project_key project bin=${KITARU_BIN:-bin/kitaru}
  api_id=$(output ApiId)
  stage=$(output StageName)
  table=$(output TableName)
  url=$endpoint/_aws/execute-api/$api_id/$stage
  [ -x "$bin" ] || die "$bin is missing; run make build-cli"

  echo "==> a request without credentials gets 401 ($url/v1/status)"
  code=$(curl -sS -o "$state/unauthenticated.json" -w '%{http_code}' "$url/v1/status")
  if [ "$code" != 401 ] || ! grep -q '"unauthenticated"' "$state/unauthenticated.json"; then
    cat "$state/unauthenticated.json" >&2 || true
    die "GET /v1/status without credentials answered $code; want 401 with code unauthenticated"
  fi

  echo "==> a producer key for project e2e (the fail-closed matrix), written to the table directly"
  key=$("$bin" admin keys create --project e2e --role producer --description "localstack e2e" \
    --dynamodb-endpoint "$endpoint" --table "$table")

  # The gateway's fail-closed matrix aws-local runs (pkg/awslocal, TestLiveGatewayFailsClosed):
  # missing identity sources, a garbage bearer, another project, the key itself.
  # With only a URL in the state file, the checks that read aws-local's
  # authorizer log are skipped.
  echo "==> fail closed: the gateway matrix of make aws-local-e2e"
  printf '{"url": "%s"}\n' "$url" >"$state/state.json"
  AWS_LOCAL_STATE=$state/state.json AWS_LOCAL_API_KEY=$key go test -count=1 -v -run TestLiveGatewayFailsClosed ./pkg/awslocal

  # scripts/e2e.sh expects a project it has not run in (the prune step
  # counts a flow's versions from 1), as aws-local's fresh stack gives it:
  # each run here gets a project of its own, so make localstack-e2e can run
  # again on one deploy.
  project=${KITARU_E2E_PROJECT:-e2e-$(date -u +%Y%m%d-%H%M%S)}
  echo "==> a producer key for project $project (scripts/e2e.sh)"
  project_key=$("$bin" admin keys create --project "$project" --role producer --description "localstack e2e" \
    --dynamodb-endpoint "$endpoint" --table "$table")

  echo "==> scripts/e2e.sh against $url, project $project"
  KITARU_BIN=$bin KITARU_SERVER_URL=$url KITARU_AUTH_TOKEN=$project_key KITARU_PROJECT=$project scripts/e2e.sh
}

down() {
  compose down --volumes
  rm -f "$outputs"
}

case "${1:-}" in
up | deploy | e2e | down) "$1" ;;
*)
  echo "usage: localstack/kit.sh up|deploy|e2e|down" >&2
  exit 2
  ;;
esac
