#!/usr/bin/env bash
# Runs one libFuzzer target for SLUICE_FUZZ_SECONDS (default 30) on a working
# copy of its committed seed corpus. Crashes are saved next to the working
# corpus and make the run fail.
# Usage: run-fuzzer.sh <fuzzer binary> <seed corpus dir> <work dir> [dict]
set -euo pipefail
bin=$1; seeds=$2; work=$3; dict=${4:-}
rm -rf "$work"; mkdir -p "$work/corpus" "$work/artifacts"
args=(-max_total_time="${SLUICE_FUZZ_SECONDS:-30}" -timeout=10 -rss_limit_mb=2048
      -print_final_stats=1 -artifact_prefix="$work/artifacts/")
[ -n "$dict" ] && args+=(-dict="$dict")
"$bin" "${args[@]}" "$work/corpus" "$seeds"
