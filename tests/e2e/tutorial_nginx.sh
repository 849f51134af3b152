#!/usr/bin/env bash
# End to end, as a user of the tutorial: two real nginx HTTPS servers, Debian's
# stock /etc/haproxy/haproxy.cfg with the tutorial's sections appended (only
# the server addresses made local; "bind *:443" kept), sluice run on that
# file, and the curl program through it. Passes when curl gets each nginx's
# 200 with the servers' own certificate, in round robin.
# Usage: tutorial_nginx.sh <sluice binary> <tests/data dir>
set -uo pipefail
SLUICE=${1:?sluice binary}
DATA=${2:?data dir}
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || missing "needs root (port 443, chroot, user haproxy)"
need nginx
need curl
if ss -ltn 2>/dev/null | awk '{print $4}' | grep -qE '(^|:)443$'; then
  missing "something already listens on port 443"
fi

workdir e2e

fail() { echo "FAIL: $*"; echo "--- sluice output"; cat "$dir/sluice.out" 2>/dev/null; exit 1; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -keyout "$dir/app.key" -out "$dir/app.crt" -subj "/CN=app.example" \
  -addext "subjectAltName=DNS:app.example" 2>/dev/null || fail "cannot make a certificate"

p1=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
p2=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
cat > "$dir/nginx.conf" <<NGINX
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log;
events { worker_connections 128; }
http {
  access_log off;
  server { listen 127.0.0.1:$p1 ssl; ssl_certificate $dir/app.crt; ssl_certificate_key $dir/app.key;
           location / { return 200 "served by nginx-1\n"; } }
  server { listen 127.0.0.1:$p2 ssl; ssl_certificate $dir/app.crt; ssl_certificate_key $dir/app.key;
           location / { return 200 "served by nginx-2\n"; } }
}
NGINX
nginx -c "$dir/nginx.conf" -g 'daemon off;' >"$dir/nginx.out" 2>&1 &
pids+=($!)

# The tutorial's file: Debian's stock global and defaults, then the two sections.
stock=/etc/haproxy/haproxy.cfg
[ -f "$stock" ] || stock="$DATA/debian-haproxy.cfg"
{ cat "$stock"; echo; sed -e "s/192.168.1.10:443/127.0.0.1:$p1/" -e "s/192.168.1.11:443/127.0.0.1:$p2/" \
    "$DATA/tutorial-passthrough.cfg"; } > "$dir/haproxy.cfg"

"$SLUICE" -c -f "$dir/haproxy.cfg" > "$dir/check.out" 2>&1 || { cat "$dir/check.out"; fail "sluice -c refused the tutorial file"; }
grep -q "Configuration file is valid" "$dir/check.out" || fail "sluice -c did not say the file is valid"

# -db: stay in the foreground although the stock file says "daemon", as
# Debian's haproxy.service does with -Ws.
"$SLUICE" -db -f "$dir/haproxy.cfg" > "$dir/sluice.out" 2>&1 &
spid=$!
pids+=($spid)
for _ in $(seq 100); do
  ss -ltn | awk '{print $4}' | grep -qE ':443$' && ss -ltn | grep -q ":$p2 " && break
  sleep 0.05
done
ss -ltn | awk '{print $4}' | grep -qE ':443$' || fail "sluice is not listening on :443"

seen=""
for i in 1 2 3 4; do
  out=$(curl -sS --max-time 5 --cacert "$dir/app.crt" --resolve app.example:443:127.0.0.1 \
        -w ' code=%{http_code} verify=%{ssl_verify_result}' https://app.example/ 2>&1) || fail "curl: $out"
  echo "curl #$i: $out"
  [[ "$out" == *"code=200 verify=0"* ]] || fail "expected 200 with a verified server certificate"
  [[ "$out" == *"nginx-1"* ]] && seen="$seen 1"
  [[ "$out" == *"nginx-2"* ]] && seen="$seen 2"
done
[[ "$seen" == *1* && "$seen" == *2* ]] || fail "roundrobin should reach both nginx servers (saw:$seen)"
stop_sluice "$spid" "$dir/sluice.out"
echo "PASS: curl through sluice on the tutorial file got nginx's 200 from both servers"
