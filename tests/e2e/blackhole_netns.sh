#!/usr/bin/env bash
# A server address that black-holes connections (its host drops every SYN,
# with an nftables rule, in a network namespace this test makes): the
# connect timeout fires, the retry goes to another server ("option
# redispatch"), the client is served; a backend whose only server is
# black-holed closes the client after its retries, logged "sC".
# Usage: blackhole_netns.sh <sluice binary>
set -uo pipefail
. "$(dirname "$0")/lib.sh"  # stop_sluice
SLUICE=${1:?sluice binary}
[ "$(id -u)" -eq 0 ] || missing "needs root (network namespaces)"
command -v ip >/dev/null || missing "iproute2 is not installed"
command -v nft >/dev/null || missing "nftables is not installed (scripts/install-deps installs it)"

id=$$
N=slb$id; H=slh$id
dir=$(mktemp -d /tmp/sluice-blackhole-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; kill -9 "$p" 2>/dev/null; done
  for n in $N $H; do ip netns del $n 2>/dev/null; done
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- sluice output"; cat "$dir/sluice.out" 2>/dev/null; exit 1; }

for n in $N $H; do
  ip netns add $n 2>"$dir/err" || missing "cannot create network namespaces: $(cat "$dir/err")"
  ip -n $n link set lo up
done
ip link add n$id netns $N type veth peer name h$id netns $H || missing "cannot create veth pairs"
ip -n $N addr add 10.78.0.1/24 dev n$id && ip -n $N link set n$id up
ip -n $H addr add 10.78.0.2/24 dev h$id && ip -n $H link set h$id up
# The black-holed host: every TCP segment to port 9000 is dropped unanswered.
ip netns exec $H nft -f - <<'NFT' || fail "nft refused the drop rule"
table inet blackhole {
  chain input {
    type filter hook input priority 0;
    tcp dport 9000 drop
  }
}
NFT

# The live server, on sluice's own loopback.
ip netns exec $N python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 9001)); s.listen(64)
while True:
    c, a = s.accept(); c.recv(100); c.sendall(b"server=live\n"); c.close()
' >"$dir/server.out" 2>&1 &
pids+=($!)

cat > "$dir/sluice.cfg" <<CFG
global
    log stdout format raw local0
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 500ms
    timeout client 5s
    timeout server 5s
listen lb
    bind 127.0.0.1:8000
    balance roundrobin
    retries 2
    option redispatch
    server dead 10.78.0.2:9000
    server live 127.0.0.1:9001
listen onlydead
    bind 127.0.0.1:8001
    retries 1
    server dead 10.78.0.2:9000
CFG
ip netns exec $N "$SLUICE" -db -f "$dir/sluice.cfg" >"$dir/sluice.out" 2>&1 &
spid=$!
pids+=($spid)
for _ in $(seq 100); do ip netns exec $N ss -ltn | grep -q "127.0.0.1:8001" && ip netns exec $N ss -ltn | grep -q ":9001" && break; sleep 0.05; done

# Six clients through "lb": every one is served by the live server, those
# first sent to the black hole after one connect timeout.
out=$(ip netns exec $N python3 -c '
import socket, time
for i in range(6):
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", 8000), timeout=10); s.sendall(b"hi\n")
    data = s.recv(100).decode().strip(); s.close()
    print("%s %.2f" % (data, time.monotonic() - t0))
' 2>&1) || fail "client: $out"
echo "$out"
[ "$(grep -c '^server=live ' <<<"$out")" -eq 6 ] || fail "not every client was served by the live server"
slow=$(awk '$2 >= 0.45 && $2 < 3 {n++} END {print n+0}' <<<"$out")
[ "$slow" -ge 2 ] || fail "expected the clients sent to the black hole first to wait one connect timeout (got $slow)"

# "onlydead": closed after two attempts of 500 ms (and the pause between).
res=$(ip netns exec $N python3 -c '
import socket, time
t0 = time.monotonic()
s = socket.create_connection(("127.0.0.1", 8001), timeout=10); s.sendall(b"hi\n")
data = s.recv(100)  # a clean close: a reset would raise here
s.close()
print("%d %.2f" % (len(data), time.monotonic() - t0))
' 2>&1) || fail "client: $res"
echo "onlydead: $res"
read -r got secs <<<"$res"
[ "$got" = 0 ] || fail "the client of a black-holed backend got data"
awk -v s="$secs" 'BEGIN {exit !(s >= 0.9 && s < 4)}' || fail "closed after ${secs}s, expected about 1-1.5 s"
for _ in $(seq 20); do grep -q " onlydead onlydead/dead .* sC " "$dir/sluice.out" && break; sleep 0.1; done
grep -q " onlydead onlydead/dead .* sC " "$dir/sluice.out" || fail "no 'sC' log line for the black-holed backend"
grep -q " lb lb/live " "$dir/sluice.out" || fail "no log line for the redispatched sessions"
stop_sluice "$spid" "$dir/sluice.out"
echo "PASS: connect timeouts fired, retries went to the live server, the black-holed backend closed its client (sC)"
