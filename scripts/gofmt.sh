#!/usr/bin/env bash
# gofmt over every Go file of the work tree (all modules, ignored paths skipped).
#   scripts/gofmt.sh check   list unformatted files and fail if there are any
#   scripts/gofmt.sh fix     rewrite them in place
set -euo pipefail
cd "$(dirname "$0")/.."

go_files() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard -- '*.go' |
      while IFS= read -r -d '' f; do if [[ -f $f ]]; then printf '%s\n' "$f"; fi; done
  else
    find . -name '*.go' -not -path './node_modules/*' -not -path './.tmp/*' -not -path '*/cdk.out/*'
  fi
}

mapfile -t files < <(go_files)
if ((${#files[@]} == 0)); then
  echo "no Go files"
  exit 0
fi

case ${1:-} in
check)
  unformatted=$(gofmt -l "${files[@]}")
  if [[ -n $unformatted ]]; then
    echo "these files are not gofmt-formatted (fix with: make fmt):"
    sed 's/^/    /' <<<"$unformatted"
    exit 1
  fi
  echo "ok (${#files[@]} files)"
  ;;
fix)
  gofmt -l -w "${files[@]}"
  ;;
*)
  echo "usage: $0 check|fix" >&2
  exit 2
  ;;
esac
