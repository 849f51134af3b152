#!/usr/bin/env bash
# Transparent proxying ("source 0.0.0.0 usesrc clientip") in network
# namespaces this test makes itself: client -- sluice -- server, each in its
# own namespace joined by veth pairs, the server routing back through
# sluice's namespace, where a socket mark sends the replies to sluice's
# transparent sockets. Passes when the server sees the client's own address.
# Usage: transparent_netns.sh <sluice binary>
set -uo pipefail
. "$(dirname "$0")/lib.sh"  # stop_sluice
SLUICE=${1:?sluice binary}
[ "$(id -u)" -eq 0 ] || missing "needs root (network namespaces)"
command -v ip >/dev/null || missing "iproute2 is not installed"
command -v nft >/dev/null || missing "nftables is not installed (scripts/install-deps installs it)"

id=$$
C=slc$id; L=sll$id; S=sls$id
dir=$(mktemp -d /tmp/sluice-netns-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; kill -9 "$p" 2>/dev/null; done
  for n in $C $L $S; do ip netns del $n 2>/dev/null; done
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- sluice output"; cat "$dir/sluice.out" 2>/dev/null; exit 1; }

for n in $C $L $S; do
  ip netns add $n 2>"$dir/err" || missing "cannot create network namespaces: $(cat "$dir/err")"
  ip -n $n link set lo up
done
ip link add c$id netns $C type veth peer name l$id netns $L || missing "cannot create veth pairs"
ip link add m$id netns $L type veth peer name s$id netns $S
ip -n $C addr add 10.77.1.2/24 dev c$id && ip -n $C link set c$id up && ip -n $C route add default via 10.77.1.1
ip -n $L addr add 10.77.1.1/24 dev l$id && ip -n $L link set l$id up
ip -n $L addr add 10.77.2.1/24 dev m$id && ip -n $L link set m$id up
ip -n $S addr add 10.77.2.2/24 dev s$id && ip -n $S link set s$id up && ip -n $S route add default via 10.77.2.1
ip netns exec $L sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
# Replies to a transparent socket's foreign address are delivered locally.
if ! ip netns exec $L nft -f - 2>"$dir/err" <<'NFT'
table ip sluice_tproxy {
  chain prerouting {
    type filter hook prerouting priority mangle;
    meta l4proto { tcp, udp } socket transparent 1 meta mark set 1
  }
}
NFT
then
  missing "the kernel refuses the nftables socket match: $(cat "$dir/err")"
fi
ip -n $L rule add fwmark 1 lookup 100
ip -n $L route add local 0.0.0.0/0 dev lo table 100

# The server answers with the address it sees.
ip netns exec $S python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.2.2", 9000)); s.listen(16)
while True:
    c, a = s.accept(); c.recv(100); c.sendall(("peer=%s\n" % a[0]).encode()); c.close()
' >"$dir/server.out" 2>&1 &
pids+=($!)
# The QUIC server: answers each datagram with a long-header packet (so
# that it passes for a server's) carrying the address it came from.
ip netns exec $S python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.77.2.2", 9443))
while True:
    d, a = s.recvfrom(65536)
    s.sendto(bytes([0xc0, 0, 0, 0, 1, 0, 8]) + b"srvcid01" + ("peer=%s\n" % a[0]).encode(), a)
' >"$dir/quic-server.out" 2>&1 &
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
    bind 10.77.1.1:8080
    bind quic4@10.77.1.1:8443
    tcp-request inspect-delay 2s
    default_backend transparent
backend transparent
    source 0.0.0.0 usesrc clientip
    server s1 10.77.2.2:9000
    server q1 quic4@10.77.2.2:9443
CFG
ip netns exec $L "$SLUICE" -db -f "$dir/sluice.cfg" >"$dir/sluice.out" 2>&1 &
spid=$!
pids+=($spid)
for _ in $(seq 100); do ip netns exec $L ss -ltn | grep -q "10.77.1.1:8080" && ip netns exec $S ss -ltn | grep -q ":9000" && break; sleep 0.05; done

out=$(ip netns exec $C python3 -c '
import socket
s = socket.create_connection(("10.77.1.1", 8080), timeout=5); s.sendall(b"hello\n"); print(s.recv(100).decode().strip())
' 2>&1) || fail "client: $out"
echo "client got: $out"
[ "$out" = "peer=10.77.1.2" ] || fail "the server saw '$out', not the client's address 10.77.1.2"
grep -q "10.77.1.2:[0-9]* \[.*fe transparent/s1 " "$dir/sluice.out" || { sleep 0.3; grep -q "fe transparent/s1" "$dir/sluice.out" || fail "no log line"; }

data=$(cd "$(dirname "$0")/../data/quic" && pwd)/chromium-156-v1-mlkem.dgrams
out=$(ip netns exec $C python3 -c '
import socket, sys
d = open(sys.argv[1], "rb").read()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
i = 0
while i < len(d):
    n = int.from_bytes(d[i:i + 2], "big"); s.sendto(d[i + 2:i + 2 + n], ("10.77.1.1", 8443)); i += 2 + n
r, a = s.recvfrom(65536)
print(r[15:].decode().strip(), "from %s:%d" % a)
' "$data" 2>&1) || fail "QUIC client: $out"
echo "QUIC client got: $out"
[ "$out" = "peer=10.77.1.2 from 10.77.1.1:8443" ] || fail "over QUIC the server saw '$out', not the client's address 10.77.1.2 (answered from sluice's address)"
for _ in $(seq 50); do grep -q "fe transparent/q1 " "$dir/sluice.out" && break; sleep 0.1; done
stop_sluice "$spid" "$dir/sluice.out"
grep -q "fe transparent/q1 " "$dir/sluice.out" || fail "no log line for the QUIC flow"
echo "PASS: with usesrc clientip the servers saw the client's own address, over TCP and QUIC"
