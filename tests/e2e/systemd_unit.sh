#!/usr/bin/env bash
# packaging/sluice.service is a unit systemd accepts (systemd-analyze
# verify, with the binary path pointed at the build), and its commands do
# what systemd expects: ExecReload's check passes on a valid file and fails
# on a broken one, ExecStart starts and answers READY=1 on $NOTIFY_SOCKET,
# and "kill -USR2 $MAINPID" reloads.
# Usage: systemd_unit.sh <sluice binary> <unit file>
set -uo pipefail
SLUICE=${1:?sluice binary}
UNIT=${2:?unit file}
. "$(dirname "$0")/lib.sh"
need systemd-analyze
need socat
workdir unit
fail() { echo "FAIL: $*"; [ -f "$dir/out" ] && cat "$dir/out"; exit 1; }

# 1. systemd's own checker, on the unit as shipped but for the binary path.
sed "s#/usr/sbin/sluice#$SLUICE#g" "$UNIT" > "$dir/sluice.service"
out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "$dir/sluice.service" 2>&1)
ours=$(printf '%s\n' "$out" | grep "sluice.service" || true)
[ -z "$ours" ] || fail "systemd-analyze verify: $ours"
echo "systemd-analyze verify: ok"

# 2. The commands of the unit, with its variables.
port=$(freeport)
cat > "$dir/haproxy.cfg" <<CFG
global
    stats socket $dir/admin.sock mode 600 level admin
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen l
    bind 127.0.0.1:$port
    server s 127.0.0.1:9
CFG
CONFIG=$dir/haproxy.cfg PIDFILE=$dir/sluice.pid EXTRAOPTS="-S $dir/master.sock"
exec_line() { grep "^$1=" "$UNIT" | sed -n "${2}p" | cut -d= -f2- | sed "s#/usr/sbin/sluice#$SLUICE#g"; }
reload_check=$(exec_line ExecReload 1)
start=$(exec_line ExecStart 1)
eval "$reload_check" || fail "ExecReload check refused a valid file: $reload_check"
echo "listen broken" >> "$dir/bad.cfg"; echo "  balance nonsense" >> "$dir/bad.cfg"
( CONFIG=$dir/bad.cfg; eval "$reload_check" 2>/dev/null ) && fail "ExecReload check accepted a broken file"

python3 - "$dir/notify.sock" > "$dir/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); s.settimeout(15)
try:
    while True:
        print(s.recv(512).decode().replace("\n", " "), flush=True)
except Exception:
    pass
PY
pids+=($!)
for _ in $(seq 50); do [ -S "$dir/notify.sock" ] && break; sleep 0.05; done
( export NOTIFY_SOCKET=$dir/notify.sock; eval "exec $start" ) >"$dir/out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q READY=1 "$dir/notify.log" && break; sleep 0.05; done
grep -q READY=1 "$dir/notify.log" || fail "no READY=1"
mainpid=$(cat "$dir/sluice.pid")
[ "$(echo 'show cli level' | socat stdio "$dir/master.sock" | head -1)" = admin ] || fail "-S socket not served"
kill -USR2 "$mainpid"
for _ in $(seq 100); do grep -q RELOADING=1 "$dir/notify.log" && [ "$(grep -c READY=1 "$dir/notify.log")" -ge 2 ] && break; sleep 0.05; done
grep -q RELOADING=1 "$dir/notify.log" || fail "no RELOADING=1 after SIGUSR2"
[ "$(grep -c READY=1 "$dir/notify.log")" -ge 2 ] || fail "no READY=1 after the reload"
kill -TERM "$mainpid"
for _ in $(seq 100); do grep -q STOPPING=1 "$dir/notify.log" && break; sleep 0.05; done
grep -q STOPPING=1 "$dir/notify.log" || fail "no STOPPING=1"
echo "PASS"
