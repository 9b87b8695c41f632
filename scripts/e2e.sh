#!/usr/bin/env bash
# The deployments walkthrough of the docs, end to end, with the kitaru CLI:
# the producer deploys a default version and a canary, lists versions,
# promotes the canary to stable and adds a shared benchmark label; consumers
# invoke stable with the CLI, the Go SDK example and a generated curl command.
#
#   scripts/e2e.sh          against KITARU_SERVER_URL with KITARU_AUTH_TOKEN
#                           (an API key: the generated curl runs
#                           "kitaru auth token") and KITARU_PROJECT
#   scripts/e2e.sh --dev    against a kitaru dev it starts on a free loopback
#                           port and stops at the end (what `make e2e` runs)
#
# The kitaru binary is $KITARU_BIN, else kitaru from PATH. The config file
# of kitaru login is not read: only the three variables count. Versions are
# read from the CLI's -o json output, so a server that already has
# research_agent versions works too. E2E_RESULT_CHECK, when set, is a
# command run with the large result's result_ref (aws-local checks the
# object in its bucket). Each step prints what it does; a
# failure exits non-zero naming the step.
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
# fail explains a failed check; the EXIT trap then names the step.
fail() {
  echo "e2e: $*" >&2
  exit 1
}

# run prints a command on stderr, then runs it.
run() {
  {
    printf '$'
    printf ' %q' "$@"
    printf '\n'
  } >&2
  "$@"
}

# json_get FIELD reads a JSON document on stdin and prints one field of it,
# a dotted path such as item.version (strings bare, anything else as JSON).
json_get() {
  python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v if isinstance(v, str) else json.dumps(v))
' "$1"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/kitaru-e2e.XXXXXX")
cleanup() {
  stop_kitaru_dev "$1"
  rm -rf "$work"
}
trap 'rc=$?; cleanup "$rc"; [ "$rc" -eq 0 ] || echo "e2e: FAILED at step \"$step_name\" (exit $rc)" >&2; exit "$rc"' EXIT

