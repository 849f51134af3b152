#!/usr/bin/env bash
# HTTP/3 in a real browser through sluice: Debian's Chromium (QUIC from
# BoringSSL, a post-quantum hello over two datagrams) loads pages from two
# real QUIC servers (ngtcp2's gtlsserver, each with its own certificate)
# through one sluice frontend that only has a QUIC bind and routes by SNI.
# Each page must come from the server its name chose, over h3, with that
# server's certificate; sluice logs one line per flow with the name.
# Usage: quic_chromium.sh <sluice binary>
set -uo pipefail
SLUICE=${1:?sluice binary}
HERE=$(cd "$(dirname "$0")/.." && pwd)
. "$(dirname "$0")/lib.sh"
need node
need chromium
need gtlsserver
need openssl
[ -d "$HERE/browser/node_modules/playwright-core" ] || missing "run 'npm ci --prefix tests/browser' (scripts/install-deps does)"
workdir h3
fail() { echo "FAIL: $*"; echo "--- sluice"; cat "$dir/sluice.out"; for f in "$dir"/server-*.log; do echo "--- $f"; cat "$f"; done; exit 1; }
udpport() { python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

spki=""
for name in app other; do
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -keyout "$dir/$name.key" -out "$dir/$name.crt" -subj "/CN=$name.example" \
    -addext "subjectAltName=DNS:$name.example" 2>/dev/null || fail "openssl req"
  hash=$(openssl x509 -in "$dir/$name.crt" -pubkey -noout | openssl pkey -pubin -outform der |
         openssl dgst -sha256 -binary | base64)
  spki="${spki:+$spki,}$hash"
  mkdir -p "$dir/docs-$name"
  echo "<html><body>server=$name</body></html>" > "$dir/docs-$name/index.html"
done

pa=$(udpport); pb=$(udpport); port=$(udpport)
gtlsserver -q -d "$dir/docs-app" 127.0.0.1 "$pa" "$dir/app.key" "$dir/app.crt" >"$dir/server-app.log" 2>&1 &
pids+=($!)
gtlsserver -q -d "$dir/docs-other" 127.0.0.1 "$pb" "$dir/other.key" "$dir/other.crt" >"$dir/server-other.log" 2>&1 &
pids+=($!)

cat > "$dir/sluice.cfg" <<CFG
global
    log stdout format raw local0
defaults
    mode tcp
    log global
    log-format "%ci:%cp %ft %b/%s %Tt %U %B %ts sni=%[req.ssl_sni] alpn=%[req.ssl_alpn]"
    timeout connect 2s
    timeout client 2s
    timeout server 2s
frontend web
    bind quic4@127.0.0.1:$port
    tcp-request inspect-delay 5s
    use_backend app if { req.ssl_sni -i app.example }
    default_backend other
backend app
    server a1 quic4@127.0.0.1:$pa check inter 500
backend other
    server o1 quic4@127.0.0.1:$pb check inter 500
CFG
"$SLUICE" -c -f "$dir/sluice.cfg" >/dev/null 2>&1 || { "$SLUICE" -c -f "$dir/sluice.cfg"; fail "-c refused the file"; }
"$SLUICE" -f "$dir/sluice.cfg" >"$dir/sluice.out" 2>&1 &
spid=$!
pids+=($spid)
for _ in $(seq 100); do ss -Hun state unconnected sport = ":$port" | grep -q . && break; sleep 0.05; done
for p in "$pa" "$pb"; do
  for _ in $(seq 100); do ss -Hun state unconnected sport = ":$p" | grep -q . && break; sleep 0.05; done
done

cat > "$dir/expect.json" <<JSON
{ "spki": "$spki",
  "pages": [ { "url": "https://app.example:$port/", "text": "server=app", "subject": "app.example" },
             { "url": "https://other.example:$port/", "text": "server=other", "subject": "other.example" },
             { "url": "https://app.example:$port/", "text": "server=app", "subject": "app.example" } ] }
JSON
node "$HERE/browser/http3_page.mjs" "$dir/expect.json" || fail "browser checks failed"

# One line per flow once it falls silent (timeout client 2s), each with the
# name Chromium sent and the h3 ALPN; each name went to its own server.
for _ in $(seq 100); do [ "$(grep -c 'sni=' "$dir/sluice.out")" -ge 3 ] && break; sleep 0.1; done
grep -c "app/a1 .* sni=app.example alpn=h3" "$dir/sluice.out" | grep -qx 2 || fail "expected two flows app/a1 with sni=app.example"
grep -c "other/o1 .* sni=other.example alpn=h3" "$dir/sluice.out" | grep -qx 1 || fail "expected one flow other/o1 with sni=other.example"
stop_sluice "$spid" "$dir/sluice.out"
grep "sni=" "$dir/sluice.out"
echo "PASS"
