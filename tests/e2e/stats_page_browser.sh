#!/usr/bin/env bash
# The stats page in a real browser: sluice serves the tutorials' stats
# stanza, servers are put in every state (UP, DOWN by its check, MAINT from
# the file, DRAIN through the runtime API, an unchecked backup), traffic
# flows, and Debian's headless Chromium (driven by playwright-core) checks
# that the page shows each server's state, that the live chart moves, and
# that the admin form drains a server. A screenshot is left in <outdir>.
# Usage: stats_page_browser.sh <sluice binary> <outdir>
set -uo pipefail
SLUICE=${1:?sluice binary}
OUT=${2:?output directory}
HERE=$(cd "$(dirname "$0")/.." && pwd)
. "$(dirname "$0")/lib.sh"
need node
need chromium
need socat
need curl
[ -d "$HERE/browser/node_modules/playwright-core" ] || missing "run 'npm ci --prefix tests/browser' (scripts/install-deps does)"
workdir page
fail() { echo "FAIL: $*"; echo "--- sluice"; cat "$dir/sluice.out"; exit 1; }

up=$(freeport); closed=$(freeport); web=$(freeport); stats=$(freeport)
mkdir -p "$dir/www" && echo "hello from the web server" > "$dir/www/index.html"
python3 -m http.server "$up" --bind 127.0.0.1 --directory "$dir/www" >/dev/null 2>&1 &
pids+=($!)

cat > "$dir/sluice.cfg" <<CFG
global
    log stdout format raw local0
    stats socket $dir/admin.sock mode 600 level admin
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 2s
    timeout client 10s
    timeout server 10s
listen web
    bind 127.0.0.1:$web
    balance roundrobin
    server up1 127.0.0.1:$up check inter 300
    server down1 127.0.0.1:$closed check inter 300 fall 1
    server maint1 127.0.0.1:$up disabled
    server drain1 127.0.0.1:$up
    server spare 127.0.0.1:$up backup
listen stats
    bind 127.0.0.1:$stats
    mode http
    stats enable
    stats uri /stats
    stats refresh 2s
    stats auth admin:pw
    stats admin if LOCALHOST
CFG
"$SLUICE" -f "$dir/sluice.cfg" >"$dir/sluice.out" 2>&1 &
spid=$!
pids+=($spid)
for _ in $(seq 100); do [ -S "$dir/admin.sock" ] && curl -s -o /dev/null "http://127.0.0.1:$stats/" && break; sleep 0.05; done
[ "$(echo 'set server web/drain1 state drain' | socat stdio "$dir/admin.sock")" = "" ] || fail "set server failed"
for _ in $(seq 100); do
  curl -s -u admin:pw "http://127.0.0.1:$stats/stats;csv" | grep -q '^web,down1,.*,DOWN,' && break; sleep 0.1
done
curl -s -u admin:pw "http://127.0.0.1:$stats/stats;csv" | grep -q '^web,down1,.*,DOWN,' || fail "down1 never went DOWN"

# Traffic during the whole browser run, for the chart and the counters.
( for _ in $(seq 400); do curl -s -o /dev/null "http://127.0.0.1:$web/"; sleep 0.05; done ) &
pids+=($!)
for _ in $(seq 50); do curl -s "http://127.0.0.1:$web/" | grep -q hello && break; sleep 0.1; done

cat > "$dir/expect.json" <<JSON
{ "servers": [["web","up1","UP"],["web","down1","DOWN"],["web","maint1","MAINT"],
              ["web","drain1","DRAIN"],["web","spare","no check"]],
  "proxies": ["web","stats"], "trafficProxy": "web", "drain": ["web","up1"] }
JSON
sleep 2  # two samples of history at least
mkdir -p "$OUT"
node "$HERE/browser/stats_page.mjs" "http://127.0.0.1:$stats/stats" admin:pw "$OUT/stats-page.png" "$dir/expect.json" \
  || fail "browser checks failed"
[ -s "$OUT/stats-page.png" ] || fail "no screenshot"
echo "screenshot: $OUT/stats-page.png"
# The drain done in the browser is what the runtime API reports.
echo "show stat" | socat stdio "$dir/admin.sock" | grep -q '^web,up1,.*,DRAIN,' || fail "up1 is not DRAIN after the form"
stop_sluice "$spid" "$dir/sluice.out"
echo "PASS"