# The generated curl command runs "kitaru auth token": put the binary on
# PATH under that name.
mkdir -p "$work/bin"
kitaru_bin=${KITARU_BIN:-$(command -v kitaru || true)}
[ -n "$kitaru_bin" ] || fail "no kitaru binary: set KITARU_BIN or put kitaru on PATH (make build writes bin/kitaru)"
case $kitaru_bin in /*) ;; *) kitaru_bin=$repo/$kitaru_bin ;; esac
[ -x "$kitaru_bin" ] || fail "$kitaru_bin is not an executable"
ln -s "$kitaru_bin" "$work/bin/kitaru"
export PATH="$work/bin:$PATH"
export KITARU_CONFIG_DIR="$work/config"

if [ "${1:-}" = "--dev" ]; then
  step "start kitaru dev on a free loopback port"
  start_kitaru_dev kitaru "$work"
elif [ $# -gt 0 ]; then
  fail "unknown argument $1; use --dev or nothing"
fi
[ -n "${KITARU_SERVER_URL:-}" ] || fail "set KITARU_SERVER_URL, or run scripts/e2e.sh --dev"
[ -n "${KITARU_AUTH_TOKEN:-}" ] || fail "set KITARU_AUTH_TOKEN to an API key of the server"

step "check the connection (kitaru status)"
run kitaru status

step "copy testdata/flows/research to a temporary project"
cp -R testdata/flows/research "$work/project"
target="$work/project/flows/research.py:research_agent"
echo "$target"

step "producer: deploy the first version (default)"
run kitaru deploy "$target" --input '{"topic": "durable agents"}' -o json >"$work/v1.json"
v1=$(json_get item.version <"$work/v1.json")
[ "$(json_get item.tags.default <"$work/v1.json")" = true ] || fail "version $v1 was not tagged default: $(cat "$work/v1.json")"
echo "deployed research_agent version $v1 (default)"

step "producer: deploy a canary candidate (--tag canary --exclusive)"
run kitaru deploy "$target" --tag canary --exclusive --input '{"topic": "durable agents"}' -o json >"$work/v2.json"
v2=$(json_get item.version <"$work/v2.json")
[ "$v2" -gt "$v1" ] || fail "the canary is version $v2, not after $v1"
[ "$(json_get item.tags.canary <"$work/v2.json")" = true ] || fail "version $v2 has no exclusive canary tag: $(cat "$work/v2.json")"
echo "deployed research_agent version $v2 (canary)"

step "consumer: invoke the canary and wait for the result"
result=$(run kitaru invoke research_agent --tag canary --input '{"topic": "canary check"}' --wait)
echo "$result"
[ "$result" = '"research notes on canary check"' ] || fail "unexpected result $result"

step "producer: list the versions (kitaru flow deployments list)"
run kitaru flow deployments list research_agent
kitaru flow deployments list research_agent -o json >"$work/list.json"
latest=$(json_get items.0.version <"$work/list.json")
[ "$latest" = "$v2" ] || fail "the newest version listed is $latest, not $v2"
[ "$(json_get items.0.tags.canary <"$work/list.json")" = true ] || fail "version $v2 is not listed with canary"

step "producer: promote the canary to stable (kitaru flow tag --exclusive)"
run kitaru flow tag research_agent stable --version "$v2" --exclusive

step "producer: add the shared benchmark label (kitaru flow tag)"
run kitaru flow tag research_agent benchmark --version "$v2"

step "consumer: kitaru invoke research_agent --tag stable --wait"
result=$(run kitaru invoke research_agent --tag stable --input '{"topic": "deployment routing"}' --wait 2>"$work/invoke.err")
cat "$work/invoke.err"
echo "$result"
[ "$result" = '"research notes on deployment routing"' ] || fail "unexpected result $result"
grep -q "version $v2 " "$work/invoke.err" || fail "stable did not run version $v2"

step "consumer: the Go SDK example (go run ./examples/consumer)"
if [ -f examples/consumer/main.go ]; then
  result=$(run go run ./examples/consumer -flow research_agent -tag stable -topic "deployment routing" 2>"$work/consumer.err") ||
    fail "the Go consumer failed: $(cat "$work/consumer.err")"
  cat "$work/consumer.err"
  echo "$result"
  [ "$result" = '"research notes on deployment routing"' ] || fail "the Go consumer printed $result"
  grep -q "version $v2 " "$work/consumer.err" || fail "the Go consumer did not run version $v2"
else
  echo "skipped: examples/consumer/main.go does not exist yet"
fi

step "consumer: generate curl for stable (-o json says what it resolved)"
curl_input='{"topic": "curl'\''s \"route\""}'
run kitaru flow deployments curl research_agent --tag stable --input "$curl_input" -o json >"$work/curl.json"
resolved=$(json_get item.resolved_version <"$work/curl.json")
[ "$resolved" = "$v2" ] || fail "stable resolved to $resolved, not $v2"
[ "$(json_get item.pinned <"$work/curl.json")" = true ] || fail "the command is not pinned: $(cat "$work/curl.json")"
echo "stable resolved to version $resolved; the command is pinned to it"

step "consumer: kitaru flow deployments curl ... | bash starts version $v2"
run kitaru flow deployments curl research_agent --tag stable --input "$curl_input" | tee "$work/curl.sh" | bash >"$work/started.json" ||
  fail "the generated command failed: $(cat "$work/started.json")"
if grep -qF -- "$KITARU_AUTH_TOKEN" "$work/curl.sh"; then fail "the generated command holds the credential"; fi
cat "$work/curl.sh"
cat "$work/started.json"
started_version=$(json_get version <"$work/started.json")
[ "$started_version" = "$v2" ] || fail "curl started version $started_version, not $v2"
exec_id=$(json_get exec_id <"$work/started.json")

step "consumer: kitaru executions wait $exec_id (the curl-started execution)"
result=$(run kitaru executions wait "$exec_id" --timeout 2m)
echo "$result"
[ "$result" = '"research notes on curl'\''s \"route\""' ] || fail "unexpected result $result"

# The outcomes other than success, from testdata/flows/behaviours (README there).
step "copy testdata/flows/behaviours to a temporary project"
cp -R testdata/flows/behaviours "$work/behaviours"
behaviours="$work/behaviours/flows/behaviours.py"

# invoke_waiting FLOW: deploy FLOW from the behaviours file, invoke it with
# --wait -o json; the execution lands in $work/FLOW.json and the exit code in
# $work/FLOW.rc (1 for a failed run).
invoke_waiting() {
  run kitaru deploy "$behaviours:$1" -o json >"$work/$1.deploy.json"
  local rc=0
  run kitaru invoke "$1" --wait --timeout 3m -o json >"$work/$1.json" 2>"$work/$1.err" || rc=$?
  echo "$rc" >"$work/$1.rc"
  cat "$work/$1.err" >&2
}

step "a flow that raises: the execution fails with its exception and traceback"
invoke_waiting fails
[ "$(cat "$work/fails.rc")" = 1 ] || fail "kitaru invoke --wait exited $(cat "$work/fails.rc") for a failed run, not 1"
[ "$(json_get item.status <"$work/fails.json")" = failed ] || fail "the run is not failed: $(cat "$work/fails.json")"
[ "$(json_get item.error.type <"$work/fails.json")" = ValueError ] || fail "the error is not ValueError: $(cat "$work/fails.json")"
[ "$(json_get item.error.message <"$work/fails.json")" = "the flow failed on purpose" ] || fail "the message is lost: $(cat "$work/fails.json")"
traceback=$(json_get item.error.traceback <"$work/fails.json")
[[ $traceback == *'behaviours.py", line '*', in fails'* ]] ||
  fail "the traceback does not show the flow's frame: $(cat "$work/fails.json")"
echo "failed with ValueError and the flow's traceback"

step "a runner that dies mid-run: the execution fails as Runner.Crashed"
invoke_waiting crashes
[ "$(json_get item.status <"$work/crashes.json")" = failed ] || fail "the run is not failed: $(cat "$work/crashes.json")"
[ "$(json_get item.error.type <"$work/crashes.json")" = Runner.Crashed ] || fail "the error is not Runner.Crashed: $(cat "$work/crashes.json")"
echo "failed with Runner.Crashed: $(json_get item.error.message <"$work/crashes.json")"

step "a result over 256 KiB: stored through the presigned URL, named by result_ref"
invoke_waiting large
[ "$(json_get item.status <"$work/large.json")" = completed ] || fail "the run did not complete: $(cat "$work/large.json")"
result_ref=$(json_get item.result_ref <"$work/large.json") || fail "no result_ref: $(cat "$work/large.json")"
[ -n "$result_ref" ] || fail "empty result_ref"
echo "completed; the result is stored as $result_ref"
if [ -n "${E2E_RESULT_CHECK:-}" ]; then
  run "$E2E_RESULT_CHECK" "$result_ref"
fi

# What a user reaches for next (build, logs, secrets, executions by route,
# flow delete), through the CLI, on whichever server this runs against.
step "kitaru build: a version no tag routes to; default stays where it was"
kitaru flow tag get research_agent default -o json >"$work/default.before.json"
run kitaru build "$target" --input '{"topic": "staged"}' -o json >"$work/build.json"
[ "$(json_get item.tags <"$work/build.json")" = "{}" ] || fail "the build holds tags: $(cat "$work/build.json")"
kitaru flow tag get research_agent default -o json >"$work/default.after.json"
[ "$(json_get item.versions <"$work/default.after.json")" = "$(json_get item.versions <"$work/default.before.json")" ] ||
  fail "the build moved default: $(cat "$work/default.after.json")"
echo "built version $(json_get item.version <"$work/build.json") with no tag"

step "kitaru flow diff: the build against stable, a tag resolved to its version"
built=$(json_get item.version <"$work/build.json")
run kitaru flow diff research_agent stable "$built" >"$work/diff.txt"
grep -q "^Diff of research_agent: stable (version $v2) -> version $built\$" "$work/diff.txt" || fail "the diff header: $(cat "$work/diff.txt")"
grep -qF '~ topic: "durable agents" -> "staged"' "$work/diff.txt" || fail "the diff does not show the input change: $(cat "$work/diff.txt")"
run kitaru flow diff research_agent "$built" "$built" -o json >"$work/diff.same.json"
[ "$(json_get item.identical <"$work/diff.same.json")" = "true" ] || fail "a version against itself differs: $(cat "$work/diff.same.json")"
echo "stable (version $v2) -> version $built: the topic changed; a version against itself is identical"

step "execution logs: the failed run's log holds the runner's lines and the exception"
fails_exec=$(json_get item.exec_id <"$work/fails.json")
run kitaru executions logs "$fails_exec" >"$work/fails.log"
grep -q '^\[kitaru\] running fails' "$work/fails.log" || fail "no runner line in the log: $(head -c 2000 "$work/fails.log")"
grep -q 'ValueError: the flow failed on purpose' "$work/fails.log" || fail "no exception in the log: $(head -c 2000 "$work/fails.log")"
run kitaru deploy "$behaviours:chatty" -o json >/dev/null
run kitaru invoke chatty --wait --logs >"$work/chatty.out" 2>"$work/chatty.err"
grep -q 'hello from a child process' "$work/chatty.err" || fail "invoke --wait --logs did not stream the flow's output: $(cat "$work/chatty.err")"
echo "the log of $fails_exec and the streamed log of chatty hold what the flows wrote"

step "flow secrets: set from the environment, declared by a deploy, seen by the run only by digest"
secret_value="e2e-$(date +%s%N)"
E2E_SECRET_VALUE=$secret_value run kitaru secrets set OPENAI_API_KEY --from-env E2E_SECRET_VALUE
kitaru secrets list -o json >"$work/secrets.json"
grep -qF -- "$secret_value" "$work/secrets.json" && fail "secrets list shows the value"
cp -R testdata/flows/secrets "$work/secrets"
run kitaru deploy "$work/secrets/flows/secrets.py:environment" --secret OPENAI_API_KEY -o json >"$work/environment.deploy.json"
run kitaru invoke environment --wait -o json >"$work/environment.json"
want_digest=$(printf %s "$secret_value" | python3 -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')
[ "$(json_get item.result.sha256 <"$work/environment.json")" = "$want_digest" ] || fail "the run did not get the secret: $(cat "$work/environment.json")"
run kitaru executions logs "$(json_get item.exec_id <"$work/environment.json")" >"$work/environment.log"
if grep -qF -- "$secret_value" "$work"/environment.* "$work/secrets.json"; then fail "a response or the log holds the secret's value"; fi
run kitaru secrets delete OPENAI_API_KEY
if kitaru invoke environment -o json >"$work/environment.missing.json" 2>&1; then fail "an invoke without its secret was not refused"; fi
grep -q secret_missing "$work/environment.missing.json" || grep -q OPENAI_API_KEY "$work/environment.missing.json" ||
  fail "the refusal does not name the missing secret: $(cat "$work/environment.missing.json")"
echo "the run saw the secret (by digest); no answer or log holds it; a missing secret is refused"

step "executions by route: stable's runs, completed, in the last hour"
run kitaru executions list research_agent --tag stable --status completed --since 1h -o json >"$work/stable.runs.json"
python3 - "$work/stable.runs.json" <<'PY' || fail "the filtered list is wrong: $(cat "$work/stable.runs.json")"
import json, sys
items = json.load(open(sys.argv[1]))["items"]
assert items, "no executions"
for e in items:
    assert e["selector"].get("tag") == "stable" and e["status"] == "completed", e
PY
echo "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$work/stable.runs.json") completed runs through stable"

step "kitaru flow tag --split: a weighted route; a sticky key keeps one version; rollback restores the split"
run kitaru flow tag research_agent live --split "$v2=50,$built=50" -o json >"$work/split.json"
python3 -c 'import json, sys; s = json.load(open(sys.argv[1]))["item"]["split"]; assert s == {sys.argv[2]: 50, sys.argv[3]: 50}, s' \
  "$work/split.json" "$v2" "$built" || fail "the split tag: $(cat "$work/split.json")"
sticky=""
for _ in 1 2 3; do
  run kitaru invoke research_agent --tag live --sticky-key user-42 -o json >"$work/split.invoke.json"
  picked=$(json_get item.version <"$work/split.invoke.json")
  [ -z "$sticky" ] || [ "$picked" = "$sticky" ] || fail "the sticky key picked $picked after $sticky"
  sticky=$picked
done
run kitaru flow tag research_agent live --version "$v2" --exclusive -o json >/dev/null
run kitaru flow rollback research_agent live -o json >"$work/split.rollback.json"
[ "$(json_get item.split <"$work/split.rollback.json")" = "$(json_get item.split <"$work/split.json")" ] ||
  fail "rollback did not restore the split: $(cat "$work/split.rollback.json")"
run kitaru flow tag research_agent live --version "$v2" --exclusive -o json >/dev/null
run kitaru flow untag research_agent live --version "$v2" >/dev/null
echo "live split $v2/$built; user-42 always lands on version $sticky; rollback restored the split"

step "kitaru flow status: outcomes per version on the route in the last hour"
run kitaru flow status research_agent --since 1h -o json >"$work/status.json"
python3 - "$work/status.json" "$v2" <<'PY' || fail "flow status is wrong: $(cat "$work/status.json")"
import json, sys
st = json.load(open(sys.argv[1]))["item"]
rows = {r["version"]: r for r in st["versions"]}
stable = rows[int(sys.argv[2])]
assert "stable" in stable["tags"] and stable["completed"] >= 1 and stable["p50_seconds"] <= stable["p95_seconds"], stable
PY
run kitaru flow status research_agent --since 1h >"$work/status.txt"
grep -q "^VERSION" "$work/status.txt" || fail "no table: $(cat "$work/status.txt")"
echo "stable's version $v2 shows its completed runs with p50/p95"

step "kitaru flow prune: unrouted versions go, the newest stays, --dry-run deletes nothing"
run kitaru deploy "$behaviours:chatty" -o json >/dev/null
run kitaru deploy "$behaviours:chatty" -o json >"$work/chatty.v3.json"
run kitaru flow prune chatty --keep 1 --dry-run -o json >"$work/prune.dry.json"
run kitaru flow prune chatty --keep 1 -o json >"$work/prune.json"
python3 - "$work/prune.dry.json" "$work/prune.json" <<'PY' || fail "prune is wrong: $(cat "$work/prune.dry.json" "$work/prune.json")"
import json, sys
dry, done = (json.load(open(p))["item"] for p in sys.argv[1:])
assert dry["dry_run"] and [d["version"] for d in dry["deleted"]] == [1, 2], dry
assert [d["version"] for d in done["deleted"]] == [1, 2], done
assert [(k["version"], k["reason"]) for k in done["kept"]] == [(3, "routed")], done
PY
run kitaru flow deployments list chatty -o json >"$work/chatty.list.json"
[ "$(json_get count <"$work/chatty.list.json")" = 1 ] || fail "versions left after the prune: $(cat "$work/chatty.list.json")"
echo "pruned chatty's versions 1 and 2; version 3 (default) stays"

step "flow delete: refused while an exclusive tag routes, forced, numbers continue"
run kitaru deploy "$behaviours:silent" --tag live --exclusive -o json >"$work/silent.json"
silent_version=$(json_get item.version <"$work/silent.json")
if kitaru flow delete silent >"$work/silent.delete.out" 2>&1; then fail "the delete of a routed flow was not refused"; fi
grep -q live "$work/silent.delete.out" || fail "the refusal does not name the tag: $(cat "$work/silent.delete.out")"
run kitaru flow delete silent --force -o json >"$work/silent.deleted.json"
run kitaru deploy "$behaviours:silent" -o json >"$work/silent.again.json"
[ "$(json_get item.version <"$work/silent.again.json")" -gt "$silent_version" ] ||
  fail "the re-created flow reused a number: $(cat "$work/silent.again.json")"
echo "deleted silent (forced past live); the next deploy is version $(json_get item.version <"$work/silent.again.json")"

# The README's "Try it" and "The registry with curl" blocks, run as a reader
# runs them after `make dev`: one shell, from the repository root, logged in
# with `kitaru login` (its own config file, no connection variables). Only
# what a reader fills in is replaced: the server URL, the printed key, the
# project, /tmp/research and the bin directory.
step "the README walkthrough: \"Try it\", then \"The registry with curl\", as written"
mkdir -p "$work/readme"
python3 - "$work" "$KITARU_SERVER_URL" "$KITARU_AUTH_TOKEN" "$KITARU_PROJECT" >"$work/readme/walkthrough.sh" <<'PY' ||
import sys

work, url, key, project = sys.argv[1:]
lines = open("README.md").read().split("\n")


def block(heading):
    """The first sh block after the line heading."""
    if heading not in lines:
        sys.exit(f"README.md has no heading {heading!r}")
    start = lines.index("```sh", lines.index(heading)) + 1
    return "\n".join(lines[start:lines.index("```", start)])


script = block("## Try it: deploy and invoke a real flow") + "\n" + block("### The registry with curl")
for literal, value in [
    ("http://127.0.0.1:8787", url),
    ("kat_…", key),
    ("--project default", "--project " + project),
    ("X-Kitaru-Project: default", "X-Kitaru-Project: " + project),
    ("/tmp/research", work + "/readme/research"),
    ("$PWD/bin", work + "/bin"),
]:
    if literal not in script:
        sys.exit(f"the README walkthrough no longer holds {literal!r}: update scripts/e2e.sh with it")
    script = script.replace(literal, value)
print("set -euo pipefail")
print(script)
# What the checks below need from the walkthrough's shell.
print(f'printf "%s %s %s\\n" "$CANARY" "$V1" "$V2" >{work}/readme/versions')
PY
  fail "cannot extract the README walkthrough"
(
  unset KITARU_SERVER_URL KITARU_AUTH_TOKEN KITARU_PROJECT
  export KITARU_CONFIG_DIR="$work/readme/config"
  bash "$work/readme/walkthrough.sh"
) >"$work/readme/out" 2>"$work/readme/err" || {
  cat "$work/readme/out" "$work/readme/err"
  fail "the README walkthrough failed (the script: $work/readme/walkthrough.sh)"
}
cat "$work/readme/out"
read -r canary rv1 rv2 <"$work/readme/versions"
grep -qx '"research notes on deployment routing"' "$work/readme/out" || fail "\"Try it\" did not print the stable run's result"
[ "$rv2" -gt "$rv1" ] && [ "$rv1" -gt "$canary" ] || fail "versions: canary $canary, then $rv1 and $rv2"
grep -q '"code":"conflict"' "$work/readme/out" || fail "deleting version $rv2 while it holds tags was not refused"
kitaru flow tag get research_agent stable -o json >"$work/readme/stable.json"
[ "$(json_get item.versions <"$work/readme/stable.json")" = "[$rv1]" ] || fail "stable did not roll back to $rv1: $(cat "$work/readme/stable.json")"
kitaru flow tag get research_agent default -o json >"$work/readme/default.json"
[ "$(json_get item.versions <"$work/readme/default.json")" = "[$rv1]" ] || fail "the plain deploy did not move default to $rv1: $(cat "$work/readme/default.json")"
echo "the README walkthrough works: canary $canary, curl versions $rv1 and $rv2, stable rolled back to $rv1"

step "e2e: all steps passed"
