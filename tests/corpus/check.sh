#!/usr/bin/env bash
# Checks a corpus of real haproxy.cfg files (tests/corpus/manifest.tsv says
# where each comes from) with HAProxy and with sluice, side by side:
#   check.sh SLUICE DIR [HAPROXY]
# DIR holds the files as <id>.cfg. The files themselves are not in this
# repository (public content may not be committed here): fetch them by the
# manifest's repository, path and commit. Host names on server lines are
# made to resolve to 127.0.0.x in a private mount namespace (a bind-mounted
# /etc/hosts), as the file's own network would resolve them; nothing is
# sent anywhere: both programs only check (-c). Needs root (unshare -m).
# Prints, per file: id, HAProxy's exit status, sluice's, "same" or "DIFFER",
# and the first error each gave; then the counts.
set -u
sluice=$(readlink -f "$1"); dir=$(readlink -f "$2"); haproxy=${3:-/usr/sbin/haproxy}
work=$(mktemp -d /tmp/sluice-corpus-XXXXXX)
trap 'rm -rf "$work"' EXIT
same=0; differ=0; both_ok=0; hap_ok=0; sl_ok=0; n=0
for f in "$dir"/*.cfg; do
  id=$(basename "$f" .cfg)
  { cat /etc/hosts; k=1
    awk '$1 == "server" && NF >= 3 { print $3 }' "$f" | sed -E 's/^(ipv4@|ipv6@|tcp@)//; s/:[^:]*$//' |
      grep -E '^[A-Za-z0-9][A-Za-z0-9._-]*$' | grep -vE '^[0-9.]+$' | sort -u |
      while read -r h; do echo "127.0.0.$k $h"; k=$((k + 1)); done
  } >"$work/hosts"
  run() { unshare -m sh -c "mount --bind '$work/hosts' /etc/hosts && exec $1 -c -f '$f'" >"$work/out" 2>&1; echo $?; }
  h=$(run "$haproxy"); hmsg=$(grep -m1 -E 'ALERT|error' "$work/out" | tr '\t' ' ' | cut -c1-160)
  s=$(run "$sluice"); smsg=$(grep -m1 -E ': error:|fatal' "$work/out" | tr '\t' ' ' | cut -c1-160)
  n=$((n + 1)); [ "$h" = 0 ] && hap_ok=$((hap_ok + 1)); [ "$s" = 0 ] && sl_ok=$((sl_ok + 1))
  if [ "$h" = 0 ] && [ "$s" = 0 ]; then both_ok=$((both_ok + 1)); fi
  if { [ "$h" = 0 ] && [ "$s" = 0 ]; } || { [ "$h" != 0 ] && [ "$s" != 0 ]; }; then verdict=same; same=$((same + 1)); else verdict=DIFFER; differ=$((differ + 1)); fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$h" "$s" "$verdict" "$hmsg" "$smsg"
done
echo "files: $n; HAProxy accepts $hap_ok; sluice accepts $sl_ok; both accept $both_ok; same verdict $same; different $differ"
