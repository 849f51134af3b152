#!/usr/bin/env bash
# HAProxy's own `mode tcp` regression tests against the built sluice. SET is
# "2.6": the tests of HAProxy v2.6.0 vendored in tests/regtests with VTest
# and their licenses, sluice answering as HAProxy 2.6 (SLUICE_DIALECT=2.6);
# or "current": tests-current.list read from the reg-tests/ of a haproxy/
# haproxy checkout named by SLUICE_HAPROXY_SRC, driven by the VTest2 source
# named by SLUICE_VTEST_SRC, sluice in its default dialect (3.2); neither
# may be committed here (they come from outside the workplace's shared/). A test
# that sluice fails fails this one, unless docs/configuration.md lists it
# under "HAProxy's regression tests" in a row "| SET | `test.vtc` | why |";
# a test listed there that now passes fails it too, so that the list stays
# true. If the folder cannot be found it is skipped, except under CI=true,
# where that is a failure.
#   haproxy_regtests.sh SLUICE DOC SET [REGTESTS_DIR]
set -u
sluice=$1
doc=$2
set=$3
regtests=${4:-${SLUICE_REGTESTS_DIR:-$(cd "$(dirname "$0")/.." && pwd)/regtests}}
case "$set" in
  2.6) tests_dir=$regtests/reg-tests; list=$regtests/tests.list; export SLUICE_DIALECT=2.6 ;;
  current)
    if [ ! -d "${SLUICE_HAPROXY_SRC:-/nonexistent}/reg-tests" ] || [ ! -f "${SLUICE_VTEST_SRC:-/nonexistent}/Makefile" ]; then
      echo "FAIL: set SLUICE_HAPROXY_SRC to a haproxy/haproxy checkout and SLUICE_VTEST_SRC to VTest2's source"
      exit 1
    fi
    tests_dir=$SLUICE_HAPROXY_SRC/reg-tests; list=$regtests/tests-current.list; unset SLUICE_DIALECT
    export VTEST_SRC=$SLUICE_VTEST_SRC ;;
  *) echo "FAIL: unknown set '$set' (2.6 or current)"; exit 1 ;;
esac
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
"$regtests/run.sh" "$sluice" --tests "$tests_dir" --list "$list" --jobs 1 --out "$out/results" | tee "$out/summary"
[ -f "$out/results/results.tsv" ] || { echo "FAIL: run.sh gave no results"; exit 1; }
# The documented differences: rows "| SET | `dir/name.vtc` | reason |".
documented=$(grep -oE "^\\| $set \\| \`[a-z0-9_/.-]+\\.vtc\` \\|" "$doc" | sed -E 's/^.*`([^`]+)` \|$/\1/' | sort -u)
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
