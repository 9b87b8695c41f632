#!/usr/bin/env bash
# Static checks beyond go vet (make lint; make test runs each as its own step).
#   scripts/lint.sh staticcheck   staticcheck on the root module and infra/
#   scripts/lint.sh pyflakes      pyflakes on the Python we ship and test with
#   scripts/lint.sh has-pyflakes  exit 0 if an interpreter here has pyflakes
#   scripts/lint.sh               staticcheck, then pyflakes
#
# staticcheck is pinned here and run with `go run module@version` rather than
# a `tool` line in go.mod: that builds the release exactly as its own go.mod
# pins it (a tool line would build it with this module's newer x/tools), keeps
# its requirements (x/exp, x/tools, toml) out of the graph the Lambdas are
# built from, and serves infra/, a separate module, without a second pin.
# The go command checks the download against sum.golang.org and caches the
# binary, so a warm run costs only the analysis.
#
# pyflakes is Debian's python3-pyflakes (.ci/run installs it). Debian installs
# it for /usr/bin/python3 only; `python3` on PATH may be a pyenv shim whose
# interpreter lacks Debian's dist-packages, so this runs `-m pyflakes` with
# the first interpreter that can import it, /usr/bin/python3 first.
set -euo pipefail
cd "$(dirname "$0")/.."

staticcheck_module=honnef.co/go/tools/cmd/staticcheck
staticcheck_version=v0.8.2
# Directories whose Python pyflakes checks (tracked and new files, not ignored).
python_dirs=(sdk/python functions/runner scripts/awslocal)
pyflakes_install="apt-get install -y python3-pyflakes"

run_staticcheck() {
  local module status=0
  for module in . infra; do
    echo "staticcheck $staticcheck_version: $module"
    (cd "$module" && go run "$staticcheck_module@$staticcheck_version" ./...) || status=1
  done
  if ((status != 0)); then
    echo "error: staticcheck found the problems above; run it alone with: go run $staticcheck_module@$staticcheck_version ./..." >&2
    return 1
  fi
  echo "ok"
}

# pyflakes_python prints the first interpreter that imports pyflakes.
pyflakes_python() {
  local py
  for py in /usr/bin/python3 "$(command -v python3 || true)"; do
    if [[ -n $py && -x $py ]] && "$py" -c 'import pyflakes' 2>/dev/null; then
      echo "$py"
      return 0
    fi
  done
  return 1
}

run_pyflakes() {
  local py
  py=$(pyflakes_python) || {
    echo "error: pyflakes is not installed; install Debian's package with: $pyflakes_install" >&2
    return 1
  }
  local files=()
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t files < <(git ls-files --cached --others --exclude-standard -- "${python_dirs[@]/%//*.py}" |
      while IFS= read -r f; do if [[ -f $f ]]; then printf '%s\n' "$f"; fi; done)
  else
    mapfile -t files < <(find "${python_dirs[@]}" -name '*.py' -not -path '*/build/*')
  fi
  echo "pyflakes $("$py" -m pyflakes --version | cut -d' ' -f1) ($py): ${#files[@]} files in ${python_dirs[*]}"
  "$py" -m pyflakes "${files[@]}" || {
    echo "error: pyflakes found the problems above" >&2
    return 1
  }
  echo "ok"
}

case ${1:-all} in
staticcheck) run_staticcheck ;;
pyflakes) run_pyflakes ;;
has-pyflakes) pyflakes_python >/dev/null ;;
all)
  run_staticcheck
  run_pyflakes
  ;;
*)
  echo "usage: $0 [staticcheck|pyflakes|has-pyflakes]" >&2
  exit 2
  ;;
esac
