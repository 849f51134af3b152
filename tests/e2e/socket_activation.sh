#!/usr/bin/env bash
# systemd socket activation: packaging/sluice.socket passes systemd's
# checker, and sluice started the way systemd starts it for that unit (the
# listening socket as descriptor 3, LISTEN_PID/LISTEN_FDS, here by
# systemd-socket-activate) serves on that very socket, matched to the bind
# line by its address, including the connection that woke it up, and keeps
# it across a reload.
# Usage: socket_activation.sh <sluice binary> <socket unit>
set -uo pipefail
SLUICE=${1:?sluice binary}
UNIT=${2:?socket unit}
. "$(dirname "$0")/lib.sh"
need systemd-analyze
need systemd-socket-activate
need python3
workdir sockact
fail() { echo "FAIL: $*"; cat "$dir/sluice.out" 2>/dev/null; exit 1; }

cp "$UNIT" "$dir/sluice.socket"
printf '[Service]\nExecStart=/bin/true\n' > "$dir/sluice.service"
out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "$dir/sluice.socket" 2>&1)
ours=$(printf '%s\n' "$out" | grep "sluice.socket" || true)
[ -z "$ours" ] || fail "systemd-analyze verify: $ours"
echo "systemd-analyze verify sluice.socket: ok"

front=$(freeport); back=$(freeport)
python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
while True:
    c, _ = s.accept(); c.recv(100); c.sendall(b"served\n"); c.close()
' "$back" >/dev/null 2>&1 &
pids+=($!)
cat > "$dir/sluice.cfg" <<CFG
global
    log stdout format raw local0
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:$front
    default_backend be
backend be
    server s1 127.0.0.1:$back
CFG
# systemd-socket-activate listens, and execs sluice (same PID) when the
# first client connects: that client must be served too.
systemd-socket-activate -l "127.0.0.1:$front" "$SLUICE" -db -f "$dir/sluice.cfg" >"$dir/sluice.out" 2>&1 &
spid=$!
pids+=($spid)
for _ in $(seq 100); do ss -ltn | grep -q "127.0.0.1:$front " && break; sleep 0.05; done
ask() { python3 -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5); c.sendall(b"hi\n")
print(c.recv(100).decode().strip())' "$front" 2>&1; }
[ "$(ask)" = served ] || fail "the connection that woke sluice up was not served"
for _ in $(seq 100); do grep -q "Proxy fe started" "$dir/sluice.out" && break; sleep 0.05; done
[ "$(readlink /proc/$spid/exe)" = "$(readlink -f "$SLUICE")" ] || fail "sluice is not running under the activator's PID"
# One listening socket for the address, systemd's (sluice opened none).
n=$(ss -ltnp "sport = :$front" | grep -c "pid=$spid,")
[ "$n" -ge 1 ] || fail "sluice does not hold the activated socket"
[ "$(ss -Hltn "sport = :$front" | wc -l)" = 1 ] || fail "more than one socket listens on :$front"
for i in 1 2 3; do [ "$(ask)" = served ] || fail "request $i"; done
kill -HUP "$spid"
for _ in $(seq 100); do grep -q "configuration reloaded" "$dir/sluice.out" && break; sleep 0.05; done
grep -q "configuration reloaded" "$dir/sluice.out" || fail "no reload"
for i in 1 2 3; do [ "$(ask)" = served ] || fail "after the reload, request $i"; done
[ "$(ss -Hltn "sport = :$front" | wc -l)" = 1 ] || fail "after the reload, more than one socket listens"
stop_sluice "$spid" "$dir/sluice.out"
echo "PASS: sluice served on systemd's socket (the waking connection included) and kept it across a reload"
