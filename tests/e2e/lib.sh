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
