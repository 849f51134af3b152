#!/usr/bin/env bash
# HAProxy's own `mode tcp` regression tests (tests/regtests: VTest and 24
# tests of HAProxy v2.6.0, vendored with their licenses) against the built
# sluice. A test that sluice fails fails this one, unless
# docs/configuration.md lists it under "HAProxy's regression tests" with the
# reason sluice differs; a test listed there that now passes fails it too,
# so that the list stays true. If the folder cannot be found it is skipped,
# except under CI=true, where that is a failure.
#   haproxy_regtests.sh SLUICE DOC [REGTESTS_DIR]
set -u
sluice=$1
doc=$2
regtests=${3:-${SLUICE_REGTESTS_DIR:-$(cd "$(dirname "$0")/.." && pwd)/regtests}}
if [ ! -x "$regtests/run.sh" ]; then
  if [ "${CI:-}" = true ]; then
    echo "FAIL: HAProxy's regression tests are not here ($regtests): under CI=true this test must run"
    exit 1
  fi
  echo "SKIP: HAProxy's regression tests are not here ($regtests); set SLUICE_REGTESTS_DIR to run them"
  exit 77
fi
out=$(mktemp -d /tmp/sluice-regtests-XXXXXX)
trap 'rm -rf "$out"' EXIT
# One at a time: the check tests count milliseconds.
"$regtests/run.sh" "$sluice" --jobs 1 --out "$out/results" | tee "$out/summary"
[ -f "$out/results/results.tsv" ] || { echo "FAIL: run.sh gave no results"; exit 1; }
# The documented differences: rows "| `dir/name.vtc` | reason |".
documented=$(grep -oE '^\| `[a-z0-9_/.-]+\.vtc` \|' "$doc" | sed -E 's/^\| `([^`]+)` \|/\1/' | sort -u)
status=0
while IFS=$'\t' read -r test result _ why; do
  listed=no
  grep -qxF "$test" <<<"$documented" && listed=yes
  if [ "$result" != passed ] && [ "$listed" = no ]; then
    echo "FAIL: $test $result and docs/configuration.md does not say why: $why"
    status=1
  elif [ "$result" = passed ] && [ "$listed" = yes ]; then
    echo "FAIL: $test passes now: remove it from the list in docs/configuration.md"
    status=1
  fi
done <"$out/results/results.tsv"
if [ $status -eq 0 ]; then
  echo "every failure is documented: $(grep -c $'\tpassed\t' "$out/results/results.tsv") passed of $(wc -l <"$out/results/results.tsv")"
fi
exit $status
