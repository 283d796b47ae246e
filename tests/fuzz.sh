#!/usr/bin/env bash
# Runs every fuzz target of the module, one at a time, for FUZZTIME each
# (default 10m, the release bar of SECURITY.md), and prints one line per
# target: start, end, package, target, and what `go test` said. A crasher is
# written by Go under the package's testdata/fuzz/<target>/: commit it as a
# regression seed with the fix.
#
#   tests/fuzz.sh                      every target, 10 minutes each
#   FUZZTIME=30s tests/fuzz.sh         a quick pass
#   tests/fuzz.sh ./hub/audit          only the targets under a path
set -uo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-10m}"
root="${1:-.}"
status=0
while IFS=: read -r file target; do
  pkg="./$(dirname "${file#./}")"
  start=$(date -u +%H:%M:%S)
  out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -parallel 1 "$pkg" 2>&1)
  rc=$?
  [ $rc -ne 0 ] && status=1
  echo "$start $(date -u +%H:%M:%S) $pkg $target rc=$rc :: $(echo "$out" | grep -E 'elapsed|PASS|FAIL|ok' | tail -2 | tr '\n' ' ')"
done < <(grep -rlE --include='*_test.go' '^func Fuzz' "$root" | sort | while read -r f; do
           grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$f" | sed "s|^func |$f:|"
         done)
exit $status
