# shellcheck shell=bash
# Sourced by scripts that test against a fresh `kitaru dev --memory` on a
# free loopback port (scripts/e2e.sh, scripts/clients.sh). The caller
# defines fail MESSAGE (prints it and exits non-zero).
#
#   start_kitaru_dev BIN WORKDIR   starts BIN dev, waits for the connection it
#                                  prints and exports KITARU_SERVER_URL,
#                                  KITARU_AUTH_TOKEN and KITARU_PROJECT; its
#                                  output goes to WORKDIR/dev.out and dev.log
#   stop_kitaru_dev RC             stops it; when RC is not 0, first prints the
#                                  last lines it logged

kitaru_dev_pid=""
kitaru_dev_work=""

start_kitaru_dev() {
  local bin=$1 line pair
  kitaru_dev_work=$2
  "$bin" dev --addr 127.0.0.1:0 --memory >"$kitaru_dev_work/dev.out" 2>"$kitaru_dev_work/dev.log" &
  kitaru_dev_pid=$!
  for _ in $(seq 1 300); do
    grep -q '^or export ' "$kitaru_dev_work/dev.out" 2>/dev/null && break
    kill -0 "$kitaru_dev_pid" 2>/dev/null || fail "kitaru dev exited: $(tail -n 20 "$kitaru_dev_work/dev.log")"
    sleep 0.1
  done
  line=$(grep '^or export ' "$kitaru_dev_work/dev.out") || fail "kitaru dev printed no connection within 30 s"
  # "or export KITARU_SERVER_URL=… KITARU_AUTH_TOKEN=… KITARU_PROJECT=…"
  for pair in ${line#or export }; do
    case $pair in
      KITARU_SERVER_URL=* | KITARU_AUTH_TOKEN=* | KITARU_PROJECT=*) export "${pair?}" ;;
    esac
  done
  [ -n "${KITARU_SERVER_URL:-}" ] && [ -n "${KITARU_AUTH_TOKEN:-}" ] || fail "kitaru dev printed no connection: $line"
  echo "kitaru dev (pid $kitaru_dev_pid) serves $KITARU_SERVER_URL, project $KITARU_PROJECT"
}

stop_kitaru_dev() {
  local rc=$1
  [ -n "$kitaru_dev_pid" ] || return 0
  if [ "$rc" -ne 0 ] && [ -s "$kitaru_dev_work/dev.log" ]; then
    echo "--- the last lines kitaru dev logged:" >&2
    tail -n 40 "$kitaru_dev_work/dev.log" >&2
  fi
  kill -TERM "$kitaru_dev_pid" 2>/dev/null || true
  wait "$kitaru_dev_pid" 2>/dev/null || true
  kitaru_dev_pid=""
}
