#!/usr/bin/env bash
# The client's real address reaches real nginx HTTPS servers through sluice:
# nginx listens with "ssl proxy_protocol" and logs $proxy_protocol_addr; one
# server gets send-proxy (v1), the other send-proxy-v2 with the SNI as
# authority; health checks reach them with check-send-proxy. Passes when
# nginx logs the address curl really used (127.0.0.5) for both.
# Usage: proxy_protocol_nginx.sh <sluice binary>
set -uo pipefail
SLUICE=${1:?sluice binary}
. "$(dirname "$0")/lib.sh"
need nginx
need curl
need socat
workdir pp
fail() { echo "FAIL: $*"; echo "--- sluice"; cat "$dir/sluice.out"; echo "--- nginx access"; cat "$dir/access.log" 2>/dev/null; exit 1; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -keyout "$dir/app.key" -out "$dir/app.crt" -subj "/CN=app.example" \
  -addext "subjectAltName=DNS:app.example" 2>/dev/null
p1=$(freeport); p2=$(freeport); front=$(freeport)
cat > "$dir/nginx.conf" <<NGINX
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log;
events { worker_connections 128; }
http {
  log_format pp '\$server_port client=\$proxy_protocol_addr:\$proxy_protocol_port sni=\$ssl_server_name';
  access_log $dir/access.log pp;
  server { listen 127.0.0.1:$p1 ssl proxy_protocol; ssl_certificate $dir/app.crt; ssl_certificate_key $dir/app.key;
           location / { return 200 "nginx-v1\n"; } }
  server { listen 127.0.0.1:$p2 ssl proxy_protocol; ssl_certificate $dir/app.crt; ssl_certificate_key $dir/app.key;
           location / { return 200 "nginx-v2\n"; } }
}
NGINX
nginx -c "$dir/nginx.conf" -g 'daemon off;' >"$dir/nginx.out" 2>&1 &
pids+=($!)

cat > "$dir/sluice.cfg" <<CFG
global
    log stdout format raw local0
    stats socket $dir/admin.sock level admin
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:$front
    tcp-request inspect-delay 5s
    tcp-request content accept if { req.ssl_hello_type 1 }
    default_backend app
backend app
    balance roundrobin
    option ssl-hello-chk
    default-server check inter 200ms check-send-proxy check-sni app.example
    server v1 127.0.0.1:$p1 send-proxy
    server v2 127.0.0.1:$p2 send-proxy-v2 proxy-v2-options authority,crc32c
CFG
"$SLUICE" -db -f "$dir/sluice.cfg" >"$dir/sluice.out" 2>&1 &
spid=$!
pids+=($spid)
for _ in $(seq 100); do ss -ltn | grep -q ":$front " && ss -ltn | grep -q ":$p2 " && break; sleep 0.05; done
# Health checks with PROXY headers must have run and passed on both servers:
# "show stat" gives each server's last check result (L6OK for ssl-hello-chk).
checks=""
for _ in $(seq 100); do
  checks=$(echo "show stat" | socat -t 2 - "UNIX-CONNECT:$dir/admin.sock" 2>/dev/null |
           awk -F, '$1 == "app" && ($2 == "v1" || $2 == "v2") { print $2 "=" $37 }' | sort | tr '\n' ' ')
  [ "$checks" = "v1=L6OK v2=L6OK " ] && break
  sleep 0.05
done
[ "$checks" = "v1=L6OK v2=L6OK " ] || fail "health checks with check-send-proxy did not pass on both servers: '$checks'"
grep -q "is DOWN" "$dir/sluice.out" && fail "a server was marked DOWN: checks with check-send-proxy failed"

for i in 1 2 3 4; do
  out=$(curl -sS --max-time 5 --interface 127.0.0.5 --cacert "$dir/app.crt" \
        --resolve app.example:$front:127.0.0.1 https://app.example:$front/ 2>&1) || fail "curl: $out"
  echo "curl #$i: $out"
done
for _ in $(seq 50); do grep -q "^$p2 client=127.0.0.5:" "$dir/access.log" && grep -q "^$p1 client=127.0.0.5:" "$dir/access.log" && break; sleep 0.05; done
grep -q "^$p1 client=127.0.0.5:" "$dir/access.log" || fail "nginx (send-proxy v1) did not log the client's address"
grep -q "^$p2 client=127.0.0.5:" "$dir/access.log" || fail "nginx (send-proxy-v2) did not log the client's address"
stop_sluice "$spid" "$dir/sluice.out"
echo "PASS: nginx logged the client's own address (127.0.0.5) through PROXY v1 and v2"
