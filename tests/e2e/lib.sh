# Shared by the end-to-end scripts (sourced): the processes a script starts
# are stopped by PID at exit and its temporary directory removed; a missing
# tool skips the test (77), except on CI, where scripts/install-deps must
# have installed it, so it fails.
SKIP=77
pids=()
dir=""
missing() {
  if [ "${CI:-}" = true ]; then echo "FAIL: $1"; exit 1; fi
  echo "SKIP: $1"; exit $SKIP
}
need() { command -v "$1" >/dev/null || missing "$1 is not installed"; }
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
  [ -n "$dir" ] && rm -rf "$dir"
}
# Makes the temporary directory and arranges the cleanup: workdir <tag>
workdir() { dir=$(mktemp -d "/tmp/sluice-$1-XXXXXX"); trap cleanup EXIT; }
freeport() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
# Stops sluice by PID with SIGTERM and fails the script if it did not exit
# cleanly or if a sanitizer reported anything in its output: under ASan and
# UBSan an error aborts sluice, and leaks are only reported at exit.
# stop_sluice <pid> <output file>
stop_sluice() {
  local pid=$1 out=$2 status=0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  wait "$pid" 2>/dev/null || status=$?
  if [ "$status" -ne 0 ]; then echo "FAIL: sluice exited with status $status on SIGTERM"; cat "$out"; exit 1; fi
  if grep -qE "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|WARNING: ThreadSanitizer" "$out"; then
    echo "FAIL: sanitizer report in sluice's output"; cat "$out"; exit 1
  fi
}
