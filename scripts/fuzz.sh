#!/usr/bin/env bash
# Runs every fuzz target of the module briefly (make fuzz; make test runs it):
# each `func FuzzX(f *testing.F)` in a *_test.go under pkg/ for FUZZTIME
# (default 3000x: a count of inputs, not a duration; with a duration, go test
# can fail a clean run with "context deadline exceeded" when the deadline
# lands while the baseline corpus is still being run on a loaded machine),
# one target at a time, as go test -fuzz requires. A failing
# input is written under the package's testdata/fuzz/FuzzX/ by go test:
# commit it, and it runs as a regression case in every plain go test.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-3000x}
found=0
while IFS=: read -r file _ line; do
  name=${line#func }
  name=${name%%(*}
  pkg=./$(dirname "$file")
  found=$((found + 1))
  printf -- '--- %s %s (%s)\n' "$pkg" "$name" "$fuzztime"
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' pkg | sort)
if ((found == 0)); then
  echo "fuzz: no fuzz targets found under pkg/" >&2
  exit 1
fi
echo "fuzz: $found targets, $fuzztime each"
