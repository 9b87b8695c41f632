#!/usr/bin/env bash
# The serverless bundle on AWS's own emulators (make aws-local, make aws-local-e2e):
#
#   scripts/aws-local.sh up    build the functions for this machine, synthesize the
#                              stack into .tmp/aws-local/cdk.out, start DynamoDB Local,
#                              moto's server and one aws-lambda-rie per function, serve
#                              the API from the template; print the URL and a producer
#                              key; run until Ctrl-C
#   scripts/aws-local.sh e2e   the same, then the fail-closed checks and scripts/e2e.sh
#                              against it; stop everything at the end
#
# What runs where: every Lambda function of cdk.out under aws-lambda-rie (the Go
# bootstraps as built, the Python runner through scripts/awslocal/python_runtime.py);
# S3, Secrets Manager, IAM, Lambda's control plane and Step Functions in moto 5.2.1
# (scripts/awslocal/motoserver.py: the state machine runs in LocalStack's ASL
# interpreter, its Lambda tasks reach the functions under RIE); the table in
# DynamoDB Local; API Gateway played from the template (pkg/awslocal). Not emulated:
# IAM policy enforcement, stage throttling, CloudWatch Logs (each function logs to
# .tmp/aws-local/logs/<logical id>.log), X-Ray.
#
# Needs go, java 17, node + npm, python3 with moto[server]==5.2.1 and boto3; each
# missing tool is named with the command that installs it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# The runtime interface emulator, built from the Go module proxy at this version.
rie_module=github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie
rie_version=v0.0.0-20261030222936-bef5c4ba774d
moto_version=5.2.1

state=$root/.tmp/aws-local
mode=${1:-}
case $mode in up | e2e) ;; *)
  echo "usage: scripts/aws-local.sh up|e2e" >&2
  exit 2
  ;;
esac

step() { printf '\n==> %s\n' "$*"; }
die() {
  echo "aws-local: $*" >&2
  exit 1
}

step "check the tools"
missing=()
command -v go >/dev/null || missing+=("go: install Go 1.26 (https://go.dev/doc/install)")
command -v java >/dev/null || missing+=("java: apt-get install -y openjdk-17-jre-headless")
command -v node >/dev/null || missing+=("node: install Node.js 20 with npm")
command -v python3 >/dev/null || missing+=("python3: apt-get install -y python3 python3-pip")
if command -v python3 >/dev/null; then
  # Resolve a version manager's shim once: RIE starts the runner's interpreter
  # on every cold start.
  python=$(python3 -c 'import sys; print(sys.executable)')
  if ! "$python" -c "import moto, boto3, werkzeug, flask; assert moto.__version__ == '$moto_version', moto.__version__" 2>/dev/null; then
    missing+=("moto $moto_version with its server and boto3: $python -m pip install 'moto[server]==$moto_version' boto3")
  fi
fi
if ((${#missing[@]})); then
  printf 'aws-local: missing: %s\n' "${missing[@]}" >&2
  exit 1
fi
scripts/dynamodb-local.sh deps
mkdir -p "$state/bin"
rie=$state/bin/aws-lambda-rie
if [[ ! -x $rie || $(cat "$state/bin/aws-lambda-rie.version" 2>/dev/null) != "$rie_version" ]]; then
  echo "building aws-lambda-rie $rie_version"
  GOBIN=$state/bin go install "$rie_module@$rie_version" ||
    die "could not build aws-lambda-rie; run: GOBIN=$state/bin go install $rie_module@$rie_version"
  echo "$rie_version" >"$state/bin/aws-lambda-rie.version"
fi
echo "go $(go env GOVERSION), $(java -version 2>&1 | sed -n 1p), node $(node --version), moto $moto_version ($python), aws-lambda-rie $rie_version"

step "build the functions for this machine ($(go env GOARCH)) and bin/kitaru"
GOARCH=$(go env GOARCH) DIST=$state/dist scripts/build.sh
go build -o bin/kitaru ./cmd/kitaru
go build -o "$state/bin/kitaru-aws-local" ./cmd/kitaru-aws-local

step "synthesize the stack into $state/cdk.out (the slow-synth path forced)"
rm -rf "$state/cdk.out"
JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=true \
  npx --no-install cdk synth --quiet --no-notices -o "$state/cdk.out" \
  -c "kitaru:dist=$state/dist" -c @aws-cdk/core.slowSynthThreshold=0

# shellcheck source=scripts/dynamodb-local-session.bash
source scripts/dynamodb-local-session.bash
caller_ddb=${DYNAMODB_ENDPOINT:-}
use_dynamodb_local

step "start the stack on the emulators"
rm -rf "$state/logs" "$state/state.json"
mkdir -p "$state/logs"
"$state/bin/kitaru-aws-local" -assembly "$state/cdk.out" -dynamodb-endpoint "$DYNAMODB_ENDPOINT" \
  -rie "$rie" -python "$python" -log-dir "$state/logs" -state "$state/state.json" \
  >"$state/logs/aws-local.out" 2>"$state/logs/gateway.log" &
stack_pid=$!
stop_stack() {
  kill -TERM "$stack_pid" 2>/dev/null || true
  wait "$stack_pid" 2>/dev/null || true
}
# Stop the stack first, then DynamoDB Local if this script started it.
stop_all() {
  local rc=$1
  trap - EXIT INT TERM
  stop_stack
  [[ -n $caller_ddb ]] || scripts/dynamodb-local.sh stop || true
  exit "$rc"
}
trap 'stop_all $?' EXIT
for _ in $(seq 1 600); do
  grep -q '^ready ' "$state/logs/aws-local.out" 2>/dev/null && break
  if ! kill -0 "$stack_pid" 2>/dev/null; then
    cat "$state/logs/aws-local.out" "$state/logs/gateway.log" >&2
    die "kitaru-aws-local exited (logs in $state/logs)"
  fi
  sleep 0.1
done
url=$(sed -n 's/^ready //p' "$state/logs/aws-local.out")
[[ -n $url ]] || die "the stack did not start within 60 s (logs in $state/logs)"
cat "$state/logs/aws-local.out"
table=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["table"])' "$state/state.json")

step "the state machine's definition, as created, passes asl-validator"
npx --no-install asl-validator --json-path "$state/definition.asl.json"

step "a producer key for project e2e, written to the table directly"
key=$(bin/kitaru admin keys create --project e2e --role producer --description "aws-local" \
  --dynamodb-endpoint "$DYNAMODB_ENDPOINT" --table "$table")

if [[ $mode == e2e ]]; then
  step "the launcher and the Python runtime on RIE and moto (python3 -m unittest scripts/awslocal)"
  AWS_LAMBDA_RIE=$rie PYTHONDONTWRITEBYTECODE=1 "$python" -m unittest discover -s scripts/awslocal -p 'test_*.py'
fi

if [[ $mode == up ]]; then
  cat <<EOF

The stack runs on the emulators; the API is $url
  export KITARU_SERVER_URL=$url KITARU_AUTH_TOKEN=$key KITARU_PROJECT=e2e
Logs: $state/logs. Ctrl-C stops everything.
EOF
  wait "$stack_pid"
  exit
fi

step "fail closed: the gateway and the deployed handlers; a failed run's report from the runner under RIE (go test ./pkg/awslocal -run 'Live|UnderRIE')"
AWS_LAMBDA_RIE=$rie AWS_LOCAL_STATE=$state/state.json AWS_LOCAL_API_KEY=$key go test -count=1 -v -run 'Live|UnderRIE' ./pkg/awslocal

# e2e.sh calls this with the large result's key: the runner PUT it into the
# stack's bucket in moto through the URL the invoke function presigned.
moto=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["moto"])' "$state/state.json")
bucket=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bucket"])' "$state/state.json")
cat >"$state/bin/check-result" <<SCRIPT
#!/bin/sh
exec "$python" - "$moto" "$bucket" "\$1" <<'PY'
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
size = s3.head_object(Bucket=sys.argv[2], Key=sys.argv[3])["ContentLength"]
assert size > 256 * 1024, size
print("the bucket holds", sys.argv[3], "with", size, "bytes")
PY
SCRIPT
chmod +x "$state/bin/check-result"

step "scripts/e2e.sh against $url"
E2E_RESULT_CHECK=$state/bin/check-result KITARU_BIN=bin/kitaru KITARU_SERVER_URL=$url KITARU_AUTH_TOKEN=$key KITARU_PROJECT=e2e scripts/e2e.sh || {
  echo "--- the last lines of each function's log ($state/logs):" >&2
  tail -n 15 "$state"/logs/*.log >&2
  exit 1
}
step "each Go function under RIE: bootstrap size, first invoke, warm p50 (go test -bench Live)"
AWS_LOCAL_STATE=$state/state.json AWS_LOCAL_API_KEY=$key go test -count=1 -run '^$' -bench Live -benchtime 50x ./pkg/awslocal

step "aws-local: all checks passed"
